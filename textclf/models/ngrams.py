"""Hashed word n-grams: a bag of n-gram embeddings beside any flat encoder.

Joulin, Grave, Bojanowski, Mikolov (2016), "Bag of Tricks for Efficient Text Classification",
sec. 2.1: a bag of words ignores word order; adding the text's word n-grams as features brings
some of it back at almost no cost, and the hashing trick (Weinberger et al. 2009) keeps the table
a fixed size however many distinct n-grams the data holds.

For a text w_1 .. w_L (vocabulary ids) and each order n = 2 .. N, the n-gram starting at word t,
(w_t, ..., w_{t+n-1}), falls into one of B buckets by a polynomial rolling hash

    h_0 = n,   h_k = (h_{k-1} * P + w_{t+k-1}) mod B   (k = 1 .. n),   bucket = h_n

(the order n seeds the hash, so a bigram and a trigram over the same ids land apart), and the text's
n-gram vector is the mean of table rows over all its n-grams:

    z = (1 / |G|) sum_{g in G} Z[bucket(g)]      Z in R^{B x d};  z = 0 when G is empty (one word).

Why ids rather than strings (fastText hashes the n-gram's characters): the ids are what the
model, and an exported graph, receives; hashing them with integer tensor ops keeps the branch
inside the trace (TorchScript, ONNX) with no tokenizer-side feature code to keep in step. The
vocabulary is stored with the checkpoint, so a checkpoint's buckets never move. Every step is
reduced mod B, so with B <= 2^24 and P < 2^32 no product exceeds 2^56: int64 never overflows, and
every runtime computes the same buckets.

The table starts at zero (fastText: uniform +-1/d): buckets that training never reached, such as
a test text's unseen n-grams, then add nothing rather than noise, and at initialisation the branch
contributes 0 so the classifier starts as its encoder alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textclf.models.pooling import mask_from_lengths, mean_weights

# Knuth's multiplicative-hashing constant, 2^32 / golden ratio (a prime): odd, so multiplying by it
# permutes the buckets when B is a power of two, and large, so neighbouring ids spread apart.
PRIME = 2654435761
MAX_BUCKETS = 2**24  # keeps h * P + w below 2^63 (see the module docstring)


def ngram_buckets(tokens: torch.Tensor, lengths: torch.Tensor, max_n: int, buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens [B, T] (right-padded), lengths [B] -> (bucket ids [B, (N-1) T], real [B, (N-1) T] bool).

    Column block n-2 holds, at position t, the bucket of the n-gram starting at t; it is real
    when that n-gram lies within the text (t + n <= length), so no n-gram touches padding.
    """
    steps = tokens.shape[1]
    ids, real = [], []
    for n in range(2, max_n + 1):
        h = torch.full_like(tokens, n)
        for k in range(n):
            # w_{t+k} at position t: a shift left by k with constant padding, not a slice up to T - k,
            # so the traced graph has no length arithmetic to freeze.
            following = F.pad(tokens[:, k:], (0, k))
            h = (h * PRIME + following) % buckets
        ids.append(h)
        real.append(mask_from_lengths(lengths - (n - 1), steps))
    return torch.cat(ids, dim=1), torch.cat(real, dim=1)


class HashedNgrams(nn.Module):
    """tokens [B, T] int64, lengths [B] -> z [B, dim]: the mean embedding of the text's hashed
    2- .. max_n-grams. ``dropout`` acts on the looked-up n-gram vectors, as embedding.dropout on
    the word vectors."""

    def __init__(self, max_n: int = 2, buckets: int = 131072, dim: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        if max_n < 2:
            raise ValueError(f"max_n must be >= 2 (bigrams and up), got {max_n}")
        if not 1 <= buckets <= MAX_BUCKETS:
            raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}, got {buckets}")
        self.max_n = max_n
        self.buckets = buckets
        self.dim = dim
        # Z, zero from the start (module docstring); made directly, so building the branch draws
        # nothing from the random stream: the other weights start as they would without it.
        self.table = nn.Parameter(torch.zeros(buckets, dim))
        self.dropout = nn.Dropout(dropout)
        # True: the table's gradient holds only the rows a batch read (model.sparse, training/sparse.py).
        # Gradients only: the looked-up vectors, and so inference and export, are the same.
        self.sparse = False

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(tokens.device)
        ids, real = ngram_buckets(tokens, lengths, self.max_n, self.buckets)
        vectors = self.dropout(F.embedding(ids, self.table, sparse=self.sparse)).masked_fill(~real.unsqueeze(-1), 0.0)
        count = real.sum(dim=1, keepdim=True).clamp(min=1).to(vectors.dtype)  # no n-gram: 0 / 1 = 0
        return vectors.sum(dim=1) / count

    @property
    def drops_vectors(self) -> bool:
        return self.dropout.p > 0

    def bag(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """`forward`'s z as one weighted embedding_bag (each real n-gram weighs 1 / |G|, the others 0),
        without the [B, (N-1) T, dim] tensor of looked-up vectors; only when nothing is dropped."""
        if self.drops_vectors:
            raise ValueError("bag cannot drop vector components: model.ngrams.dropout must be 0")
        ids, real = ngram_buckets(tokens, lengths.to(tokens.device), self.max_n, self.buckets)
        # No n-gram (a one-word text): all weights 0, so z = 0 as in `forward`.
        return F.embedding_bag(ids, self.table, mode="sum", per_sample_weights=mean_weights(real, self.table.dtype), sparse=self.sparse)
