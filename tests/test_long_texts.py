"""A very long text costs what a model reads of it, not its size: it is cut to ``max_tokens``
tokens before it is tokenized, in training (the vocabulary) and in encoding (data/vocab.py `head`)."""

from __future__ import annotations

import pytest

from textclf.data.encoding import encode_examples
from textclf.data.example import Example
from textclf.data.vocab import CHARS_PER_TOKEN, Vocab, head

SAMPLES = [
    "don't stop -- it's the film's best scene, isn't it?! " * 40,
    "新闻 报道 今天 的 天气 很好。" * 80,
    "a" * 5000 + " b c",  # one token longer than the first prefix tried
    "word " * 10,  # shorter than any prefix: kept whole
    "! . , ; " * 300,
    ("<sep> " + "x" * 30 + " ") * 60,  # table columns joined: each <sep> is one token, not its three pieces
]


@pytest.mark.parametrize("options", [{}, {"cjk_chars": True}, {"drop_punctuation": True}, {"lowercase": False}])
@pytest.mark.parametrize("text", SAMPLES)
def test_the_head_keeps_the_first_tokens_of_the_whole_text(text, options):
    vocab = Vocab.fit(SAMPLES, **options)
    for max_tokens in (1, 7, 64):
        whole = vocab.encode_many([text])[0][:max_tokens]
        assert vocab.encode_many([text], max_tokens)[0] == whole
        assert head(vocab.tokenizer, text, max_tokens) == text or len(head(vocab.tokenizer, text, max_tokens)) < len(text)


def test_a_ten_megabyte_text_is_cut_before_tokenizing():
    text = " ".join(f"w{i}" for i in range(1_500_000))  # ~10 MB on one line
    vocab = Vocab.fit(["w0 w1 w2", text], max_tokens=256)
    cut = head(vocab.tokenizer, text, 256)
    assert len(cut) <= 256 * CHARS_PER_TOKEN * 4 < len(text) // 100
    words = vocab.tokenizer.get_vocab()
    assert "w255" in words and "w5000" not in words and len(words) < 5000  # fitted on the head only
    encoded = encode_examples([Example(text=text, label="a")], vocab, ["a"], [], max_tokens=256)
    assert int(encoded.lengths[0]) == 256
    assert encoded.tokens[0].tolist() == vocab.encode_many([cut])[0][:256]
