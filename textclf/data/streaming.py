"""The streaming data path: a table too large for memory (data.streaming; data/table.py `streams`).

The in-memory path reads every row into an `Example` and pads each split into one tensor, some
hundreds of bytes a row beyond the file (docs/speed.md). A streamed table's training file is read
in passes instead, none of which holds more than a bounded number of rows:

1. the split (`StreamedSplit`): each training row is held out for validation with probability p,
   drawn per row from a generator seeded by data.seed; p is data.val_fraction, lowered so that
   about data.val_max_rows rows at most are held out (from the file's line count). With
   data.val_file nothing is held out. The held-out rows are kept, and so is a seeded uniform
   sample of `SAMPLE_ROWS` training rows (reservoir sampling): what the linear baseline fits on
   and the reports' examples come from. Every training label is counted.
2. the vocabulary, fitted on the training rows as they stream past (tokenizers trains from an
   iterator; data/vocab.py), or a parent model's (init_from);
3. the token shards (data/shards.py): the training rows tokenized into memory-mapped files, which
   training reads in shuffled, length-bucketed batches from a bounded buffer (`ShardBatches`).

Each result is cached beside the training file (`cache_folder`): the split in
``.textclf-shards/<key>/``, the vocabulary and shards in ``<key>/tokens-<key>/``, keyed by the file (path, size, modification time)
and every setting that decides their content. The same run again reads nothing from the training
file (and `textclf.evaluate` finds the same validation rows); a changed file or setting builds
afresh. A file lock lets concurrent runs (a sweep's jobs) build each cache once. Validation and
test are held in memory as on the in-memory path (a val or test file is read whole).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

from textclf.core.errors import TextclfError
from textclf.data.example import Example, Splits
from textclf.data.shards import CHUNK, Shards, build_shards, chunks
from textclf.data.vocab import Vocab

if TYPE_CHECKING:  # table.py imports this module
    from textclf.data.table import Table

log = logging.getLogger(__name__)

CACHE = ".textclf-shards"
SAMPLE_ROWS = 100_000  # training rows kept in memory for the baseline (baseline.max_train_rows' default)
LAYOUT = 1  # the cache's file layout; a change builds every cache afresh
# Settings that decide where a table is found or whether it streams, not what its rows say: left out
# of the key. (`names`, the label file's lines, stays in: the cached rows carry class names.)
NOT_KEYED = ("root", "streaming", "streaming_above_mb", "download", "max_tokens", "max_memories", "memory_window")


def digest(described: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:20]


def file_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"file": str(path.absolute()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def check_unchanged(path: Path, identity: dict[str, Any]) -> None:
    """Refuse a training file that changed since its split was made: the passes find held-out rows
    by their place in the file, so a row added or removed would move validation rows into training."""
    if file_identity(path) != identity:
        raise TextclfError(f"{path} changed while it was being streamed (its size or modification time moved). Run again once "
                           "nothing writes to it; the cache is then built for the file as it is.")


def cached(folder: Path, build: Callable[[Path], None]) -> Path:
    """``folder``, built by ``build(partial)`` into a folder beside it and renamed into place unless
    it is complete already (it has its meta.json, which builds write last). Under a file lock, so
    that concurrent runs wait for one build instead of racing; an interrupted build is redone."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder.parent / f"{folder.name}.lock")):
            if not (folder / "meta.json").is_file():
                build_in_place(folder, build)
    except OSError as err:  # a full disk, a cache folder of another user's: what to do, not a traceback
        if err.filename is not None and not str(err.filename).startswith(str(folder.parent)):
            raise  # reading the training file, not writing the cache
        raise TextclfError(f"cannot write the streamed table's cache in {folder.parent} ({err.strerror or err}). Free space "
                           "there or make it writable, or move the data to a folder you can write.") from None
    return folder


def build_in_place(folder: Path, build: Callable[[Path], None]) -> None:
    """Build ``folder`` beside itself, then rename it into place; called under its lock."""
    # Builds killed without cleaning up (SIGKILL, out of memory, a job's time limit) left their
    # partial folders; none is live, since a live builder would hold the lock.
    for stale in folder.parent.glob(f"{folder.name}.building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    try:
        build(partial)
    except BaseException:  # a refused file, a full disk, Ctrl-C: no half-built folder stays behind
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted build's remains
    os.replace(partial, folder)


def cache_folder(data_folder: Path) -> Path:
    """Where a table's caches go: beside its files, or, where that folder cannot be written (a
    shared read-only dataset), under the user's cache folder (XDG_CACHE_HOME, else ~/.cache); the
    keys hold the file's absolute path, so tables in different folders never share a cache."""
    if os.access(data_folder, os.W_OK):
        return data_folder / CACHE
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "textclf" / "shards"


def count_lines(path: Path) -> int:
    """Newlines in the file, read in 1 MiB blocks: at least its rows plus a header."""
    with open(path, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(2**20), b"")) + 1


def marked(rows: Iterator[Example], held: float, seed: int) -> Iterator[tuple[bool, Example]]:
    """(held out, row) for every row: held out with probability ``held``, one seeded draw a row, so
    the same file and seed always hold out the same rows."""
    draws = np.random.default_rng(seed)
    for chunk in chunks(rows, CHUNK):
        yield from zip((draws.random(len(chunk)) < held).tolist(), chunk)


def write_examples(path: Path, examples: list[Example]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"text": ex.text, "label": ex.label}, ensure_ascii=False) + "\n" for ex in examples)


def read_examples(path: Path) -> list[Example]:
    with open(path, encoding="utf-8") as fh:
        return [Example(row["text"], row["label"]) for row in map(json.loads, fh)]


