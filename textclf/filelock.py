"""One process at a time in a folder: parallel sweep jobs that share a data folder.

Two jobs of a sweep (joblib launcher, or a SLURM array) may both find the generated bAbI data or a
download missing and set out to write it. Writes are atomic, so neither would see half a file, but
one job could read while the other rewrites a file for other settings, and both would download the
same archive. An advisory lock on ``<folder>/.textclf.lock`` makes the second job wait for the first
and then find the work done.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no fcntl; run parallel jobs on separate data folders there
    fcntl = None


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the ``with`` block.

    The kernel drops the lock when the holder exits, even by kill -9, so a crashed job never leaves
    the folder locked."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(folder / ".textclf.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
