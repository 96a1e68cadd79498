"""Token shards: a table's rows tokenized once, in a streaming pass, into memory-mapped files.

Not yet used by training (the streaming data path of issue 29 builds on it): the layout, the
cache and the batches it serves are here, tested on their own.

A cache folder, ``<data root>/.textclf-shards/<key>/``, holds
  tokens.bin   uint32: every row's token ids, one row after another (nanoGPT's train.bin)
  offsets.bin  int64 [rows + 1]: row i is tokens[offsets[i] : offsets[i + 1]]
  labels.bin   int32 [rows]: each row's class index
  meta.json    rows, tokens, labels and the settings of the key; written last, so a folder
               without it is an interrupted build (built again)
The key is a hash of the source file (absolute path, size, modification time) and of everything
that decides the ids (the tokenizer's JSON, the labels, max_tokens), so changing the file or the
tokenizer settings builds new shards instead of reading stale ones. Building streams the rows in
chunks (`CHUNK` rows), so its memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textclf.data.batching import Batch
from textclf.data.example import Example
from textclf.data.vocab import Vocab

CACHE = ".textclf-shards"
CHUNK = 65_536  # rows tokenized and written at a time
FILES = ("tokens.bin", "offsets.bin", "labels.bin")


def shard_key(source: Path, vocab: Vocab, labels: Sequence[str], max_tokens: int) -> str:
    """The cache key of ``source`` read with these settings (see the module docstring)."""
    stat = source.stat()
    described = json.dumps({"file": str(source.absolute()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                            "tokenizer": vocab.to_json(), "labels": list(labels), "max_tokens": max_tokens, "layout": 1})
    return hashlib.sha256(described.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Shards:
    """One split's rows as memory-mapped arrays: nothing is read until a row is asked for."""

    tokens: np.ndarray  # uint32 [total tokens]
    offsets: np.ndarray  # int64 [rows + 1]
    labels: np.ndarray  # int32 [rows]

    @classmethod
    def open(cls, folder: Path) -> Shards:
        rows = json.loads((folder / "meta.json").read_text())["rows"]
        return cls(
            np.memmap(folder / "tokens.bin", dtype=np.uint32, mode="r") if rows else np.zeros(0, np.uint32),
            np.memmap(folder / "offsets.bin", dtype=np.int64, mode="r", shape=(rows + 1,)),
            np.memmap(folder / "labels.bin", dtype=np.int32, mode="r", shape=(rows,)) if rows else np.zeros(0, np.int32),
        )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def block(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows start..stop-1, padded: (tokens [n, longest] int64, lengths [n], labels [n]). One
        contiguous read, whatever the number of rows."""
        offsets = np.asarray(self.offsets[start : stop + 1])
        flat = np.asarray(self.tokens[offsets[0] : offsets[-1]], dtype=np.int64)
        lengths = np.diff(offsets)
        padded = np.zeros((len(lengths), max(1, int(lengths.max(initial=1)))), dtype=np.int64)
        padded[np.arange(padded.shape[1]) < lengths[:, None]] = flat  # row-major, as the rows lie in flat
        return torch.from_numpy(padded), torch.from_numpy(lengths), torch.from_numpy(np.asarray(self.labels[start:stop], dtype=np.int64))


def cached_shards(source: Path, rows: Iterable[Example], vocab: Vocab, labels: Sequence[str], max_tokens: int) -> Shards:
    """The shards of ``source`` (whose examples ``rows`` yields, read only when they must be built)."""
    folder = source.parent / CACHE / shard_key(source, vocab, labels, max_tokens)
    if not (folder / "meta.json").is_file():
        build_shards(rows, vocab, labels, max_tokens, folder)
    return Shards.open(folder)


def build_shards(rows: Iterable[Example], vocab: Vocab, labels: Sequence[str], max_tokens: int, folder: Path) -> None:
    """Tokenize ``rows`` chunk by chunk into ``folder`` (built beside it, then renamed into place)."""
    index = {label: i for i, label in enumerate(labels)}
    partial = folder.with_name(folder.name + f".building-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    handles = {name: open(partial / name, "wb") for name in FILES}
    count, total = 0, 0
    try:
        handles["offsets.bin"].write(np.zeros(1, np.int64).tobytes())
        for chunk in chunks(rows, CHUNK):
            ids = vocab.encode_many([ex.text for ex in chunk], max_tokens)
            lengths = np.fromiter((max(1, len(row)) for row in ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter((token for row in ids for token in (row or [0])), dtype=np.uint32, count=int(lengths.sum()))
            handles["tokens.bin"].write(flat.tobytes())
            handles["offsets.bin"].write((total + np.cumsum(lengths)).tobytes())
            handles["labels.bin"].write(np.array([index[ex.label] for ex in chunk], dtype=np.int32).tobytes())
            count, total = count + len(chunk), total + int(lengths.sum())
    finally:
        for handle in handles.values():
            handle.close()
    (partial / "meta.json").write_text(json.dumps({"rows": count, "tokens": total, "labels": list(labels), "max_tokens": max_tokens}))
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted build's remains
    os.replace(partial, folder)


def chunks(rows: Iterable[Example], size: int) -> Iterator[list[Example]]:
    chunk: list[Example] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class Buffer:
    """How `ShardBatches` reads: blocks of ``block`` rows, ``blocks`` of them in the shuffle buffer
    at once, rows sorted by length in pools of ``pool_batches`` batches."""

    block: int = 8192
    blocks: int = 4
    pool_batches: int = 50


class ShardBatches:
    """Training batches from `Shards` without reading them whole. Each epoch takes the blocks of
    rows in an order shuffled by ``seed`` + epoch (a rank of ``world_size`` takes every
    world_size-th block: its own shards), reads `Buffer.blocks` blocks at a time into a shuffle
    buffer, shuffles its rows, sorts them by length in pools of ``batch_size`` x `Buffer.pool_batches`
    rows (little padding, as `BatchIterator` does) and yields the batches of the buffer in a
    shuffled order. At most `Buffer.blocks` x `Buffer.block` rows are in memory at once."""

    def __init__(self, shards: Shards, batch_size: int, seed: int = 0, buffer: Buffer = Buffer(), rank: int = 0, world_size: int = 1) -> None:
        self.shards, self.batch_size, self.seed, self.buffer = shards, batch_size, seed, buffer
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def blocks(self) -> list[tuple[int, int]]:
        """This rank's (start, stop) blocks for the current epoch, in their shuffled order."""
        block = self.buffer.block
        starts = list(range(0, len(self.shards), block))
        order = torch.randperm(len(starts), generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        mine = [starts[i] for i in order][self.rank :: self.world_size]
        return [(start, min(start + block, len(self.shards))) for start in mine]

    def __len__(self) -> int:
        rows = sum(stop - start for start, stop in self.blocks())
        return (rows + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        blocks = self.blocks()
        for first in range(0, len(blocks), self.buffer.blocks):
            yield from self.buffer_batches(blocks[first : first + self.buffer.blocks], generator)
        self.epoch += 1

    def buffer_batches(self, blocks: list[tuple[int, int]], generator: torch.Generator) -> Iterator[Batch]:
        parts = [self.shards.block(start, stop) + (torch.arange(start, stop),) for start, stop in blocks]
        width = max(part[0].shape[1] for part in parts)
        tokens = torch.cat([torch.nn.functional.pad(part[0], (0, width - part[0].shape[1])) for part in parts])
        lengths, labels, index = (torch.cat([part[i] for part in parts]) for i in (1, 2, 3))
        order = torch.randperm(len(lengths), generator=generator)
        batches = []
        for pool in torch.split(order, self.batch_size * self.buffer.pool_batches):
            pool = pool[torch.argsort(lengths[pool], stable=True)]
            batches.extend(torch.split(pool, self.batch_size))
        for i in torch.randperm(len(batches), generator=generator).tolist():
            rows = batches[i]
            yield Batch(tokens=tokens[rows, : int(lengths[rows].max())], lengths=lengths[rows], labels=labels[rows], index=index[rows])
