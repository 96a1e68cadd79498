"""Shared helpers for readers: finding a dataset's files and splitting it reproducibly."""

from __future__ import annotations

import codecs
import errno
import hashlib
import logging
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from textclf.core.errors import MissingDataError, TextclfError, first_line
from textclf.data.charsets import AUTO, GB18030, detect, reads_as_chinese

T = TypeVar("T")
log = logging.getLogger(__name__)


def shown(path: Path) -> str:
    """``path`` made absolute for a message, without following links (a link loop has no target)."""
    return os.path.abspath(path)


def folder_problem(folder: Path, missing_ok: bool = False) -> str | None:
    """What keeps ``folder`` from being a readable data folder, in words, or None: never "does not
    exist" for something that exists (a file, a link loop, a folder this user may not list).
    ``missing_ok``: a folder that does not exist is no problem (the caller makes it, or says more)."""
    try:
        os.stat(folder)
    except FileNotFoundError:
        if folder.is_symlink():
            return "is a broken symbolic link"
        return None if missing_ok else "does not exist"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a loop of symbolic links"
        return f"cannot be read ({err.strerror})"
    if not folder.is_dir():
        return "is a file, not a folder"
    if not os.access(folder, os.R_OK | os.X_OK):
        return "cannot be listed (permission denied)"
    return None


def require_files(dataset: str, root: str | Path, names: Sequence[str], hint: str = "") -> list[Path]:
    """Return ``root/name`` for every name, or raise one message listing everything missing.

    The message names the dataset, the folder it looked in and the file names it expected, so the
    user can fix ``data.root`` or fetch the files without reading code.
    """
    folder = Path(root).expanduser()
    problem = folder_problem(folder)
    if problem:
        raise MissingDataError(
            f"{dataset}: data folder {shown(folder)} {problem}. Expected it to hold: "
            f"{', '.join(names)}. Point data.root=DIR at the folder that holds these files.{hint}"
        )
    paths = [folder / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise MissingDataError(
            f"{dataset}: missing file(s) {', '.join(missing)} in {shown(folder)}. Expected: "
            f"{', '.join(names)}. Point data.root=DIR at the folder that holds these files.{hint}"
        )
    return paths


def unreadable(path: Path, err: OSError) -> TextclfError:
    """The message for a file that exists but cannot be read: what the system said, and what to do.

    Opening and reading are both covered: a failing disk or network share can answer the first
    blocks and fail on a later one (EIO), so a file can break off after thousands of good lines."""
    if isinstance(err, PermissionError):
        fix = "Give this user read access to it (chmod u+r), or copy the data where it can be read and point data.root=DIR there."
        what = "permission denied"
    elif err.errno == errno.EIO:
        fix = "The disk or network share that holds it failed; copy the file again from a good source and point data.root=DIR at the copy."
        what = "input/output error"
    elif isinstance(err, IsADirectoryError):
        fix, what = "Put the file itself at this path.", "it is a folder, not a file"
    else:
        fix, what = "Check the file and the disk it is on.", err.strerror or first_line(err)
    return TextclfError(f"{shown(path)}: cannot be read ({what}). {fix}")


def read_lines(path: Path, encoding: str = "utf-8", setting: str | None = None) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its newline), naming the file on a decoding or
    reading error. Line ends (LF, CRLF or CR) and a byte-order mark before the first line are
    dropped. ``encoding`` may be ``auto`` (see charsets.py; the log says what was found);
    ``setting`` is the config key that sets it (``data.charset``), for the messages."""
    if encoding == AUTO:
        encoding = detected_encoding(path, setting or "encoding")
    try:
        with open(path, encoding=encoding, newline="") as fh:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                yield number, (line.lstrip("\ufeff") if number == 1 else line)
    except UnicodeDecodeError as err:
        raise TextclfError(
            f"{path}: not valid {encoding} text ({undecodable_at(path, encoding, err)}). {encoding_fix(path, encoding, setting)}"
        ) from None
    except OSError as err:
        raise unreadable(path, err) from None


def detected_encoding(path: Path, setting: str) -> str:
    """The encoding ``setting=auto`` finds for ``path``, or a message saying what to set."""
    try:
        found = detect(path)
    except OSError as err:
        raise unreadable(path, err) from None
    if found is None:
        raise TextclfError(
            f"{path}: {setting}=auto cannot tell the file's encoding: it is not UTF-8 ({undecodable_at(path, 'utf-8')}), "
            f"starts with no UTF-16 byte-order mark and does not read as GB18030 Chinese. Set {setting}= to its "
            f"encoding (for example {setting}=latin-1 or cp1252 for Western European text, big5 for traditional "
            f"Chinese), or convert the file to UTF-8."
        )
    log.info("%s: read as %s (%s=auto)", path, found, setting)
    return found


def encoding_fix(path: Path, encoding: str, setting: str | None) -> str:
    """What to do about a file that is not valid ``encoding``: set ``setting`` (naming the value
    when the file reads as GB18030 Chinese), or convert the file."""
    if setting is None:
        return f"Convert the file to {encoding}, or set the reader's encoding to the file's real one (for example latin-1)."
    if encoding != GB18030 and gb18030_chinese(path):
        return f"It reads as GB18030 (Chinese; covers GBK and GB2312): set {setting}=gb18030, or {setting}=auto to detect each file's encoding."
    return (
        f"Set {setting}= to the file's real encoding (for example {setting}=latin-1), {setting}=auto to detect "
        f"UTF-8, UTF-16 or GB18030, or convert the file to {encoding}."
    )


def gb18030_chinese(path: Path) -> bool:
    """`reads_as_chinese`, False where the file cannot be read again (the message is about its bytes)."""
    try:
        return reads_as_chinese(path)
    except OSError:
        return False


def undecodable_at(path: Path, encoding: str, err: UnicodeDecodeError | None = None) -> str:
    """Where the first undecodable byte of ``path`` is: "line N, byte M: reason".

    A text-mode read decodes in chunks, and its error counts bytes from the start of the chunk,
    which points nowhere useful in a large file; so the file is decoded again line by line.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    number, raw = 0, b""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as line_err:
                return f"line {number}, byte {line_err.start + 1}: {line_err.reason}"
    try:
        decoder.decode(b"", final=True)  # a file that ends inside a character
    except UnicodeDecodeError as end_err:
        return f"line {number}, byte {len(raw) - len(end_err.object) + end_err.start + 1}: {end_err.reason}"
    return err.reason if err else "undecodable"  # only a decoder that needs more than one line to fail gets here


