"""A model trained on several text columns (data.text_column=[title, body]) reads its inputs as
those columns in the Python API, the predict command and the server, joined as training joined them."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from omegaconf import OmegaConf

import textclf
from textclf.commands.predict import predict
from textclf.core.errors import TextclfError
from textclf.serving.process import start_server

from conftest import sentiment_rows

INPUTS = [("the film was", "superb and lovely"), ("a dull", "boring plot"), ("", "very bright and fun cast")]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("columns_data")
    for name, n, seed in (("train.jsonl", 200, 0), ("test.jsonl", 40, 1)):
        rows = []
        for text, label in sentiment_rows(n, seed):
            words = text.split()
            rows.append(json.dumps({"headline": " ".join(words[:2]), "body": " ".join(words[2:]), "label": label, "id": seed}))
        (root / name).write_text("\n".join(rows) + "\n")
    run = tmp_path_factory.mktemp("columns_run") / "run"
    textclf.train(["data=table", f"data.root={root}", "data.train_file=train.jsonl", "data.test_file=test.jsonl",
                   "data.text_column=[headline,body]", "model=textrnn", "embedding.dim=16", "model.encoder.hidden_size=16",
                   "trainer.max_epochs=2", "trainer.num_threads=1", "trainer.progress=false", "trainer.tensorboard=false"],
                  run_dir=str(run))
    return run


def joined(headline: str, body: str) -> str:
    return f"{headline} <sep> {body}"


def test_the_api_takes_dicts_lists_or_joined_strings_alike(run_dir):
    clf = textclf.Classifier.load(run_dir)
    assert clf.text_columns == ("headline", "body") and clf.metadata()["text_columns"] == ["headline", "body"]
    as_dicts = clf.predict_proba([{"body": b, "headline": h} for h, b in INPUTS])  # by name, in any order
    np.testing.assert_array_equal(as_dicts, clf.predict_proba([list(pair) for pair in INPUTS]))
    np.testing.assert_array_equal(as_dicts, clf.predict_proba([joined(*pair) for pair in INPUTS]))
    # cells are read as training reads them: a number is its text, null is empty
    np.testing.assert_array_equal(clf.predict_proba([{"headline": 7, "body": None}]), clf.predict_proba([joined("7", "")]))


@pytest.mark.parametrize("item, message", [
    ({"headline": "a"}, r"texts\[0\]: this model reads the text columns headline, body; the input has headline"),
    ({"headline": "a", "body": "b", "title": "c"}, r"the input has headline, body, title. Give every one of them, and no other"),
    (["only one"], r"give this model's 2 text columns \(headline, body\) as a dict, a list in that order"),
    ({"headline": ["a"], "body": "b"}, r"the text column 'headline' holds a list; give it as a string"),
])
def test_wrong_columns_are_refused_naming_them(run_dir, item, message):
    with pytest.raises(TextclfError, match=message):
        textclf.Classifier.load(run_dir).predict([item])


def test_the_predict_command_reads_json_objects_of_the_columns(run_dir, tmp_path):
    lines = [json.dumps({"headline": h, "body": b}) for h, b in INPUTS[:2]] + [joined(*INPUTS[2])]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    cfg = OmegaConf.create({"ckpt_path": str(run_dir), "input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out.jsonl"),
                            "top_k": 1, "batch_size": 2, "device": "cpu"})
    assert predict(cfg, tmp_path) == 3
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == [joined(*pair) for pair in INPUTS]
    expected = textclf.Classifier.load(run_dir).predict([joined(*pair) for pair in INPUTS])
    assert [r["label"] for r in records] == expected

    (tmp_path / "bad.txt").write_text(lines[0] + "\n{headline: no quotes}\n")
    cfg.input, cfg.output = str(tmp_path / "bad.txt"), str(tmp_path / "bad.jsonl")
    with pytest.raises(TextclfError, match=r"bad.txt:2: a line starting with '\{' is read as a JSON object of the columns headline, body"):
        predict(cfg, tmp_path)
    assert not (tmp_path / "bad.jsonl").exists()  # nothing half-written


@pytest.mark.slow
def test_the_server_takes_objects_of_the_columns(run_dir, tmp_path):
    proc, url = start_server(run_dir / "best.pt", tmp_path, {}, timeout=60, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        objects = [{"headline": h, "body": b} for h, b in INPUTS]
        response = httpx.post(f"{url}/predict", json={"texts": objects, "top_k": 1})
        assert response.status_code == 200, response.text
        served = [p["label"] for p in response.json()["predictions"]]
        assert served == textclf.Classifier.load(run_dir).predict(objects)
        assert httpx.get(f"{url}/metadata").json()["text_columns"] == ["headline", "body"]
        wrong = httpx.post(f"{url}/predict", json={"texts": [{"headline": "a", "title": "b"}]})
        assert wrong.status_code == 422 and "reads the text columns headline, body" in wrong.json()["error"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
