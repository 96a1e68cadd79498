"""Pretrained vectors: the file formats (text, .npz, a bare .npy with its words), dimension checks, coverage, freezing."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from textclf.core.errors import TextclfError
from textclf.data.vectors import read_vectors
from textclf.data.vocab import Vocab
from textclf.training.trainer import train

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
    from textclf.inference.checkpoint import load_checkpoint

    table = load_checkpoint(tmp_path / "run" / "best.pt")["state_dict"]["embedding.table.weight"]
    first = lines[0].split()
    vocab = Vocab.from_json(load_checkpoint(tmp_path / "run" / "best.pt")["tokenizer"])
    assert table[vocab.tokenizer.token_to_id(first[0])].tolist() == pytest.approx([float(x) for x in first[1:]], abs=1e-4)


def test_pretrained_without_path_is_explained(tmp_path, table_dir):
    cfg = compose_train(["data=table", f"data.root={table_dir}", "embedding=pretrained", "trainer.progress=false"])
    with pytest.raises(TextclfError, match="embedding.path=FILE"):
        train(cfg, tmp_path)


def bare_matrix(tmp_path, words):
    """A .npy of one row per word, row i filled with i + 1, as GloVe's numpy distributions ship."""
    np.save(tmp_path / "emb.npy", np.repeat(np.arange(1, len(words) + 1, dtype=np.float32)[:, None], 2, axis=1))
    return tmp_path / "emb.npy"


@pytest.mark.parametrize("kind", ["txt", "npy", "parquet"])
def test_a_bare_npy_matrix_reads_its_words_from_a_second_file(tmp_path, vocab, kind):
    words = ["the", "unrelated", "Good", "plot"]
    matrix = bare_matrix(tmp_path, words)
    if kind == "txt":
        (tmp_path / "words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    elif kind == "npy":
        np.save(tmp_path / "words.npy", np.array(words))
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"index": words}), tmp_path / "words.parquet")
    vectors, found = read_vectors(matrix, vocab, 2, tmp_path / f"words.{kind}")
    assert vectors[row(vocab, "the")].tolist() == [1, 1] and vectors[row(vocab, "good")].tolist() == [3, 3]
    assert vectors[row(vocab, "plot")].tolist() == [4, 4] and int(found.sum()) == 3


def test_a_bare_npy_matrix_without_its_words_or_with_the_wrong_ones_is_refused(tmp_path, vocab):
    matrix = bare_matrix(tmp_path, ["the", "a"])
    with pytest.raises(TextclfError, match="bare matrix of vectors; its words are in another file. Add embedding.words=FILE"):
        read_vectors(matrix, vocab, 2)
    (tmp_path / "words.txt").write_text("the\na\nfilm\n", encoding="utf-8")
    with pytest.raises(TextclfError, match="has 2 rows but its words file lists 3 words"):
        read_vectors(matrix, vocab, 2, tmp_path / "words.txt")
    with pytest.raises(TextclfError, match="embedding.words file .* does not exist"):
        read_vectors(matrix, vocab, 2, tmp_path / "nowhere.parquet")


def test_training_reads_a_bare_npy_matrix_and_its_words(tmp_path, table_dir):
    from conftest import FILLER, POSITIVE

    words = FILLER + POSITIVE
    np.save(tmp_path / "emb.npy", np.ones((len(words), 8), dtype=np.float32))
    (tmp_path / "words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    cfg = compose_train(["data=table", f"data.root={table_dir}", "embedding=pretrained", f"embedding.path={tmp_path / 'emb.npy'}",
                         f"embedding.words={tmp_path / 'words.txt'}", "embedding.dim=8", "embedding.freeze=true", "model=bilstm",
                         "model.encoder.hidden_size=8", "trainer.max_epochs=1", "trainer.progress=false", "trainer.tensorboard=false"])
    train(cfg, tmp_path / "run")
    from textclf.inference.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(tmp_path / "run" / "best.pt")
    vocab = Vocab.from_json(checkpoint["tokenizer"])
    assert checkpoint["state_dict"]["embedding.table.weight"][vocab.tokenizer.token_to_id(POSITIVE[0])].tolist() == [1.0] * 8


def test_a_bad_words_file_or_matrix_is_named_for_what_it_is(tmp_path, vocab):
    matrix = bare_matrix(tmp_path, ["the", "a"])
    (tmp_path / "words.txt").write_bytes(b"the\n\xff\xfe\n")
    with pytest.raises(TextclfError, match=r"words.txt: not a readable list of words .*embedding.words=FILE"):
        read_vectors(matrix, vocab, 2, tmp_path / "words.txt")
    np.save(tmp_path / "flat.npy", np.ones(4, dtype=np.float32))
    (tmp_path / "two.txt").write_text("the\na\n", encoding="utf-8")
    with pytest.raises(TextclfError, match=r"expected a matrix of vectors \[words, dimensions\], got an array of shape \(4,\)"):
        read_vectors(tmp_path / "flat.npy", vocab, 2, tmp_path / "two.txt")
