"""Annealed Gaussian gradient noise (Neelakantan et al. 2015, "Adding Gradient Noise Improves
Learning for Very Deep Networks"): after clipping, every gradient gets noise of variance
eta / (1 + t) ** gamma at step t, so early steps explore and late steps settle. The paper found it
helps End-To-End Memory Networks on bAbI; `trainer.grad_noise=eta` turns it on.

The noise comes from its own generator, seeded by (run seed, step) alone: data-parallel ranks add
the same noise (their weights must stay equal) and a resumed run draws what it would have drawn.
"""

from __future__ import annotations

import torch

from textclf.errors import TextclfError


class GradientNoise:
    def __init__(self, eta: float, seed: int, gamma: float = 0.55) -> None:
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta < 0:
            raise TextclfError(f"trainer.grad_noise must be a variance >= 0 (e.g. 0.01), got {eta!r}.")
        self.eta, self.gamma, self.seed = float(eta), gamma, seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def __bool__(self) -> bool:
        return self.eta > 0

    def std(self, step: int) -> float:
        return (self.eta / (1 + step) ** self.gamma) ** 0.5

    def add(self, params, step: int) -> None:
        """Add step ``step``'s noise to the ``.grad`` of ``params`` (those without one are skipped)."""
        std = self.std(step)
        for generator in self._generators.values():
            generator.manual_seed(self.seed * 1_000_003 + step)
        for param in params:
            if param.grad is None:
                continue
            device = param.grad.device
            if device not in self._generators:
                self._generators[device] = torch.Generator(device=device)
                self._generators[device].manual_seed(self.seed * 1_000_003 + step)
            noise = torch.randn(param.grad.shape, generator=self._generators[device], device=device, dtype=param.grad.dtype)
            param.grad.add_(noise, alpha=std)
