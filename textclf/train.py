"""Training: `python -m textclf [overrides]` (entry point in textclf/__main__.py).

A plain loop you can read top to bottom (nanoGPT style): prepare data, build the model, then per
epoch train, evaluate on validation, checkpoint, maybe stop early; finally score the best model on
test and write the report. Small models here are bound by Python overhead, not arithmetic, so the
loop batches from pre-built tensors and keeps `.item()` (a device sync) out of the inner loop.
"""

from __future__ import annotations

import csv
import logging
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from textclf import __version__
from textclf.checkpoint import load_checkpoint, save_checkpoint
from textclf.data.batching import BatchIterator
from textclf.data.pipeline import PreparedData, prepare
from textclf.data.vectors import load_pretrained
from textclf.errors import TextclfError, debug_requested, exit_on_user_error
from textclf.inference import predict_proba
from textclf.models.build import build_model, reads_memory
from textclf.report import summarize, write_json, write_report

log = logging.getLogger("textclf.train")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TextclfError(f"trainer.device={name} but no CUDA device is available. Use trainer.device=cpu or auto.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TextclfError(f"trainer.device={name!r} is not a device; use auto, cpu, cuda or cuda:N.") from None


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def check_trainer_config(tc: DictConfig) -> None:
    """Reject values that would only fail later, or silently do nothing."""
    for key in ("batch_size", "eval_batch_size", "max_epochs", "restarts"):
        if not isinstance(tc[key], int) or tc[key] < 1:
            raise TextclfError(f"trainer.{key} must be a positive integer, got {tc[key]!r}.")
    if tc.patience is not None and tc.patience < 1:
        raise TextclfError(f"trainer.patience must be >= 1 or null (no early stopping), got {tc.patience}.")
    if tc.loss_reduction not in ("mean", "sum"):
        raise TextclfError(f"trainer.loss_reduction must be mean or sum, got {tc.loss_reduction!r}.")
    if not tc.monitor.startswith("val_"):
        raise TextclfError(f"trainer.monitor must be a validation metric (val_acc, val_loss, val_macro_f1), got {tc.monitor}.")


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


def make_scheduler(cfg: DictConfig, optimizer: torch.optim.Optimizer):
    if not cfg.get("scheduler"):  # scheduler=none leaves an empty group
        return None
    return instantiate(cfg.scheduler)(optimizer)


def stored_config(cfg: DictConfig) -> str:
    """The resolved config as YAML, with the data folder made absolute so that evaluation and
    prediction find the data from any working directory."""
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if "root" in resolved.data:
        resolved.data.root = str(Path(resolved.data.root).expanduser().resolve())
    return OmegaConf.to_yaml(resolved)


def run_description(cfg: DictConfig, data: PreparedData) -> dict[str, Any]:
    """What every checkpoint of a run shares (tokenizer, labels, config): built once per run, not
    per epoch, since serialising a 15k-word tokenizer is not free."""
    return {
        "tokenizer": data.vocab.to_json(),
        "labels": list(data.labels),
        "groups": list(data.groups),
        "config": stored_config(cfg),
        "synthetic": data.splits.synthetic,
    }


def checkpoint_payload(description: dict[str, Any], model: torch.nn.Module, metrics: dict, epoch: int) -> dict[str, Any]:
    return {
        **description,
        "state_dict": {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in model.state_dict().items()},
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
        "epoch": epoch,
    }


def train_one_epoch(model, batches, optimizer, grad_clip, epoch, progress, reduction: str = "mean") -> dict[str, float]:
    """One pass over the training batches. ``reduction="sum"`` sums the loss over the batch instead
    of averaging it, as Sukhbaatar et al. (2015) do for MemN2N ("cost is not averaged over a
    batch"), which their learning rates and clipping threshold assume."""
    model.train()
    device = next(model.parameters()).device
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=not progress, dynamic_ncols=True)
    for step, batch in enumerate(bar):
        logits = model(batch)
        loss = F.cross_entropy(logits, batch.labels, reduction=reduction)
        if step % 25 == 0:  # one sync every 25 steps: cheap, and catches NaN before it is applied
            value = loss.item()
            if not math.isfinite(value):
                raise TextclfError(
                    f"training loss became {value} at epoch {epoch}, step {step}. best.pt and last.pt keep the last good "
                    "weights; lower optimizer.lr or set trainer.grad_clip (e.g. 5) and retrain."
                )
            bar.set_postfix(loss=f"{value:.4f}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total_loss += loss.detach() * (len(batch) if reduction == "mean" else 1)
        correct += (logits.detach().argmax(dim=1) == batch.labels).sum()
        seen += len(batch)
    mean_loss = float(total_loss) / seen
    if not math.isfinite(mean_loss):
        raise TextclfError(
            f"training loss became {mean_loss} during epoch {epoch}. best.pt and last.pt keep the last good weights; "
            "lower optimizer.lr or set trainer.grad_clip (e.g. 5) and retrain."
        )
    return {"train_loss": mean_loss, "train_acc": float(correct) / seen}


def evaluate_split(model, batches: BatchIterator, data: PreparedData, prefix: str) -> tuple[dict[str, Any], np.ndarray]:
    prob, loss = predict_proba(model, batches)
    split = batches.split
    group = None if split.group is None else split.group.numpy()
    metrics = summarize(prob, split.labels.numpy(), group, data.groups)
    metrics["loss"] = loss
    return {f"{prefix}_{k}": v for k, v in metrics.items()}, prob


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train as configured, writing checkpoints, logs and the test report into ``run_dir``.

    With ``trainer.restarts=N`` (N > 1), N models are trained from seeds seed .. seed+N-1 in
    ``restart_<i>/`` folders and the one with the best validation score (``trainer.monitor``, never
    test) becomes the run's result: its best.pt, last.pt, metrics.csv and report/ are copied up.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tc = cfg.trainer
    check_trainer_config(tc)
    device = resolve_device(tc.device)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    data = prepare(instantiate(cfg.data), **cfg.tokenizer, with_memory=reads_memory(cfg))
    if tc.restarts == 1:
        results = fit(cfg, data, run_dir, cfg.seed, device)
    else:
        results = best_of_restarts(cfg, data, run_dir, device)
    write_json(run_dir / "results.json", results)
    log.info("test acc %.4f | macro-F1 %.4f | results in %s", results["test_acc"], results["test_macro_f1"], run_dir)
    if "mean_error" in results:
        log.info("bAbI mean error %.2f %% | failed tasks: %s", results["mean_error"], results["failed_tasks"] or "none")
    return results


def best_of_restarts(cfg: DictConfig, data: PreparedData, run_dir: Path, device: torch.device) -> dict[str, Any]:
    stopper = EarlyStopping(cfg.trainer.monitor, patience=None)
    runs = []
    for restart in range(cfg.trainer.restarts):
        seed = cfg.seed + restart
        log.info("restart %d/%d (seed %d)", restart + 1, cfg.trainer.restarts, seed)
        results = fit(cfg, data, run_dir / f"restart_{restart}", seed, device)
        runs.append({"restart": restart, "seed": seed, **{k: v for k, v in results.items() if isinstance(v, (int, float))}})
        if stopper.update(results, restart):
            chosen = results
    best = stopper.best_epoch  # here: the index of the best restart
    log.info("best restart by %s: %d (seed %d)", cfg.trainer.monitor, best, cfg.seed + best)
    source = run_dir / f"restart_{best}"
    for name in ("best.pt", "last.pt", "metrics.csv"):
        shutil.copy2(source / name, run_dir / name)
    shutil.copytree(source / "report", run_dir / "report", dirs_exist_ok=True)
    pd.DataFrame(runs).to_csv(run_dir / "restarts.csv", index=False)
    total = sum(run["train_seconds"] for run in runs)
    return {**chosen, "restart": best, "restarts": len(runs), "train_seconds": round(total, 2)}


def set_linear_start(model: torch.nn.Module, on: bool) -> None:
    """Linear start (Sukhbaatar et al. 2015): memory encoders drop their softmax while on."""
    model.encoder.linear_start = on


def fit(cfg: DictConfig, data: PreparedData, run_dir: Path, seed: int, device: torch.device) -> dict[str, Any]:
    """One training run from one seed: the loop, checkpoints, then the best model on test."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tc = cfg.trainer
    seed_everything(seed, tc.deterministic)
    model = build_model(cfg, len(data.vocab), len(data.labels), data.vocab.encode_many(data.labels))
    if "path" in cfg.embedding.keys():  # `in cfg.embedding` is False while the value is still ???
        if OmegaConf.is_missing(cfg.embedding, "path"):
            raise TextclfError("embedding=pretrained needs the vectors file: add embedding.path=FILE (.txt, .vec or .npz).")
        load_pretrained(model.embedding, cfg.embedding.path, data.vocab)
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model: %s | %d trainable parameters | device %s", cfg.model.name, n_params, device)
    optimizer = instantiate(cfg.optimizer)(params=[p for p in model.parameters() if p.requires_grad])
    scheduler = make_scheduler(cfg, optimizer)
    linear = bool(cfg.model.get("linear_start", False)) and hasattr(model.encoder, "linear_start")
    if linear:
        set_linear_start(model, True)
    linear_best_loss, linear_bad_epochs = math.inf, 0
    linear_patience = int(cfg.model.get("linear_start_patience", 1))
    linear_max_epochs = cfg.model.get("linear_start_max_epochs")  # None: no cap

    train_batches = BatchIterator(data.encoded["train"], tc.batch_size, shuffle=True, seed=seed, device=device)
    val_batches = BatchIterator(data.encoded["val"], tc.eval_batch_size, device=device)
    test_batches = BatchIterator(data.encoded["test"], tc.eval_batch_size, device=device)

    stopper = EarlyStopping(tc.monitor, tc.patience)
    writer = None
    if tc.tensorboard:
        from torch.utils.tensorboard import SummaryWriter  # imported here: it is slow to import

        writer = SummaryWriter(log_dir=str(run_dir / "tb"))
    metrics_path = run_dir / "metrics.csv"
    metrics_path.unlink(missing_ok=True)
    description = run_description(cfg, data)
    started = time.perf_counter()
    epoch = 0
    row: dict[str, Any] = {}
    for epoch in range(1, tc.max_epochs + 1):
        epoch_start = time.perf_counter()
        row = {"epoch": epoch, **train_one_epoch(model, train_batches, optimizer, tc.grad_clip, epoch, tc.progress, tc.loss_reduction)}
        val_metrics, _ = evaluate_split(model, val_batches, data, "val")
        row.update({k: v for k, v in val_metrics.items() if isinstance(v, float)})
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["linear_start"] = int(linear)
        row["seconds"] = round(time.perf_counter() - epoch_start, 3)
        append_csv(metrics_path, row)
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(key, value, epoch)
        improved = stopper.update(row, epoch)
        payload = checkpoint_payload(description, model, row, epoch)
        if improved:
            save_checkpoint(run_dir / "best.pt", payload)
        save_checkpoint(run_dir / "last.pt", {**payload, "optimizer": optimizer.state_dict()})
        log.info(
            "epoch %d | train loss %.4f acc %.4f | val loss %.4f acc %.4f | lr %.3g | %.1fs%s%s",
            epoch, row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"], row["lr"], row["seconds"],
            " | linear" if linear else "", " | best" if improved else "",
        )
        if linear:
            if row["val_loss"] < linear_best_loss:
                linear_best_loss, linear_bad_epochs = row["val_loss"], 0
            else:
                linear_bad_epochs += 1
            capped = linear_max_epochs is not None and epoch >= linear_max_epochs
            if linear_bad_epochs >= linear_patience or capped:
                # Validation loss stopped falling (or, on large data where it falls for long, the
                # cap is reached): put the softmax back, and select best.pt only from here on.
                linear = False
                set_linear_start(model, False)
                stopper = EarlyStopping(tc.monitor, tc.patience)
                log.info("linear start ends after epoch %d: softmax restored", epoch)
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(row["val_loss"])
            else:
                scheduler.step()
        if stopper.should_stop:
            log.info("early stop: %s has not improved for %d epochs", tc.monitor, tc.patience)
            break
    train_seconds = time.perf_counter() - started
    if writer is not None:
        writer.close()

    best = load_checkpoint(run_dir / "best.pt")
    model.load_state_dict(best["state_dict"])
    val_metrics, _ = evaluate_split(model, val_batches, data, "val")
    test_metrics, test_prob = evaluate_split(model, test_batches, data, "test")
    split = data.encoded["test"]
    title = f"{cfg.model.name} on {data.splits.description} (test){' [synthetic data]' if data.splits.synthetic else ''}"
    write_report(
        run_dir / "report",
        examples=data.splits.test,
        prob=test_prob,
        gold=split.labels.numpy(),
        labels=data.labels,
        group=None if split.group is None else split.group.numpy(),
        groups=data.groups,
        title=title,
        compare_to_paper=data.splits.reference == "babi1k",
    )
    results: dict[str, Any] = {
        "model": cfg.model.name,
        "data": data.splits.description,
        "synthetic_data": data.splits.synthetic,
        **val_metrics,
        **test_metrics,
        "epochs": epoch,
        "best_epoch": best["epoch"],
        "train_seconds": round(train_seconds, 2),
        "parameters": n_params,
        "seed": seed,
        "textclf_version": __version__,
    }
    for key in ("per_task", "mean_error", "failed_tasks"):  # bAbI contract: unprefixed test figures
        if f"test_{key}" in results:
            results[key] = results.pop(f"test_{key}")
            results.pop(f"val_{key}", None)
    return results


def append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


@exit_on_user_error
def run(cfg: DictConfig) -> float:
    """The body of `python -m textclf` (see textclf/__main__.py, which keeps --help light)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        results = train(cfg, run_dir)
    except TextclfError as err:
        if hydra_cfg.mode != RunMode.MULTIRUN or debug_requested():
            raise
        # In a sweep, one bad job must not stop the others: record why it failed and move on.
        log.error("job %s failed: %s", hydra_cfg.job.num, err)
        write_json(run_dir / "failed.json", {"error": str(err), "overrides": list(hydra_cfg.overrides.task)})
        return math.nan
    metric = cfg.get("optimized_metric")
    if metric is None:
        return results.get("val_acc", math.nan)
    if metric not in results:
        raise TextclfError(f"optimized_metric={metric} is not in results; choose one of {sorted(results)}.")
    return results[metric]
