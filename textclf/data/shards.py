"""Token shards: a table's training rows tokenized once, in a streaming pass, into memory-mapped files.

The streaming data path (data/streaming.py) writes them into its cache and trains from them. A
shard folder holds
  tokens.bin   uint32: every row's token ids, one row after another (nanoGPT's train.bin)
  offsets.bin  int64 [rows + 1]: row i is tokens[offsets[i] : offsets[i + 1]]
  labels.bin   int32 [rows]: each row's class index
  meta.json    rows, tokens, empty rows, labels and max_tokens; written last, so a folder
               without it is an interrupted build (built again)
Building streams the rows in chunks (`CHUNK` rows), so its memory does not grow with the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textclf.data.batching import Batch
from textclf.data.example import Example
from textclf.data.vocab import Vocab

CHUNK = 8192  # rows tokenized and written at a time: their ids are Python lists meanwhile
FILES = ("tokens.bin", "offsets.bin", "labels.bin")


@dataclass(frozen=True)
class Shards:
    """One split's rows as memory-mapped arrays: nothing is read until a row is asked for."""

    tokens: np.ndarray  # uint32 [total tokens]
    offsets: np.ndarray  # int64 [rows + 1]
    labels: np.ndarray  # int32 [rows]
    empty: int = 0  # rows with no token left after tokenizing (stored as one padding token)

    @classmethod
    def open(cls, folder: Path) -> Shards:
        meta = json.loads((folder / "meta.json").read_text())
        rows = meta["rows"]
        return cls(
            np.memmap(folder / "tokens.bin", dtype=np.uint32, mode="r") if rows else np.zeros(0, np.uint32),
            np.memmap(folder / "offsets.bin", dtype=np.int64, mode="r", shape=(rows + 1,)),
            np.memmap(folder / "labels.bin", dtype=np.int32, mode="r", shape=(rows,)) if rows else np.zeros(0, np.int32),
            meta.get("empty", 0),
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


def build_shards(rows: Iterable[Example], vocab: Vocab, labels: Sequence[str], max_tokens: int, folder: Path,
                 extra: Mapping[str, str] | None = None) -> None:
    """Tokenize ``rows`` chunk by chunk into ``folder`` (made here), with ``extra`` files (name: text)
    beside them. A text with no token left is stored as one padding token, as the in-memory path
    pads it. meta.json comes last: a folder without it is an interrupted build."""
    index = {label: i for i, label in enumerate(labels)}
    folder.mkdir(parents=True)
    handles = {name: open(folder / name, "wb") for name in FILES}
    count, total, empty = 0, 0, 0
    try:
        handles["offsets.bin"].write(np.zeros(1, np.int64).tobytes())
        for chunk in chunks(rows, CHUNK):
            ids = vocab.encode_many([ex.text for ex in chunk], max_tokens)
            lengths = np.fromiter((max(1, len(row)) for row in ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter((token for row in ids for token in (row or [0])), dtype=np.uint32, count=int(lengths.sum()))
            handles["tokens.bin"].write(flat.tobytes())
            handles["offsets.bin"].write((total + np.cumsum(lengths)).tobytes())
            handles["labels.bin"].write(np.array([index[ex.label] for ex in chunk], dtype=np.int32).tobytes())
            count, total, empty = count + len(chunk), total + int(lengths.sum()), empty + sum(not row for row in ids)
    finally:
        for handle in handles.values():
            handle.close()
    for name, text in (extra or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    meta = {"rows": count, "tokens": total, "empty": empty, "labels": list(labels), "max_tokens": max_tokens}
    (folder / "meta.json").write_text(json.dumps(meta))


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
    """How `ShardBatches` reads: blocks of at most ``block`` rows, about ``rows`` rows in the shuffle
    buffer at once, rows sorted by length in pools of ``pool_batches`` batches."""

    block: int = 8192
    rows: int = 32768
    pool_batches: int = 50


class ShardBatches:
    """Training batches from `Shards` without reading them whole. Each epoch takes the blocks of
    rows in an order shuffled by ``seed`` + epoch (a rank of ``world_size`` takes every
    world_size-th block: its own shards), reads blocks into a shuffle buffer of about `Buffer.rows`
    rows, shuffles its rows, sorts them by length in pools of ``batch_size`` x `Buffer.pool_batches`
    rows (little padding, as `BatchIterator` does) and yields the batches of the buffer in a
    shuffled order. At most about `Buffer.rows` rows are in memory at once.

    A block is `Buffer.block` rows, or fewer where the data is small: every rank gets at least
    `MIN_BLOCKS` blocks, so that ranks hold about the same rows and the order has something to shuffle.
    Under DDP every rank must take the same number of steps, and ranks' blocks hold different
    numbers of rows, so every rank stops after the fewest batches any rank has (`__len__`); the
    rows left over are skipped this epoch, as `BatchIterator` skips its leftover batches."""

    MIN_BLOCKS = 16

    def __init__(self, shards: Shards, batch_size: int, seed: int = 0, buffer: Buffer = Buffer(), rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu") -> None:
        self.shards, self.batch_size, self.seed, self.pool_batches = shards, batch_size, seed, buffer.pool_batches
        self.rank, self.world_size, self.device = rank, world_size, torch.device(device)
        self.block = max(1, min(buffer.block, -(-len(shards) // (self.MIN_BLOCKS * world_size))))
        self.per_buffer = max(1, buffer.rows // self.block)  # blocks in the shuffle buffer at once
        self.epoch = 0

    def blocks(self, rank: int | None = None) -> list[tuple[int, int]]:
        """A rank's (start, stop) blocks for the current epoch (this one's by default), in their shuffled order."""
        starts = list(range(0, len(self.shards), self.block))
        order = torch.randperm(len(starts), generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        mine = [starts[i] for i in order][self.rank if rank is None else rank :: self.world_size]
        return [(start, min(start + self.block, len(self.shards))) for start in mine]

    def batch_count(self, rank: int) -> int:
        """How many batches `__iter__` cuts from a rank's blocks this epoch: buffer by buffer, pool by pool."""
        blocks, pool = self.blocks(rank), self.batch_size * self.pool_batches
        count = 0
        for first in range(0, len(blocks), self.per_buffer):
            rows = sum(stop - start for start, stop in blocks[first : first + self.per_buffer])
            full, rest = divmod(rows, pool)
            count += full * self.pool_batches + -(-rest // self.batch_size)
        return count

    def __len__(self) -> int:
        return min(self.batch_count(rank) for rank in range(self.world_size))

    def __iter__(self) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        blocks, steps = self.blocks(), len(self)
        buffers = (self.buffer_batches(blocks[first : first + self.per_buffer], generator) for first in range(0, len(blocks), self.per_buffer))
        for _, batch in zip(range(steps), (batch for batches in buffers for batch in batches)):
            yield batch.to(self.device) if self.device.type != "cpu" else batch
        self.epoch += 1

    def buffer_batches(self, blocks: list[tuple[int, int]], generator: torch.Generator) -> Iterator[Batch]:
        parts = [self.shards.block(start, stop) + (torch.arange(start, stop),) for start, stop in blocks]
        width = max(part[0].shape[1] for part in parts)
        tokens = torch.cat([torch.nn.functional.pad(part[0], (0, width - part[0].shape[1])) for part in parts])
        lengths, labels, index = (torch.cat([part[i] for part in parts]) for i in (1, 2, 3))
        order = torch.randperm(len(lengths), generator=generator)
        batches = []
        for pool in torch.split(order, self.batch_size * self.pool_batches):
            pool = pool[torch.argsort(lengths[pool], stable=True)]
            batches.extend(torch.split(pool, self.batch_size))
        for i in torch.randperm(len(batches), generator=generator).tolist():
            rows = batches[i]
            yield Batch(tokens=tokens[rows, : int(lengths[rows].max())], lengths=lengths[rows], labels=labels[rows], index=index[rows])
