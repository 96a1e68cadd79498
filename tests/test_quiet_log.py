"""Repeated log records fold into one line a minute with a count (textclf/serving/quiet_log.py)."""

from __future__ import annotations

import io
import logging

from textclf.serving.quiet_log import RepeatFilter, quiet_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, exc: type[BaseException] | None = None) -> logging.LogRecord:
    exc_info = (exc, exc("boom"), None) if exc else None
    return logging.LogRecord("textclf.serve", logging.WARNING, __file__, 1, msg, (), exc_info)


def test_repeats_within_the_window_are_counted_and_told_once():
    clock = Clock()
    repeats = RepeatFilter(60, clock)
    assert repeats.filter(record("cut off a client"))
    assert not any(repeats.filter(record("cut off a client")) for _ in range(500))
    assert repeats.filter(record("another failure"))  # another kind passes
    assert repeats.filter(record("cut off a client", ValueError))  # the same words with an exception: another kind
    clock.now = 61
    told = record("cut off a client", None)
    assert repeats.filter(told) and "and 500 more like this in the last 61 s" in told.getMessage()
    assert not repeats.filter(record("cut off a client"))


def test_a_traceback_is_shown_once():
    clock = Clock()
    repeats = RepeatFilter(60, clock)
    assert repeats.filter(record("scoring failed", ValueError))
    assert not repeats.filter(record("scoring failed", ValueError))
    clock.now = 100
    later = record("scoring failed", ValueError)
    assert repeats.filter(later) and later.exc_info is None and "1 more" in later.getMessage()


def test_every_handler_gets_the_first_record():
    root = logging.getLogger()
    streams = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(stream) for stream in streams]
    saved = root.handlers[:]
    root.handlers[:] = handlers
    try:
        quiet_repeats()
        for _ in range(100):
            logging.getLogger("textclf.serve").warning("cut off a client")
    finally:
        root.handlers[:] = saved
    assert [stream.getvalue().count("cut off a client") for stream in streams] == [1, 1]
