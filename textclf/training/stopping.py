"""Decisions taken once per epoch from validation: early stopping, and MemN2N's linear start.

Both keep small counters that last.pt saves (``state_dict``), so a resumed run decides exactly as
an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import torch
from omegaconf import DictConfig

from textclf.core.errors import TextclfError

log = logging.getLogger("textclf.train")


def monitored_metric(monitor: str, multi_label: bool) -> str:
    """trainer.monitor as used: for multi-label data the default val_acc (the exact-set share,
    which a text with many labels rarely reaches) means val_micro_f1; other names are kept."""
    return "val_micro_f1" if multi_label and monitor == "val_acc" else monitor


class EarlyStopping:
    """Tracks the monitored validation metric; ``improved`` says when to save best.pt."""

    def __init__(self, monitor: str, patience: int | None):
        self.monitor = monitor
        self.sign = -1.0 if monitor.endswith("loss") else 1.0  # losses fall, accuracies rise
        self.patience = patience
        self.best = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0

    def update(self, metrics: dict[str, float], epoch: int) -> bool:
        if self.monitor not in metrics:
            raise TextclfError(f"trainer.monitor={self.monitor} is not a logged metric; choose from {sorted(metrics)}.")
        value = self.sign * metrics[self.monitor]
        if value > self.best:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["monitor"] != self.monitor:
            # The record is in another metric (and maybe sign): start a fresh one for this metric.
            log.warning("trainer.monitor changed from %s to %s: best.pt is selected afresh from here", state["monitor"], self.monitor)
            return
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


class LinearStart:
    """Linear start (Sukhbaatar et al. 2015): memory encoders drop their softmax at first, and put
    it back once validation loss has not fallen for ``patience`` epochs (or after ``max_epochs``,
    for large data where it falls for long).

    ``lr_scale`` multiplies the learning rate while linear start lasts: the paper trains its linear
    phase at half the usual rate (0.005 against 0.01), and at the full rate our linear phase's loss
    only oscillates (bAbI 1k joint: train loss 1.5-1.8 for 25 epochs, then 0.9 within one epoch of
    the schedule halving the rate).
    """

    def __init__(self, cfg: DictConfig, model: torch.nn.Module) -> None:
        self.encoder = model.encoder
        # Only memory models have these settings (conf/model/memn2n.yaml holds their one value each).
        self.on = bool("linear_start" in cfg.model and cfg.model.linear_start) and hasattr(self.encoder, "linear_start")
        self.lr_scale, self.patience, self.max_epochs = 1.0, 1, None
        if self.on:
            self.lr_scale = float(cfg.model.linear_start_lr_scale)  # > 0, checked on entry
            self.patience = int(cfg.model.linear_start_patience)
            self.max_epochs = cfg.model.linear_start_max_epochs  # None: no cap
            self.encoder.linear_start = True
        self.best_loss, self.bad_epochs = math.inf, 0

    def update(self, val_loss: float, epoch: int) -> bool:
        """Account for one epoch; True when linear start ends now."""
        if not self.on:
            return False
        if val_loss < self.best_loss:
            self.best_loss, self.bad_epochs = val_loss, 0
        else:
            self.bad_epochs += 1
        capped = self.max_epochs is not None and epoch >= self.max_epochs
        if self.bad_epochs >= self.patience or capped:
            self.on = False
            self.encoder.linear_start = False
        return not self.on

    @contextlib.contextmanager
    def scaled_lr(self, optimizer: torch.optim.Optimizer):
        """The learning rate times ``lr_scale`` for one epoch of training while linear start is on.
        Scaled around each epoch rather than once, so that the optimizer and scheduler only ever
        hold the unscaled rate: any scheduler composes with it and checkpoints need nothing more."""
        factor = self.lr_scale if self.on else 1.0
        unscaled = [group["lr"] for group in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] *= factor
        try:
            yield factor
        finally:
            for group, lr in zip(optimizer.param_groups, unscaled):
                group["lr"] = lr  # exactly as before, not divided back (no rounding drift)

    def state_dict(self) -> dict[str, Any]:
        return {"on": self.on, "best_loss": self.best_loss, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.on, self.best_loss, self.bad_epochs = state["on"], state["best_loss"], state["bad_epochs"]
        if hasattr(self.encoder, "linear_start"):
            self.encoder.linear_start = self.on
