"""Length-bucketed batches cut from pre-padded tensors (no per-item Python collation)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One mini-batch, already on its device.

    tokens:          [B, T] token ids of the flat sequence (story sentences, <sep>, question), 0-padded.
    lengths:         [B] number of real tokens in each row of ``tokens`` (>= 1).
    labels:          [B] class indices.
    memory:          [B, M, S] story sentences as token ids for memory encoders, or None.
    memory_lengths:  [B] number of real memories per example, or None.
    query:           [B, Q] the question alone (for memory encoders), or None.
    group:           [B] group index (e.g. bAbI task) per example, or None.
    index:           [B] position of each row's example in its split (batches are length-sorted).
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    memory: torch.Tensor | None = None
    memory_lengths: torch.Tensor | None = None
    query: torch.Tensor | None = None
    group: torch.Tensor | None = None
    index: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        moved = {
            name: (value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value)
            for name, value in self.__dict__.items()
        }
        return Batch(**moved)

    def __len__(self) -> int:
        return self.tokens.shape[0]


@dataclass
class EncodedSplit:
    """One split as pre-padded tensors, built once; batches are slices of these.

    tokens [N, T] (T = longest sequence in the split), lengths [N], labels [N], group [N] or None.
    For memory encoders also (see memory.py): memory [N, M, S] int32, memory_lengths [N],
    memory_widths [N] (longest sentence per example), query [N, Q], query_lengths [N].
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    group: torch.Tensor | None = None
    memory: torch.Tensor | None = None
    memory_lengths: torch.Tensor | None = None
    memory_widths: torch.Tensor | None = None
    query: torch.Tensor | None = None
    query_lengths: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.tokens.shape[0]


def flat_sequence(context_ids: list[list[int]], text_ids: list[int], sep_id: int, max_tokens: int) -> list[int]:
    """The token sequence a flat encoder reads: story sentences, ``<sep>``, question.

    Too long for ``max_tokens``: a story keeps its end (the question and the most recent facts,
    which is where bAbI answers live); a single text keeps its beginning, as is usual for documents.
    """
    if not context_ids:
        return text_ids[:max_tokens]
    sequence = [tok for sentence in context_ids for tok in sentence] + [sep_id] + text_ids
    return sequence[-max_tokens:]


def pad_rows(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ragged id lists into a 0-padded [N, T] tensor and their lengths (an empty row counts as
    length 1 of padding, since packed RNNs reject zero lengths and an empty text is valid input)."""
    lengths = torch.tensor([max(1, len(row)) for row in rows], dtype=torch.long)
    width = int(lengths.max()) if rows else 1
    padded = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            padded[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return padded, lengths


class BatchIterator:
    """Yields `Batch`es from an `EncodedSplit`, grouping similar lengths so little is padding.

    Training order (``shuffle=True``): shuffle, cut into pools of ``pool_batches`` batches, sort
    each pool by length, cut into batches, shuffle the batches. Each epoch differs (the generator
    is seeded with seed + epoch) yet runs are reproducible. Evaluation order sorts everything by
    length; ``Batch.index`` maps rows back to example order.
    """

    def __init__(
        self,
        split: EncodedSplit,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
        pool_batches: int = 50,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.device = torch.device(device)
        self.pool_batches = pool_batches
        self.epoch = 0

    def __len__(self) -> int:
        return (len(self.split) + self.batch_size - 1) // self.batch_size

    def _order(self) -> list[torch.Tensor]:
        lengths = self.split.lengths
        if not self.shuffle:
            order = torch.argsort(lengths, stable=True)
            return list(torch.split(order, self.batch_size))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(lengths), generator=generator)
        pool = self.batch_size * self.pool_batches
        batches: list[torch.Tensor] = []
        for chunk in torch.split(order, pool):
            chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
            batches.extend(torch.split(chunk, self.batch_size))
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in shuffled]

    def __iter__(self):
        split = self.split
        for index in self._order():
            width = int(split.lengths[index].max())
            batch = Batch(
                tokens=split.tokens[index, :width],
                lengths=split.lengths[index],
                labels=split.labels[index],
                group=None if split.group is None else split.group[index],
                index=index,
            )
            if split.memory is not None:
                # Trim to this batch's most memories, longest sentence and longest query.
                rows = max(1, int(split.memory_lengths[index].max()))
                cols = max(1, int(split.memory_widths[index].max()))
                batch.memory = split.memory[index, :rows, :cols].long()
                batch.memory_lengths = split.memory_lengths[index]
                batch.query = split.query[index, : max(1, int(split.query_lengths[index].max()))]
            yield batch.to(self.device) if self.device.type != "cpu" else batch
        self.epoch += 1
