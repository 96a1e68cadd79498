"""`data=babi_gen`: textclf's own synthetic bAbI-format tasks, read by the real bAbI reader.

The generator (babi_gen.py) writes files in the exact bAbI v1.2 format into ``root``; this source
makes sure they exist for the configured sizes and seed, then reads them like downloaded bAbI.
Every generated task is always written (a few hundred KB), so choosing a different ``tasks``
subset never rewrites files another run may be reading.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.core.locks import folder_lock
from textclf.core.shipped import shipped
from textclf.data import babi_gen
from textclf.data.babi import Babi, parse_tasks
from textclf.data.example import Splits
from textclf.data.files import folder_problem, shown


@dataclass(kw_only=True)
class GeneratedBabi(Babi):
    download_name = None  # generated here, never downloaded
    # conf/data/babi_gen.yaml holds the one value of each (core/shipped.py)
    n_train: int = shipped("data/babi_gen").n_train  # questions per task in the train file (val_fraction of it is held out)
    n_test: int = shipped("data/babi_gen").n_test
    generator_seed: int = shipped("data/babi_gen").generator_seed

    def task_numbers(self) -> list[int]:
        available = list(babi_gen.TASKS)
        if isinstance(self.tasks, str) and self.tasks.strip().lower() == "all":
            return available
        numbers = parse_tasks(self.tasks)
        unknown = [n for n in numbers if n not in babi_gen.TASKS]
        if unknown:
            raise TextclfError(
                f"bAbI generator: task(s) {unknown} are not generated; data.tasks takes 'all' or ids from "
                f"{available} ({', '.join(f'{k} {v}' for k, v in babi_gen.TASKS.items())})."
            )
        return numbers

    def load(self) -> Splits:
        numbers = self.task_numbers()
        root = Path(self.root).expanduser()
        problem = folder_problem(root, missing_ok=True)  # a missing folder is made; anything else is in the way
        if problem:
            raise TextclfError(
                f"bAbI generator: data.root {shown(root)} {problem}, so the stories cannot be written there. "
                "Point data.root=DIR at a folder (it is created if missing), or remove what is in the way."
            )
        # Locked from writing through reading: a parallel job asking for other sizes would otherwise
        # rewrite the files while this one reads them.
        with folder_lock(self.root):
            babi_gen.write_dataset(self.root, list(babi_gen.TASKS), self.n_train, self.n_test, self.generator_seed)
            splits = Babi.load(replace(self, tasks=numbers))  # the real reader, on the generated files
        splits.synthetic = True
        splits.reference = None  # generated tasks only share names with the real ones
        which = "all generated tasks" if numbers == list(babi_gen.TASKS) else f"tasks {','.join(map(str, numbers))}"
        splits.description = f"synthetic bAbI-format data (textclf generator, {which})"
        return splits
