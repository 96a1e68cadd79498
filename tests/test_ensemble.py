"""`python -m textclf.evaluate ckpt_path=[A,B,...]`: class probabilities averaged over checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from textclf.commands.evaluate import evaluate
from textclf.core.errors import TextclfError
from textclf.data.pipeline import build_source, group_names, load_source
from textclf.inference.loader import load_model
from textclf.inference.predictor import model_predictor
from textclf.training.trainer import train

from conftest import compose_train


def trained_run(babi_dir, out, *extra):
    cfg = compose_train([
        "model=memn2n", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]", "embedding.dim=16",
        "trainer.max_epochs=3", "trainer.progress=false", "trainer.tensorboard=false", *extra,
    ])
    train(cfg, out)
    return out / "best.pt"


def evaluate_paths(paths, out):
    listed = "[" + ",".join(str(p) for p in paths) + "]"
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("eval", overrides=[f"ckpt_path={listed}", "device=cpu"])
    return evaluate(cfg, out)


# Its own runs, not conftest's shared ones: two seeds of one setting, side by side in one sweep folder.
@pytest.fixture(scope="module")
def two_seeds(babi_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    return [trained_run(babi_dir, root / f"seed{seed}", f"seed={seed}") for seed in (0, 1)]


def test_ensemble_predicts_the_argmax_of_the_mean_probability(two_seeds, tmp_path):
    results = evaluate_paths(two_seeds, tmp_path)
    probs = []
    for path in two_seeds:
        loaded = load_model(path)
        examples = load_source(build_source(loaded.config.data)).split("test")
        encoded = loaded.encoding.encode(examples, "test", groups=group_names(examples))
        probs.append(model_predictor(loaded, 64).proba(encoded))
    mean = np.mean(probs, axis=0)
    gold = encoded.labels.numpy()
    assert results["acc"] == pytest.approx(float((mean.argmax(1) == gold).mean()))
    floored = np.maximum(mean[np.arange(len(gold)), gold], np.finfo(np.float32).tiny)
    assert results["loss"] == pytest.approx(float(-np.log(floored).mean()), rel=1e-5)
    assert results["model"] == "ensemble of 2 (memn2n)"
    assert results["checkpoint"] == [str(p.resolve()) for p in two_seeds]
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert predictions["probability"].to_numpy() == pytest.approx(mean.max(axis=1), abs=1e-4)  # written to 4 places
    assert json.loads((tmp_path / "results.json").read_text())["per_task"].keys() == {"1", "6"}


def test_an_ensemble_of_one_run_twice_scores_as_the_run(two_seeds, tmp_path):
    single = evaluate_paths(two_seeds[:1], tmp_path / "one")
    doubled = evaluate_paths([two_seeds[0], two_seeds[0]], tmp_path / "two")
    assert doubled["acc"] == single["acc"]
    one = pd.read_csv(tmp_path / "one" / "predictions.csv")
    two = pd.read_csv(tmp_path / "two" / "predictions.csv")
    assert one["predicted"].equals(two["predicted"])
    assert two["probability"].to_numpy() == pytest.approx(one["probability"].to_numpy(), rel=1e-6)


def test_runs_on_other_labels_or_vocabulary_are_refused(babi_dir, two_seeds, tmp_path):
    # Refused before anything is scored: one epoch makes these checkpoints as well as three.
    other_labels = trained_run(babi_dir, tmp_path / "task1", "data.tasks=[1]", "trainer.max_epochs=1")
    with pytest.raises(TextclfError, match="label sets differ"):
        evaluate_paths([two_seeds[0], other_labels], tmp_path / "a")
    other_vocab = trained_run(babi_dir, tmp_path / "upper", "tokenizer.lowercase=false", "trainer.max_epochs=1")
    with pytest.raises(TextclfError, match="vocabularies differ"):
        evaluate_paths([two_seeds[0], other_vocab], tmp_path / "b")
    with pytest.raises(TextclfError, match=r"ckpt_path must be null, a checkpoint file or run folder, or a list of them, got \[\]"):
        evaluate_paths([], tmp_path / "c")
    assert not (tmp_path / "a" / "results.json").exists()


@pytest.mark.slow  # trains several runs: the full suite's
def test_folders_and_patterns_name_the_runs_in_them(two_seeds, tmp_path):
    """A sweep folder means the best.pt of each run in it, a run folder its own best.pt, a glob its
    matches: each scores exactly as the files listed by hand."""
    sweep = two_seeds[0].parent.parent
    listed = evaluate_paths(two_seeds, tmp_path / "listed")
    for name, entry in (("sweep", sweep), ("pattern", sweep / "seed*")):
        found = evaluate_paths([entry], tmp_path / name)
        assert found["checkpoint"] == listed["checkpoint"] and found["acc"] == listed["acc"]
    run = evaluate_paths([two_seeds[1].parent], tmp_path / "run")
    assert run["checkpoint"] == str(two_seeds[1].resolve())


def test_a_sweep_folder_is_one_model_to_no_tool_but_evaluate(two_seeds):
    sweep = two_seeds[0].parent.parent
    with pytest.raises(TextclfError, match="holds 2 runs' checkpoints.*textclf.evaluate"):
        load_model(sweep)
    model, *_ = load_model(two_seeds[0].parent)  # a run folder is its best.pt
    assert model is not None


def test_a_checkpoint_named_twice_through_folders_is_flagged(two_seeds, tmp_path, caplog):
    sweep = two_seeds[0].parent.parent
    with caplog.at_level("WARNING", logger="textclf.evaluate"):
        evaluate_paths([sweep, two_seeds[0].parent], tmp_path)
    assert "more than once" in caplog.text and str(two_seeds[0].resolve()) in caplog.text
