"""The linear baseline beside every run: fitted on the same splits, chosen on validation, reported."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from textclf.data.pipeline import build_source, prepare
from textclf.inference.checkpoint import load_checkpoint
from textclf.reporting.summary import run_summary
from textclf.reporting.sweep_summary import write_summary
from textclf.training.baseline import NAME, classifier, fit_baseline, full_probabilities, vectorizer
from textclf.training.trainer import train

from conftest import compose_train


def tiny(root, *extra):
    return compose_train([
        "data=table", f"data.root={root}", "embedding.dim=16", "model=bilstm", "model.encoder.hidden_size=16",
        "trainer.max_epochs=2", "trainer.progress=false", "trainer.tensorboard=false", *extra,
    ])


def prepared(cfg):
    return prepare(build_source(cfg.data), cfg.tokenizer)


def test_every_run_reports_the_baseline_beside_the_model(table_dir, tmp_path):
    results = train(tiny(table_dir), tmp_path)
    # One opinion word decides the toy label: a bag of words learns it.
    assert results["baseline"] == NAME and results["baseline_test_acc"] > 0.9
    for key in ("val_acc", "val_macro_f1", "test_acc", "test_macro_f1"):
        assert f"baseline_{key}" in results and key in results
    assert json.loads((tmp_path / "results.json").read_text())["baseline_test_acc"] == results["baseline_test_acc"]
    line = f"baseline ({NAME}) {100 * results['baseline_test_acc']:.1f} %"
    summary = run_summary(results, tmp_path)
    assert f"bilstm {100 * results['test_acc']:.1f} %  |  {line}" in summary
    assert line in (tmp_path / "report" / "classification_report.txt").read_text().splitlines()[1]
    # The checkpoint keeps it, and the model's card (Classifier.metadata, the server's /metadata) shows it.
    assert load_checkpoint(tmp_path / "best.pt")["baseline"]["baseline_test_acc"] == results["baseline_test_acc"]
    from textclf import Classifier

    assert Classifier.load(tmp_path).metadata()["baseline"]["baseline_test_acc"] == results["baseline_test_acc"]


def test_baseline_none_fits_nothing(table_dir, tmp_path):
    results = train(tiny(table_dir, "baseline=none"), tmp_path)
    assert not [key for key in results if key.startswith("baseline")]
    assert NAME not in run_summary(results, tmp_path)
    assert NAME not in (tmp_path / "report" / "classification_report.txt").read_text()


def test_strength_is_chosen_on_validation_and_test_never_decides(table_dir):
    cfg = tiny(table_dir, "baseline.strengths=[0.01,0.1,1,10]")
    data = prepared(cfg)
    results = fit_baseline(data, cfg.baseline, chars=False, lowercase=True, balanced=False, seed=0)
    vec = vectorizer(False, True)
    x_train = vec.fit_transform([ex.text for ex in data.splits.train])
    x_val = vec.transform([ex.text for ex in data.splits.val])
    gold_val = data.encoded["val"].labels.numpy()
    scores = []
    for strength in (0.01, 0.1, 1, 10):
        model = classifier(strength, False, False, 100).fit(x_train, data.encoded["train"].labels.numpy())
        scores.append((model.predict(x_val) == gold_val).mean())
    assert results["baseline_val_acc"] == pytest.approx(max(scores))
    assert results["baseline_C"] == [0.01, 0.1, 1, 10][int(np.argmax(scores))]
    # Test labels flipped: the choice and the validation score stay; only the test score moves.
    flipped = dataclasses.replace(data.encoded["test"], labels=1 - data.encoded["test"].labels)
    data.encoded["test"] = flipped
    again = fit_baseline(data, cfg.baseline, chars=False, lowercase=True, balanced=False, seed=0)
    assert again["baseline_C"] == results["baseline_C"] and again["baseline_val_acc"] == results["baseline_val_acc"]
    assert again["baseline_test_acc"] == pytest.approx(1 - results["baseline_test_acc"])


def test_a_large_training_split_is_sampled_and_says_so(table_dir):
    cfg = tiny(table_dir, "baseline.max_train_rows=50")
    data = prepared(cfg)
    results = fit_baseline(data, cfg.baseline, chars=False, lowercase=True, balanced=False, seed=0)
    assert results["baseline_train_rows"] == 50 < len(data.splits.train)


def test_multi_label_runs_get_a_one_vs_rest_baseline(tags_dir, tmp_path):
    results = train(tiny(tags_dir, "data.train_file=train.jsonl", "task=multi_label"), tmp_path)
    assert results["baseline_test_micro_f1"] > 0.8  # tags are decided by topic words
    assert "baseline_test_hamming_loss" in results
    assert f"baseline ({NAME}) {100 * results['baseline_test_micro_f1']:.1f} %" in run_summary(results, tmp_path)


def test_stories_get_a_bag_of_words_over_story_and_question(tmp_path):
    # Generated into a folder of its own: at other sizes, the generator rewrites the folder it is given
    # (the shared babi_dir, which later tests read at its sizes).
    cfg = compose_train([
        "data=babi_gen", f"data.root={tmp_path / 'babi_gen'}", "data.n_train=60", "data.n_test=30", "model=bilstm", "embedding.dim=8",
        "model.encoder.hidden_size=8", "trainer.max_epochs=1", "trainer.progress=false", "trainer.tensorboard=false",
    ])
    results = train(cfg, tmp_path / "run")
    assert 0 <= results["baseline_test_mean_error"] <= 100 and 0 <= results["baseline_test_acc"] <= 1
    assert "baseline_test_per_task" not in results  # the per-task table is the model's


def test_a_class_train_never_has_keeps_its_column():
    from sklearn.linear_model import LogisticRegression

    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    model = LogisticRegression().fit(x, [0, 2, 0, 2])  # class 1 exists only in test
    prob = full_probabilities(model, x, 3, multi_label=False)
    assert prob.shape == (4, 3) and np.all(prob[:, 1] == 0) and np.allclose(prob.sum(axis=1), 1)


def test_chinese_reads_characters_and_their_runs():
    vec = vectorizer(chars=True, lowercase=True).fit(["我喜欢这部电影", "这部电影很无聊"])
    vocabulary = set(vec.vocabulary_)
    assert {"电", "电影", "这部电"} <= vocabulary


def test_the_sweep_summary_shows_the_baseline_column(tmp_path):
    for number, (acc, base) in enumerate([(0.8, 0.82), (0.85, 0.82)]):
        folder = tmp_path / str(number)
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(f"- seed={number}\n")
        (folder / "results.json").write_text(json.dumps({"val_acc": acc, "test_acc": acc, "baseline_test_acc": base}))
    write_summary(tmp_path, "val_acc")
    header = (tmp_path / "summary.md").read_text().splitlines()[2]
    assert "test_acc | baseline_test_acc" in header


def test_training_rng_is_untouched_by_the_baseline(table_dir):
    cfg = tiny(table_dir)
    data = prepared(cfg)
    torch.manual_seed(0)
    np.random.seed(0)
    fit_baseline(data, cfg.baseline, chars=False, lowercase=True, balanced=False, seed=0)
    after = (torch.rand(1).item(), np.random.rand())
    torch.manual_seed(0)
    np.random.seed(0)
    assert after == (torch.rand(1).item(), np.random.rand())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("baseline.strengths=[]", "baseline.strengths must be a list of numbers > 0"),
        ("baseline.strengths=[1,0]", "baseline.strengths must be a list of numbers > 0"),
        ("baseline.kind=svm", "baseline.kind must be one of tfidf, none"),
        ("baseline.max_train_rows=0", "baseline.max_train_rows must be"),
    ],
)
def test_bad_baseline_settings_are_refused_by_name(table_dir, tmp_path, override, message):
    from textclf.core.errors import TextclfError

    with pytest.raises(TextclfError, match=re.escape(message)):
        train(tiny(table_dir, override), tmp_path)
    assert not (tmp_path / "results.json").exists()
