"""Length-bucketed batches cut from pre-padded tensors (no per-item Python collation)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One mini-batch, already on its device.

    tokens:          [B, T] token ids of the flat sequence (story sentences, <sep>, question), 0-padded.
    lengths:         [B] number of real tokens in each row of ``tokens`` (>= 1).
    labels:          [B] class indices, or [B, C] 0/1 floats for multi-label data.
    memory:          [B, M, S] story sentences as token ids for memory encoders, or None.
    memory_lengths:  [B] number of real memories per example, or None.
    query:           [B, Q] the question alone (for memory encoders), or None.
    group:           [B] group index (e.g. bAbI task) per example, or None.
    index:           [B] position of each row's example in its split (batches are length-sorted).
    weights:         [B] each row's weight in the loss (data.weight_column), or None: every row counts 1.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    memory: torch.Tensor | None = None
    memory_lengths: torch.Tensor | None = None
    query: torch.Tensor | None = None
    group: torch.Tensor | None = None
    index: torch.Tensor | None = None
    weights: torch.Tensor | None = None

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

    tokens [N, T] (T = longest sequence in the split), lengths [N], labels [N] (multi-label: [N, C]
    0/1 floats), group [N] or None.
    For memory encoders also (see memory.py): memory [N, M, S] int32, memory_lengths [N],
    memory_widths [N] (longest sentence per example), query [N, Q], query_lengths [N].
    weights [N] float: each example's weight (data.weight_column), or None when every one counts 1.
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
    weights: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.tokens.shape[0]


def cut_by_tokens(order: torch.Tensor, sorted_lengths: list[int], max_rows: int, token_budget: int) -> list[torch.Tensor]:
    """Cut ``order`` (sorted by ascending length) into consecutive batches of at most ``max_rows``
    rows whose rows x longest length stays within ``token_budget``; a row longer than the budget
    gets a batch of its own."""
    sizes = []
    start, n = 0, len(sorted_lengths)
    while start < n:
        end = start + 1
        while end < n and end - start < max_rows and (end - start + 1) * max(1, sorted_lengths[end]) <= token_budget:
            end += 1
        sizes.append(end - start)
        start = end
    return list(torch.split(order, sizes))


def eval_token_budget(split: EncodedSplit, batch_size: int) -> int:
    """A padded-token budget for evaluation batches: ``batch_size`` rows of the split's median
    length, so that batches of typical texts stay full-size and only longer ones shrink."""
    return batch_size * max(1, int(split.lengths.float().median()))


class BatchIterator:
    """Yields `Batch`es from an `EncodedSplit`, grouping similar lengths so little is padding.

    Training order (``shuffle=True``): shuffle, cut into pools of ``pool_batches`` batches, sort
    each pool by length, cut into batches, shuffle the batches. Each epoch differs (the generator
    is seeded with seed + epoch) yet runs are reproducible. Evaluation order sorts everything by
    length; ``Batch.index`` maps rows back to example order.

    ``token_budget`` (evaluation order only): a batch also stops growing before its rows x longest
    length would pass this many tokens, so long texts come in smaller batches. With a fixed row
    count the last, longest batches of a sorted split span the widest range of lengths and pad
    the most; work per batch grows with its padded size, so bounding that size saves time.
    Training batches keep ``batch_size`` rows (the optimizer's step depends on it).

    ``rank`` / ``world_size`` (data-parallel training): every process draws the same order (same
    seed) and keeps every world_size-th batch from its rank on, so together they cover each batch
    once. The few batches left over after dealing evenly are skipped this epoch: DDP needs every
    process to take the same number of steps, and the next epoch's shuffle puts them elsewhere.

    ``sample_weights`` (training order only; task.sampler=balanced): each epoch draws its N
    examples with replacement in proportion to these weights instead of permuting them; pools
    are then sorted by length as above, so batches are still cut from similar lengths.
    """

    def __init__(
        self,
        split: EncodedSplit,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
        pool_batches: int = 50,
        token_budget: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        sample_weights: torch.Tensor | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if token_budget is not None and token_budget < 1:
            raise ValueError(f"token_budget must be >= 1 or None, got {token_budget}")
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.device = torch.device(device)
        self.pool_batches = pool_batches
        self.token_budget = token_budget
        self.rank, self.world_size = rank, world_size
        self.sample_weights = sample_weights
        self.epoch = 0

    def __len__(self) -> int:
        if self.token_budget is not None and not self.shuffle:
            return len(self._order())
        return (len(self.split) + self.batch_size - 1) // self.batch_size // self.world_size

    def _order(self) -> list[torch.Tensor]:
        batches = self._all_batches()
        dealt = len(batches) // self.world_size * self.world_size
        return batches[self.rank : dealt : self.world_size]

    def _all_batches(self) -> list[torch.Tensor]:
        lengths = self.split.lengths
        if not self.shuffle:
            order = torch.argsort(lengths, stable=True)
            if self.token_budget is None:
                return list(torch.split(order, self.batch_size))
            return cut_by_tokens(order, lengths[order].tolist(), self.batch_size, self.token_budget)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.sample_weights is None:
            order = torch.randperm(len(lengths), generator=generator)
        else:
            order = torch.multinomial(self.sample_weights, len(lengths), replacement=True, generator=generator)
        pool = self.batch_size * self.pool_batches
        batches: list[torch.Tensor] = []
        for chunk in torch.split(order, pool):
            chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
            batches.extend(torch.split(chunk, self.batch_size))
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in shuffled]

    def _batch_maxima(self, batches: list[torch.Tensor], *columns: torch.Tensor) -> list[list[int]]:
        """Each column's maximum over each batch, for all batches at once: one gather and one
        reduction per column instead of a reduction and an int() per batch and column."""
        flat = torch.cat(batches)
        batch_of = torch.repeat_interleave(torch.tensor([len(b) for b in batches]))
        return [
            torch.zeros(len(batches), dtype=column.dtype).scatter_reduce_(0, batch_of, column[flat], "amax").tolist()
            for column in columns
        ]

    def __iter__(self):
        split = self.split
        batches = self._order()
        if not batches:
            self.epoch += 1
            return
        columns = [split.lengths]
        if split.memory is not None:
            columns += [split.memory_lengths, split.memory_widths, split.query_lengths]
        maxima = self._batch_maxima(batches, *columns)
        for i, index in enumerate(batches):
            batch = Batch(
                tokens=split.tokens[index, : maxima[0][i]],
                lengths=split.lengths[index],
                labels=split.labels[index],
                group=None if split.group is None else split.group[index],
                index=index,
                weights=None if split.weights is None else split.weights[index],
            )
            if split.memory is not None:
                # Trim to this batch's most memories, longest sentence and longest query.
                rows, cols, query_width = (max(1, m[i]) for m in maxima[1:])
                batch.memory = split.memory[index, :rows, :cols].long()
                batch.memory_lengths = split.memory_lengths[index]
                batch.query = split.query[index, :query_width]
            yield batch.to(self.device) if self.device.type != "cpu" else batch
        self.epoch += 1
