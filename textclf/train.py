"""Training: `python -m textclf [overrides]` (entry point in textclf/__main__.py).

A plain loop you can read top to bottom (nanoGPT style): prepare data, build the model, then per
epoch train, evaluate on validation, checkpoint, maybe stop early; finally score the best model on
test and write the report. Small models here are bound by Python overhead, not arithmetic, so the
loop batches from pre-built tensors and keeps `.item()` (a device sync) out of the inner loop.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
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
from textclf.data.batching import BatchIterator, EncodedSplit
from textclf.data.pipeline import PreparedData, build_source, prepare
from textclf.data.vectors import load_pretrained
from textclf.distributed import Distributed
from textclf.errors import TextclfError, debug_requested, exit_on_user_error, positive_int
from textclf.grad_clip import SCOPES as CLIP_SCOPES
from textclf.grad_clip import clip_gradients
from textclf.gradient_noise import GradientNoise
from textclf.inference import predict_proba
from textclf.models.build import build_model, reads_memory
from textclf.precision import PRECISIONS, Precision
from textclf.report import summarize, write_json, write_report
from textclf.resume import resume_checkpoint, rng_state, set_rng_state
from textclf.stopping import EarlyStopping, LinearStart

log = logging.getLogger("textclf.train")


def resolve_device(name: str, key: str = "trainer.device") -> torch.device:
    """The torch device a setting names; ``key`` is the setting, for the message."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TextclfError(f"{key}={name} but no CUDA device is available. Use {key}=cpu or auto.")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TextclfError(f"{key}={name!r} is not a device; use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise TextclfError(f"{key}={name} but this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    return device


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def check_trainer_config(tc: DictConfig) -> None:
    """Reject values that would only fail later, or silently do nothing."""
    for key in ("batch_size", "eval_batch_size", "max_epochs", "restarts"):
        positive_int(tc[key], f"trainer.{key}")
    if tc.patience is not None and tc.patience < 1:
        raise TextclfError(f"trainer.patience must be >= 1 or null (no early stopping), got {tc.patience}.")
    if str(tc.get("precision", "32")) not in PRECISIONS:
        raise TextclfError(f"trainer.precision must be 32, bf16 or 16, got {tc.precision!r}.")
    if tc.get("grad_clip_scope", "global") not in CLIP_SCOPES:
        raise TextclfError(f"trainer.grad_clip_scope must be one of {', '.join(CLIP_SCOPES)}, got {tc.grad_clip_scope!r}.")
    if tc.loss_reduction not in ("mean", "sum"):
        raise TextclfError(f"trainer.loss_reduction must be mean or sum, got {tc.loss_reduction!r}.")
    if not tc.monitor.startswith("val_"):
        raise TextclfError(f"trainer.monitor must be a validation metric (val_acc, val_loss, val_macro_f1), got {tc.monitor}.")


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


def train(cfg: DictConfig, run_dir: str | Path, dist: Distributed | None = None) -> dict[str, Any]:
    """Train as configured, writing checkpoints, logs and the test report into ``run_dir``.

    With ``trainer.restarts=N`` (N > 1), N models are trained from seeds seed .. seed+N-1 in
    ``restart_<i>/`` folders and the one with the best validation score (``trainer.monitor``, never
    test) becomes the run's result: its best.pt, last.pt, metrics.csv and report/ are copied up.
    Under DDP (``dist``) only rank 0 returns results; the other ranks return an empty dict.
    """
    dist = dist or Distributed(False)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tc = cfg.trainer
    check_trainer_config(tc)
    device = dist.device or resolve_device(tc.device)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    # Under DDP every rank prepares the same data itself (deterministic, and the files are written
    # atomically), which is simpler than shipping tensors between ranks and costs seconds.
    data = prepare(build_source(cfg.data), **cfg.tokenizer, with_memory=reads_memory(cfg))
    if tc.restarts == 1:
        results = fit(cfg, data, run_dir, cfg.seed, device, dist)
    else:
        results = best_of_restarts(cfg, data, run_dir, device, dist)
    if not dist.is_main:
        return results
    write_json(run_dir / "results.json", results)
    log.info("test acc %.4f | macro-F1 %.4f | results in %s", results["test_acc"], results["test_macro_f1"], run_dir)
    if "mean_error" in results:
        log.info("bAbI mean error %.2f %% | failed tasks: %s", results["mean_error"], results["failed_tasks"] or "none")
    return results


def best_of_restarts(cfg: DictConfig, data: PreparedData, run_dir: Path, device: torch.device, dist: Distributed) -> dict[str, Any]:
    if cfg.get("ckpt_path"):
        raise TextclfError(
            "ckpt_path resumes a single run; with trainer.restarts > 1 resume the whole set with trainer.resume=true "
            "and the same hydra.run.dir as the interrupted run."
        )
    stopper = EarlyStopping(cfg.trainer.monitor, patience=None)
    runs = []
    for restart in range(cfg.trainer.restarts):
        seed = cfg.seed + restart
        restart_dir = run_dir / f"restart_{restart}"
        done = restart_dir / "results.json"
        # Rank 0 decides for all: the other ranks' folders are scratch ones.
        if dist.broadcast(bool(cfg.trainer.get("resume")) and done.is_file()):
            log.info("restart %d/%d (seed %d) finished earlier: %s", restart + 1, cfg.trainer.restarts, seed, done)
            results = json.loads(done.read_text()) if dist.is_main else {}
        else:
            log.info("restart %d/%d (seed %d)", restart + 1, cfg.trainer.restarts, seed)
            results = fit(cfg, data, restart_dir, seed, device, dist)
            if dist.is_main:
                write_json(done, results)
        if not dist.is_main:
            continue
        runs.append({"restart": restart, "seed": seed, **{k: v for k, v in results.items() if isinstance(v, (int, float))}})
        if stopper.update(results, restart):
            chosen = results
    if not dist.is_main:
        return {}
    best = stopper.best_epoch  # here: the index of the best restart
    log.info("best restart by %s: %d (seed %d)", cfg.trainer.monitor, best, cfg.seed + best)
    source = run_dir / f"restart_{best}"
    for name in ("best.pt", "last.pt", "metrics.csv"):
        shutil.copy2(source / name, run_dir / name)
    shutil.copytree(source / "report", run_dir / "report", dirs_exist_ok=True)
    pd.DataFrame(runs).to_csv(run_dir / "restarts.csv", index=False)
    total = sum(run["train_seconds"] for run in runs)
    return {**chosen, "restart": best, "restarts": len(runs), "train_seconds": round(total, 2)}


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


def train_one_epoch(
    model, batches, optimizer, precision: Precision, clip, epoch, progress, reduction: str = "mean",
    dist: Distributed | None = None, noise: GradientNoise | None = None,
) -> dict[str, float]:
    """One pass over the training batches. ``reduction="sum"`` sums the loss over the batch instead
    of averaging it, as Sukhbaatar et al. (2015) do for MemN2N ("cost is not averaged over a
    batch"), which their learning rates and clipping threshold assume. Under DDP the loss and
    accuracy are summed over all ranks, so every rank reports (and decides on) the same numbers.
    ``clip(params)`` clips the gradients (or None); ``noise`` adds annealed gradient noise, counted in
    global steps from the first epoch."""
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
            loss = F.cross_entropy(logits.float(), batch.labels, reduction=reduction)
        if step % 25 == 0:  # one sync every 25 steps: cheap, and catches NaN before it is applied
            value = loss.item()
            check_finite(value, f"at epoch {epoch}, step {step}")
            bar.set_postfix(loss=f"{value:.4f}")
        clear_gradients(params)
        add_noise = None
        if noise:
            global_step = (epoch - 1) * len(batches) + step
            add_noise = functools.partial(noise.add, step=global_step)
        precision.backward_and_step(loss, optimizer, params, clip, add_noise)
        total_loss += loss.detach() * (len(batch) if reduction == "mean" else 1)
        correct += (logits.detach().argmax(dim=1) == batch.labels).sum()
        seen += len(batch)
    sums = [float(total_loss), float(correct), float(seen)]
    total, right, count = dist.sum(sums) if dist is not None else sums
    mean_loss = total / max(count, 1)
    check_finite(mean_loss, f"during epoch {epoch}")
    return {"train_loss": mean_loss, "train_acc": right / max(count, 1)}


def evaluate_split(
    model, split: EncodedSplit, data: PreparedData, prefix: str, batch_size: int, device: torch.device,
    precision: Precision | None = None, dist: Distributed | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of ``model`` on one split, prefixed (``val_acc``...), and its probabilities.

    Under DDP each rank scores every world_size-th example and the probabilities are summed into
    one matrix (each row comes from exactly one rank), so all ranks get the full-split metrics."""
    full, rows = split, None
    if dist is not None and dist.enabled:
        split, rows = dist.shard(full)
    with precision.autocast() if precision is not None else contextlib.nullcontext():
        prob, loss = predict_proba(model, BatchIterator(split, batch_size, device=device))
    if rows is not None:
        gathered = torch.zeros((len(full), prob.shape[1]), dtype=torch.float32)
        gathered[rows] = torch.from_numpy(prob)
        prob = dist.sum_tensor(gathered).numpy()
        (loss_sum,) = dist.sum([loss * len(rows)])
        loss = loss_sum / len(full)
    group = None if full.group is None else full.group.numpy()
    metrics = summarize(prob, full.labels.numpy(), group, data.groups)
    metrics["loss"] = loss
    return {f"{prefix}_{k}": v for k, v in metrics.items()}, prob


def fit(
    cfg: DictConfig, data: PreparedData, run_dir: Path, seed: int, device: torch.device, dist: Distributed | None = None,
) -> dict[str, Any]:
    """One training run from one seed: the loop, checkpoints, then the best model on test.

    Resumes from a last.pt when asked (see textclf/resume.py). Under DDP every rank trains; only
    rank 0 writes files and scores the test split, and the other ranks return an empty dict."""
    dist = dist or Distributed(False)
    main = dist.is_main
    run_dir.mkdir(parents=True, exist_ok=True)
    tc = cfg.trainer
    seed_everything(seed, tc.deterministic)
    model = build_model(cfg, len(data.vocab), len(data.labels), data.vocab.label_ids(data.labels))
    if "path" in cfg.embedding.keys():  # `in cfg.embedding` is False while the value is still ???
        if OmegaConf.is_missing(cfg.embedding, "path"):
            raise TextclfError("embedding=pretrained needs the vectors file: add embedding.path=FILE (.txt, .vec or .npz).")
        load_pretrained(model.embedding, cfg.embedding.path, data.vocab)
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model: %s | %d trainable parameters | device %s", cfg.model.name, n_params, device)
    optimizer = instantiate(cfg.optimizer)(params=[p for p in model.parameters() if p.requires_grad])
    scheduler = make_scheduler(cfg, optimizer)
    precision = Precision(tc.get("precision", "32"), device)
    linear = LinearStart(cfg, model)
    stopper = EarlyStopping(tc.monitor, tc.patience)
    description = run_description(cfg, data)
    metrics_path = run_dir / "metrics.csv"

    start_epoch, elapsed = 0, 0.0
    checkpoint = resume_checkpoint(cfg, run_dir, description, dist)
    if checkpoint is not None:
        state = checkpoint["training_state"]
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when the run had no float16 loss scaling
            precision.scaler.load_state_dict(state["scaler"])
        stopper.load_state_dict(state["early_stopping"])
        linear.load_state_dict(state["linear_start"])
        start_epoch, elapsed, seed = checkpoint["epoch"], state["train_seconds"], state["seed"]
        set_rng_state(state["rng"], device)
        log.info("resuming from %s after epoch %d", checkpoint["source"], start_epoch)
    elif main:
        metrics_path.unlink(missing_ok=True)
    if dist.enabled:
        # Ranks draw their own dropout masks and noise (DDP keeps the weights equal anyway).
        torch.manual_seed(seed + 100_003 * dist.rank + start_epoch)

    train_batches = BatchIterator(
        data.encoded["train"], tc.batch_size, shuffle=True, seed=seed, device=device,
        pool_batches=positive_int(tc.get("pool_batches", 50), "trainer.pool_batches"),
        rank=dist.rank, world_size=dist.world_size,
    )
    train_batches.epoch = start_epoch  # the shuffle of epoch e depends on seed + e only
    noise = GradientNoise(tc.get("grad_noise", 0.0) or 0.0, seed)
    clip = None
    if tc.grad_clip:
        clip = functools.partial(clip_gradients, max_norm=tc.grad_clip, scope=tc.get("grad_clip_scope", "global"))
    train_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(tc.get("find_unused_parameters", False)),
        )
        if len(train_batches) == 0 or len(data.encoded["val"]) < dist.world_size:
            raise TextclfError(
                f"too little data for {dist.world_size} processes: {len(train_batches)} training batches each and "
                f"{len(data.encoded['val'])} validation examples, and every process needs at least one of each. "
                "Lower --nproc_per_node or trainer.batch_size."
            )

    writer = None
    if tc.tensorboard and main:
        from torch.utils.tensorboard import SummaryWriter  # imported here: it is slow to import

        # purge_step drops events a killed run logged past its last checkpoint.
        writer = SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=start_epoch + 1 if start_epoch else None)
    # Worked out from the current patience, so a resumed run may be extended past an early stop.
    finished = stopper.should_stop
    if start_epoch and (finished or start_epoch >= tc.max_epochs):
        log.info("the run had finished at epoch %d: scoring its best model only", start_epoch)
    started = time.perf_counter()
    epoch = start_epoch
    epochs = range(start_epoch + 1, tc.max_epochs + 1) if not finished else range(0)
    for epoch in epochs:
        epoch_start = time.perf_counter()
        with linear.scaled_lr(optimizer) as lr_factor:
            row = {"epoch": epoch, **train_one_epoch(
                train_model, train_batches, optimizer, precision, clip, epoch, tc.progress and main, tc.loss_reduction, dist,
                noise,
            )}
        val_metrics, _ = evaluate_split(model, data.encoded["val"], data, "val", tc.eval_batch_size, device, precision, dist)
        row.update({k: v for k, v in val_metrics.items() if isinstance(v, float)})
        row["lr"] = optimizer.param_groups[0]["lr"] * lr_factor  # the rate this epoch trained at
        row["linear_start"] = int(linear.on)
        row["seconds"] = round(time.perf_counter() - epoch_start, 3)
        improved = stopper.update(row, epoch)
        if main:
            # The weights as validated (before linear start may switch the model's kind below).
            payload = checkpoint_payload(description, model, row, epoch)
            append_csv(metrics_path, row)
            if writer is not None:
                for key, value in row.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, epoch)
        log.info(
            "epoch %d | train loss %.4f acc %.4f | val loss %.4f acc %.4f | lr %.3g | %.1fs%s%s",
            epoch, row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"], row["lr"], row["seconds"],
            " | linear" if linear.on else "", " | best" if improved else "",
        )
        if linear.update(row["val_loss"], epoch):
            # The softmax is back: the model changed kind, so best.pt is selected from here on.
            stopper = EarlyStopping(tc.monitor, tc.patience)
            log.info("linear start ends after epoch %d: softmax restored", epoch)
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(row["val_loss"])
            else:
                scheduler.step()
        finished = stopper.should_stop
        if main:
            # Saved after this epoch's every update, so a resumed run starts exactly where this one
            # is now; last.pt before best.pt, so a kill between them is repaired on resume
            # (resume.repair_best) instead of leaving a best.pt the history does not know.
            training_state = {
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": precision.scaler.state_dict(),
                "early_stopping": stopper.state_dict(),
                "linear_start": linear.state_dict(),
                "train_seconds": elapsed + time.perf_counter() - started,
                "seed": seed,
                "rng": rng_state(device),
            }
            save_checkpoint(run_dir / "last.pt", {**payload, "optimizer": optimizer.state_dict(), "training_state": training_state})
            if improved:
                save_checkpoint(run_dir / "best.pt", payload)
        if finished:
            log.info("early stop: %s has not improved for %d epochs", tc.monitor, tc.patience)
            break
    train_seconds = elapsed + time.perf_counter() - started
    if writer is not None:
        writer.close()
    if not main:
        return {}

    best = load_checkpoint(run_dir / "best.pt")
    model.load_state_dict(best["state_dict"])
    # Scored in float32, as `textclf.evaluate` scores it, whatever precision trained it.
    val_metrics, _ = evaluate_split(model, data.encoded["val"], data, "val", tc.eval_batch_size, device)
    test_metrics, test_prob = evaluate_split(model, data.encoded["test"], data, "test", tc.eval_batch_size, device)
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
        "world_size": dist.world_size,
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
    dist = Distributed(bool(cfg.trainer.get("distributed", False)), cfg.trainer.device)
    if not dist.is_main:  # the other ranks train silently; rank 0 logs and writes for all
        logging.getLogger("textclf").setLevel(logging.WARNING)
    try:
        results = train(cfg, run_dir, dist)
        if not dist.is_main:
            return math.nan
    except TextclfError as err:
        if hydra_cfg.mode != RunMode.MULTIRUN or debug_requested():
            raise
        # In a sweep, one bad job must not stop the others: record why it failed and move on.
        log.error("job %s failed: %s", hydra_cfg.job.num, err)
        write_json(run_dir / "failed.json", {"error": str(err), "overrides": list(hydra_cfg.overrides.task)})
        return math.nan
    finally:
        dist.close()
    metric = cfg.get("optimized_metric")
    if metric is None:
        return results.get("val_acc", math.nan)
    if metric not in results:
        raise TextclfError(f"optimized_metric={metric} is not in results; choose one of {sorted(results)}.")
    return results[metric]
