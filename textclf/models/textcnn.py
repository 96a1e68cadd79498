"""TextCNN: Kim (2014), "Convolutional Neural Networks for Sentence Classification".

Each filter of width h reads every window of h consecutive word vectors x_{i:i+h-1} (concatenated)
and gives one feature per window; the text keeps each filter's largest value:

    c_i = f(w . x_{i:i+h-1} + b)                   f = ReLU
    c^  = max_i c_i                                 max-over-time pooling
    s   = [c^ over all filters]                    widths 3, 4, 5 with 100 filters each: 300 features

and the head is dropout (0.5 in the paper) and a linear layer over s (conf/model/textcnn.yaml).

Windows and padding. As in Kim's code, each text is padded with h-1 zero vectors on both sides
(a "wide" convolution), so every word is read at every offset of a window and a text shorter than
the filter still has windows. Of the T + h - 1 windows over a batch row, the first length + h - 1
hold at least one real word; the rest lie wholly in the batch's padding and are masked out of the
max, and padding positions are zeroed before the convolution (their ids may be anything), so a
text gives the same features however much padding its batch adds. ReLU is taken after the max:
the two commute (ReLU is monotone) and the max leaves 300 values instead of 300 x T.

Kim also caps each filter's weight norm at 3; that constraint belongs to the optimizer step, and
the house trainer uses gradient clipping instead. The windows mix neighbouring words, so no
pooled feature is a word's own: explanations use occlusion (``pooling = "windows"``, models/salience.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from textclf.models.encoder import FlatEncoder
from textclf.models.pooling import mask_from_lengths


class TextCNN(FlatEncoder):
    """x [B, T, E], lengths [B] -> s [B, output_size]; output_size = filters * len(widths)."""

    pooling = "windows"  # max over windows of several words: explained by occlusion (models/salience.py)

    def __init__(self, input_size: int, widths: Sequence[int] = (3, 4, 5), filters: int = 100) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be one or more filter widths >= 1, got {widths}")
        self.widths = widths
        self.convs = nn.ModuleList(nn.Conv1d(input_size, filters, width) for width in widths)
        self.output_size = filters * len(widths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(x.device)
        real = mask_from_lengths(lengths, x.shape[1])
        x = x.masked_fill(~real.unsqueeze(-1), 0.0).transpose(1, 2)  # [B, E, T]
        pooled = []
        for width, conv in zip(self.widths, self.convs):
            # Constant padding, not padding up to a length: the traced graph stays dynamic in T.
            windows = conv(F.pad(x, (width - 1, width - 1)))  # [B, filters, T + width - 1]
            touches_text = mask_from_lengths(lengths + (width - 1), windows.shape[2])
            pooled.append(windows.masked_fill(~touches_text.unsqueeze(1), float("-inf")).amax(dim=2))
        return F.relu(torch.cat(pooled, dim=1))
