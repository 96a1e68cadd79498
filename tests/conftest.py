"""Shared fixtures: tiny datasets written by the tests themselves (no network, no ../shared)."""

from __future__ import annotations

import copy
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from textclf.data.babi_gen import write_dataset

CONFIG_MODULE = "textclf.conf"
pytest_plugins = ["pytester"]  # test_fast_lane runs a session of its own, in-process

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
    """Generated bAbI-format files (tasks 1 and 6, small). Shared, so read-only: a test that generates
    stories of other sizes (data=babi_gen) does it in a folder of its own, since the generator rewrites
    the folder it is given."""
    root = tmp_path_factory.mktemp("babi")
    write_dataset(root, [1, 6], n_train=60, n_test=30, seed=0)
    return root


_composed: dict[tuple[str, ...], DictConfig] = {}


def compose_train(overrides: list[str]) -> DictConfig:
    """train.yaml composed with ``overrides``. A compose takes Hydra about 0.1 s and the suite asks for
    hundreds, many alike (every option of every group, the same tiny run in several tests): each
    distinct list is composed once per session, and each caller gets a copy of its own to change."""
    key = tuple(overrides)
    if key not in _composed:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            _composed[key] = compose("train", overrides=list(overrides), return_hydra_config=False)
    return copy.deepcopy(_composed[key])


# The n-gram branch at a test's scale: a 131072-row table would make every checkpoint 33 MB.
SMALL_NGRAMS = ["model.ngrams.buckets=1024", "model.ngrams.dim=8"]


def tiny_fasttext(*extra: str):
    """A tiny fastText config, for a model built from sizes alone (no data is read)."""
    return compose_train(["model=fasttext", "embedding.dim=8", *SMALL_NGRAMS, "data=table", "data.root=unused", *extra])


def fill_ngram_table(model) -> None:
    """Give the n-gram table (zero from the start) values, so that its gradient matters to a test."""
    with torch.no_grad():
        model.ngrams.table.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))


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


# Shared trained runs. Training is most of the fast lane's time, and most tests that need a model
# need "a trained model of kind X", not one of their own: these are trained once per session, on
# first use, and shared. Tests read their folders and never write into them (outputs go to tmp_path).
# A test file keeps its own fixture where it needs a special setting (its comment says which).
QUIET = ["trainer.num_threads=1", "trainer.progress=false", "trainer.tensorboard=false"]
TINY_FIT = ["trainer.max_epochs=1", "trainer.batch_size=32", *QUIET]
MEMORY_SIZE = 3  # tiny_run's MemN2N keeps the 3 most recent sentences: fewer than many test stories have


@pytest.fixture(scope="session")
def data_overrides(table_dir, babi_dir, tags_dir):
    """The data kinds a model is trained on: single-label texts, bAbI stories, multi-label tags."""
    return {
        "text": ["data=table", f"data.root={table_dir}"],
        "stories": ["data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]"],
        "tags": ["data=table", f"data.root={tags_dir}", "data.train_file=train.jsonl", "task=multi_label"],
    }


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_overrides):
    """``tiny_run(model, data="text", *extra)``: the run folder of a one-epoch run of ``small_model(model)``
    (MemN2N: memory_size MEMORY_SIZE) on a data kind of `data_overrides`, with ``extra`` overrides.
    Untrained in all but name: for tests of shapes, files and equalities, not of accuracy."""
    from textclf.training.trainer import train

    runs: dict[tuple[str, ...], Path] = {}

    def get(model: str, data: str = "text", *extra: str) -> Path:
        key = (model, data, *extra)
        if key not in runs:
            memory = [f"model.encoder.memory_size={MEMORY_SIZE}"] if model == "memn2n" else []
            run_dir = tmp_path_factory.mktemp(f"tiny_{model}_{data}")
            train(compose_train([*small_model(model), *data_overrides[data], *memory, *TINY_FIT, *extra]), run_dir)
            runs[key] = run_dir
        return runs[key]

    return get


@pytest.fixture(scope="session")
def text_run(tmp_path_factory, table_dir):
    """(run folder, results) of a BiLSTM that has learned the toy sentiment task (6 epochs), trained
    through the Python API (`textclf.train`, which also writes .hydra/): the API, predict, serve and
    the page test what it answers."""
    import textclf

    run_dir = tmp_path_factory.mktemp("text_run") / "run"
    results = textclf.train(["data=table", f"data.root={table_dir}", "embedding.dim=16", "model=bilstm", "model.encoder.hidden_size=16",
                             "trainer.max_epochs=6", "trainer.batch_size=16", "optimizer.lr=0.01", *QUIET], run_dir=str(run_dir))
    return run_dir, results


@pytest.fixture(scope="session")
def story_run(tmp_path_factory, babi_dir) -> Path:
    """The run folder of a one-epoch MemN2N on generated bAbI stories (tasks 1 and 6), through the
    Python API. Without linear start, so that its attention is a softmax from the start (the page
    explains a story by it)."""
    import textclf

    run_dir = tmp_path_factory.mktemp("story_run") / "run"
    textclf.train(["model=memn2n", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]", "embedding.dim=8", "trainer.max_epochs=1",
                   "model.linear_start=false", *QUIET], run_dir=str(run_dir))
    return run_dir


@contextmanager
def no_process_unless_slow(item: pytest.Item) -> Iterator[None]:
    """The fast lane (`pytest -m "not slow"`) runs in-process only: a test that starts a process (a
    command, a server, torchrun, a launcher's workers) pays seconds of interpreter start-up and must
    be marked slow. Enforced here rather than by convention, so a new one cannot slip in; around the
    whole test, not only its body, so that a module fixture (a trained run, a server) is held to it too."""
    if item.get_closest_marker("slow") is not None:
        yield
        return

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{item.nodeid} starts a process: mark it @pytest.mark.slow")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", refuse)
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with no_process_unless_slow(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with no_process_unless_slow(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    with no_process_unless_slow(item):
        yield
