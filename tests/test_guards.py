"""Outputs never destroy inputs; a run folder belongs to one run (textclf/core/guards.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from textclf.core.errors import TextclfError
from textclf.core.guards import RUN_PID, RunFolder
from textclf.export import export
from textclf.fit import train
from textclf.predict import predict

from conftest import compose_train

TINY = ["model=bilstm", "embedding.dim=8", "model.encoder.hidden_size=8", "trainer.max_epochs=1",
        "trainer.progress=false", "trainer.tensorboard=false"]


def tiny(table_dir, *extra):
    return compose_train(["data=table", f"data.root={table_dir}", *TINY, *extra])


@pytest.fixture(scope="module")
def run_dir(table_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("guarded")
    train(tiny(table_dir), run)
    return run


def predict_cfg(ckpt, source, output):
    return OmegaConf.create({"ckpt_path": str(ckpt), "input": str(source), "output": str(output), "top_k": 1,
                             "batch_size": 4, "device": "cpu"})


def test_predict_refuses_to_write_over_its_input(run_dir, tmp_path):
    source = tmp_path / "texts.txt"
    source.write_text("a fine film\na dull film\n")
    (tmp_path / "sub").mkdir()
    for output in (source, tmp_path / "sub" / ".." / "texts.txt"):  # the same file, spelt two ways
        with pytest.raises(TextclfError, match=r"the output .* is .*texts.txt, which this command reads"):
            predict(predict_cfg(run_dir / "best.pt", source, output), tmp_path / "run")
    link = tmp_path / "link.txt"
    link.symlink_to(source)
    with pytest.raises(TextclfError, match="destroy the input"):
        predict(predict_cfg(run_dir / "best.pt", source, link), tmp_path / "run")
    assert source.read_text() == "a fine film\na dull film\n"


def test_predict_refuses_to_write_over_its_checkpoint(run_dir, tmp_path):
    source = tmp_path / "texts.txt"
    source.write_text("a fine film\n")
    before = (run_dir / "best.pt").read_bytes()
    with pytest.raises(TextclfError, match=r"best.pt, which this command reads"):
        predict(predict_cfg(run_dir, source, run_dir / "best.pt"), tmp_path / "run")  # ckpt_path as a run folder
    assert (run_dir / "best.pt").read_bytes() == before


def test_export_refuses_an_out_dir_where_it_would_replace_the_checkpoint(run_dir, tmp_path):
    ckpt = tmp_path / "model.pt"  # the name TorchScript's export writes
    ckpt.write_bytes((run_dir / "best.pt").read_bytes())
    cfg = OmegaConf.create({"ckpt_path": str(ckpt), "format": "torchscript", "out_dir": str(tmp_path)})
    with pytest.raises(TextclfError, match="Pass another out_dir=DIR"):
        export(cfg, tmp_path / "run")
    assert ckpt.read_bytes() == (run_dir / "best.pt").read_bytes()


def test_a_new_training_does_not_replace_a_finished_run(run_dir, table_dir):
    before = (run_dir / "best.pt").read_bytes()
    with pytest.raises(TextclfError, match=r"already holds a run .*trainer.resume=true.*hydra.run.dir=DIR.*trainer.overwrite=true"):
        train(tiny(table_dir, "seed=1"), run_dir)
    assert (run_dir / "best.pt").read_bytes() == before
    assert not (run_dir / RUN_PID).exists()  # the refusal released the folder


def test_overwrite_and_resume_are_the_ways_on(table_dir, tmp_path):
    train(tiny(table_dir), tmp_path)
    results = train(tiny(table_dir, "seed=1", "trainer.overwrite=true"), tmp_path)
    assert results["seed"] == 1
    resumed = train(tiny(table_dir, "seed=1", "trainer.resume=true", "trainer.max_epochs=2"), tmp_path)
    assert resumed["epochs"] == 2


HOLDER = """
import sys, time
from textclf.core.guards import RunFolder
with RunFolder(sys.argv[1], continuing=False, overwrite=False):
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
def test_a_second_run_in_a_busy_folder_names_the_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(TextclfError, match=rf"in use by another training run \(pid {holder.pid}\)"):
            with RunFolder(tmp_path, continuing=True, overwrite=True):
                pass
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the OS released the dead holder's lock: the folder can be taken again
        try:
            with RunFolder(tmp_path, continuing=False, overwrite=False):
                break
        except TextclfError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert os.path.exists(tmp_path / ".textclf-run.lock")