@dataclass(frozen=True)
class StreamedSplit:
    """A streamed table's training file split into training rows and held-out validation rows
    (step 1 of the module docstring), as cached in ``folder``."""

    folder: Path
    train_path: Path
    val_path: Path | None
    test_path: Path
    held: float  # the probability each training-file row was held out with (0 with a val file)
    rows: int  # training rows, the held-out ones not counted
    label_counts: dict[str, int]  # training rows per label
    identity: dict[str, Any]  # the training file when the split was made (file_identity), which its key holds

    def training_rows(self, table: Table) -> Iterator[Example]:
        """The training file's rows that were not held out, read again from the file."""
        return (example for held, example in marked(table.stream(self.train_path), self.held, table.seed) if not held)

    def splits(self, table: Table) -> Splits:
        """The splits in memory: train is the sample of `SAMPLE_ROWS` rows (all of them are in the
        shards), val the held-out rows (or the val file), test the test file. The classes are every
        label of the whole training file, validation and test, in the table's order (label_names)
        or sorted, as `Splits.labels` gives them for a table read whole."""
        val = table.read(self.val_path) if self.val_path is not None else read_examples(self.folder / "val.jsonl")
        test = table.read(self.test_path)
        labels = table.names or sorted(set(self.label_counts) | {ex.label for ex in val + test})
        where = self.val_path.name if self.val_path is not None else f"{len(val):,} rows of {self.train_path.name} held out (seed {table.seed})"
        description = (f"table {Path(table.root).name}: train {self.train_path.name} ({self.rows:,} rows, streamed), "
                       f"val {where}, test {self.test_path.name}")
        return Splits(read_examples(self.folder / "sample.jsonl"), val, test, label_names=list(labels), description=description,
                      sampled_train=True)


def streamed_split(table: Table) -> StreamedSplit:
    """The table's `StreamedSplit`, from its cache or built now (one pass over the training file)."""
    train_path, val_path, test_path = table.locate()
    settings = {key: value for key, value in asdict(table).items() if key not in NOT_KEYED}
    identity = file_identity(train_path)
    folder = cache_folder(train_path.parent) / digest({**identity, "table": settings, "sample": SAMPLE_ROWS, "layout": LAYOUT})
    cached(folder, lambda partial: build_split(table, train_path, val_path is None, partial, identity))
    meta = json.loads((folder / "meta.json").read_text())
    return StreamedSplit(folder, train_path, val_path, test_path, meta["held"], meta["rows"], meta["label_counts"], identity)


def build_split(table: Table, train_path: Path, holds_out: bool, folder: Path, identity: dict[str, Any]) -> None:
    """Step 1: one pass keeping the held-out rows (``holds_out``: there is no validation file), a
    seeded reservoir sample of the rest (Vitter's algorithm R: each row ends in the sample with the
    same chance) and the label counts."""
    held = min(table.val_fraction, table.val_max_rows / count_lines(train_path)) if holds_out else 0.0
    log.info("streaming %s: holding out validation rows and counting labels (pass 1 of 3; cached in %s)", train_path, folder.parent)
    folder.mkdir(parents=True)
    val: list[Example] = []
    sample: list[tuple[int, Example]] = []
    counts: Counter[str] = Counter()
    chooser, row = random.Random(table.seed), 0
    for is_held, example in marked(table.stream(train_path), held, table.seed):
        if is_held:
            val.append(example)
            continue
        counts[example.label] += 1
        if row < SAMPLE_ROWS:
            sample.append((row, example))
        elif (slot := chooser.randrange(row + 1)) < SAMPLE_ROWS:
            sample[slot] = (row, example)
        row += 1
    if held and not val:
        raise TextclfError(f"{train_path}: no row was held out for validation (data.val_fraction={table.val_fraction:g}); "
                           "raise data.val_fraction or give a validation file (data.val_file=FILE).")
    check_unchanged(train_path, identity)
    write_examples(folder / "val.jsonl", val)
    write_examples(folder / "sample.jsonl", [example for _, example in sorted(sample, key=lambda item: item[0])])
    (folder / "meta.json").write_text(json.dumps({"held": held, "rows": sum(counts.values()), "label_counts": dict(counts)}))


def streamed_tokens(split: StreamedSplit, table: Table, tokenizer: Mapping[str, Any] | None, parent: Vocab | None,
                    labels: list[str]) -> tuple[Vocab, Shards]:
    """The vocabulary (fitted on the training rows, or the parent's) and the training rows' shards
    (steps 2 and 3), from their cache or built now (two passes over the training file)."""
    settings = dict(tokenizer or {})
    described = {"tokenizer": settings, "max_tokens": table.max_tokens, "labels": labels,
                 "parent": None if parent is None else digest({"vocab": parent.to_json()}), "layout": LAYOUT}
    folder = split.folder / f"tokens-{digest(described)}"

    def build(partial: Path) -> None:
        log.info("streaming %s: fitting the vocabulary (pass 2 of 3)%s", split.train_path, ": the parent's, kept" if parent else "")
        check_unchanged(split.train_path, split.identity)
        vocab = parent or Vocab.fit((ex.text for ex in split.training_rows(table)), **settings, max_tokens=table.max_tokens)
        log.info("streaming %s: writing %d rows' token ids into shards (pass 3 of 3)", split.train_path, split.rows)
        try:
            build_shards(split.training_rows(table), vocab, labels, table.max_tokens, partial, extra={"vocab.json": vocab.to_json()})
        except KeyError:  # a label the split never counted: the file changed under the passes
            check_unchanged(split.train_path, split.identity)
            raise
        check_unchanged(split.train_path, split.identity)  # before the shards are renamed into place

    cached(folder, build)
    return Vocab.from_json((folder / "vocab.json").read_text()), Shards.open(folder)
