"""The joblib launcher for `-m` sweeps (the `sweep` extra; CI installs it). Searches: test_search.py."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("hydra_plugins.hydra_joblib_launcher")

TINY = ["data=babi_gen", "data.root=babi_gen", "data.n_train=60", "data.n_test=30", "data.tasks=[1,6]",
        "embedding.dim=16", "++model.encoder.hidden_size=16", "trainer.max_epochs=1", "trainer.progress=false",
        "trainer.tensorboard=false"]


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "textclf", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path):
    result = run("-m", "model=textrnn,rcnn", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY,
                 "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert sorted(summary["status"]) == ["ok", "ok"]


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_sweep_end_to_end(tmp_path):
    """The launcher SLURM sweeps use (hydra/launcher=slurm), with local processes for the queue."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = run("-m", "model=textrnn,bilstm", "hydra/launcher=submitit_local", *TINY, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert sorted(summary["status"]) == ["ok", "ok"] and sorted(summary["model"]) == ["bilstm", "textrnn"]
    assert any((tmp_path / "sweep" / ".submitit").iterdir())  # submitit's own job records


def test_the_slurm_preset_composes_with_a_partition():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_module

    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert (launcher.gpus_per_task, launcher.timeout_min, launcher.cpus_per_task) == (1, 240, 4)
