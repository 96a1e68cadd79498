"""Subword vocabularies (tokenizer=bpe|wordpiece): learnt on the training split, rare words become
known pieces, checkpoints carry them, and a model trains on them end to end."""

from __future__ import annotations

import pytest

from textclf.data.vocab import UNK, Vocab
from textclf.inference.checkpoint import load_checkpoint
from textclf.training.trainer import train

from conftest import compose_train

TEXTS = ["the unbelievably good film", "an unremarkable plot", "goodness gracious", "filmmakers make films"] * 20


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_an_unseen_word_becomes_known_pieces_not_unk(kind):
    vocab = Vocab.fit(TEXTS, kind=kind, max_size=60, min_freq=2)
    assert len(vocab) <= 60 + 3
    pieces = vocab.tokenize("unremarkably")  # never seen whole
    assert UNK not in pieces and len(pieces) > 1
    assert pieces[0] == "un" and all(piece.startswith("##") for piece in pieces[1:])  # continuing pieces are marked
    assert Vocab.fit(TEXTS).tokenize("unremarkably") == [UNK]  # the word level cannot


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_the_first_max_tokens_pieces_are_kept(kind):
    vocab = Vocab.fit(TEXTS, kind=kind, max_size=60, min_freq=2)
    whole = vocab.encode_many(["filmmakers make unbelievably good films"])[0]
    assert vocab.encode_many(["filmmakers make unbelievably good films"], max_tokens=4)[0] == whole[:4]


def test_a_model_trains_on_subwords_and_keeps_them_in_its_checkpoint(table_dir, tmp_path):
    cfg = compose_train(["data=table", f"data.root={table_dir}", "tokenizer=bpe", "tokenizer.max_size=200", "model=bilstm",
                         "embedding.dim=16", "model.encoder.hidden_size=16", "trainer.max_epochs=8", "trainer.batch_size=16", "optimizer.lr=0.01", "trainer.progress=false",
                         "trainer.tensorboard=false"])
    results = train(cfg, tmp_path / "run")
    assert results["test_acc"] > 0.8  # the opinion words of the fixture are learnt as pieces too
    vocab = Vocab.from_json(load_checkpoint(tmp_path / "run" / "best.pt")["tokenizer"])
    assert any(token.startswith("##") for token in vocab.tokenizer.get_vocab())
