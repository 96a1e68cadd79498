"""Predicting new text from a checkpoint: plain lines and bAbI stories, files and stdin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from textclf.commands.predict import predict
from textclf.core.errors import TextclfError


@pytest.fixture
def text_model(text_run):
    return text_run[0] / "best.pt"  # the shared BiLSTM that learned the toy task (conftest.py)


@pytest.fixture
def story_model(story_run):
    return story_run / "best.pt"  # the shared MemN2N on stories (conftest.py)


def request(ckpt, source, output, **extra):
    return OmegaConf.create({"ckpt_path": str(ckpt), "input": str(source), "output": str(output), "top_k": 2,
                             "batch_size": 2, "device": "cpu", **extra})


def test_plain_text_lines_in_input_order(text_model, tmp_path):
    texts = ["the film was superb and lovely", "a dull , boring plot", "", "very bright and fun cast"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    count = predict(request(text_model, tmp_path / "in.txt", tmp_path / "out.jsonl"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert count == 4 and [r["text"] for r in rows] == texts  # batch_size 2: streamed in chunks, order kept
    assert [r["label"] for r in rows][:2] == ["pos", "neg"] and rows[3]["label"] == "pos"
    for r in rows:
        assert r["top_k"][0] == {"label": r["label"], "probability": r["probability"]}
        assert sum(t["probability"] for t in r["top_k"]) == pytest.approx(1.0, abs=1e-4)
    assert [r.get("empty", False) for r in rows] == [False, False, True, False]  # the blank line is answered, and flagged


def test_story_format_predicts_each_question(story_model, tmp_path):
    (tmp_path / "stories.txt").write_text(
        "1 Mary went to the kitchen.\n2 John moved to the garden.\n3 Where is Mary? \tkitchen\t1\n"
        "4 Mary went to the office.\n5 Is Mary in the office?\n1 Sandra went to the bedroom.\n2 Where is Sandra?\n"
    )
    predict(request(story_model, tmp_path / "stories.txt", tmp_path / "out.jsonl"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Where is Mary?", "Is Mary in the office?", "Where is Sandra?"]
    assert rows[1]["story"] == ["Mary went to the kitchen.", "John moved to the garden.", "Mary went to the office."]
    assert rows[2]["story"] == ["Sandra went to the bedroom."]


def test_empty_input_and_bad_story_lines_are_explained(text_model, story_model, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(TextclfError, match="the input is empty"):
        predict(request(text_model, tmp_path / "empty.txt", tmp_path / "out.jsonl"), tmp_path)
    (tmp_path / "plain.txt").write_text("Mary went to the kitchen.\n")
    with pytest.raises(TextclfError, match=r"plain.txt:1: expected a bAbI story line"):
        predict(request(story_model, tmp_path / "plain.txt", tmp_path / "out.jsonl"), tmp_path)
    with pytest.raises(TextclfError, match="does not exist"):
        predict(request(text_model, tmp_path / "missing.txt", tmp_path / "out.jsonl"), tmp_path)


@pytest.mark.slow
def test_stdin_to_stdout(text_model, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "textclf.predict", f"ckpt_path={text_model}", "input=-", "output=-"],
        input="a lovely film\nawful plot\n", capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # stdout holds predictions only
    assert [r["text"] for r in rows] == ["a lovely film", "awful plot"]
    assert not (tmp_path / "outputs").exists()  # an answer on stdout leaves no run folder
    said = subprocess.run([sys.executable, "-m", "textclf.predict", f"ckpt_path={text_model}", "text=a lovely film"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert said.returncode == 0 and json.loads(said.stdout)["text"] == "a lovely film", said.stderr[-2000:]
    assert not (tmp_path / "outputs").exists()


def test_one_text_from_the_command_line_is_answered_on_stdout(text_model, tmp_path, capsys):
    cfg = request(text_model, "x", "x")
    cfg.input, cfg.output, cfg.text = None, None, "the film was superb\nand lovely"
    assert predict(cfg, tmp_path / "run") == 1
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == "pos" and record["text"] == "the film was superb and lovely"  # a line break reads as a space
    assert not (tmp_path / "run").exists()  # nothing written: the answer went to stdout
    for input_, text, message in ((None, None, "nothing to predict"), ("in.txt", "a text", "not both")):
        cfg.input, cfg.text = input_, text
        with pytest.raises(TextclfError, match=message):
            predict(cfg, tmp_path / "run")


@pytest.mark.slow
def test_a_bare_text_argument_gets_the_text_hint(text_model, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "textclf.predict", f"ckpt_path={text_model}", "a gorgeous film"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and 'write text="a gorgeous film"' in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "outputs").exists()
