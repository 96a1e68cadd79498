"""data.weight_column: rows weighted in the loss, the metrics and the baseline's fit."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from textclf.core.errors import TextclfError
from textclf.data.table import Table
from textclf.models.task import Task
from textclf.reporting.metrics import scores
from textclf.training.trainer import train

from conftest import FILLER, NEGATIVE, POSITIVE, QUIET, compose_train


def test_the_loss_is_the_weighted_mean_of_the_rows():
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 3), torch.tensor([0, 2, 1, 2])
    rows = torch.tensor([1.0, 0.0, 2.0, 0.5])
    per_row = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    assert torch.allclose(Task().loss(logits, targets, rows=rows), (per_row * rows).sum() / rows.sum())
    assert torch.allclose(Task().loss(logits, targets, "sum", rows=rows), (per_row * rows).sum())
    assert torch.allclose(Task().loss(logits, targets, rows=torch.ones(4)), Task().loss(logits, targets))
    classes = torch.tensor([1.0, 2.0, 3.0])  # with class weights, as PyTorch's weighted mean divides by them
    assert torch.allclose(Task().loss(logits, targets, weight=classes, rows=torch.ones(4)), Task().loss(logits, targets, weight=classes))
    gold = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    multi = torch.nn.functional.binary_cross_entropy_with_logits(logits, gold, reduction="none").sum(dim=1)
    assert torch.allclose(Task(True).loss(logits, gold, rows=rows), (multi * rows).sum() / rows.sum())


def test_metrics_count_each_row_by_its_weight():
    gold, pred = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1])
    assert scores(gold, pred)["acc"] == 0.5
    assert scores(gold, pred, np.array([3.0, 1.0, 0.0, 0.0]))["acc"] == 1.0
    assert scores(gold, pred, np.array([1.0, 1.0, 2.0, 0.0]))["acc"] == 0.5


def test_a_table_reads_weights_and_refuses_a_bad_one(tmp_path):
    (tmp_path / "train.csv").write_text("text,label,w\ngood film,pos,2\nbad film,neg,0.5\n")
    (tmp_path / "test.csv").write_text("text,label,w\nfine,pos,1\n")
    splits = Table(root=str(tmp_path), weight_column="w", val_file="test.csv").load()
    assert [ex.weight for ex in splits.train] == [2.0, 0.5]
    for bad in ("-1", "heavy", "nan"):
        (tmp_path / "train.csv").write_text(f"text,label,w\ngood film,pos,{bad}\n")
        with pytest.raises(TextclfError, match=rf"train.csv:2: the weight column 'w' holds '{bad}'; a row's weight is a number >= 0"):
            Table(root=str(tmp_path), weight_column="w", val_file="test.csv").load()


@pytest.mark.slow
def test_rows_of_weight_zero_do_not_teach_the_model(tmp_path):
    """Half the training rows carry the wrong label at weight 0: weighted training learns the right rule."""
    rng = random.Random(0)

    def row(label: str) -> str:
        words = rng.choices(FILLER, k=4) + [rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        return " ".join(words)

    lines = ["text,label,w"]
    for _ in range(300):
        label = rng.choice(["pos", "neg"])
        lines.append(f"{row(label)},{label},1")
        lines.append(f"{row(label)},{'neg' if label == 'pos' else 'pos'},0")  # a mislabelled copy, weighed out
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    test = ["text,label,w"] + [f"{row(label)},{label},1" for label in (rng.choice(["pos", "neg"]) for _ in range(100))]
    (tmp_path / "test.csv").write_text("\n".join(test) + "\n")
    common = [*QUIET, "data=table", f"data.root={tmp_path}", "model=fasttext", "embedding.dim=16", "trainer.max_epochs=8", "optimizer.lr=0.05"]
    weighted = train(compose_train([*common, "data.weight_column=w"]), tmp_path / "weighted")
    plain = train(compose_train(common), tmp_path / "plain")
    assert weighted["test_acc"] > 0.9 and plain["test_acc"] < 0.75
    assert weighted["baseline_test_acc"] > 0.9  # the baseline's fit weighs the rows too
