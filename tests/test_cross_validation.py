"""Cross-validation: data.folds=K trains one model per fold (data/folds.py, training/cross_validation.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from textclf.commands.evaluate import evaluate
from textclf.core.errors import TextclfError
from textclf.data.example import Example, Splits
from textclf.data.folds import fold_of, stratum_keys
from textclf.data.pipeline import build_source, load_source
from textclf.inference.loader import load_model
from textclf.reporting.sweep_summary import write_summary
from textclf.training.trainer import train

from conftest import compose_train


def splits(n: int = 60) -> Splits:
    labels = ["a"] * (n // 2) + ["b"] * (n // 3) + ["c"] * (n - n // 2 - n // 3)
    examples = [Example(f"text {i}", label) for i, label in enumerate(labels)]
    return Splits(train=examples[:48], val=examples[48:], test=[Example("held out", "a")], description="toy")


def test_the_folds_cut_train_and_validation_into_stratified_parts():
    data, folds = splits(), 4
    cut = [fold_of(data, folds, fold, seed=0) for fold in range(folds)]
    pooled = {ex.text for ex in data.train + data.val}
    vals = [{ex.text for ex in c.val} for c in cut]
    assert set().union(*vals) == pooled and sum(map(len, vals)) == len(pooled)  # each example validates once
    for c, val in zip(cut, vals):
        assert {ex.text for ex in c.train} == pooled - val  # and trains in the other folds
        assert c.test == data.test  # test is never touched
        counts = pd.Series([ex.label for ex in c.val]).value_counts()
        assert counts["a"] in (7, 8) and counts["b"] == 5 and counts["c"] in (2, 3)  # 30/20/10 rows over 4 folds, stratified
    assert [ex.text for ex in fold_of(data, folds, 2, seed=0).val] == [ex.text for ex in cut[2].val]  # the same every time
    assert [ex.text for ex in fold_of(data, folds, 2, seed=1).val] != [ex.text for ex in cut[2].val]  # data.seed reshuffles
    assert cut[1].description == "toy, fold 2 of 4"


def test_label_sets_are_stratified_by_their_rarest_label_and_stories_by_task():
    rows = [Example("x", ("common", "rare")), Example("y", ("common",)), Example("z", ()), Example("w", ("common",), group="qa2")]
    assert stratum_keys(rows) == ["rare", "common", "(none)", "qa2/common"]


@pytest.mark.parametrize("setting, message", [
    ({"fold": 1}, r"data.fold=1 needs data.folds=K"),
    ({"folds": 3, "fold": 3}, r"data.fold must be one of 0 .. 2 with data.folds=3, got 3"),
])
def test_a_fold_out_of_place_is_refused(setting, message, tmp_path):
    data = compose_train(["data=babi_gen", f"data.root={tmp_path}"]).data
    data.update(setting)
    with pytest.raises(TextclfError, match=message):
        load_source(build_source(data))


@pytest.mark.slow
def test_a_cross_validation_trains_each_fold_and_reports_their_spread(tmp_path):
    cfg = compose_train(["data=babi_gen", f"data.root={tmp_path / 'data'}", "data.n_train=60", "data.n_test=30", "data.tasks=[1,6]",
                         "model=fasttext", "embedding.dim=16", "trainer.max_epochs=2", "trainer.progress=false",
                         "trainer.tensorboard=false", "data.folds=3"])
    results = train(cfg, tmp_path / "run")
    folds = [json.loads((tmp_path / "run" / f"fold_{i}" / "results.json").read_text()) for i in range(3)]
    table = pd.read_csv(tmp_path / "run" / "folds.csv")
    assert list(table["fold"]) == [0, 1, 2] and list(table["val_acc"]) == [f["val_acc"] for f in folds]
    assert results["folds"] == 3 and results["val_acc"] == pytest.approx(sum(f["val_acc"] for f in folds) / 3)
    assert results["test_acc_std"] == pytest.approx(pd.Series([f["test_acc"] for f in folds]).std())
    assert "mean ± sd" in (tmp_path / "run" / "folds.md").read_text()
    # A fold's checkpoint reads its own fold again: evaluating it on validation scores what training did.
    assert load_model(tmp_path / "run" / "fold_1").config.data.fold == 1
    with initialize_config_module("textclf.conf", version_base="1.3"):
        request = compose("eval", overrides=[f"ckpt_path={tmp_path / 'run' / 'fold_1'}", "split=val", "device=cpu"])
    assert evaluate(request, tmp_path / "eval")["acc"] == pytest.approx(folds[1]["val_acc"])


def test_a_sweep_over_the_folds_ends_with_their_mean(tmp_path):
    for fold, acc in enumerate([0.5, 0.7, 0.6]):
        (tmp_path / str(fold) / ".hydra").mkdir(parents=True)
        (tmp_path / str(fold) / ".hydra" / "overrides.yaml").write_text(f"- data.folds=3\n- data.fold={fold}\n")
        (tmp_path / str(fold) / "results.json").write_text(json.dumps({"val_acc": acc, "test_acc": acc - 0.1}))
    write_summary(tmp_path, "val_acc")
    assert "| mean ± sd |  |  | 0.6000 ± 0.1000 | 0.5000 ± 0.1000 |" in (tmp_path / "summary.md").read_text()
