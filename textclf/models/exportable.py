"""Classifiers with plain-tensor inputs, for tracing into TorchScript or ONNX (textclf/commands/export.py).

`TextClassifier.forward` takes a `Batch`; a serving graph takes named tensors. These wrappers
build the `Batch` from their inputs and call the trained model itself, so the exported graph runs
the very maths that was trained and evaluated; they add no weights of their own.

Both return logits [B, num_classes] (softmax over the last axis gives `predict`'s probabilities).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textclf.data.batching import Batch
from textclf.models.classifier import TextClassifier


class FlatInputs(nn.Module):
    """(tokens [B, T] int64, lengths [B] int64) -> logits [B, C], for every flat encoder (and its n-gram branch).

    tokens are right-padded with 0; lengths count each row's real tokens (>= 1: an empty text is
    one padding token of length 1, as in training).
    """

    kind = "flat"
    # Input names and the name of each axis; every axis is dynamic in the exported graph.
    inputs = {"tokens": ("batch", "tokens"), "lengths": ("batch",)}

    def __init__(self, model: TextClassifier) -> None:
        super().__init__()
        self.model = model

    @staticmethod
    def batch(tokens: torch.Tensor, lengths: torch.Tensor) -> Batch:
        return Batch(tokens=tokens, lengths=lengths, labels=None)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model(self.batch(tokens, lengths))


def keep_recent(memory: torch.Tensor, lengths: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's ``size`` most recent memories moved to the front, the rest zeroed; the shape
    [B, M, S] is kept. Returns (memory, lengths clamped to size).

    MemN2N keeps the most recent memories itself, but behind a Python branch on the number of
    memory slots M, which a trace freezes at the traced M: traced with M <= memory_size, the graph
    would skip the cut for any M. Cutting here, without a branch and without changing M, hands the
    model at most memory_size real memories per row whatever M is, so its frozen "nothing to cut"
    branch is then right (padding slots are masked out of its attention).
    """
    slots = torch.arange(memory.shape[1], device=memory.device).unsqueeze(0)  # [1, M]
    lengths = lengths.clamp(min=0, max=memory.shape[1])
    kept = lengths.clamp(max=size)
    real = slots < kept.unsqueeze(1)  # [B, M]
    positions = torch.where(real, (lengths - kept).unsqueeze(1) + slots, torch.zeros_like(slots))
    recent = memory.gather(1, positions.unsqueeze(-1).expand_as(memory))
    return recent.masked_fill(~real.unsqueeze(-1), 0), kept


def same_width(memory: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """memory [B, M, S] and query [B, Q], both right-padded with 0 to S + Q words.

    MemN2N may encode story sentences and question in one product, padding the narrower of the two
    to the other's width behind a Python branch on S and Q, which a trace would freeze as traced.
    Given equal widths, whatever S and Q are, that branch never pads. Padding words weigh nothing.
    """
    words, query_words = memory.shape[2], query.shape[1]
    return F.pad(memory, (0, query_words)), F.pad(query, (0, words))


class MemoryInputs(nn.Module):
    """(memory [B, M, S], memory_lengths [B], query [B, Q], all int64) -> logits [B, C], for MemN2N.

    memory: story sentences as token ids, oldest first, right-padded with 0 (rows at and after
    memory_lengths[b] are all 0; memory_lengths may be 0). query: the question's ids, right-padded;
    an all-zero row means no question (single-text models), and Q >= 1.
    """

    kind = "memory"
    inputs = {
        "memory": ("batch", "memories", "memory_words"),
        "memory_lengths": ("batch",),
        "query": ("batch", "query_words"),
    }

    def __init__(self, model: TextClassifier) -> None:
        super().__init__()
        self.model = model
        self.memory_size = model.encoder.memory_size

    @staticmethod
    def batch(memory: torch.Tensor, memory_lengths: torch.Tensor, query: torch.Tensor) -> Batch:
        # A memory encoder reads memory and query only; tokens and lengths just fill the Batch.
        return Batch(tokens=query, lengths=memory_lengths, labels=None, memory=memory, memory_lengths=memory_lengths, query=query)

    def forward(self, memory: torch.Tensor, memory_lengths: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        memory, memory_lengths = keep_recent(memory, memory_lengths, self.memory_size)
        memory, query = same_width(memory, query)
        return self.model(self.batch(memory, memory_lengths, query))


def exportable(model: TextClassifier) -> FlatInputs | MemoryInputs:
    """The wrapper that fits the model's encoder, in eval mode."""
    return (MemoryInputs(model) if model.encoder.reads_memory else FlatInputs(model)).eval()
