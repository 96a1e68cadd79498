"""Annealed Gaussian gradient noise (Neelakantan et al. 2015, "Adding Gradient Noise Improves
Learning for Very Deep Networks"): after clipping, every gradient gets noise of variance
eta / (1 + t) ** gamma at step t, so early steps explore and late steps settle. The paper found it
helps End-To-End Memory Networks on bAbI; `trainer.grad_noise=eta` turns it on.

The noise comes from its own generator, seeded by (run seed, step) alone: data-parallel ranks add
the same noise (their weights must stay equal) and a resumed run draws what it would have drawn.
"""

from __future__ import annotations

import torch


class GradientNoise:
    def __init__(self, eta: float, seed: int, gamma: float = 0.55) -> None:
        self.eta = float(eta)  # >= 0, checked on entry (core/config_rules.py)
        self.gamma, self.seed = gamma, seed

    def __bool__(self) -> bool:
        return self.eta > 0

    def std(self, step: int) -> float:
        return (self.eta / (1 + step) ** self.gamma) ** 0.5

    def add(self, params, step: int) -> None:
        """Add step ``step``'s noise to the ``.grad`` of ``params`` (those without one are skipped)."""
        grads = [param.grad for param in params if param.grad is not None]
        if not grads:
            return
        generator = torch.Generator(device=grads[0].device).manual_seed(self.seed * 1_000_003 + step)
        std = self.std(step)
        for grad in grads:
            grad.add_(torch.randn(grad.shape, generator=generator, device=grad.device, dtype=grad.dtype), alpha=std)
