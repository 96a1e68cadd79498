"""TextRCNN: Lai, Xu, Liu, Zhao (2015), "Recurrent Convolutional Neural Networks for Text Classification".

Each word w_i is represented with the context on its left and on its right:

    c_l(w_i) = f(W^(l) c_l(w_{i-1}) + W^(sl) e(w_{i-1}))     (1)  words before i only
    c_r(w_i) = f(W^(r) c_r(w_{i+1}) + W^(sr) e(w_{i+1}))     (2)  words after i only
    x_i      = [c_l(w_i) ; e(w_i) ; c_r(w_i)]                (3)
    y_i^(2)  = tanh(W^(2) x_i + b^(2))                       (4)
    y^(3)    = max_{i=1..n} y_i^(2)   (elementwise)          (5)

and y^(4) = W^(4) y^(3) + b^(4) (6), softmax (7) are the classifier head. c_l(w_1) and c_r(w_n) are
parameters shared by all documents.

The paper's recurrence (1)-(2) is a plain (Elman) RNN, ``cell="rnn"`` here (f = tanh). The default
is an LSTM (or GRU, ``cell="gru"``) in its place, the usual choice in reimplementations: gated cells
keep information over long documents where a plain RNN's gradients vanish, and they train more
stably (docs/results/cells.md measures by how much). The recurrence is then
run by one bidirectional RNN whose outputs are *shifted* by one step to match (1)-(2):

    forward output at i  = state after reading e(w_1..w_i)  -> it is c_l(w_{i+1})
    backward output at i = state after reading e(w_n..w_i)  -> it is c_r(w_{i-1})

so c_l(w_i) = forward output at i-1 and c_r(w_i) = backward output at i+1, with the learned
c_l(w_1), c_r(w_n) both at the ends and as the RNN's initial states (so that c_l(w_2) = f(W c_l(w_1) +
W e(w_1)) holds exactly, as in (1)).
"""

from __future__ import annotations

import torch
from torch import nn

from textclf.models.encoder import FlatEncoder
from textclf.models.pooling import mask_from_lengths, masked_max
from textclf.models.rnn import PaddedRNN


def shift_contexts(
    forward_out: torch.Tensor,
    backward_out: torch.Tensor,
    lengths: torch.Tensor,
    left_first: torch.Tensor,
    right_last: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RNN outputs [B, T, H] per direction -> (c_l, c_r) [B, T, H] as in eqs. (1)-(2).

    c_l[:, i] = forward_out[:, i-1], c_l[:, 0] = left_first;
    c_r[:, i] = backward_out[:, i+1], c_r[b, lengths[b]-1] = right_last.
    Values at padded positions (i >= lengths[b]) are left unspecified; callers mask them.
    """
    batch, steps, hidden = forward_out.shape
    # Left: a plain shift right by one, the same for every row (all rows start at position 0).
    first = left_first.to(forward_out.dtype).expand(batch, 1, hidden)
    c_l = torch.cat([first, forward_out[:, :-1]], dim=1)
    # Right: shift left by one; each row ends at its own length, where the shared c_r(w_n) goes
    # (the shifted-in value there would be the backward output at a padded step).
    c_r = torch.cat([backward_out[:, 1:], backward_out.new_zeros(batch, 1, hidden)], dim=1)
    is_last = torch.arange(steps, device=lengths.device).unsqueeze(0) == (lengths - 1).unsqueeze(1)
    c_r = torch.where(is_last.unsqueeze(-1), right_last.to(c_r.dtype), c_r)
    return c_l, c_r


class TextRCNN(FlatEncoder):
    """x [B, T, E], lengths [B] -> y^(3) [B, output_size]; output_size = projection_size.

    hidden_size is the size of each context vector c_l, c_r; projection_size the size of y^(2).
    ``dropout`` is applied to x_i before the projection (4).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        projection_size: int = 256,
        cell: str = "lstm",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.rnn = PaddedRNN(cell, input_size, hidden_size, num_layers=1, bidirectional=True)
        # The shared c_l(w_1), c_r(w_n). Zero init: training starts from the zero-state RNN.
        self.left_first = nn.Parameter(torch.zeros(hidden_size))
        self.right_last = nn.Parameter(torch.zeros(hidden_size))
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(2 * hidden_size + input_size, projection_size)  # W^(2), b^(2)
        self.hidden_size = hidden_size
        self.output_size = projection_size
        self.pooling = "max"  # eq. (5); named like BiLSTM's, for explanations (models/salience.py)

    def word_representations(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x_i = [c_l(w_i) ; e(w_i) ; c_r(w_i)]: [B, T, 2H + E], eq. (3)."""
        # h_0 per direction = (c_l(w_1), c_r(w_n)); an LSTM's cell state starts at zero (the
        # paper's recurrence has no cell, only the context vector is shared).
        batch = x.shape[0]
        initial = (
            self.left_first.to(x.dtype).expand(batch, -1),
            self.right_last.to(x.dtype).expand(batch, -1),
        )
        outputs, _ = self.rnn(x, lengths, initial)  # [B, T, 2H]: forward then backward direction
        forward_out, backward_out = outputs.split(self.hidden_size, dim=-1)
        c_l, c_r = shift_contexts(forward_out, backward_out, lengths, self.left_first, self.right_last)
        return torch.cat([c_l, x, c_r], dim=-1)

    def step_features(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """y_i^(2) [B, T, projection_size], eq. (4): what the max-pooling (5) reads."""
        return torch.tanh(self.projection(self.dropout(self.word_representations(x, lengths))))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_max(self.step_features(x, lengths), mask_from_lengths(lengths, x.shape[1]))  # eq. (5)
