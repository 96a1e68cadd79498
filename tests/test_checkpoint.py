"""Checkpoint files: atomic, self-describing, and never executing code on load."""

from __future__ import annotations

import pickle

import pytest
import torch

from textclf.core.errors import TextclfError
from textclf.loading.checkpoint import load_checkpoint, save_checkpoint


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
