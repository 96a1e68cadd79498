"""SIGTERM and SIGINT end a training run cleanly, with a way back in.

A cluster's preemption sends SIGTERM; Ctrl-C sends SIGINT. Both arrive as an exception in the main
thread (`Interrupted`), wherever the loop is, so the `with` blocks above it unwind: the run
folder's lock is released and a checkpoint half-written is never renamed into place (checkpoints
are written to a temporary file first). last.pt stays the last finished epoch's, and the command
that catches `Interrupted` says where the run stopped and how to resume it.

A signal that lands while a checkpoint is being written (`held`) waits until the write is done:
raised inside torch.save, the exception would be replaced by the zip writer's own error on the
way out ("unexpected pos ..."), a traceback instead of a clean stop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # what a shell reports for a process ended by that signal


# While a `held` block runs, a signal is noted here and raised when the block ends.
_held: dict[str, int | bool | None] = {"on": False, "signum": None}


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGTERM / SIGINT back for the block (a checkpoint write); one that came meanwhile is
    raised as `Interrupted` right after it. Outside `stop_on_signals` nothing changes."""
    outer = _held["on"]
    _held["on"] = True
    try:
        yield
    finally:
        _held["on"] = outer
    signum = _held["signum"]
    if signum is not None and not outer:
        _held["signum"] = None
        raise Interrupted(int(signum))


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise `Interrupted` (main thread only: signal handlers
    can only be set there; elsewhere the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        if _held["on"]:
            _held["signum"] = signum
            return
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
