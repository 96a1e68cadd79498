"""What `TextClassifier` asks of an encoder: the one interface every encoder implements.

Two kinds plug in, told apart by the class, never by the config:
  * `FlatEncoder` (TextRNN, BiLSTM, TextRCNN, TextCNN, fastText) reads the embedded token
    sequence: ``encoder(embedding(batch.tokens), batch.lengths)``;
  * `MemoryEncoder` (MemN2N) reads a story and a question, so it gets the whole batch and embeds
    it itself (``encoder(batch, embedding)``), owns further word tables (it is built with the
    vocabulary size), and may offer the table an answer layer ties to (`answer_embedding`).
Either way the encoder returns [B, output_size]. Data preparation, export, explanation and the
n-gram branch ask `reads_memory` of the encoder class (models/registry.py finds it by name).
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn


class Encoder(nn.Module):
    reads_memory: ClassVar[bool] = False
    # True: the features are the plain mean of the real words' vectors (fastText), which the
    # classifier may compute from the ids alone (TextClassifier.trains_as_bags).
    mean_of_vectors: ClassVar[bool] = False
    output_size: int  # the width of the features the head reads; set by the constructor

    def answer_embedding(self) -> nn.Embedding | None:
        """The word table an answer layer may tie to (MemN2N's C^K); None: nothing to tie to."""
        return None


class FlatEncoder(Encoder):
    """x [B, T, E], lengths [B] -> [B, output_size]."""


class MemoryEncoder(Encoder):
    """(batch, embedding) -> [B, output_size]: memories + query, embedded by the encoder."""

    reads_memory: ClassVar[bool] = True
