"""The training loop in-process: reproducibility, early stopping, divergence, checkpoints."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from textclf.core.errors import TextclfError
from textclf.inference.checkpoint import load_checkpoint
from textclf.training.trainer import train

from conftest import compose_train


def tiny(table_dir, *extra):
    return compose_train([
        "data=table", f"data.root={table_dir}", "embedding.dim=16", "model=bilstm", "model.encoder.hidden_size=16",
        "trainer.max_epochs=3", "trainer.progress=false", "trainer.tensorboard=false", *extra,
    ])


def test_same_seed_same_run(table_dir, tmp_path):
    first = train(tiny(table_dir), tmp_path / "a")
    second = train(tiny(table_dir), tmp_path / "b")
    for key in ("val_acc", "val_loss", "test_acc", "test_loss", "best_epoch"):
        assert first[key] == second[key], key
    columns = ["epoch", "train_loss", "val_loss", "val_acc"]
    assert pd.read_csv(tmp_path / "a" / "metrics.csv")[columns].equals(pd.read_csv(tmp_path / "b" / "metrics.csv")[columns])
    other = train(tiny(table_dir, "seed=1"), tmp_path / "c")
    assert other["val_loss"] != first["val_loss"]


def test_model_learns_the_toy_task(table_dir, tmp_path):
    results = train(tiny(table_dir, "trainer.max_epochs=8", "trainer.batch_size=16", "optimizer.lr=0.01"), tmp_path)
    assert results["test_acc"] > 0.9  # one opinion word decides the label: easy when learning works


def test_early_stopping_and_best_checkpoint(table_dir, tmp_path):
    # lr=1e-30: below float32 resolution, so nothing ever improves after epoch 1, so patience 2 stops after epoch 3.
    results = train(tiny(table_dir, "optimizer.lr=1e-30", "trainer.max_epochs=10", "trainer.patience=2"), tmp_path)
    assert results["epochs"] == 3 and results["best_epoch"] == 1
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 3 and "optimizer" in last
    assert json.loads((tmp_path / "results.json").read_text())["epochs"] == 3


def test_divergence_stops_with_message_and_keeps_last_good_checkpoint(table_dir, tmp_path, monkeypatch):
    import torch.nn.functional as F

    real = F.cross_entropy
    calls = {"n": 0}

    def diverging(logits, labels, **kwargs):  # the 5th training step (epoch 2, step 0) goes NaN
        loss = real(logits, labels, **kwargs)
        if kwargs.get("reduction") == "mean":  # training steps; evaluation sums
            calls["n"] += 1
            if calls["n"] == 5:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(F, "cross_entropy", diverging)
    cfg = tiny(table_dir, "trainer.max_epochs=5")  # 216 train rows / 64 = 4 steps per epoch
    with pytest.raises(TextclfError, match=r"loss became nan at epoch 2, step 0.*best.pt"):
        train(cfg, tmp_path)
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1  # the last good weights survive
    assert not (tmp_path / "results.json").exists()


def test_bad_trainer_values_are_rejected(table_dir, tmp_path):
    with pytest.raises(TextclfError, match="batch_size must be a positive integer"):
        train(tiny(table_dir, "trainer.batch_size=-4"), tmp_path)
    with pytest.raises(TextclfError, match="monitor"):
        train(tiny(table_dir, "trainer.monitor=train_loss"), tmp_path)
    with pytest.raises(TextclfError, match="grad_clip_scope must be one of global, parameter, spectral"):
        train(tiny(table_dir, "trainer.grad_clip_scope=layer"), tmp_path)


def test_gradients_are_clipped_with_the_configured_scope(table_dir, tmp_path, monkeypatch):
    import textclf.training.setup as train_module  # where the trainer binds the clip

    seen = []
    real = train_module.clip_gradients

    def spy(params, max_norm, scope):
        seen.append((max_norm, scope))
        real(params, max_norm, scope)

    monkeypatch.setattr(train_module, "clip_gradients", spy)
    train(tiny(table_dir, "trainer.grad_clip=3", "trainer.grad_clip_scope=spectral", "trainer.max_epochs=1"), tmp_path)
    assert len(seen) == 4 and set(seen) == {(3.0, "spectral")}  # 216 train rows / 64: 4 steps
    seen.clear()
    train(tiny(table_dir, "trainer.grad_clip=null", "trainer.max_epochs=1"), tmp_path / "off")
    assert seen == []


def test_restarts_keep_the_best_by_validation(table_dir, tmp_path):
    results = train(tiny(table_dir, "trainer.restarts=2", "trainer.max_epochs=2"), tmp_path)
    runs = pd.read_csv(tmp_path / "restarts.csv")
    assert list(runs["seed"]) == [0, 1]
    assert results["restart"] == int(runs["val_acc"].idxmax())  # first best wins ties
    chosen = tmp_path / f"restart_{results['restart']}"
    assert (tmp_path / "best.pt").read_bytes() == (chosen / "best.pt").read_bytes()
    assert results["test_acc"] == runs.loc[results["restart"], "test_acc"]


def test_a_restart_is_the_run_of_its_seed(table_dir, tmp_path):
    """restart i of ``seed=S trainer.restarts=N`` trains exactly what ``seed=S+i`` alone does, so a
    best-of-N reported from N separate runs is the one ``trainer.restarts=N`` picks."""
    train(tiny(table_dir, "trainer.restarts=2", "trainer.max_epochs=2"), tmp_path / "both")
    train(tiny(table_dir, "seed=1", "trainer.max_epochs=2"), tmp_path / "alone")
    restart = pd.read_csv(tmp_path / "both" / "restart_1" / "metrics.csv")
    alone = pd.read_csv(tmp_path / "alone" / "metrics.csv")
    timing = [c for c in alone.columns if "seconds" in c or c == "time"]
    pd.testing.assert_frame_equal(restart.drop(columns=timing), alone.drop(columns=timing))
    first = pd.read_csv(tmp_path / "both" / "restart_0" / "metrics.csv")
    assert not first["train_loss"].equals(alone["train_loss"])  # the seeds really differ


def test_linear_start_ends_when_validation_loss_stops_falling(babi_dir, tmp_path):
    cfg = compose_train([
        "model=memn2n", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]", "embedding.dim=8",
        "optimizer.lr=1e-30", "model.linear_start_patience=2", "trainer.max_epochs=4", "trainer.patience=null",
        "trainer.progress=false", "trainer.tensorboard=false",
    ])
    train(cfg, tmp_path)  # lr 1e-30: the loss never falls after epoch 1, so LS ends after epoch 3
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics["linear_start"]) == [1, 1, 1, 0]
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 4  # best.pt only from the softmax phase


def test_linear_start_cap(babi_dir, tmp_path):
    cfg = compose_train([
        "model=memn2n", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]", "embedding.dim=8",
        "model.linear_start_patience=100", "model.linear_start_max_epochs=2", "trainer.max_epochs=3",
        "trainer.patience=null", "trainer.progress=false", "trainer.tensorboard=false",
    ])
    train(cfg, tmp_path)
    assert list(pd.read_csv(tmp_path / "metrics.csv")["linear_start"]) == [1, 1, 0]


def test_linear_start_trains_at_a_scaled_learning_rate(babi_dir, tmp_path):
    """lr x 0.5 while linear start lasts, on top of the schedule, and the unscaled rate after it;
    last.pt holds the unscaled rate, so a resumed run scales from the same base."""
    cfg = compose_train([
        "model=memn2n", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]", "embedding.dim=8",
        "optimizer=sgd", "optimizer.lr=0.04", "scheduler=step", "scheduler.step_size=2", "scheduler.gamma=0.5",
        "model.linear_start_patience=100", "model.linear_start_max_epochs=3", "model.linear_start_lr_scale=0.5",
        "trainer.max_epochs=5", "trainer.patience=null", "trainer.progress=false", "trainer.tensorboard=false",
    ])
    train(cfg, tmp_path)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics["linear_start"]) == [1, 1, 1, 0, 0]
    assert metrics["lr"].tolist() == pytest.approx([0.02, 0.02, 0.01, 0.02, 0.01])
    assert load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("scale", [0, -1, "half"])
def test_bad_linear_start_lr_scale_is_rejected(babi_dir, tmp_path, scale):
    cfg = compose_train(["model=memn2n", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]", f"model.linear_start_lr_scale={scale}"])
    with pytest.raises(TextclfError, match="model.linear_start_lr_scale must be a number > 0"):
        train(cfg, tmp_path)
