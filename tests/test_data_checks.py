"""Data that cannot mean what it says is refused before training (textclf/data/checks.py)."""

from __future__ import annotations

import logging

import pytest

from textclf.core.errors import TextclfError
from textclf.data.checks import label_key
from textclf.data.pipeline import build_source, prepare

from conftest import compose_train, sentiment_rows


def write_table(root, train_rows, test_rows):
    root.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.csv", train_rows), ("test.csv", test_rows)):
        (root / name).write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return root


def prepared(root, *extra):
    cfg = compose_train(["model=bilstm", "data=table", f"data.root={root}", *extra])
    return prepare(build_source(cfg.data), cfg.tokenizer)


def test_the_spelling_independent_label_key():
    assert label_key("1") == label_key("1.0") == label_key(" 1.00") and label_key("Pos") == label_key("pos")
    assert label_key("1") != label_key("10") and label_key("n,w") != label_key("w,n")


@pytest.mark.parametrize("other", ["Pos", "POS"])
def test_labels_that_differ_only_by_case_are_refused(tmp_path, other):
    rows = sentiment_rows(60, 0)
    rows[5] = (rows[5][0], other)
    with pytest.raises(TextclfError, match=rf"labels .*'{other}'.* differ only by case or number formatting"):
        prepared(write_table(tmp_path / "t", rows, sentiment_rows(20, 1)))


def test_labels_that_differ_only_by_number_formatting_are_refused(tmp_path):
    rows = [(text, "1" if label == "pos" else "0") for text, label in sentiment_rows(60, 0)]
    test = [(text, "1.0" if label == "pos" else "0") for text, label in sentiment_rows(20, 1)]
    with pytest.raises(TextclfError, match=r"labels '1' and '1.0' differ only"):
        prepared(write_table(tmp_path / "t", rows, test))


def test_a_training_split_with_one_class_is_refused(tmp_path):
    rows = [(text, "pos") for text, _ in sentiment_rows(60, 0)]
    with pytest.raises(TextclfError, match=r"every training example has the label 'pos'"):
        prepared(write_table(tmp_path / "t", rows, sentiment_rows(20, 1)))


def test_training_texts_that_are_all_empty_after_tokenizing_are_refused(tmp_path):
    rows = [("!!! ...", label) for _, label in sentiment_rows(60, 0)]
    with pytest.raises(TextclfError, match=r"100 % of the training texts have no token left after tokenizing"):
        prepared(write_table(tmp_path / "t", rows, sentiment_rows(20, 1)), "tokenizer.drop_punctuation=true")
    prepared(write_table(tmp_path / "u", rows, sentiment_rows(20, 1)))  # punctuation kept: tokens, so accepted


def test_a_class_seen_only_in_test_is_a_warning(tmp_path, caplog):
    test = sentiment_rows(20, 1) + [("a strange film", "mixed")]
    with caplog.at_level(logging.WARNING, logger="textclf.data"):
        data = prepared(write_table(tmp_path / "t", sentiment_rows(60, 0), test))
    assert "mixed" in data.labels
    assert "1 class(es) have no training examples ('mixed')" in caplog.text


def test_one_column_for_two_roles_is_refused(tmp_path):
    root = write_table(tmp_path / "t", sentiment_rows(20, 0), sentiment_rows(10, 1))
    with pytest.raises(TextclfError, match=r"data.text_column and data.label_column both name the column 'label'"):
        prepared(root, "data.text_column=label")


def test_a_column_named_twice_in_the_header_is_refused(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    for name in ("train.csv", "test.csv"):
        (root / name).write_text("text,label,text\n" + "".join(f"{t},{lab},other\n" for t, lab in sentiment_rows(20, 0)))
    with pytest.raises(TextclfError, match=r"train.csv: the header names 'text' more than once"):
        prepared(root)


def test_a_key_twice_in_a_jsonl_object_is_refused(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    rows = "".join(f'{{"text": "{t}", "label": "{lab}"}}\n' for t, lab in sentiment_rows(20, 0))
    (root / "test.jsonl").write_text(rows)
    (root / "train.jsonl").write_text(rows + '{"text": "a", "label": "pos", "label": "neg"}\n')
    with pytest.raises(TextclfError, match=r"train.jsonl:21: the key\(s\) 'label' appear more than once"):
        prepared(root, "data.train_file=train.jsonl", "data.test_file=test.jsonl")
