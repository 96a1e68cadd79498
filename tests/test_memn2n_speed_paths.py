"""MemN2N's fused forward (one weighted-bag product for all tables, memories and question; custom
backward) against a plain reference written from the paper's equations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from textclf.data.batching import Batch
from textclf.models.embedding import Embedding
from textclf.models.memn2n import MemN2N, position_encoding, temporal_index, weighted_bags

# Random right-padded stories, and one intra-op thread for tiny tensors (pytest puts tests/ on the path).
from test_memn2n import VOCAB, one_thread, story_batch  # noqa: F401 (one_thread: an autouse fixture)

DIM = 6


def reference(model: MemN2N, batch: Batch, emb: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """u^{K+1} and p, hop by hop as in Sukhbaatar et al. (2015), without the fused product."""
    memory, lengths = batch.memory, batch.memory_lengths
    M = memory.shape[1]
    real = torch.arange(M) < lengths.unsqueeze(1)
    time = temporal_index(lengths, M, model.memory_size)

    def vectors(ids: torch.Tensor, table: nn.Module) -> torch.Tensor:
        if model.position_encoding:
            weights = position_encoding(ids, model.input_size)
        else:
            weights = (ids != 0).unsqueeze(-1).float()
        return (weights * table.weight[ids]).sum(dim=-2)

    has_question = (batch.query != 0).any(dim=-1, keepdim=True)
    u = torch.where(has_question, vectors(batch.query, model.query_embedding(emb)), model.query_vector)
    attention = []
    for k in range(1, model.hops + 1):
        A, C, T_A, T_C = model.hop_tables(k, emb)
        m, c = vectors(memory, A), vectors(memory, C)
        if T_A is not None:
            m, c = m + T_A[time], c + T_C[time]
        m, c = m * real.unsqueeze(-1), c * real.unsqueeze(-1)
        scores = torch.einsum("bmd,bd->bm", m, u)
        if model.linear_start:
            p = scores * real
        else:
            p = torch.softmax(scores.masked_fill(~real, -1e30), dim=-1) * real
        u = (model.H(u) if model.H is not None else u) + torch.einsum("bm,bmd->bd", p, c)
        attention.append(p)
    return u, torch.stack(attention, dim=1)


SETTINGS = [
    dict(tying="adjacent"),
    dict(tying="layerwise"),
    dict(tying="adjacent", position_encoding=False),
    dict(tying="adjacent", temporal_encoding=False),
    dict(tying="layerwise", separate_query_embedding=True),
    dict(tying="adjacent", hops=1),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("linear", [False, True])
def test_forward_and_gradients_match_the_reference(settings: dict, linear: bool) -> None:
    torch.manual_seed(0)
    settings = {"hops": 3, **settings}
    model = MemN2N(DIM, VOCAB, memory_size=7, random_noise=0.0, **settings)
    emb = Embedding(VOCAB, DIM, dropout=0.0)
    model.linear_start = linear
    batch = story_batch([3, 0, 4, 1], M=5, S=4, Q=6, empty_query=(3,))
    u, p = model(batch, emb, return_attention=True)
    u_ref, p_ref = reference(model, batch, emb)
    assert torch.allclose(u, u_ref, atol=1e-5) and torch.allclose(p, p_ref, atol=1e-6)

    params = list(model.parameters()) + list(emb.parameters())
    grads = torch.autograd.grad(u.pow(2).sum(), params, allow_unused=True)
    grads_ref = torch.autograd.grad(u_ref.pow(2).sum(), params, allow_unused=True)
    for g, g_ref in zip(grads, grads_ref):
        assert (g is None) == (g_ref is None)
        if g is not None:
            assert torch.allclose(g, g_ref, atol=1e-4), (g - g_ref).abs().max()


def test_column_pairs_spell_out_the_papers_tying() -> None:
    """The pairs the fused forward reads, hop by hop, against the tying written out by hand
    (sec. 2.2): adjacent A^1 = B, A^{k+1} = C^k, T_A^{k+1} = T_C^k; layer-wise one A (= B), one C."""
    for tying in ("adjacent", "layerwise"):
        model, emb = MemN2N(DIM, VOCAB, hops=3, tying=tying), Embedding(VOCAB, DIM, dropout=0.0)
        pairs, slots = model._column_pairs(emb)
        read = [(pairs[a], pairs[c]) for a, c in slots]
        if tying == "adjacent":
            inputs = [(emb, model.T_A), *zip(model.C[:-1], model.T_C[:-1])]
            outputs = list(zip(model.C, model.T_C))
        else:
            inputs = [(emb, model.T_A)] * 3
            outputs = [(model.C[0], model.T_C[0])] * 3
        for k, ((A, T_A), (C, T_C)) in enumerate(read):
            assert A is inputs[k][0] and T_A is inputs[k][1], f"{tying}: hop {k + 1} reads the wrong A / T_A"
            assert C is outputs[k][0] and T_C is outputs[k][1], f"{tying}: hop {k + 1} reads the wrong C / T_C"
            hop = model.hop_tables(k + 1, emb)  # the public view of the same tying
            assert [id(x) for x in hop] == [id(A), id(C), id(T_A), id(T_C)]
        assert len({(id(t), id(T)) for t, T in pairs}) == len(pairs)  # each pair read once


def test_weighted_bags_backward_matches_embedding_bag() -> None:
    gen = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 9, (7, 5), generator=gen)
    rows[0] = 3  # the same row several times in one bag
    weights = torch.rand(7, 5, generator=gen)
    matrix = torch.randn(12, 4, requires_grad=True)  # rows 9..11 never read: zero gradient
    out = weighted_bags(rows, weights, matrix)
    expected = F.embedding_bag(rows, matrix, per_sample_weights=weights, mode="sum")
    assert torch.allclose(out, expected)
    grad_out = torch.randn(7, 4, generator=gen)
    (grad,) = torch.autograd.grad(out, matrix, grad_out)
    (grad_expected,) = torch.autograd.grad(expected, matrix, grad_out)
    assert torch.allclose(grad, grad_expected, atol=1e-6) and (grad[9:] == 0).all()
    double = matrix.detach().double().requires_grad_()
    assert torch.autograd.gradcheck(lambda m: weighted_bags(rows, weights.double(), m), (double,))


def test_embedding_dropout_sees_the_word_part_only() -> None:
    class KeepAll(nn.Dropout):
        """Counts as an active dropout (p > 0, training) but changes nothing: the unfused path
        must then give exactly what the fused one gives."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    torch.manual_seed(0)
    model = MemN2N(DIM, VOCAB, hops=2, memory_size=7, random_noise=0.0)
    emb = Embedding(VOCAB, DIM, dropout=0.0)
    batch = story_batch([2, 4, 0], M=5)
    model.train()
    fused = model(batch, emb)
    emb.dropout = KeepAll(0.5)
    emb.train()
    assert torch.allclose(model(batch, emb), fused, atol=1e-6)
    emb.dropout = nn.Dropout(0.5)
    dropped, p = model(batch, emb, return_attention=True)
    assert torch.isfinite(dropped).all() and not torch.allclose(dropped, fused)
    real = torch.arange(batch.memory.shape[1]) < batch.memory_lengths.unsqueeze(1)
    assert (p.masked_select(~real.unsqueeze(1)) == 0).all()


def test_large_vocabulary_and_int32_memory() -> None:
    # Text datasets have ~15k words; batches may carry int32 memories straight from the split.
    torch.manual_seed(0)
    vocab = 20000
    model, emb = MemN2N(DIM, vocab, hops=2, random_noise=0.0), Embedding(vocab, DIM, dropout=0.0)
    batch = story_batch([2, 3])
    batch.memory = batch.memory * 1000 % vocab
    u = model(batch, emb)
    batch.memory = batch.memory.int()
    assert torch.allclose(model(batch, emb), u)
    u.sum().backward()
    assert emb.weight.grad[batch.memory.unique()[1:].long()].abs().sum() > 0
