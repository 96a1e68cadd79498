"""PaddedRNN must equal PyTorch's packed-sequence RNN, the reference for 'padding never leaks'."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textclf.models.rnn import PaddedRNN, reverse_index


def _copy_weights(padded: PaddedRNN, reference: nn.RNNBase) -> None:
    """Load a fused nn.RNN/LSTM/GRU's per-layer, per-direction weights into PaddedRNN's parts."""
    for layer, directions in enumerate(padded.layers):
        for direction, rnn in enumerate(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(rnn, f"{name}_l0").data.copy_(getattr(reference, name + suffix).data)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_matches_packed_reference(cell, bidirectional, num_layers):
    torch.manual_seed(0)
    lengths = torch.tensor([7, 3, 5, 1])
    x = torch.randn(4, 7, 6)
    x[1, 3:] = 50.0  # loud padding: any leak shows
    padded = PaddedRNN(cell, 6, 5, num_layers, bidirectional).eval()
    reference = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](6, 5, num_layers, batch_first=True, bidirectional=bidirectional)
    _copy_weights(padded, reference)
    outputs, final = padded(x, lengths)
    packed_out, state = reference(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=7)
    h_n = state[0] if cell == "lstm" else state
    dirs = 2 if bidirectional else 1
    expected_final = h_n.view(num_layers, dirs, 4, 5)[-1].transpose(0, 1).reshape(4, -1)
    mask = torch.arange(7).unsqueeze(0) < lengths.unsqueeze(1)
    assert torch.allclose(outputs[mask], expected[mask], atol=1e-5)
    assert torch.allclose(final, expected_final, atol=1e-5)


def test_reverse_index_reverses_within_length_and_is_an_involution():
    index = reverse_index(torch.tensor([3, 5]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [4, 3, 2, 1, 0]]
    assert torch.equal(index.gather(1, index), torch.arange(5).expand(2, 5))


def test_rejects_unknown_cell():
    with pytest.raises(ValueError, match="unknown cell"):
        PaddedRNN("elman", 4, 4)
