"""A checkpoint that would run code when unpickled is refused by every command that reads one.

The file is a real torch.save pickle whose state_dict unpickles by calling builtins.open(marker,
"w"): any loader that unpickled it unsafely would create the marker file. Each command runs as a
real process, so the check covers the whole path from the command line to the load.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
import torch


class _CreatesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling calls open(marker, "w"): the "code" this file would run
        return (open, (str(self.marker), "w"))


@pytest.fixture
def evil_checkpoint(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "best.pt"
    payload = {
        "format": "textclf-checkpoint", "format_version": 1, "state_dict": _CreatesMarker(marker),
        "tokenizer": "{}", "labels": ["a", "b"], "groups": [], "config": "x: 1\n",
    }
    with open(path, "wb") as fh:
        torch.save(payload, fh, pickle_module=pickle)
    return path, marker


@pytest.mark.parametrize(
    "module, extra",
    [
        ("textclf.evaluate", []),
        ("textclf.predict", ["input=-"]),
        ("textclf.explain", []),
        ("textclf.export", ["format=torchscript"]),
        ("textclf", ["data=table", "data.root={table}"]),  # training resumed from it
    ],
)
@pytest.mark.slow
def test_every_loader_refuses_a_code_running_checkpoint(evil_checkpoint, table_dir, tmp_path, module, extra):
    path, marker = evil_checkpoint
    extra = [arg.format(table=table_dir) for arg in extra]
    done = subprocess.run(
        [sys.executable, "-m", module, f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}", *extra],
        cwd=tmp_path, input="", capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "refused to load" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()
