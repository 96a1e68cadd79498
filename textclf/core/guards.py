"""Two guarantees every command keeps: an output never replaces an input, and a run folder belongs
to one run, of one command, at a time.

`refuse_overwriting_inputs` compares paths as the file system sees them (symlinks, `..` and
relative paths resolved), so `output=../data/new.txt` is caught when it is the input read; every
command passes it every file it writes and every file it reads (checkpoints, data files, input).
`FolderLock` holds an exclusive lock on a run folder for the command's life (the `filelock`
package, as core/locks.py); `RunFolder` is training's, which also refuses a folder that already
holds a run. `owns_run_folder(command)` goes above ``@hydra.main``: Hydra writes ``.hydra/`` and
the job's log into the run folder before the command starts, so a folder named on the command
line that holds another command's run (or is in use) is refused before Hydra touches it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from textclf.core.errors import TextclfError, exit_on_user_error

T = TypeVar("T")

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


class FolderLock:
    """``with FolderLock(run_dir, command):`` for the life of a command writing into ``run_dir``:
    a second command into the same folder (a script starting two in one second) is refused."""

    def __init__(self, run_dir: str | Path, command: str, setting: str = "hydra.run.dir"):
        self.run_dir, self.command, self.setting = Path(run_dir), command, setting
        self.lock = FileLock(self.run_dir / RUN_LOCK)

    def __enter__(self) -> FolderLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            raise TextclfError(
                f"{self.run_dir} is in use by another textclf command (pid {lock_holder(self.run_dir)}); two in one folder would "
                f"mix their logs and records. Wait for it to finish, or give {self.command} another folder ({self.setting}=DIR)."
            ) from None
        (self.run_dir / RUN_PID).write_text(f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc) -> None:
        (self.run_dir / RUN_PID).unlink(missing_ok=True)
        self.lock.release()


def lock_holder(run_dir: Path) -> str:
    pid_file = run_dir / RUN_PID
    return pid_file.read_text().strip() if pid_file.is_file() else "unknown"


class RunFolder(FolderLock):
    """``with RunFolder(run_dir, continuing, overwrite):`` around a training run (rank 0 only)."""

    def __init__(self, run_dir: Path, continuing: bool, overwrite: bool):
        super().__init__(run_dir, "train")
        self.continuing, self.overwrite = continuing, overwrite

    def __enter__(self) -> RunFolder:
        super().__enter__()
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


def folder_owner(folder: Path) -> str | None:
    """The command whose run ``folder`` holds: Hydra's record of the job's name (.hydra/hydra.yaml),
    else "train" for a folder with a training's files and no record (hydra.output_subdir=null)."""
    record = folder / ".hydra" / "hydra.yaml"
    if record.is_file():
        try:
            return str(OmegaConf.load(record).hydra.job.name)
        except Exception:  # a damaged record still marks the folder as some run's
            return "unknown"
    return "train" if any((folder / name).exists() for name in RUN_FILES) else None


def refuse_another_commands_folder(folder: Path, command: str) -> None:
    """Refuse ``folder`` for ``command`` when it holds another command's run, or one is running in it."""
    owner = folder_owner(folder)
    if owner is not None and owner != command:
        raise TextclfError(
            f"{folder} holds a run of {owner}, whose records (.hydra/, {owner}.log, results) {command} would replace. "
            f"Give {command} a folder of its own: hydra.run.dir={folder / command} or any new DIR. Nothing was written."
        )
    if (folder / RUN_LOCK).exists():
        with FolderLock(folder, command):  # free: released at once; taken: refused, naming the holder
            pass


def owns_run_folder(command: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Put this above ``@hydra.main``: a run folder given as ``hydra.run.dir=DIR`` is checked by
    `refuse_another_commands_folder` before Hydra writes its records into it."""

    def decorate(main: Callable[..., T]) -> Callable[..., T]:
        @wraps(main)
        def wrapper(*args, **kwargs):
            multirun = "-m" in sys.argv or "--multirun" in sys.argv  # jobs go to hydra.sweep.dir
            if not args and not kwargs and not multirun:  # called as a command (with a cfg, Hydra has already run)
                given = [arg.split("=", 1)[1] for arg in sys.argv[1:] if arg.startswith("hydra.run.dir=")]
                if given:
                    exit_on_user_error(refuse_another_commands_folder)(Path(given[-1]).expanduser(), command)
            return main(*args, **kwargs)

        return wrapper

    return decorate


class SweepFolder(Callback):
    """A Hydra callback (conf/train.yaml): a sweep's folder belongs to one sweep. Two sweeps in one
    folder would both exit 0 with their jobs' records mixed (job 3 of one beside job 3 of the
    other, and a summary row for a seed never run). Called before the sweeper writes anything, it
    refuses a folder that holds a sweep (its multirun.yaml) or is in use, and holds the folder's
    lock until the sweep ends. Errors leave as SystemExit: Hydra only warns of a callback's exceptions."""

    def __init__(self) -> None:
        self.lock: FolderLock | None = None

    def __getstate__(self) -> dict:  # the joblib launcher sends callbacks to its workers: the lock stays here
        return {"lock": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(str(config.hydra.sweep.dir))
        try:
            if (folder / "multirun.yaml").is_file():
                raise TextclfError(f"{folder} already holds a sweep (multirun.yaml); a second one would mix its jobs' records "
                                   "with the first's. Sweep into another folder: hydra.sweep.dir=DIR.")
            self.lock = FolderLock(folder, "the sweep", "hydra.sweep.dir").__enter__()
        except TextclfError as err:
            print(f"textclf: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.lock is not None:
            self.lock.__exit__()
            self.lock = None
