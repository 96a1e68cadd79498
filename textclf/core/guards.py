"""Two guarantees every command keeps: an output never replaces an input, and a run folder belongs
to one run at a time.

`refuse_overwriting_inputs` compares paths as the file system sees them (symlinks, `..` and
relative paths resolved), so `output=../data/new.txt` is caught when it is the input read.
`RunFolder` holds an exclusive lock on a training run's folder for the run's life (the `filelock`
package, as core/locks.py) and refuses a new training into a folder that already holds a run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock, Timeout

from textclf.core.errors import TextclfError

RUN_LOCK = ".textclf-run.lock"
RUN_PID = ".textclf-run.pid"  # beside the lock: filelock truncates the lock file itself when it tries it
RUN_FILES = ("best.pt", "last.pt", "results.json", "metrics.csv")  # what makes a folder a run's


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def refuse_overwriting_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path], how: str) -> None:
    """Raise if any output is (after resolving) one of the inputs; ``how`` says how to choose another output."""
    inputs = [Path(p).expanduser() for p in inputs]
    for output in outputs:
        out = Path(output).expanduser()
        for source in inputs:
            if out.resolve() == source.resolve() or same_file(out, source):
                raise TextclfError(
                    f"the output {out} is {source}, which this command reads: writing it would destroy the input. "
                    f"{how} Nothing was written."
                )


class RunFolder:
    """``with RunFolder(run_dir, continuing, overwrite):`` around a training run (rank 0 only)."""

    def __init__(self, run_dir: Path, continuing: bool, overwrite: bool):
        self.run_dir, self.continuing, self.overwrite = Path(run_dir), continuing, overwrite
        self.lock = FileLock(self.run_dir / RUN_LOCK)

    def __enter__(self) -> RunFolder:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            pid_file = self.run_dir / RUN_PID
            holder = pid_file.read_text().strip() if pid_file.is_file() else "unknown"
            raise TextclfError(
                f"{self.run_dir} is in use by another training run (pid {holder}); two runs in one folder would mix "
                "their logs, metrics and checkpoints. Wait for it to finish, or train into another folder (hydra.run.dir=DIR)."
            ) from None
        (self.run_dir / RUN_PID).write_text(f"{os.getpid()}\n")
        try:
            self.refuse_an_earlier_run()
        except BaseException:
            self.__exit__()
            raise
        return self

    def refuse_an_earlier_run(self) -> None:
        found = [name for name in RUN_FILES if (self.run_dir / name).exists()]
        if found and not self.continuing and not self.overwrite:
            raise TextclfError(
                f"{self.run_dir} already holds a run ({', '.join(found)}), and a new training would replace it. "
                "Continue that run with trainer.resume=true, train into another folder (hydra.run.dir=DIR), or "
                "replace it on purpose with trainer.overwrite=true."
            )

    def __exit__(self, *exc) -> None:
        (self.run_dir / RUN_PID).unlink(missing_ok=True)
        self.lock.release()
