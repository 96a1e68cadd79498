"""BiLSTM encoder with pooling over time.

A bidirectional LSTM (Graves & Schmidhuber 2005) reads e(w_1) ... e(w_n) both ways; each word
gets h_t = [->h_t ; <-h_t] in R^{2H}, and the text is one pooled vector:

    max:        s = max_t h_t                       (elementwise; Conneau et al. 2017, "BiLSTM-max")
    mean:       s = (1/n) sum_t h_t
    attention:  s = sum_t alpha_t h_t, alpha = softmax_t(v . tanh(W h_t + b))
                                                    (Yang et al. 2016; Zhou et al. 2016)
    last:       s = [->h_n ; <-h_1]                 (the final states, as in TextRNN)

``cell="gru"`` or ``cell="rnn"`` (a plain tanh RNN) replaces the LSTM, to compare cells under the
same pooling; the model keeps its name.

Padding never reaches a pooled state: the LSTM keeps it out of the real steps (rnn.py) and the
pooling runs under a mask.
"""

from __future__ import annotations

import torch

from textclf.models.encoder import FlatEncoder
from textclf.models.pooling import AttentionPooling, mask_from_lengths, masked_max, masked_mean
from textclf.models.rnn import PaddedRNN

POOLINGS = ("max", "mean", "attention", "last")


class BiLSTM(FlatEncoder):
    """x [B, T, E], lengths [B] -> s [B, output_size]; output_size = 2 * hidden_size."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        pooling: str = "max",
        cell: str = "lstm",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {list(POOLINGS)}")
        self.rnn = PaddedRNN(cell, input_size, hidden_size, num_layers, bidirectional=True, dropout=dropout)
        self.pooling = pooling
        self.output_size = 2 * hidden_size
        self.attention = AttentionPooling(self.output_size) if pooling == "attention" else None

    def step_features(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """h_t [B, T, 2H], what the pooling reads (also what explanations weigh, models/salience.py)."""
        return self.rnn(x, lengths)[0]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.pooling == "last":
            return self.rnn(x, lengths)[1]
        h = self.step_features(x, lengths)
        mask = mask_from_lengths(lengths, x.shape[1])
        if self.pooling == "max":
            return masked_max(h, mask)
        if self.pooling == "mean":
            return masked_mean(h, mask)
        return self.attention(h, mask)
