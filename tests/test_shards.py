"""Token shards (data/shards.py): rows tokenized once into memory-mapped files, served in shuffled,
length-bucketed batches per rank (their cache is tested in test_streaming.py)."""

from __future__ import annotations

import numpy as np
import torch

from textclf.data.encoding import encode_examples
from textclf.data.example import Example
from textclf.data.shards import Buffer, ShardBatches, Shards, build_shards
from textclf.data.vocab import Vocab

from conftest import sentiment_rows

LABELS = ["neg", "pos"]


def examples(n: int, seed: int = 0) -> list[Example]:
    rows = [Example(text, label) for text, label in sentiment_rows(n, seed)]
    return rows + [Example("", "pos")]  # an empty text: one padding token, as the in-memory path reads it


def test_shards_hold_the_ids_the_in_memory_encoding_gives(tmp_path):
    rows = examples(300)
    vocab = Vocab.fit([ex.text for ex in rows])
    build_shards(iter(rows), vocab, LABELS, 8, tmp_path / "shards")
    shards = Shards.open(tmp_path / "shards")
    tokens, lengths, labels = shards.block(0, len(shards))
    expected = encode_examples(rows, vocab, LABELS, [], 8)
    assert len(shards) == len(rows) and torch.equal(lengths, expected.lengths) and torch.equal(labels, expected.labels)
    assert torch.equal(tokens, expected.tokens[:, : tokens.shape[1]])
    middle = shards.block(100, 140)  # any range, one read
    assert torch.equal(middle[0], expected.tokens[100:140, : middle[0].shape[1]])


def test_each_epoch_serves_every_row_once_in_a_new_order_and_ranks_split_the_blocks(tmp_path):
    rows = examples(1000, seed=3)
    vocab = Vocab.fit([ex.text for ex in rows])
    build_shards(iter(rows), vocab, LABELS, 16, tmp_path / "shards")
    shards = Shards.open(tmp_path / "shards")
    batches = ShardBatches(shards, batch_size=32, seed=1, buffer=Buffer(block=128, rows=256, pool_batches=2))
    first = [batch.index.tolist() for batch in batches]
    second = [batch.index.tolist() for batch in batches]
    assert sorted(i for b in first for i in b) == list(range(len(rows))) == sorted(i for b in second for i in b)
    assert first != second and len(first) == len(second) == len(batches)  # a new order each epoch, the same count
    for batch in ShardBatches(shards, batch_size=32, seed=1, buffer=Buffer(block=128, rows=256, pool_batches=2)):
        expected = encode_examples([rows[i] for i in batch.index.tolist()], vocab, LABELS, [], 16)
        assert torch.equal(batch.labels, expected.labels) and torch.equal(batch.lengths, expected.lengths)
        assert torch.equal(batch.tokens, expected.tokens[:, : batch.tokens.shape[1]])
        assert int(batch.lengths.max()) == batch.tokens.shape[1]  # padded to its own longest row only
    ranks = [[i for b in ShardBatches(shards, 32, seed=1, buffer=Buffer(block=128), rank=r, world_size=2) for i in b.index.tolist()] for r in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1]) and sorted(ranks[0] + ranks[1]) == list(range(len(rows)))


def test_batches_come_from_a_bounded_buffer(tmp_path):
    rows = examples(2000, seed=4)
    vocab = Vocab.fit([ex.text for ex in rows])
    build_shards(iter(rows), vocab, LABELS, 16, tmp_path / "shards")
    shards = Shards.open(tmp_path / "shards")
    read = []
    original = Shards.block
    Shards.block = lambda self, start, stop: (read.append(stop - start), original(self, start, stop))[1]
    try:
        batches = ShardBatches(shards, batch_size=16, seed=0, buffer=Buffer(block=100, rows=300))
        seen = 0
        for batch in batches:
            seen += len(batch)
            assert sum(read) - seen < 3 * 100  # never more than the buffer's rows read ahead of what was served
    finally:
        Shards.block = original
    assert seen == len(rows)
    np.testing.assert_array_equal(np.diff(np.asarray(shards.offsets)), encode_examples(rows, vocab, LABELS, [], 16).lengths.numpy())


def test_ranks_take_the_same_number_of_steps_when_their_blocks_differ(tmp_path):
    """DDP needs every rank to step alike: a rank whose blocks hold more rows stops with the others."""
    rows = examples(10_000, seed=5)  # 10,001 rows in blocks of 300: 33 of them and one of 101
    vocab = Vocab.fit([ex.text for ex in rows])
    build_shards(iter(rows), vocab, LABELS, 16, tmp_path / "shards")
    shards = Shards.open(tmp_path / "shards")
    ranks = [ShardBatches(shards, 32, seed=2, buffer=Buffer(block=300, rows=300), rank=r, world_size=2) for r in (0, 1)]
    counts = [ranks[r].batch_count(r) for r in (0, 1)]
    served = [list(batches) for batches in ranks]
    assert counts[0] != counts[1] and len(served[0]) == len(served[1]) == min(counts) == len(ranks[0]) == len(ranks[1])
    seen = [i for batches in served for batch in batches for i in batch.index.tolist()]
    assert len(seen) == len(set(seen)) > 10_001 - 300  # no row twice; only the longer rank's last rows wait for the next epoch


def test_small_data_is_cut_into_enough_blocks_for_every_rank():
    shards = Shards(np.zeros(100, np.uint32), np.arange(101, dtype=np.int64), np.zeros(100, np.int32))
    assert ShardBatches(shards, 8).block == 7 and ShardBatches(shards, 8, world_size=2).block == 4  # at least 16 a rank
    assert len(ShardBatches(shards, 8, rank=1, world_size=2).blocks()) == 12 and len(ShardBatches(shards, 8, world_size=2)) > 0
