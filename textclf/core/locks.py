"""One process at a time in a folder: parallel sweep jobs that share a data folder.

Two jobs of a sweep (joblib launcher, or a SLURM array) may both find the generated bAbI data or a
download missing and set out to write it. Writes are atomic, so neither would see half a file, but
one job could read while the other rewrites a file for other settings, and both would download the
same archive. A lock on ``<folder>/.textclf.lock`` makes the second job wait for the first and then
find the work done. The `filelock` package takes the lock the way each OS offers (flock on POSIX,
msvcrt on Windows); the OS drops it when the holder exits, even by kill -9.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

LOCK_NAME = ".textclf.lock"


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the ``with`` block."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / LOCK_NAME):
        yield
