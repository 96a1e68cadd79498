"""The training loop's inner parts: one epoch of steps, scoring a split, and their small helpers.

Small models here are bound by Python overhead, not arithmetic, so the loop batches from pre-built
tensors and keeps `.item()` (a device sync) out of the inner loop.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from textclf.core.errors import TextclfError
from textclf.data.batching import BatchIterator
from textclf.data.pipeline import PreparedData
from textclf.inference.predictor import Predictor, TorchRuntime
from textclf.models.task import Task
from textclf.reporting.metrics import summarize
from textclf.training.distributed import Distributed
from textclf.training.precision import Precision

if TYPE_CHECKING:  # setup.py imports this module (seed_everything): the type only, not the import
    from textclf.training.setup import Training


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def check_finite(loss: float, where: str) -> None:
    if not math.isfinite(loss):
        raise TextclfError(
            f"training loss became {loss} {where}. best.pt and last.pt keep the last good weights; "
            "lower optimizer.lr or set trainer.grad_clip (e.g. 5) and retrain."
        )


def clear_gradients(params: list[torch.nn.Parameter]) -> None:
    """optimizer.zero_grad(set_to_none=True) without its bookkeeping (~0.1 ms a step on MemN2N,
    whose whole step is ~5 ms; docs/speed.md)."""
    for param in params:
        param.grad = None


def train_one_epoch(model: torch.nn.Module, batches: BatchIterator, training: Training, epoch: int, progress: bool, dist: Distributed) -> dict[str, float]:
    """One pass over the training batches of ``model`` (the trained model, or its DDP wrapper),
    stepping ``training``'s optimizer with its precision, clipping (``clip(params)``, or None) and
    annealed gradient noise (counted in global steps from the first epoch). ``training.reduction="sum"``
    sums the loss over the batch instead of averaging it, as Sukhbaatar et al. (2015) do for MemN2N
    ("cost is not averaged over a batch"), which their learning rates and clipping threshold assume.
    Under DDP the loss and accuracy are summed over all ranks, so every rank reports (and decides on)
    the same numbers. train_acc counts the rows the task decides right (multi-label: the exact set)."""
    task, reduction, precision, noise = training.task, training.reduction, training.precision, training.noise
    model.train()
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=not progress, dynamic_ncols=True)
    for step, batch in enumerate(bar):
        with precision.autocast():
            logits = model(batch)
            loss = training.loss(logits.float(), batch.labels, reduction, batch.weights)
        if step % 25 == 0:  # one sync every 25 steps: cheap, and catches NaN before it is applied
            value = loss.item()
            check_finite(value, f"at epoch {epoch}, step {step}")
            bar.set_postfix(loss=f"{value:.4f}")
        clear_gradients(params)
        add_noise = None
        if noise:
            global_step = (epoch - 1) * len(batches) + step
            add_noise = functools.partial(noise.add, step=global_step)
        precision.backward_and_step(loss, training.optimizer, params, training.clip, add_noise)
        total_loss += loss.detach() * (len(batch) if reduction == "mean" else 1)
        correct += task.hits(logits.detach(), batch.labels).sum()
        seen += len(batch)
    total, right, count = dist.sum([float(total_loss), float(correct), float(seen)])
    mean_loss = total / max(count, 1)
    check_finite(mean_loss, f"during epoch {epoch}")
    return {"train_loss": mean_loss, "train_acc": right / max(count, 1)}


@dataclass(frozen=True)
class Scoring:
    """How training scores a split: batch size and device, and while training (not for the final
    scores, which are float32 as `textclf.evaluate` computes them) its precision and processes."""

    batch_size: int
    device: torch.device
    precision: Precision | None = None
    dist: Distributed | None = None


def evaluate_split(model: torch.nn.Module, data: PreparedData, name: str, scoring: Scoring, task: Task | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of ``model`` on the split ``name`` of ``data``, prefixed (``val_acc``...), and its
    probabilities, decided as ``task`` decides (default: single-label).

    Under DDP each rank scores every world_size-th example and the probabilities are summed into
    one matrix (each row comes from exactly one rank), so all ranks get the full-split metrics."""
    full = split = data.encoded[name]
    dist, precision, rows = scoring.dist, scoring.precision, None
    if dist is not None and dist.enabled:
        split, rows = dist.shard(full)
    predictor = Predictor(TorchRuntime(model, scoring.device), task, scoring.batch_size)
    with precision.autocast() if precision is not None else contextlib.nullcontext():
        prob, loss = predictor.proba_and_loss(split)
    if rows is not None:
        gathered = torch.zeros((len(full), prob.shape[1]), dtype=torch.float32)
        gathered[rows] = torch.from_numpy(prob)
        prob = dist.sum_tensor(gathered).numpy()
        (loss_sum,) = dist.sum([loss * len(rows)])
        loss = loss_sum / len(full)
    group = None if full.group is None else full.group.numpy()
    weights = None if full.weights is None else full.weights.numpy()
    metrics = summarize(prob, full.labels.numpy(), group, data.groups, task, weights)
    metrics["loss"] = loss
    return {f"{name}_{k}": v for k, v in metrics.items()}, prob


def append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