def hold_out(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Split ``items`` into (kept, held_out) with ``fraction`` held out, by a seeded shuffle.

    The same items, fraction and seed always give the same split, whatever else the run does.
    """
    if not 0.0 < fraction < 1.0:
        raise TextclfError(f"data.val_fraction must be between 0 and 1 (exclusive), got {fraction!r}.")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_held = max(1, round(len(items) * fraction)) if len(items) > 1 else 0
    held = sorted(order[:n_held])
    kept = sorted(order[n_held:])
    return [items[i] for i in kept], [items[i] for i in held]


def content_lines(path: Path, encoding: str = "utf-8", expected: str = "") -> Iterator[tuple[int, str]]:
    """Yield (line number, line) for every non-blank line; raise if the file has none.

    Blank lines carry no example in any line-per-example format, so readers skip them; a file with
    nothing else is almost always a failed download or a wrong path, so it gets its own message.
    ``expected`` describes the format for that message, e.g. ``"one '<label> <sentence>' per line"``.
    """
    found = False
    for number, line in read_lines(path, encoding):
        if line.strip():
            found = True
            yield number, line
    if not found:
        what = f" Expected {expected}." if expected else ""
        raise TextclfError(f"{path}: the file is empty.{what}")


def stratified_split(
    items: Sequence[T], labels: Sequence[str], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[T], list[T], list[T]]:
    """Split ``items`` into (train, val, test), holding out the same share of every label.

    For datasets without an official split (MR, SUBJ). Each label's items are shuffled with one
    ``random.Random(seed)`` taken over the labels in sorted order, so the same items, fractions and
    seed always give the same split; every split keeps the items' original order.
    """
    for name, value in (("val_fraction", val_fraction), ("test fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise TextclfError(f"{name} must be between 0 and 1 (exclusive), got {value}.")
    if val_fraction + test_fraction >= 1.0:
        raise TextclfError(
            f"val_fraction ({val_fraction}) plus the test share ({test_fraction}) leaves no training data; "
            f"use a smaller data.val_fraction."
        )
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    rng = random.Random(seed)
    val_idx: list[int] = []
    test_idx: list[int] = []
    for label in sorted(by_label):
        order = list(by_label[label])
        rng.shuffle(order)
        n_val, n_test = round(len(order) * val_fraction), round(len(order) * test_fraction)
        val_idx += order[:n_val]
        test_idx += order[n_val : n_val + n_test]
    held = set(val_idx) | set(test_idx)
    train = [item for index, item in enumerate(items) if index not in held]
    return train, [items[i] for i in sorted(val_idx)], [items[i] for i in sorted(test_idx)]


FINGERPRINT_SPAN = 1 << 20  # bytes hashed at each end of a file


def fingerprint(paths: Sequence[Path]) -> dict[str, dict[str, int | str]]:
    """What a run's data files were, by name: size and a SHA-256 of their first and last MiB.

    Cheap on any size (2 MiB read per file) and enough to tell that a file was replaced or edited
    in all but the most contrived cases (an edit of the middle of a large file that keeps its size).
    A checkpoint stores it, so that resuming on changed data is refused (training/resume.py)."""
    found = {}
    for path in sorted(paths, key=lambda p: p.name):
        if not path.is_file():
            continue
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            digest.update(fh.read(FINGERPRINT_SPAN))
            if size > 2 * FINGERPRINT_SPAN:
                fh.seek(size - FINGERPRINT_SPAN)
            digest.update(fh.read())
        found[path.name] = {"size": size, "sha256": digest.hexdigest()}
    return found
