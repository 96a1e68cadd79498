"""Pretrained vectors: the three file formats, dimension checks, coverage, freezing."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from textclf.core.errors import TextclfError
from textclf.data.vectors import read_vectors
from textclf.data.vocab import Vocab
from textclf.fit import train

from conftest import compose_train


@pytest.fixture()
def vocab():
    return Vocab.fit(["the good film", "a bad plot"])


def row(vocab, word):
    return vocab.tokenizer.token_to_id(word)


def test_glove_text_matches_words_and_lowercases(tmp_path, vocab):
    path = tmp_path / "glove.txt"
    path.write_text("good 1 2 3\nFilm 4 5 6\nunrelated 7 8 9\n")
    vectors, found = read_vectors(path, vocab, 3)
    assert vectors[row(vocab, "good")].tolist() == [1, 2, 3]
    assert vectors[row(vocab, "film")].tolist() == [4, 5, 6]  # "Film" matched lowercased
    assert int(found.sum()) == 2 and not found[row(vocab, "bad")]


def test_word2vec_header_and_npz(tmp_path, vocab):
    (tmp_path / "w2v.vec").write_text("2 2\nbad 0.5 -0.5\nplot 1 1\n")
    vectors, found = read_vectors(tmp_path / "w2v.vec", vocab, 2)
    assert found[row(vocab, "bad")] and vectors[row(vocab, "plot")].tolist() == [1, 1]
    np.savez(tmp_path / "v.npz", vectors=np.eye(2, dtype=np.float32), words=np.array(["the", "a"]))
    vectors, found = read_vectors(tmp_path / "v.npz", vocab, 2)
    assert vectors[row(vocab, "a")].tolist() == [0, 1] and int(found.sum()) == 2


def test_wrong_dimension_names_the_fix(tmp_path, vocab):
    (tmp_path / "glove.txt").write_text("good 1 2 3\n")
    with pytest.raises(TextclfError, match="3-dimensional but embedding.dim=5; set embedding.dim=3"):
        read_vectors(tmp_path / "glove.txt", vocab, 5)
    (tmp_path / "w2v.vec").write_text("10 4\n")
    with pytest.raises(TextclfError, match="4-dimensional"):
        read_vectors(tmp_path / "w2v.vec", vocab, 5)
    with pytest.raises(TextclfError, match="does not exist"):
        read_vectors(tmp_path / "none.txt", vocab, 5)


def test_training_with_frozen_pretrained_vectors(tmp_path, table_dir, caplog):
    from conftest import FILLER, NEGATIVE, POSITIVE

    words = FILLER + POSITIVE + NEGATIVE[:4]  # half the opinion words missing from the file
    generator = torch.Generator().manual_seed(0)
    lines = [f"{w} " + " ".join(f"{v:.4f}" for v in torch.randn(8, generator=generator).tolist()) for w in words]
    (tmp_path / "vec.txt").write_text("\n".join(lines) + "\n")
    cfg = compose_train(["data=table", f"data.root={table_dir}", "embedding=pretrained", f"embedding.path={tmp_path / 'vec.txt'}",
                         "embedding.dim=8", "embedding.freeze=true", "model=bilstm", "model.encoder.hidden_size=8", "trainer.max_epochs=1",
                         "trainer.progress=false", "trainer.tensorboard=false"])
    with caplog.at_level(logging.INFO):
        train(cfg, tmp_path / "run")
    message = next(r.getMessage() for r in caplog.records if "pretrained vectors" in r.getMessage())
    assert "vocabulary words found" in message and "frozen" in message
    from textclf.loading.checkpoint import load_checkpoint

    table = load_checkpoint(tmp_path / "run" / "best.pt")["state_dict"]["embedding.table.weight"]
    first = lines[0].split()
    vocab = Vocab.from_json(load_checkpoint(tmp_path / "run" / "best.pt")["tokenizer"])
    assert table[vocab.tokenizer.token_to_id(first[0])].tolist() == pytest.approx([float(x) for x in first[1:]], abs=1e-4)


def test_pretrained_without_path_is_explained(tmp_path, table_dir):
    cfg = compose_train(["data=table", f"data.root={table_dir}", "embedding=pretrained", "trainer.progress=false"])
    with pytest.raises(TextclfError, match="embedding.path=FILE"):
        train(cfg, tmp_path)
