"""The Python API: `textclf.train` for notebooks and `textclf.Classifier`, against the predict command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import textclf
from textclf.commands.predict import predict
from textclf.core.errors import TextclfError

TEXTS = ["the film was superb and lovely", "a dull , boring plot", "", "very bright and fun cast"]


# text_run and story_run: the shared trained runs (conftest.py).


def test_train_returns_results_and_writes_the_run_folder(text_run):
    run_dir, results = text_run
    assert results == json.loads((run_dir / "results.json").read_text())
    assert results["model"] == "bilstm" and 0.0 <= results["test_acc"] <= 1.0
    for name in ("best.pt", "last.pt", "metrics.csv", "train.log", ".hydra/config.yaml", ".hydra/overrides.yaml", "report"):
        assert (run_dir / name).exists(), name
    stored = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert stored.model.encoder.hidden_size == 16 and "hydra" not in stored
    assert "test acc" in (run_dir / "train.log").read_text()


def test_train_refuses_a_bad_override_with_one_message(tmp_path):
    with pytest.raises(TextclfError, match="model=nosuchmodel"):
        textclf.train(["model=nosuchmodel"], run_dir=str(tmp_path / "run"))
    with pytest.raises(TextclfError, match="trainer.max_epochs must be a positive integer"):
        textclf.train(["trainer.max_epochs=0"], run_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_classifier_predicts_as_the_predict_command(text_run, tmp_path):
    run_dir, _ = text_run
    clf = textclf.Classifier.load(run_dir)  # a run folder: its best.pt
    assert clf.labels == ["neg", "pos"] and not clf.stories
    prob = clf.predict_proba(TEXTS)
    assert prob.shape == (4, 2) and np.allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    labels = clf.predict(TEXTS)
    assert labels[:2] == ["pos", "neg"] and labels == [clf.labels[i] for i in prob.argmax(axis=1)]
    top = clf.predict(TEXTS, top_k=3)  # more than there are labels: all of them
    assert [[label for label, _ in row] for row in top][0] == ["pos", "neg"]
    assert all(row[0][1] >= row[1][1] and row[0][0] == label for row, label in zip(top, labels))
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n")
    cfg = OmegaConf.create({"ckpt_path": str(run_dir / "best.pt"), "input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out.jsonl"),
                            "top_k": 2, "batch_size": 3, "device": "cpu"})
    predict(cfg, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == labels
    assert [[t["probability"] for t in r["top_k"]] for r in rows] == [[round(p, 6) for _, p in row] for row in top]


def test_records_are_the_predict_commands_lines_and_flag_empty_texts(text_run, tmp_path):
    clf = textclf.Classifier.load(text_run[0])
    texts = [TEXTS[0], "", "   \t", TEXTS[1]]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    cfg = OmegaConf.create({"ckpt_path": str(text_run[0] / "best.pt"), "input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out.jsonl"),
                            "top_k": 2, "batch_size": 3, "device": "cpu"})
    predict(cfg, tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    records = clf.records(texts, top_k=2)
    assert records == lines
    assert [r.get("empty", False) for r in records] == [False, True, True, False]


def test_stories_go_in_as_the_predict_format_or_a_story(story_run):
    clf = textclf.Classifier.load(story_run / "best.pt")
    assert clf.stories
    story = ["Mary went to the kitchen.", "John moved to the garden."]
    as_text = "1 Mary went to the kitchen.\n2 John moved to the garden.\n3 Where is Mary?\tkitchen\t1"
    both = clf.predict_proba([textclf.Story(story, "Where is Mary?"), as_text])
    assert both.shape == (2, len(clf.labels)) and np.array_equal(both[0], both[1])
    assert clf.predict([as_text]) == [clf.labels[int(both[0].argmax())]]
    with pytest.raises(TextclfError, match=r"texts\[0\] holds 2 question lines"):
        clf.predict(["1 Mary went to the kitchen.\n2 Where is Mary?\n3 Is Mary in the garden?"])
    with pytest.raises(TextclfError, match=r"texts\[0\]:1: expected a bAbI story line"):
        clf.predict(["Mary went to the kitchen."])


def test_bad_api_input_is_one_message(text_run):
    clf = textclf.Classifier.load(text_run[0] / "best.pt")
    with pytest.raises(TextclfError, match="not one string"):
        clf.predict("a lovely film")
    with pytest.raises(TextclfError, match=r"texts\[1\] must be a string, got int 3"):
        clf.predict(["fine", 3])
    with pytest.raises(TextclfError, match="top_k must be a positive integer"):
        clf.predict(["fine"], top_k=0)
    with pytest.raises(TextclfError, match="runtime='tensorflow' is not a runtime"):
        textclf.Classifier.load(text_run[0], runtime="tensorflow")
    assert clf.predict_proba([]).shape == (0, 2)
    for texts, message in ((None, "got NoneType"), (5, "got int"), ({"text": "fine"}, r"got one input \(a dict\)")):
        with pytest.raises(TextclfError, match=f"texts must be a list of inputs, {message}"):
            clf.predict(texts)
    with pytest.raises(TextclfError, match="batch_size must be a positive integer, got 0"):
        textclf.Classifier.load(text_run[0], batch_size=0)
    if not torch.backends.mps.is_available():
        with pytest.raises(TextclfError, match="device=mps but this machine has no Apple GPU"):
            textclf.Classifier.load(text_run[0], device="mps")
    for overrides in ([1, 2], "model=rcnn", None):
        with pytest.raises(TextclfError, match=r"overrides must be a list of strings such as \['model=rcnn'"):
            textclf.train(overrides)


@pytest.mark.slow
def test_import_textclf_stays_light():
    code = "import sys, textclf; assert textclf.__version__; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
