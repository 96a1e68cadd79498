"""Data-parallel training on CPU (gloo), and the pieces it is built from."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from textclf.core.errors import TextclfError
from textclf.data.batching import BatchIterator, EncodedSplit
from textclf.training.distributed import Distributed
from textclf.training.precision import Precision


def split_of(n: int) -> EncodedSplit:
    lengths = torch.randint(1, 9, (n,), generator=torch.Generator().manual_seed(0))
    return EncodedSplit(tokens=torch.arange(n).unsqueeze(1).repeat(1, 8), lengths=lengths, labels=torch.arange(n) % 3)


def test_ranks_share_out_each_batch_once_and_take_equal_steps():
    split = split_of(103)  # 11 batches of 10
    dealt = []
    for rank in range(3):
        batches = BatchIterator(split, batch_size=10, shuffle=True, seed=4, rank=rank, world_size=3)
        mine = [batch.index.tolist() for batch in batches]
        assert len(mine) == 3 == len(batches)  # 11 // 3: the two left over wait for the next epoch's shuffle
        dealt.extend(tuple(index) for index in mine)
    assert len(set(dealt)) == 9  # no batch went to two ranks
    assert batches.epoch == 1  # the iterator still advanced its shuffle


def test_a_world_of_one_changes_nothing():
    world = Distributed(False)
    split = split_of(7)
    assert (world.rank, world.world_size, world.is_main) == (0, 1, True)
    assert world.shard(split)[0] is split
    assert world.sum([1.0, 2.0]) == [1.0, 2.0]


def test_lower_precision_on_cpu_warns_and_keeps_float32(caplog):
    precision = Precision("bf16", torch.device("cpu"))
    assert precision.dtype is None and "needs a CUDA device" in caplog.text
    with precision.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(TextclfError, match="precision must be 32, bf16 or 16"):
        Precision("8", torch.device("cpu"))


def test_torchrun_without_trainer_ddp_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(TextclfError, match="without trainer=ddp"):
        Distributed(False)


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_one_run_and_resume_it(table_dir, tmp_path):
    run_dir = tmp_path / "run"

    def torchrun(epochs: int):
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "textclf", "trainer=ddp", "data=table", f"data.root={table_dir}", "embedding.dim=16",
            "model=bilstm", "model.encoder.hidden_size=16", f"trainer.max_epochs={epochs}", "trainer.patience=null", "trainer.batch_size=16",
            "optimizer.lr=0.01", "trainer.progress=false", "trainer.num_threads=1", "trainer.precision=bf16",
            "trainer.resume=true", f"hydra.run.dir={run_dir}",
        ]
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    torchrun(5)
    done = torchrun(12)  # the same command, extended: both ranks continue from rank 0's last.pt
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2 and results["epochs"] == 12
    assert results["test_acc"] > 0.9  # the toy task is learnt, as in one process
    history = pd.read_csv(run_dir / "metrics.csv")
    assert list(history["epoch"]) == list(range(1, 13))  # one writer: each epoch once
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    log = (run_dir / "train.log").read_text()
    assert "rank 0 of 2, backend gloo" in log and "needs a CUDA device" in log
    assert "after epoch 5" in log
    assert "rank 1 of 2" in done.stderr + done.stdout  # the second rank joined
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # rank 1 left no folder behind


@pytest.mark.slow
@pytest.mark.parametrize("model", ["fasttext", "textcnn"])
def test_the_reference_models_train_under_torchrun(table_dir, tmp_path, model):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "textclf", "trainer=ddp", "data=table", f"data.root={table_dir}", "embedding.dim=16", f"model={model}",
        "trainer.max_epochs=8", "trainer.batch_size=16", "trainer.progress=false", "trainer.num_threads=1", f"hydra.run.dir={run_dir}",
    ] + (["model.ngrams.buckets=1024", "model.ngrams.dim=8"] if model == "fasttext" else ["model.encoder.filters=8", "optimizer.lr=0.01"])
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2 and results["model"] == model and results["test_acc"] > 0.85
    assert "baseline_test_acc" in results  # rank 0 fitted it; rank 1 went on to train
