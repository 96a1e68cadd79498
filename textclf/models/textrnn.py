"""TextRNN: classify a text by the last hidden state of a recurrent network.

Liu, Qiu, Huang (2016), "Recurrent Neural Network for Text Classification with Multi-Task
Learning", single-task model: read e(w_1) ... e(w_n) with an LSTM

    i_t = sigma(W_i x_t + U_i h_{t-1} + b_i)     f_t = sigma(W_f x_t + U_f h_{t-1} + b_f)
    o_t = sigma(W_o x_t + U_o h_{t-1} + b_o)     c~_t = tanh(W_c x_t + U_c h_{t-1} + b_c)
    c_t = f_t * c_{t-1} + i_t * c~_t             h_t = o_t * tanh(c_t)

and use h_n as the text's representation (a GRU, or a plain tanh RNN h_t = tanh(W x_t + U h_{t-1} + b),
may replace the LSTM). Bidirectional: the
representation is [->h_n ; <-h_1], the forward state after the last real word and the backward
state after reading back to the first.

The recurrence runs over the padded batch (see rnn.py for why not packed sequences), and the
final states are taken at each row's true length, so padding never reaches them.
"""

from __future__ import annotations

import torch

from textclf.models.encoder import FlatEncoder
from textclf.models.rnn import PaddedRNN


class TextRNN(FlatEncoder):
    """x [B, T, E], lengths [B] -> h_n [B, output_size].

    output_size = hidden_size * (2 if bidirectional else 1).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        cell: str = "lstm",
        bidirectional: bool = False,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.rnn = PaddedRNN(cell, input_size, hidden_size, num_layers, bidirectional, dropout)
        self.output_size = self.rnn.output_size
        self.pooling = "last"  # the final state, named like BiLSTM's pooling (models/salience.py)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, final = self.rnn(x, lengths)
        return final
