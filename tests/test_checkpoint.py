"""Checkpoint files: atomic, self-describing, never executing code on load, and naming the
model and dataset by registry name, so that moving a class breaks no checkpoint."""

from __future__ import annotations

import importlib.util
import pickle
import sys
import types

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from textclf.core.errors import TextclfError
from textclf.data.pipeline import build_source, load_source
from textclf.data.table import Table
from textclf.inference.checkpoint import load_checkpoint, save_checkpoint
from textclf.inference.loader import LoadedModel, data_config, load_model
from textclf.inference.predictor import Predictor, TorchRuntime
from textclf.models import registry
from textclf.models.bilstm import BiLSTM
from textclf.models.build import ModelArgs, build_model
from textclf.training.trainer import train

from conftest import compose_train, small_model


def _payload():
    return {
        "state_dict": {"w": torch.ones(3)},
        "tokenizer": "{}",
        "labels": ["a", "b"],
        "groups": [],
        "config": "x: 1\n",
        "metrics": {"val_acc": 0.5},
        "epoch": 1,
    }


def test_round_trip_loads_with_weights_only(tmp_path):
    path = tmp_path / "best.pt"
    save_checkpoint(path, _payload())
    raw = torch.load(path, weights_only=True)  # the contract: plain types and tensors only
    assert raw["format"] == "textclf-checkpoint"
    loaded = load_checkpoint(path)
    assert loaded["labels"] == ["a", "b"] and torch.equal(loaded["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temp file left behind


def test_missing_checkpoint_message(tmp_path):
    with pytest.raises(TextclfError, match="does not exist.*ckpt_path"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(TextclfError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_truncated_checkpoint_message(tmp_path):
    path = tmp_path / "best.pt"
    save_checkpoint(path, _payload())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TextclfError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_foreign_torch_file_and_wrong_format_version(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(TextclfError, match="not a textclf checkpoint"):
        load_checkpoint(path)
    save_checkpoint(path, _payload())
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = 999
    torch.save(raw, path)
    with pytest.raises(TextclfError, match="format 999"):
        load_checkpoint(path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_checkpoint_that_runs_code_when_unpickled_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = _payload()
    payload["state_dict"] = _Exploit(marker)
    with open(path, "wb") as fh:
        torch.save({"format": "textclf-checkpoint", **payload}, fh, pickle_module=pickle)
    with pytest.raises(TextclfError, match="refused to load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    save_checkpoint(path, _payload())

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed mid-write

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {**_payload(), "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]



# --------------------------------------------------------------------- the model and data by name


@pytest.fixture(scope="module")
def run(tmp_path_factory, table_dir):
    """A tiny BiLSTM trained on the toy table by today's code: its config, best.pt and results."""
    run_dir = tmp_path_factory.mktemp("by_name")
    cfg = compose_train([
        "data=table", f"data.root={table_dir}", *small_model("bilstm"),
        "trainer.max_epochs=1", "trainer.progress=false", "trainer.tensorboard=false",
    ])
    results = train(cfg, run_dir)
    return cfg, run_dir / "best.pt", results


def probabilities(model: torch.nn.Module, loaded: LoadedModel, cfg) -> tuple[np.ndarray, torch.Tensor]:
    """``model``'s probabilities on the run's test split, encoded as ``loaded`` encodes, and the labels."""
    encoded = loaded.encoding.encode(load_source(build_source(cfg.data)).split("test"), "test")
    return Predictor(TorchRuntime(model), batch_size=16).proba(encoded), encoded.labels


def resave(path, target, change):
    """A copy of ``path`` with ``change`` applied to its entries, written the way training writes."""
    payload = load_checkpoint(path)
    change(payload)
    save_checkpoint(target, payload)
    return target


def set_targets(payload, encoder: str, data: str | None = None) -> None:
    """Point the stored config's import paths elsewhere, as if the classes had lived there."""
    cfg = OmegaConf.create(payload["config"])
    cfg.model.encoder._target_ = encoder
    if data is not None:
        cfg.data._target_ = data
    payload["config"] = OmegaConf.to_yaml(cfg)


def without_names(payload) -> None:
    """The layout before checkpoints named their classes: no model_args, no data_source."""
    del payload["model_args"], payload["data_source"]


def test_a_checkpoint_names_its_model_and_data_and_loads_as_trained(run):
    cfg, path, results = run
    raw = load_checkpoint(path)
    encoder_args = {key: value for key, value in OmegaConf.to_container(cfg.model.encoder).items() if key != "_target_"}
    assert raw["model_args"] == {
        "embedding": {"name": "embedding", "args": {"dim": 16, "dropout": 0.5, "freeze": False, "word_dropout": 0.0}},
        "encoder": {"name": "bilstm", "args": encoder_args},
        "dropout": 0.5,
        "tie_answers": False,
        "ngrams": None,
    }
    assert raw["data_source"]["name"] == "table" and "_target_" not in raw["data_source"]["args"]
    loaded = load_model(path)
    probs, labels = probabilities(loaded.model, loaded, cfg)
    # The training path (config -> ModelArgs) builds the network the loading path (model_args) does.
    trained = build_model(cfg, len(loaded.encoding.vocab), len(loaded.labels))
    trained.load_state_dict(raw["state_dict"])
    np.testing.assert_array_equal(probs, probabilities(trained, loaded, cfg)[0])
    assert float((torch.from_numpy(probs).argmax(1) == labels).float().mean()) == pytest.approx(results["test_acc"])


def test_a_model_class_moved_to_another_module_still_loads_by_its_name(run, tmp_path, monkeypatch):
    cfg, path, _ = run
    before = load_model(path)
    # The encoder now lives in another module, and the path the checkpoint's config names is gone.
    moved = types.ModuleType("textclf.models.moved")
    moved.BiLSTM = type("BiLSTM", (BiLSTM,), {"__module__": moved.__name__})
    monkeypatch.setitem(sys.modules, moved.__name__, moved)
    monkeypatch.setitem(registry.ENCODERS, "bilstm", moved.BiLSTM)
    gone = "textclf.models.gone.BiLSTMEncoder"
    assert importlib.util.find_spec("textclf.models.gone") is None
    after = load_model(resave(path, tmp_path / "moved.pt", lambda payload: set_targets(payload, gone)))
    assert type(after.model.encoder) is moved.BiLSTM
    assert after.config.model.encoder._target_ == "textclf.models.moved.BiLSTM"  # what later readers import
    np.testing.assert_array_equal(probabilities(after.model, after, cfg)[0], probabilities(before.model, before, cfg)[0])


def test_a_checkpoint_without_names_loads_from_its_import_paths(run, tmp_path):
    cfg, path, _ = run
    new = load_model(path)
    old = load_model(resave(path, tmp_path / "old.pt", without_names))
    np.testing.assert_array_equal(probabilities(old.model, old, cfg)[0], probabilities(new.model, new, cfg)[0])

    # Written when the classes lived in other modules: found by their class names.
    def elsewhere(payload):
        without_names(payload)
        set_targets(payload, "textclf.old_models.BiLSTM", data="textclf.datasets.Table")

    moved = load_model(resave(path, tmp_path / "elsewhere.pt", elsewhere))
    np.testing.assert_array_equal(probabilities(moved.model, moved, cfg)[0], probabilities(new.model, new, cfg)[0])
    # evaluate and explain read the dataset from the checkpoint's data config: today's class.
    assert moved.config.data._target_ == "textclf.data.table.Table"
    assert isinstance(build_source(data_config(moved.config, None)), Table)


KNOWN_ENCODERS = r"the known encoder names are bilstm, fasttext, memn2n, rcnn, textcnn, textrnn"


def test_an_unknown_model_name_is_refused_naming_the_known_ones(run, tmp_path):
    _, path, _ = run

    def unknown(payload):
        payload["model_args"]["encoder"]["name"] = "transformer"

    with pytest.raises(TextclfError, match=rf"unknown\.pt: unknown encoder 'transformer': {KNOWN_ENCODERS}"):
        load_model(resave(path, tmp_path / "unknown.pt", unknown))

    def unknown_path(payload):  # an old checkpoint whose class is neither at its path nor registered
        without_names(payload)
        set_targets(payload, "textclf.models.gone.BiLSTMEncoder")

    with pytest.raises(TextclfError, match=rf"unknown encoder 'textclf\.models\.gone\.BiLSTMEncoder': {KNOWN_ENCODERS}"):
        load_model(resave(path, tmp_path / "legacy.pt", unknown_path))

    def unknown_data(payload):
        payload["data_source"]["name"] = "wikipedia"

    with pytest.raises(TextclfError, match=r"unknown data 'wikipedia': the known data names are babi, babi_gen, imdb, mr, sst"):
        load_model(resave(path, tmp_path / "data.pt", unknown_data))


def test_resolve_takes_a_name_a_path_or_a_class_name():
    assert registry.resolve("encoder", "rcnn") is registry.resolve("encoder", "textclf.models.rcnn.TextRCNN")
    assert registry.resolve("data", "somewhere.else.GeneratedBabi") is registry.DATA_SOURCES["babi_gen"]
    assert ModelArgs.from_config(compose_train(["model=memn2n"])).reads_memory
