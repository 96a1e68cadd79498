"""Shared fixtures: tiny datasets written by the tests themselves (no network, no ../shared)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from textclf.data.babi_gen import write_dataset

CONFIG_MODULE = "textclf.conf"

POSITIVE = ["good", "great", "fine", "lovely", "superb", "fun", "moving", "bright"]
NEGATIVE = ["bad", "awful", "dull", "boring", "weak", "messy", "flat", "tired"]
FILLER = ["the", "film", "plot", "is", "was", "a", "very", "story", "and", "cast", "quite"]


def sentiment_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """A learnable toy sentiment task: the label is the polarity of the one opinion word."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = rng.choices(FILLER, k=rng.randint(3, 12))
        words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label == "pos" else NEGATIVE))
        rows.append((" ".join(words), label))
    return rows


TOPICS = {
    "sports": ["goal", "match", "team", "coach", "league"],
    "finance": ["stock", "market", "bank", "price", "shares"],
    "weather": ["rain", "storm", "sunny", "wind", "snow"],
    "food": ["pizza", "bread", "soup", "cheese", "salad"],
}


def tag_rows(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """A learnable multi-label task: a text's tags are the topics whose words it contains (zero to
    three topics, one or two words each, among filler words)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tags = sorted(rng.sample(list(TOPICS), rng.choice([0, 1, 1, 2, 2, 3])))
        words = rng.choices(FILLER, k=rng.randint(3, 8))
        for tag in tags:
            for word in rng.sample(TOPICS[tag], rng.randint(1, 2)):
                words.insert(rng.randrange(len(words) + 1), word)
        rows.append((" ".join(words), tags))
    return rows


@pytest.fixture(scope="session")
def tags_dir(tmp_path_factory) -> Path:
    """Multi-label tags: JSON Lines train file (label lists), CSV test file (labels split on |)."""
    import json

    root = tmp_path_factory.mktemp("tags")
    train = [json.dumps({"text": text, "label": tags}) for text, tags in tag_rows(500, 0)]
    (root / "train.jsonl").write_text("\n".join(train) + "\n")
    test = ["text,label"] + [f"{text},{'|'.join(tags)}" for text, tags in tag_rows(150, 1)]
    (root / "test.csv").write_text("\n".join(test) + "\n")
    return root


@pytest.fixture(scope="session")
def table_dir(tmp_path_factory) -> Path:
    """CSV train/test files for data=table."""
    root = tmp_path_factory.mktemp("table")
    for name, n, seed in (("train.csv", 240, 0), ("test.csv", 60, 1)):
        lines = ["text,label"] + [f"{text},{label}" for text, label in sentiment_rows(n, seed)]
        (root / name).write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def babi_dir(tmp_path_factory) -> Path:
    """Generated bAbI-format files (all generator tasks, small)."""
    root = tmp_path_factory.mktemp("babi")
    write_dataset(root, [1, 6], n_train=60, n_test=30, seed=0)
    return root


def compose_train(overrides: list[str]):
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=False)


# The n-gram branch at a test's scale: a 131072-row table would make every checkpoint 33 MB.
SMALL_NGRAMS = ["model.ngrams.buckets=1024", "model.ngrams.dim=8"]


def small_model(model: str) -> list[str]:
    """Overrides that make any encoder tiny (MemN2N has no hidden size: its width is the embedding's;
    fastText has none at all). ``bilstm+ngrams``: a BiLSTM with the n-gram branch."""
    model, _, branch = model.partition("+")
    sizes = ["embedding.dim=16"]
    if model in ("textrnn", "bilstm", "rcnn"):
        sizes.append("model.encoder.hidden_size=16")
    if model == "textcnn":
        sizes.append("model.encoder.filters=8")
    if branch == "ngrams":
        sizes.append("model/ngrams=bigrams")
    if model == "fasttext" or branch == "ngrams":
        sizes += SMALL_NGRAMS
    return [f"model={model}", *sizes]


@pytest.fixture(autouse=True)
def fast_lane_starts_no_process(request, monkeypatch):
    """The fast lane (`pytest -m "not slow"`) runs in-process only: a test that starts a process (a
    command, a server, torchrun, a launcher's workers) pays seconds of interpreter start-up and must
    be marked slow. Enforced here rather than by convention, so a new one cannot slip in."""
    if request.node.get_closest_marker("slow") is not None:
        return
    import subprocess

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
