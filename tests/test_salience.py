"""Per-word salience (textclf/models/salience.py) on small hand-built models: each measure is what
its docstring says, padding never counts, and the words shown line up with the tokens read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textclf.data.batching import Batch
from textclf.data.encoding import Encoding
from textclf.data.example import Example
from textclf.data.vocab import UNK_ID, Vocab
from textclf.inference.explanation import mistakes_first
from textclf.models.bilstm import BiLSTM
from textclf.models.classifier import TextClassifier
from textclf.models.embedding import Embedding
from textclf.models.fasttext import FastText
from textclf.models.memn2n import MemN2N
from textclf.models.ngrams import HashedNgrams
from textclf.models.rcnn import TextRCNN
from textclf.models.salience import method_for, token_salience
from textclf.models.textcnn import TextCNN
from textclf.models.textrnn import TextRNN
from textclf.reporting.salience_strip import salience_text


def classifier(encoder: torch.nn.Module, vocab_size: int = 12, dim: int = 6, ngrams: HashedNgrams | None = None) -> TextClassifier:
    torch.manual_seed(0)
    if ngrams is not None:  # a trained-looking table: the zero one would add nothing to explain
        torch.nn.init.normal_(ngrams.table)
    return TextClassifier(Embedding(vocab_size, dim, dropout=0.0), encoder, num_classes=3, ngrams=ngrams).eval()


def padded_batch() -> Batch:
    """Two rows, the second shorter (its last two slots are padding)."""
    tokens = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 0, 0]])
    return Batch(tokens=tokens, lengths=torch.tensor([5, 3]), labels=torch.tensor([0, 1]))


def test_attention_weights_are_the_pooling_s_own():
    model = classifier(BiLSTM(6, hidden_size=4, pooling="attention"))
    batch = padded_batch()
    salience = token_salience(model, batch)
    assert salience.method == "attention" and not salience.signed
    with torch.no_grad():
        states = model.encoder.step_features(model.embedding(batch.tokens), batch.lengths)
        pooled = model.encoder(model.embedding(batch.tokens), batch.lengths)
    # the text vector is the weighted sum of the word states with exactly these weights
    assert torch.allclose(torch.einsum("bt,btd->bd", salience.weights, states), pooled, atol=1e-6)
    assert torch.allclose(salience.weights.sum(dim=1), torch.ones(2))
    assert salience.weights[1, 3:].abs().sum() == 0


def test_max_share_goes_to_the_word_whose_state_wins_every_feature():
    encoder = TextRCNN(4, hidden_size=2, projection_size=4)
    model = classifier(encoder, dim=4)
    with torch.no_grad():  # y2_i = tanh(e(w_i)): the projection reads only the word itself
        encoder.projection.weight.zero_()
        encoder.projection.weight[:, 2:6] = torch.eye(4)
        encoder.projection.bias.zero_()
        model.embedding.table.weight[5] = 3.0  # token 5's state is the largest in every feature
    salience = token_salience(model, padded_batch())
    assert salience.method == "max share" and not salience.signed
    assert salience.weights[0].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert torch.allclose(salience.weights.sum(dim=1), torch.ones(2))
    assert salience.weights[1, 3:].abs().sum() == 0  # a padded slot never wins a feature


@pytest.mark.parametrize(
    "encoder, ngrams",
    [(TextRNN(6, hidden_size=4), None), (BiLSTM(6, hidden_size=4, pooling="mean"), None), (TextCNN(6, filters=3), None),
     (FastText(6), HashedNgrams(buckets=50, dim=4)), (BiLSTM(6, hidden_size=4, pooling="attention"), HashedNgrams(max_n=3, buckets=50, dim=4))],
    ids=["textrnn", "bilstm-mean", "textcnn", "fasttext", "bilstm-attention+ngrams"],
)  # fmt: skip
def test_occlusion_is_the_fall_in_probability_when_a_word_is_hidden(encoder, ngrams):
    model = classifier(encoder, ngrams=ngrams)
    batch = padded_batch()
    salience = token_salience(model, batch)
    assert method_for(model) == "occlusion" and salience.signed
    with torch.no_grad():
        probs = model(batch).softmax(dim=-1)
        predicted = probs.argmax(dim=-1)
        for row, length in enumerate(batch.lengths.tolist()):
            for t in range(length):
                hidden = batch.tokens[row : row + 1, :length].clone()
                hidden[0, t] = UNK_ID
                p = model(Batch(tokens=hidden, lengths=batch.lengths[row : row + 1], labels=batch.labels[:1])).softmax(dim=-1)
                assert salience.weights[row, t] == pytest.approx(float(probs[row, predicted[row]] - p[0, predicted[row]]), abs=1e-6)
    assert salience.weights[1, 3:].abs().sum() == 0
    # explaining another class gives that class's fall
    other = token_salience(model, batch, classes=(predicted + 1) % 3)
    assert not torch.allclose(other.weights, salience.weights)


def test_a_row_s_salience_does_not_depend_on_the_rows_beside_it():
    for encoder in (BiLSTM(6, hidden_size=4, pooling="max"), BiLSTM(6, hidden_size=4, pooling="attention"), TextRNN(6, hidden_size=4)):
        model = classifier(encoder)
        batch = padded_batch()
        alone = Batch(tokens=batch.tokens[1:, :3], lengths=batch.lengths[1:], labels=batch.labels[1:])
        assert torch.allclose(token_salience(model, batch).weights[1, :3], token_salience(model, alone).weights[0], atol=1e-6)


def test_memory_networks_are_not_explained_per_word():
    model = TextClassifier(Embedding(12, 6, dropout=0.0), MemN2N(6, vocab_size=12, hops=1), num_classes=3)
    with pytest.raises(ValueError, match="hop attention"):
        method_for(model)


def test_the_words_shown_line_up_with_the_tokens_read():
    vocab = Vocab.fit(["mary went to the kitchen", "where is mary"])
    encoding = Encoding(vocab, labels=["kitchen"], groups=[], max_tokens=6)
    examples = [
        Example("Where is Mary?", "kitchen", context=("Mary went to the Kitchen.", "Zork left.")),
        Example("", "kitchen"),
        Example("Mary went to the kitchen to find the Zork", "kitchen"),
    ]
    words = encoding.flat_words(examples)
    encoded = encoding.encode(examples)
    # a story keeps its end: the last sentence, <sep> and the question; case and unknown words as written
    assert words[0] == ["Zork", "left", ".", "<sep>", "Where", "is", "Mary", "?"][-6:]
    assert words[1] == [] and encoded.lengths[1] == 1  # an empty text: one padding token, no word
    assert words[2] == ["Mary", "went", "to", "the", "kitchen", "to"]  # a text keeps its start
    for row, shown in enumerate(words):
        if shown:
            assert len(shown) == encoded.lengths[row]
            assert vocab.encode_many([w.lower() for w in shown if w != "<sep>"]) == [
                [int(i)] for i in encoded.tokens[row, : len(shown)] if i != 2
            ]


def test_mistakes_come_first_most_confident_first_then_the_least_sure_right_ones():
    prob = np.array([[0.9, 0.1], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8], [0.6, 0.4]])
    gold = np.array([0, 0, 0, 1, 0])  # wrong: 1 (0.7), 2 (0.55); right: 0 (0.9), 3 (0.8), 4 (0.6)
    assert mistakes_first(prob, gold) == [1, 2, 4, 3, 0]


def test_salience_text_lists_every_word_with_its_weight():
    text = salience_text(["a", "great", "film"], np.array([0.1, 0.8, -0.1]), "occlusion", True, ["text: a great film"])
    lines = text.splitlines()
    assert lines[0] == "text: a great film" and "replaced by <unk>" in lines[1]
    rows = [line.split() for line in lines[3:]]
    assert [(float(r[0]), r[1]) for r in rows] == [(0.1, "a"), (0.8, "great"), (-0.1, "film")]
    assert rows[1][2] == "#" * 20 and rows[2][2].startswith("-")  # bars: the largest full, negative ones marked
