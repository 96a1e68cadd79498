"""Chinese text: character tokens, the class.txt folder layout, and a model trained on it."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from textclf.core.errors import TextclfError
from textclf.data.table import Table
from textclf.data.vocab import Vocab
from textclf.training.trainer import train

from conftest import compose_train

CLASSES = ["体育", "财经", "科技"]
WORDS = {0: ["球队", "比赛", "进球", "冠军"], 1: ["股票", "银行", "利率", "市场"], 2: ["手机", "芯片", "电脑", "网络"]}
FILLER = ["今天", "我们", "看到", "新闻", "报道", "了", "的"]


def write_folder(root, n_train=150, seed=0):
    rng = random.Random(seed)
    (root / "class.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    for name, n in (("train.txt", n_train), ("dev.txt", 30), ("test.txt", 45)):
        lines = []
        for _ in range(n):
            label = rng.randrange(3)
            words = rng.choices(FILLER, k=4) + [rng.choice(WORDS[label])]
            rng.shuffle(words)
            lines.append("".join(words) + f"\t{label}")  # unsegmented, as Chinese is written
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_character_tokens_and_space_segmented_words():
    chars = Vocab.fit(["我爱北京 NLP"], cjk_chars=True)
    assert chars.tokenize("我爱北京 NLP") == ["我", "爱", "北", "京", "nlp"]
    words = Vocab.fit(["今天 天气 很好"])
    assert words.tokenize("今天 天气 很好") == ["今天", "天气", "很好"]


def test_class_folder_gives_class_names(tmp_path):
    write_folder(tmp_path)
    splits = Table(root=str(tmp_path)).load()
    assert splits.label_names == CLASSES
    assert {ex.label for ex in splits.train} <= set(CLASSES)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (150, 30, 45)


def test_class_folder_errors(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "dev.txt").write_text("某个文本\t7\n", encoding="utf-8")
    with pytest.raises(TextclfError, match=r"dev.txt:1: label id '7' is not a line of class.txt \(0..2\)"):
        Table(root=str(tmp_path)).load()
    (tmp_path / "dev.txt").write_text("没有标签\n", encoding="utf-8")
    with pytest.raises(TextclfError, match="dev.txt:1: expected 'text<TAB>label-id'"):
        Table(root=str(tmp_path)).load()
    (tmp_path / "test.txt").unlink()
    with pytest.raises(TextclfError, match="missing file.*test.txt"):
        Table(root=str(tmp_path)).load()


def test_chinese_model_learns_and_reports_class_names(tmp_path):
    (tmp_path / "data").mkdir()
    write_folder(tmp_path / "data")
    cfg = compose_train(["data=table", f"data.root={tmp_path / 'data'}", "tokenizer=chinese_chars", "embedding.dim=16",
                         "model=bilstm", "model.encoder.hidden_size=16", "trainer.max_epochs=8", "trainer.batch_size=16",
                         "optimizer.lr=0.01", "trainer.progress=false", "trainer.tensorboard=false"])
    results = train(cfg, tmp_path / "run")
    assert results["test_acc"] > 0.8  # one topic word (two characters) decides the class
    report = pd.read_csv(tmp_path / "run" / "report" / "classification_report.csv", index_col=0)
    assert set(CLASSES) <= set(report.index)
    predictions = pd.read_csv(tmp_path / "run" / "report" / "predictions.csv")
    assert set(predictions["gold"]) == set(CLASSES)


def test_table_options_are_refused_for_a_class_folder(tmp_path):
    write_folder(tmp_path)
    with pytest.raises(TextclfError, match=r"is a class.txt folder .* which task.multi_label, data.header cannot apply to; leave them out"):
        Table(root=str(tmp_path), multi_label=True, header=False).load()


def test_a_blank_line_among_the_class_names_is_refused(tmp_path):
    from textclf.data.class_folder import read_class_names

    (tmp_path / "names.txt").write_text("sports\n\nfinance\n\n", encoding="utf-8")
    with pytest.raises(TextclfError, match=r"names.txt:2: a blank line among the class names"):
        read_class_names(tmp_path / "names.txt")
    (tmp_path / "names.txt").write_text("sports\nfinance\n\n\n", encoding="utf-8")
    assert read_class_names(tmp_path / "names.txt") == ["sports", "finance"]  # blank lines at the end are no class
