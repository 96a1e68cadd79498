"""MemN2N end to end on generated bAbI data: it learns, and explain draws its attention."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from textclf.commands.explain import explain
from textclf.core.errors import TextclfError
from textclf.data.example import Example
from textclf.reporting.hop_table import attention_plot, attention_text
from textclf.training.trainer import train

from conftest import compose_train


# Its own run, not conftest's shared ones: a MemN2N that has learned task 1.
@pytest.fixture(scope="module")
def memn2n_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("babi_gen")
    run_dir = tmp_path_factory.mktemp("memn2n_run")
    cfg = compose_train([
        "model=memn2n", "~recipe", f"data.root={root}", "data.tasks=[1]", "data.n_train=500", "data.n_test=200",  # ~recipe: the plain model, not the first run's
        # No linear start: its length depends on when validation loss stalls, and this test is
        # about the softmax model learning (linear start has its own test in test_train.py).
        "embedding.dim=20", "optimizer.lr=0.01", "trainer.batch_size=32", "trainer.max_epochs=12",
        "model.linear_start=false",
        "trainer.patience=null", "trainer.progress=false", "trainer.tensorboard=false",
    ])
    return train(cfg, run_dir), run_dir


def test_memn2n_learns_single_supporting_fact(memn2n_run):
    results, _ = memn2n_run
    # Six places: chance is ~17 %. One supporting fact is exactly what a memory hop can find.
    assert results["test_acc"] > 0.8, results
    assert results["per_task"]["1"] < 20.0


def test_explain_writes_attention_with_supporting_facts(memn2n_run, tmp_path):
    _, run_dir = memn2n_run
    cfg = OmegaConf.create({"ckpt_path": str(run_dir / "best.pt"), "split": "test", "indices": None,
                            "group": "qa1", "count": 2, "device": "cpu"})
    written = explain(cfg, tmp_path)
    assert len(written) == 2 and all(p.stat().st_size > 0 for p in written)
    text = (tmp_path / "attention.txt").read_text()
    assert "hop1" in text and "hop3" in text and "question: Where is" in text
    assert any(line.startswith("*") for line in text.splitlines()), "supporting facts are marked"
    example = written[0].with_suffix(".txt").read_text().splitlines()
    story = [line.lstrip("*").split() for line in example[1:] if not line.startswith(("question", "answer"))]
    hop1 = [float(cells[1]) for cells in story]
    assert sum(hop1) == pytest.approx(1.0, abs=0.02)  # attention is a distribution over the story


def test_explain_without_indices_or_group_starts_with_the_mistakes(memn2n_run, tmp_path):
    _, run_dir = memn2n_run
    cfg = OmegaConf.create({"ckpt_path": str(run_dir / "best.pt"), "split": "test", "indices": None,
                            "group": None, "count": 2, "device": "cpu"})
    explain(cfg, tmp_path)
    outcomes = re.findall(r"^answer: (\S+) \| predicted: (\S+) \((\d\.\d\d)\)", (tmp_path / "attention.txt").read_text(), re.M)
    predictions = pd.read_csv(run_dir / "report" / "predictions.csv")  # the training run's test predictions
    wrong = predictions[~predictions["correct"]].sort_values("probability", ascending=False)
    assert len(wrong) >= 2, "the test needs a model that gets some wrong"
    assert all(gold != predicted for gold, predicted, _ in outcomes)
    assert [float(p) for _, _, p in outcomes] == [round(p, 2) for p in wrong["probability"][:2]]


def test_attention_to_the_empty_slots_is_shown_as_its_own_row(tmp_path):
    ex = Example("Where is Mary?", "kitchen", context=("Mary went to the kitchen.", "John left."), supporting=(0,))
    attention = np.array([[0.7, 0.1], [0.2, 0.2]])  # 2 hops over 2 sentences
    empty = 1.0 - attention.sum(axis=1)
    text = attention_text(ex, attention, "kitchen", "kitchen", 0.9, empty).splitlines()
    assert text[3].split() == ["0.20", "0.60", "(empty", "memory", "slots)"]
    assert "(empty" not in attention_text(ex, attention, "kitchen", "kitchen", 0.9)
    attention_plot(ex, attention, "title", tmp_path / "with_empty.png", empty)
    attention_plot(ex, attention, "title", tmp_path / "plain.png")
    import matplotlib.image

    # one more row in the figure: a taller image
    assert matplotlib.image.imread(tmp_path / "with_empty.png").shape[0] > matplotlib.image.imread(tmp_path / "plain.png").shape[0]


def test_explain_refuses_to_overwrite_its_inputs(memn2n_run, tmp_path):
    _, run_dir = memn2n_run
    ckpt = tmp_path / "attention.txt"  # a checkpoint under the name of explain's summary file
    ckpt.write_bytes((run_dir / "best.pt").read_bytes())
    before = ckpt.read_bytes()
    cfg = OmegaConf.create({"ckpt_path": str(ckpt), "split": "test", "indices": [0], "group": None, "count": 1, "device": "cpu"})
    with pytest.raises(TextclfError, match=r"attention.txt, which this command reads.*hydra.run.dir=DIR\)\. Nothing was written"):
        explain(cfg, tmp_path)
    assert ckpt.read_bytes() == before and not (tmp_path / "example_0.png").exists()


def test_an_unknown_group_is_refused_with_the_groups_there_are(memn2n_run, tmp_path):
    _, run_dir = memn2n_run
    cfg = OmegaConf.create({"ckpt_path": str(run_dir / "best.pt"), "split": "test", "indices": None, "group": "qa9", "count": 1, "device": "cpu"})
    with pytest.raises(TextclfError, match=r"no examples in group 'qa9' in the test split; its groups: qa1\. Pick one of them, or leave group out\."):
        explain(cfg, tmp_path)
