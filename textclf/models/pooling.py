"""Pooling over time that only ever sees the real steps of each sequence.

Every helper takes x [B, T, D] and a bool mask [B, T] (true = real token) and returns [B, D].
Padded slots are replaced (``masked_fill``), never multiplied by zero, so even inf/NaN there cannot
leak into the result (0 * inf = NaN). Every row must have at least one real step (lengths >= 1).

Attention pooling (Yang et al. 2016, "Hierarchical Attention Networks", eqs. 5-7; the same form
as Zhou et al. 2016, "Attention-Based BiLSTM"):

    u_t     = tanh(W h_t + b)
    alpha_t = exp(u_t . v) / sum_{t' real} exp(u_t' . v)
    s       = sum_t alpha_t h_t
"""

from __future__ import annotations

import torch
from torch import nn


def mask_from_lengths(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """[B] lengths -> bool [B, max_len], true at positions t < length."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """max_t over real steps of x [B, T, D] -> [B, D]."""
    return x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)


def mean_weights(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """bool mask [B, T] -> [B, T]: 1 / (the row's real steps) at its real steps, 0 elsewhere (all 0 for
    a row with none). A sum weighted by them is `masked_mean` without the [B, T, D] tensor: what
    embedding_bag's per_sample_weights take (the bag paths of models/embedding.py and models/ngrams.py)."""
    weights = mask.to(dtype)
    return weights / weights.sum(dim=1, keepdim=True).clamp(min=1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real steps of x [B, T, D] -> [B, D]."""
    total = x.masked_fill(~mask.unsqueeze(-1), 0.0).sum(dim=1)
    count = mask.sum(dim=1, keepdim=True).clamp(min=1).to(total.dtype)
    return total / count


class AttentionPooling(nn.Module):
    """Additive attention pooling: h [B, T, D] -> s [B, D] (weights alpha [B, T] on request).

    ``attention_size`` is the size of u_t (Yang et al. use 100 with 2x50 GRU states); by default it
    equals the input size.
    """

    def __init__(self, input_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        attention_size = attention_size or input_size
        self.proj = nn.Linear(input_size, attention_size)  # W, b
        # v: the learned "context vector" u_w of Yang et al.; small init so the first weights are
        # near-uniform rather than dominated by a random direction.
        self.context = nn.Parameter(torch.empty(attention_size).normal_(0.0, 0.1))

    def forward(
        self, h: torch.Tensor, mask: torch.Tensor, return_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        keep = mask.unsqueeze(-1)
        h = h.masked_fill(~keep, 0.0)
        scores = torch.tanh(self.proj(h)) @ self.context  # [B, T]
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
        pooled = torch.bmm(weights.unsqueeze(1), h).squeeze(1)
        return (pooled, weights) if return_weights else pooled
