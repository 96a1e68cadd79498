"""The vectorised data paths (padding, memory packing, per-batch trimming, token-budget evaluation
batches, threaded scoring) give exactly what the plain per-item versions give."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from textclf.data.batching import BatchIterator, EncodedSplit, cut_by_tokens, eval_token_budget
from textclf.data.encoding import pad_rows
from textclf.data.memory import pack_memories
from textclf.inference.predictor import Predictor, TorchRuntime
from textclf.models.bilstm import BiLSTM
from textclf.models.classifier import TextClassifier
from textclf.models.embedding import Embedding
from textclf.models.memn2n import MemN2N


def ragged(rng: random.Random, n: int, longest: int) -> list[list[int]]:
    return [[rng.randint(1, 50) for _ in range(rng.randint(0, longest))] for _ in range(n)]


def test_pad_rows_matches_row_by_row_padding() -> None:
    rows = ragged(random.Random(0), 40, 9)
    padded, lengths = pad_rows(rows)
    assert padded.dtype == torch.long and lengths.dtype == torch.long
    assert padded.shape == (40, max(len(r) for r in rows))
    for row, out, length in zip(rows, padded.tolist(), lengths.tolist()):
        assert out == row + [0] * (padded.shape[1] - len(row))
        assert length == max(1, len(row))  # an empty text counts as one padding token
    assert pad_rows([[], []])[0].tolist() == [[0], [0]]
    assert pad_rows([])[0].shape == (0, 1)


def test_pack_memories_matches_sentence_by_sentence_packing() -> None:
    rng = random.Random(1)
    rows = [ragged(rng, rng.randint(0, 6), 5) for _ in range(30)] + [[], [[]]]
    memory, lengths, widths = pack_memories(rows)
    assert memory.dtype == torch.int32
    assert lengths.tolist() == [len(r) for r in rows]
    assert widths.tolist() == [max((len(s) for s in r), default=0) for r in rows]
    expected = np.zeros(tuple(memory.shape), dtype=np.int32)
    for i, memories in enumerate(rows):
        for j, sentence in enumerate(memories):
            expected[i, j, : len(sentence)] = sentence
    assert np.array_equal(memory.numpy(), expected)
    assert pack_memories([])[0].shape == (0, 1, 1)


def memory_split(n: int = 90, seed: int = 2) -> EncodedSplit:
    rng = random.Random(seed)
    stories = [ragged(rng, rng.randint(0, 7), 6) for _ in range(n)]
    queries = ragged(rng, n, 5)
    tokens, lengths = pad_rows([[t for s in story for t in s] + q for story, q in zip(stories, queries)])
    memory, memory_lengths, widths = pack_memories(stories)
    query, _ = pad_rows(queries)
    return EncodedSplit(
        tokens=tokens, lengths=lengths, labels=torch.arange(n) % 3, memory=memory, memory_lengths=memory_lengths,
        memory_widths=widths, query=query, query_lengths=torch.tensor([len(q) for q in queries]),
    )


@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_are_trimmed_to_their_own_longest(shuffle: bool) -> None:
    split = memory_split()
    seen = []
    for batch in BatchIterator(split, 16, shuffle=shuffle, seed=3):
        index = batch.index
        seen += index.tolist()
        assert batch.tokens.shape[1] == int(split.lengths[index].max())
        assert batch.memory.shape[1] == max(1, int(split.memory_lengths[index].max()))
        assert batch.memory.shape[2] == max(1, int(split.memory_widths[index].max()))
        assert batch.query.shape[1] == max(1, int(split.query_lengths[index].max()))
        assert batch.memory.dtype == torch.long
        assert torch.equal(batch.memory, split.memory[index, : batch.memory.shape[1], : batch.memory.shape[2]].long())
        # Nothing cut off: what lies beyond the trimmed width is padding.
        assert (split.memory[index, :, batch.memory.shape[2]:] == 0).all()
        assert (split.tokens[index, batch.tokens.shape[1]:] == 0).all()
    assert sorted(seen) == list(range(len(split)))


def test_cut_by_tokens_bounds_rows_and_padded_size() -> None:
    lengths = [1, 2, 2, 3, 5, 5, 8, 13, 40]
    order = torch.arange(len(lengths))
    batches = cut_by_tokens(order, lengths, max_rows=4, token_budget=12)
    assert torch.equal(torch.cat(batches), order)  # every row once, order kept
    for batch in batches:
        rows, longest = len(batch), max(lengths[i] for i in batch.tolist())
        assert rows <= 4 and (rows * longest <= 12 or rows == 1)
    assert [len(b) for b in batches] == [4, 2, 1, 1, 1]


def test_eval_token_budget_keeps_every_example_and_sorts() -> None:
    split = memory_split(n=200)
    budget = eval_token_budget(split, 32)
    iterator = BatchIterator(split, 32, token_budget=budget)
    batches = list(iterator)
    assert len(iterator) == len(batches)
    order = torch.cat([b.index for b in batches])
    assert sorted(order.tolist()) == list(range(len(split)))
    assert (split.lengths[order].diff() >= 0).all()
    assert all(len(b) * b.tokens.shape[1] <= budget or len(b) == 1 for b in batches)
    assert len(batches) > len(BatchIterator(split, 32))  # long texts came in smaller batches


def test_the_predictor_does_not_depend_on_grouping_or_threads() -> None:
    torch.manual_seed(0)
    split = memory_split(n=150)
    flat = TextClassifier(Embedding(60, 8, dropout=0.0), BiLSTM(8, 6), num_classes=3)
    memory = TextClassifier(Embedding(60, 8, dropout=0.0), MemN2N(8, 60, hops=2), num_classes=3)
    for model in (flat, memory):
        runtime = TorchRuntime(model)
        plain, plain_loss = Predictor(runtime, batch_size=150).proba_and_loss(split)
        budgeted, loss = Predictor(runtime, batch_size=16).proba_and_loss(split)
        threaded, threaded_loss = Predictor(runtime, batch_size=16, workers=2).proba_and_loss(split)
        assert np.allclose(plain, budgeted, atol=1e-6) and np.allclose(plain, threaded, atol=1e-6)
        assert loss == pytest.approx(plain_loss, rel=1e-6) and threaded_loss == pytest.approx(plain_loss, rel=1e-6)
        few = memory_split(n=40)  # one batch (ONE_BATCH), or cut under the token budget
        assert np.allclose(Predictor(runtime, batch_size=64).proba(few), Predictor(runtime, batch_size=8).proba(few), atol=1e-6)
    threads = torch.get_num_threads()
    Predictor(TorchRuntime(flat), batch_size=16, workers=2).proba(split)
    assert torch.get_num_threads() == threads  # the intra-op setting is restored
