"""The one exception type a user is meant to see.

Anything the user can fix (a missing file, a malformed line, a bad config value, a checkpoint that
does not fit) is raised as `TextclfError` with a message that says what was wrong and how to fix
it. The command-line entry points print that message alone and exit with status 2; every other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

T = TypeVar("T")


class TextclfError(Exception):
    """A problem with the user's input, data, config or checkpoint (not a bug in textclf)."""


def debug_requested() -> bool:
    """True when the user asked for full tracebacks (HYDRA_FULL_ERROR=1 or TEXTCLF_DEBUG=1)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("TEXTCLF_DEBUG") == "1"


def exit_on_user_error(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn a `TextclfError` escaping `fn` into one line on stderr and exit status 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TextclfError as err:
            if debug_requested():
                raise
            print(f"textclf: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
