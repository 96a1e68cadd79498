"""Annealed gradient noise (`trainer.grad_noise`) and training-batch pools (`trainer.pool_batches`)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from textclf.core.config_rules import config_problems
from textclf.core.errors import TextclfError
from textclf.training.gradient_noise import GradientNoise
from textclf.training.trainer import train

from conftest import compose_train
from test_train import tiny


def grads_after_noise(noise: GradientNoise, step: int) -> list[torch.Tensor]:
    params = [torch.nn.Parameter(torch.zeros(3, 4)), torch.nn.Parameter(torch.zeros(5))]
    for p in params:
        p.grad = torch.zeros_like(p)
    noise.add(params, step)
    return [p.grad.clone() for p in params]


def test_variance_anneals_as_the_paper_writes():
    noise = GradientNoise(0.3, seed=0)
    assert noise.std(0) == pytest.approx(math.sqrt(0.3))
    assert noise.std(99) == pytest.approx(math.sqrt(0.3 / 100**0.55))
    big = torch.cat([g.flatten() for g in grads_after_noise(GradientNoise(4.0, seed=0), 0)])
    assert big.abs().max() > 0.5  # std 2: the noise really lands in the gradients


def test_noise_depends_on_seed_and_step_only():
    """Ranks (separate objects, same seed) add the same noise, and a resumed run (a new object that
    starts at step 40) adds what the uninterrupted one added at step 40."""
    first, second = GradientNoise(0.01, seed=3), GradientNoise(0.01, seed=3)
    for step in range(3):
        grads_after_noise(first, step)
    resumed = grads_after_noise(second, 40)
    uninterrupted = grads_after_noise(first, 40)
    assert all(torch.equal(a, b) for a, b in zip(resumed, uninterrupted))
    assert not torch.equal(grads_after_noise(first, 41)[0], uninterrupted[0])
    assert not torch.equal(grads_after_noise(GradientNoise(0.01, seed=4), 40)[0], uninterrupted[0])


@pytest.mark.parametrize("eta", [-0.1, "abc", True])
def test_bad_eta_is_rejected(eta):
    assert config_problems(compose_train([f"trainer.grad_noise={eta}"]))[0].startswith("trainer.grad_noise must be a number >= 0")


def test_training_with_noise_differs_and_still_learns(table_dir, tmp_path):
    quiet = train(tiny(table_dir, "trainer.max_epochs=8", "trainer.batch_size=16", "optimizer.lr=0.01"), tmp_path / "a")
    noisy = train(tiny(table_dir, "trainer.max_epochs=8", "trainer.batch_size=16", "optimizer.lr=0.01", "trainer.grad_noise=1e-6"), tmp_path / "b")
    assert noisy["val_loss"] != quiet["val_loss"]
    assert noisy["test_acc"] > 0.9


def test_pool_batches_changes_the_batches_and_is_checked(table_dir, tmp_path):
    pooled = train(tiny(table_dir, "trainer.pool_batches=50"), tmp_path / "a")
    random_batches = train(tiny(table_dir, "trainer.pool_batches=1"), tmp_path / "b")
    assert pooled["val_loss"] != random_batches["val_loss"]
    with pytest.raises(TextclfError, match="trainer.pool_batches must be a positive integer"):
        train(tiny(table_dir, "trainer.pool_batches=0"), tmp_path / "c")
    assert pd.read_csv(tmp_path / "a" / "metrics.csv")["epoch"].tolist() == [1, 2, 3]
