"""The hashed n-gram branch (textclf/models/ngrams.py): its buckets are the documented hash, only
n-grams inside the text count, it is off unless chosen (and then the model is what it was), it is
chosen from the command line, it learns word order a bag of words cannot, and it exports."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from textclf.core.config_rules import config_problems
from textclf.core.errors import TextclfError
from textclf.data.batching import Batch
from textclf.inference.exporting import export_model, run_exported
from textclf.models.bilstm import BiLSTM
from textclf.models.build import build_model
from textclf.models.classifier import TextClassifier
from textclf.models.embedding import Embedding
from textclf.models.fasttext import FastText
from textclf.models.ngrams import PRIME, HashedNgrams, ngram_buckets

from conftest import compose_train

VOCAB = 40


def python_bucket(gram: list[int], buckets: int) -> int:
    """The module docstring's hash in Python's unbounded integers (nothing can overflow here)."""
    h = len(gram)
    for word in gram:
        h = (h * PRIME + word) % buckets
    return h


def text_ngrams(ids: list[int], max_n: int) -> list[list[int]]:
    return [ids[t : t + n] for n in range(2, max_n + 1) for t in range(len(ids) - n + 1)]


def random_table(ngrams: HashedNgrams, seed: int = 0) -> HashedNgrams:
    with torch.no_grad():
        ngrams.table.copy_(torch.randn(ngrams.table.shape, generator=torch.Generator().manual_seed(seed)))
    return ngrams


@pytest.mark.parametrize("buckets", [1, 1000, 131072, 2**24])
def test_buckets_are_the_documented_hash_and_in_range(buckets):
    big = 2**40  # ids far beyond any vocabulary: the products stay exact in int64
    tokens = torch.tensor([[3, 7, big, 7, 3], [big - 1, 2, 0, 0, 0]])
    lengths = torch.tensor([5, 2])
    ids, real = ngram_buckets(tokens, lengths, max_n=3, buckets=buckets)
    assert ids.shape == real.shape == (2, 10) and ids.dtype == torch.int64
    assert ((ids >= 0) & (ids < buckets)).all()
    for row, n in enumerate(lengths.tolist()):
        words = tokens[row, :n].tolist()
        assert ids[row][real[row]].tolist() == [python_bucket(g, buckets) for g in text_ngrams(words, 3)]


def test_an_ngram_has_one_bucket_wherever_it_stands():
    tokens = torch.tensor([[5, 6, 9, 9], [9, 5, 6, 0], [5, 6, 0, 0]])
    ids, _ = ngram_buckets(tokens, torch.tensor([4, 3, 2]), max_n=2, buckets=131072)
    assert ids[0, 0] == ids[1, 1] == ids[2, 0]  # the bigram (5, 6) in three places
    assert ids[0, 0] != ids[0, 1]  # (6, 9): another bigram
    again, _ = ngram_buckets(tokens, torch.tensor([4, 3, 2]), max_n=2, buckets=131072)
    assert torch.equal(ids, again)


def test_the_vector_is_the_mean_of_the_text_s_ngram_rows_and_padding_never_counts():
    ngrams = random_table(HashedNgrams(max_n=3, buckets=97, dim=5)).eval()
    texts = [[4, 8, 15, 16, 23], [42, 8], [7]]
    tokens = torch.zeros(3, 5, dtype=torch.long)
    for row, ids in enumerate(texts):
        tokens[row, : len(ids)] = torch.tensor(ids)
    lengths = torch.tensor([len(ids) for ids in texts])
    with torch.no_grad():
        z = ngrams(tokens, lengths)
        expected = ngrams.table[[python_bucket(g, 97) for g in text_ngrams(texts[0], 3)]].mean(dim=0)
        torch.testing.assert_close(z[0], expected)
        torch.testing.assert_close(z[1], ngrams.table[python_bucket([42, 8], 97)])
        assert torch.equal(z[2], torch.zeros(5))  # one word: no n-gram at all
        # Junk ids in the padding and more of it: the same vectors.
        junk = torch.randint(1, VOCAB, (3, 9), generator=torch.Generator().manual_seed(1))
        junk[:, :5] = torch.where(tokens > 0, tokens, junk[:, :5])
        torch.testing.assert_close(ngrams(junk, lengths), z)


def test_the_table_starts_at_zero_and_rejects_bad_settings():
    assert HashedNgrams(buckets=10, dim=3).table.abs().sum() == 0
    with pytest.raises(ValueError, match="max_n"):
        HashedNgrams(max_n=1)
    with pytest.raises(ValueError, match="buckets"):
        HashedNgrams(buckets=2**24 + 1)


def tiny(*overrides: str) -> list[str]:
    return ["~recipe", "embedding.dim=8", "model.encoder.hidden_size=6", *overrides]


def logits(model: TextClassifier) -> torch.Tensor:
    tokens = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    with torch.no_grad():
        return model.eval()(Batch(tokens=tokens, lengths=torch.tensor([4, 2]), labels=None))


def test_without_the_branch_a_model_is_what_it_was():
    plain = compose_train(tiny("model=bilstm"))
    assert "ngrams" not in plain.model  # not even a null: configs and checkpoints read as before
    torch.manual_seed(0)
    off = build_model(plain, VOCAB, 3)
    assert off.ngrams is None and not any(key.startswith("ngrams") for key in off.state_dict())
    assert off.head[-1].in_features == off.encoder.output_size
    torch.manual_seed(0)
    null = build_model(compose_train(tiny("model=bilstm", "+model.ngrams=null")), VOCAB, 3)
    assert null.ngrams is None and torch.equal(logits(off), logits(null))
    # On, with its zero table, it is the same model plus head columns that read zeros: the embedding
    # and encoder start as without it (building the branch draws no random numbers).
    torch.manual_seed(0)
    on = build_model(compose_train(tiny("model=bilstm", "model/ngrams=bigrams")), VOCAB, 3)
    assert on.head[-1].in_features == off.encoder.output_size + on.ngrams.dim
    with torch.no_grad():
        on.head[-1].weight[:, : off.encoder.output_size] = off.head[-1].weight
        on.head[-1].bias.copy_(off.head[-1].bias)
    torch.testing.assert_close(logits(on), logits(off))


def test_the_branch_is_set_from_the_command_line():
    cfg = compose_train(tiny("model=bilstm", "model/ngrams=bigrams", "model.ngrams.max_n=3", "model.ngrams.dim=12"))
    assert config_problems(cfg) == []
    model = build_model(cfg, VOCAB, 3)
    assert (model.ngrams.max_n, model.ngrams.buckets, model.ngrams.dim) == (3, 131072, 12)
    assert model.head[-1].in_features == 12 + 12  # BiLSTM: 2 x 6, and the n-gram vector
    bad = compose_train(tiny("model=rcnn", "model/ngrams=bigrams", "model.ngrams.max_n=1", "model.ngrams.buckets=0"))
    assert config_problems(bad) == [
        "model.ngrams.max_n must be a whole number >= 2, got 1",
        "model.ngrams.buckets must be a whole number >= 1 and <= 16777216, got 0",
    ]
    assert config_problems(compose_train(tiny("model=bilstm", "+model.ngrams=true"))) == [
        "model.ngrams must be null (no branch) or the branch's settings: choose them with model/ngrams=bigrams, got True"
    ]
    fasttext = compose_train(["~recipe", "model=fasttext"])
    assert fasttext.model.ngrams.max_n == 2 and build_model(fasttext, VOCAB, 3).ngrams is not None
    for off in ("model/ngrams=none", "~model/ngrams"):  # none: an option to sweep over (-m model/ngrams=none,bigrams)
        assert build_model(compose_train(["~recipe", "model=fasttext", off]), VOCAB, 3).ngrams is None


def test_memory_models_refuse_the_branch_by_its_setting():
    cfg = compose_train(["~recipe", "model=memn2n", "+model/ngrams=bigrams"])
    with pytest.raises(TextclfError, match=r"^model\.ngrams: the n-gram branch reads one token sequence, and model=memn2n reads a story"):
        build_model(cfg, VOCAB, 3)
    with pytest.raises(TextclfError, match=r"model\.ngrams: .*unexpected keyword argument 'size'"):
        build_model(compose_train(tiny("model=bilstm", "+model.ngrams={size:3}")), VOCAB, 3)


def order_problem(n: int, seed: int) -> Batch:
    """The class is which of two words comes first ("5 6" or "6 5", among filler words): both classes
    hold the same bag of words, so only word order, through bigrams, tells them apart."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    tokens = torch.randint(10, VOCAB, (n, 6), generator=gen)
    starts = torch.randint(0, 5, (n,), generator=gen)
    rows = torch.arange(n)
    tokens[rows, starts] = torch.where(labels == 0, 5, 6)
    tokens[rows, starts + 1] = torch.where(labels == 0, 6, 5)
    return Batch(tokens=tokens, lengths=torch.full((n,), 6), labels=labels)


