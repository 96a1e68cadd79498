"""TextClassifier: embedding -> encoder -> dropout -> linear, logits = W s + b.

Two kinds of encoder plug in (models/encoder.py): a flat encoder reads the embedded token
sequence, ``encoder(embedding(batch.tokens), batch.lengths)``; a memory encoder (MemN2N) reads the
story and query, so it gets the whole batch and embeds it itself, ``encoder(batch, embedding)``.
Either way the encoder returns [B, encoder.output_size].

A flat encoder may have an n-gram branch beside it (``ngrams``, models/ngrams.py: the mean of the
text's hashed word n-gram vectors, [B, d]); the head then reads [encoder features ; n-gram features].
Concatenated rather than added, so the branch needs no size of its own to match the encoder's, and
the head weighs the two kinds of evidence separately.
"""

from __future__ import annotations

import torch
from torch import nn

from textclf.data.batching import Batch
from textclf.models.embedding import Embedding
from textclf.models.encoder import Encoder
from textclf.models.ngrams import HashedNgrams


class TiedAnswerHead(nn.Module):
    """logits = W u with W tied to a word table: W[c] = mean of table rows of label c's tokens.

    MemN2N's adjacent tying sets W^T = C^K (Sukhbaatar et al. 2015, sec. 2.2): answers are words,
    scored by how well u matches their output embedding. Here answers are classes, so a class is
    scored through the tokens of its label (one word for most bAbI answers, "n , w" for a path).
    """

    def __init__(self, table: nn.Embedding, label_bags: torch.Tensor, dropout: float = 0.0) -> None:
        super().__init__()
        self.table = table
        self.dropout = nn.Dropout(dropout)
        # Derived from the vocabulary and labels (which checkpoints hold), so not saved as state.
        self.register_buffer("label_bags", label_bags, persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dropout(features) @ (self.label_bags @ self.table.weight).T


class TextClassifier(nn.Module):
    def __init__(
        self,
        embedding: Embedding,
        encoder: Encoder,
        num_classes: int,
        dropout: float = 0.0,
        head: nn.Module | None = None,
        ngrams: HashedNgrams | None = None,
    ) -> None:
        super().__init__()
        if ngrams is not None and encoder.reads_memory:
            raise ValueError("an n-gram branch reads one token sequence; a memory encoder reads a story and a question")
        self.embedding = embedding
        self.encoder = encoder
        # None (no branch) registers no weights: the state of a model without it is as before.
        self.ngrams = ngrams
        features = encoder.output_size + (ngrams.dim if ngrams is not None else 0)
        self.head = head if head is not None else nn.Sequential(nn.Dropout(dropout), nn.Linear(features, num_classes))

    def trains_as_bags(self) -> bool:
        """Whether this step computes the means (fastText's words, and the n-grams beside them) from
        the ids, by embedding_bag: no [B, T, dim] tensor of looked-up vectors, no masks, and a backward
        that adds into the table rows directly. Only while training a mean of word vectors from which
        nothing is dropped (vector dropout needs the [B, T, dim] tensor to mask). Evaluation and export
        keep the step-by-step path, so scores and exported graphs (which would need embedding_bag in
        ONNX) are computed as before."""
        return (self.training and self.encoder.mean_of_vectors and not self.embedding.drops_vectors
                and (self.ngrams is None or not self.ngrams.drops_vectors))

    def forward(self, batch: Batch) -> torch.Tensor:
        """batch -> logits [B, num_classes]."""
        if self.encoder.reads_memory:
            features = self.encoder(batch, self.embedding)
        else:
            bags = self.trains_as_bags()
            if bags:
                features = self.embedding.bag_mean(batch.tokens, batch.lengths)
            else:
                features = self.encoder(self.embedding(batch.tokens), batch.lengths)
            if self.ngrams is not None:
                ngrams = self.ngrams.bag if bags else self.ngrams
                features = torch.cat([features, ngrams(batch.tokens, batch.lengths)], dim=-1)
        return self.head(features)
