"""TextClassifier: embedding -> encoder -> dropout -> linear, logits = W s + b.

Two kinds of encoder plug in:
  * flat encoders (TextRNN, BiLSTM, TextRCNN) read the embedded token sequence:
    ``encoder(embedding(batch.tokens), batch.lengths)``;
  * memory encoders (MemN2N) set the class attribute ``reads_memory = True`` and need the story
    and query separately, so they get the whole batch and embed it themselves:
    ``encoder(batch, embedding)``.
Either way the encoder returns [B, encoder.output_size].
"""

from __future__ import annotations

import torch
from torch import nn

from textclf.data.batching import Batch
from textclf.models.embedding import Embedding


class TextClassifier(nn.Module):
    def __init__(
        self, embedding: Embedding, encoder: nn.Module, num_classes: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(encoder.output_size, num_classes))

    def forward(self, batch: Batch) -> torch.Tensor:
        """batch -> logits [B, num_classes]."""
        if getattr(self.encoder, "reads_memory", False):
            features = self.encoder(batch, self.embedding)
        else:
            features = self.encoder(self.embedding(batch.tokens), batch.lengths)
        return self.head(features)