@pytest.mark.parametrize("branch", [False, True])
def test_bigrams_learn_the_word_order_a_bag_of_words_cannot(branch):
    torch.manual_seed(0)
    ngrams = HashedNgrams(max_n=2, buckets=4096, dim=8) if branch else None
    model = TextClassifier(Embedding(VOCAB, 8, dropout=0.0), FastText(8), 2, ngrams=ngrams).train()
    train, test = order_problem(256, seed=0), order_problem(400, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        loss = F.cross_entropy(model(train), train.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = model.eval()(test).argmax(dim=1).eq(test.labels).float().mean().item()
    # On new texts: a bag of words can only have memorised the training texts' filler words.
    assert accuracy > 0.9 if branch else 0.4 < accuracy < 0.6, accuracy  # 0.98 and 0.50 as written


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_a_bilstm_with_the_branch_exports_with_the_same_numbers(fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    ngrams = random_table(HashedNgrams(max_n=3, buckets=2**20, dim=6))
    model = TextClassifier(Embedding(VOCAB, 8, dropout=0.0), BiLSTM(8, 5), 3, ngrams=ngrams).eval()
    data, wrapper, _ = export_model(model, VOCAB, fmt)  # traced on 3 tokens, checked on 7
    tokens = torch.randint(1, VOCAB, (4, 11), generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor([11, 1, 2, 6])
    tokens = tokens.masked_fill(torch.arange(11) >= lengths.unsqueeze(1), 0)
    with torch.no_grad():
        expected = model(Batch(tokens=tokens, lengths=lengths, labels=None))
    torch.testing.assert_close(run_exported(fmt, data, wrapper, (tokens, lengths)), expected, atol=1e-5, rtol=1e-4)
