"""Outputs never destroy inputs; a run folder belongs to one run (textclf/core/guards.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from textclf.commands.evaluate import evaluate
from textclf.commands.export import export
from textclf.commands.predict import predict
from textclf.core.errors import TextclfError
from textclf.core.guards import RUN_PID, FolderLock, RunFolder, folder_owner, refuse_another_commands_folder
from textclf.training.trainer import train

from conftest import compose_train

TINY = ["model=bilstm", "embedding.dim=8", "model.encoder.hidden_size=8", "trainer.max_epochs=1",
        "trainer.progress=false", "trainer.tensorboard=false"]


def tiny(table_dir, *extra):
    return compose_train(["data=table", f"data.root={table_dir}", *TINY, *extra])


# Its own run folder, not conftest's shared ones: these tests aim commands at it, to see them refused.
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
        with pytest.raises(TextclfError, match=rf"in use by another textclf command \(pid {holder.pid}\)"):
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


def test_a_folder_belongs_to_the_command_whose_run_it_holds(run_dir, tmp_path):
    assert folder_owner(tmp_path) is None and folder_owner(run_dir) == "train"  # training files, no .hydra/
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "hydra.yaml").write_text("hydra:\n  job:\n    name: evaluate\n")
    assert folder_owner(tmp_path) == "evaluate"
    refuse_another_commands_folder(tmp_path, "evaluate")  # its own command may run there again
    for command in ("train", "predict"):
        with pytest.raises(TextclfError, match=rf"holds a run of evaluate.*hydra.run.dir={tmp_path / command}"):
            refuse_another_commands_folder(tmp_path, command)
    with FolderLock(tmp_path, "evaluate"):  # in use, even by its own command: refused
        with pytest.raises(TextclfError, match=r"in use by another textclf command \(pid \d+\)"):
            with FolderLock(tmp_path, "evaluate"):
                pass
    refuse_another_commands_folder(tmp_path, "evaluate")  # released: free again


@pytest.fixture
def named_table(table_dir, tmp_path):
    """A table whose files bear the names of a run's own files (metrics.csv, predictions.csv)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "metrics.csv").write_bytes((table_dir / "train.csv").read_bytes())
    (data / "predictions.csv").write_bytes((table_dir / "test.csv").read_bytes())
    return data, ["data.train_file=metrics.csv", "data.test_file=predictions.csv"]


def test_no_command_writes_over_the_data_it_reads(named_table, tmp_path):
    data, files = named_table
    before = {path.name: path.read_bytes() for path in data.iterdir()}
    with pytest.raises(TextclfError, match=r"metrics.csv, which this command reads.*Train into another folder"):
        train(tiny(data, *files, "trainer.overwrite=true"), data)  # the run folder is the data folder; overwrite= says
        # "replace an earlier run", never "replace the data"
    run = tmp_path / "run"
    train(tiny(data, *files), run)
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("eval", overrides=[f"ckpt_path={run}", "device=cpu"])
    with pytest.raises(TextclfError, match=r"predictions.csv, which this command reads.*Evaluate into another folder"):
        evaluate(cfg, data)
    assert {name: (data / name).read_bytes() for name in before} == before


@pytest.mark.slow
def test_no_command_replaces_another_commands_run_records(run_dir, tmp_path):
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    (tmp_path / "in.txt").write_text("a fine film\n")
    commands = (("textclf.evaluate", []), ("textclf.predict", [f"input={tmp_path / 'in.txt'}"]),
                ("textclf.explain", []), ("textclf.export", ["format=torchscript"]))
    for module, args in commands:
        done = subprocess.run([sys.executable, "-m", module, f"ckpt_path={run_dir}", *args, f"hydra.run.dir={run_dir}"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 2 and "holds a run of train" in done.stderr, (module, done.stderr[-1500:])
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before
    for _ in range(2):  # the same command into its own folder again: allowed
        done = subprocess.run([sys.executable, "-m", "textclf.evaluate", f"ckpt_path={run_dir}", f"hydra.run.dir={tmp_path / 'eval'}"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-1500:]
    done = subprocess.run([sys.executable, "-m", "textclf", f"hydra.run.dir={tmp_path / 'eval'}"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "holds a run of evaluate" in done.stderr, done.stderr[-1500:]


def test_a_sweep_folder_belongs_to_one_sweep(tmp_path, capsys):
    from textclf.core.guards import SweepFolder

    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    first, second = SweepFolder(), SweepFolder()
    first.on_multirun_start(config)  # holds the folder until the sweep ends
    with pytest.raises(SystemExit) as refused:
        second.on_multirun_start(config)
    assert refused.value.code == 2 and "in use by another textclf command" in capsys.readouterr().err
    first.on_multirun_end(config)
    (tmp_path / "sweep" / "multirun.yaml").write_text("{}\n")  # what the first sweep leaves behind
    with pytest.raises(SystemExit):
        second.on_multirun_start(config)
    assert "already holds a sweep" in capsys.readouterr().err
