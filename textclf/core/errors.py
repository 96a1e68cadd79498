"""The one exception type a user is meant to see.

Anything the user can fix (a missing file, a malformed line, a bad config value, a checkpoint that
does not fit) is raised as `TextclfError` with a message that says what was wrong and how to fix
it. The command-line entry points print that message alone and exit with status 2; every other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import errno
import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import TypeVar

from omegaconf.errors import MissingMandatoryValue

T = TypeVar("T")


class TextclfError(Exception):
    """A problem with the user's input, data, config or checkpoint (not a bug in textclf)."""


class MissingDataError(TextclfError):
    """A dataset's folder or files are not where data.root points. A separate type because the way
    to point elsewhere differs by command (evaluation takes +data.root=DIR, see evaluate.py)."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, with its type: the part worth quoting in a
    message (torch and numpy errors run to paragraphs, and some, such as EOFError, have no text)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def positive_int(value: object, key: str) -> int:
    """``value`` if it is an integer >= 1, else a message naming the setting ``key``. Command-line
    values arrive as whatever YAML makes of them, so "abc" and 2.5 get here as well as 0 and -1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TextclfError(f"{key} must be a positive integer, got {value!r}.")
    return value


def debug_requested() -> bool:
    """True when the user asked for full tracebacks (HYDRA_FULL_ERROR=1 or TEXTCLF_DEBUG=1)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("TEXTCLF_DEBUG") == "1"


# What a full disk, a read-only or foreign folder, or a vanished mount says, and what to do about it.
STORAGE_FIXES = {
    errno.ENOSPC: "the disk is full: free space, or write somewhere else",
    errno.EDQUOT: "the disk quota is used up: free space, or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.EACCES: "no permission: write somewhere you may, or change the folder's permissions",
    errno.EPERM: "not permitted: write somewhere you may, or change the folder's permissions",
    errno.EIO: "the device failed (a disk or network mount): check it, or write somewhere else",
}


def storage_error(err: OSError) -> TextclfError:
    """An OSError that reached a command (a report, a log, a checkpoint that could not be written)
    as one message naming the path and the cause. Writes go through a temporary file renamed into
    place (core/atomic.py), so what was written before is intact. Any other OSError is a bug and
    keeps its traceback."""
    if err.errno not in STORAGE_FIXES:
        raise err
    where = f" {err.filename}" if err.filename else ""
    return TextclfError(f"cannot write{where} ({err.strerror or err}); {STORAGE_FIXES[err.errno]} "
                        "(hydra.run.dir=DIR, output=FILE or out_dir=DIR). Files written before are intact.")


def exit_on_user_error(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn a `TextclfError` escaping `fn` into one line on stderr and exit status 2.

    A mandatory config value left at ``???`` (``ckpt_path``, ``input``) is a user error too: OmegaConf
    raises it from deep inside the first code that reads the value, so it is translated here once.
    """

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (TextclfError, MissingMandatoryValue, OSError) as err:
            if debug_requested():
                raise
            if isinstance(err, MissingMandatoryValue):
                key = err.full_key or "a mandatory setting"
                err = TextclfError(f"{key} has no value; pass {key}=VALUE on the command line.")
            elif isinstance(err, OSError):
                err = storage_error(err)
            print(f"textclf: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


def hint_misspelt_keys(config_name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Put this above ``@hydra.main``: when Hydra rejects an override because its key does not exist,
    one more line on stderr names the nearest keys that do.

    Hydra's own message for ``trainer.max_epoch=3`` suggests ``+trainer.max_epoch=3``, which adds a
    new key that nothing reads: right for a new key, wrong for a typo. The hint
    costs a second config composition, and only on that failure path (Hydra exits with status 1).
    """

    def decorate(main: Callable[..., T]) -> Callable[..., T]:
        @wraps(main)
        def wrapper(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except SystemExit as exit_:
                if exit_.code == 1 and not args and not kwargs:  # called as a command, not with a cfg
                    hint = misspelt_key_hint(config_name, sys.argv[1:])
                    if hint:
                        print(f"textclf: hint: {hint}", file=sys.stderr)
                raise

        return wrapper

    return decorate


def chosen_group_hint(full_key: str, overrides: Sequence[str]) -> str | None:
    """For the settings of a config group left unchosen (``model.ngrams.dim=64`` without
    ``model/ngrams=bigrams``, whose settings exist only once it is chosen): how to choose it, or None."""
    from importlib.resources import files

    folder = files("textclf.conf").joinpath(*full_key.split("."))
    if not folder.is_dir():
        return None
    group = full_key.replace(".", "/")
    options = "|".join(sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")))
    setting = next((arg for arg in overrides if arg.startswith(f"{full_key}.")), f"{full_key}.KEY=VALUE")
    return f"{full_key} has settings only once chosen: add {group}={options} (conf/{group}/) beside {setting}."


def misspelt_key_hint(config_name: str, args: Sequence[str]) -> str | None:
    """'did you mean ...' for the first override whose key the config lacks, or None.

    Composes the config again with the same overrides to get OmegaConf's error, which carries the
    node that lacks the key; its keys are the candidates. Anything else (an unknown group option,
    a sweep, a parse error) has a clear Hydra message already and gets no hint.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException

    overrides = [arg for arg in args if not arg.startswith("-")]  # -m, --cfg job ... are not overrides
    GlobalHydra.instance().clear()  # the failed run may leave Hydra initialised
    try:
        with initialize_config_module("textclf.conf", version_base="1.3"):
            compose(config_name, overrides=overrides, return_hydra_config=True)
        return None
    except ConfigCompositionException as err:
        cause = err.__cause__
    except Exception:
        return None
    finally:
        GlobalHydra.instance().clear()
    parent, key, full_key = (getattr(cause, name, None) for name in ("parent_node", "key", "full_key"))
    if parent is None or key is None or not full_key or not hasattr(parent, "keys"):
        return None
    group = chosen_group_hint(full_key, overrides)
    if group:
        return group
    matches = difflib.get_close_matches(str(key), [str(name) for name in parent.keys()], n=3)
    if not matches:
        return None
    prefix = full_key[: len(full_key) - len(str(key))]  # "trainer." of "trainer.max_epoch"
    value = next((arg.split("=", 1)[1] for arg in overrides if arg.split("=", 1)[0] == full_key), "VALUE")
    options = " or ".join(f"{prefix}{match}={value}" for match in matches)
    return (
        f"there is no setting {full_key}; did you mean {options}? "
        "(Hydra's '+' suggestion adds a new key, which is not how to fix a misspelt one.)"
    )
