"""Atomic file writes: write beside the target, fsync, rename over it.

A reader (or a run killed mid-write) sees either the old file or the new one, never half of one:
that is what keeps checkpoints loadable and generated datasets whole.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on a temp file in ``path``'s folder, then rename it to ``path``."""
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err
    try:
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(tmp_name, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except OSError as err:
        Path(tmp_name).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err  # named by the file meant, not the temp file
    except RuntimeError as err:  # torch.save's C++ writer reports a full disk so ("file write failed")
        Path(tmp_name).unlink(missing_ok=True)
        if "write" in str(err).lower() and free_bytes(path.parent) < (1 << 20):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err
        raise
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask
