"""One log line per kind of event a minute, with a count, however often it happens.

A server under a careless or hostile client sees the same failure hundreds of times a second
(a timed-out read, a refused connection, the same exception); logging each one, traceback and
all, fills the disk with tens of MB a minute and buries everything else. `RepeatFilter` lets
the first record of a kind through, drops the repeats within ``window`` seconds, and adds the
number dropped to the first record of that kind after the window. A kind is the logger, the
message template and the exception type, so different failures are never folded together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RepeatFilter(logging.Filter):
    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window, self.clock = window, clock
        self.seen: dict[tuple, tuple[float, int]] = {}  # kind -> (when it was last let through, repeats dropped since)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.msg, record.exc_info[0] if record.exc_info else None)
        now = self.clock()
        shown, dropped = self.seen.get(kind, (None, 0))
        if shown is not None and now - shown < self.window:
            self.seen[kind] = (shown, dropped + 1)
            return False
        self.seen[kind] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} [and {dropped} more like this in the last {now - shown:.0f} s, not logged]"
            record.exc_info = record.exc_text = None  # the traceback was shown the first time
        return True


def quiet_repeats(window: float = 60.0) -> None:
    """Put a `RepeatFilter` on each handler of the root logger (Hydra's console and log file): one
    each, since a filter shared by two handlers would count the record the first let through as a
    repeat at the second."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatFilter(window))
