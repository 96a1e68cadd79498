"""A training run, from a composed config to a run folder: the command `python -m textclf`
(textclf/commands/train.py) and the notebook function `textclf.train(overrides)`
(`train_from_overrides`) both start here, and so does every trial of a search.

A plain loop you can read top to bottom (nanoGPT style): `train` takes the run folder, `train_all`
trains once or once per fold (data.folds), `train_in_folder` takes a parent model's architecture
(init_from) and prepares the data once, then for each seed `train_seed`: set up the model and its
optimizer (training/setup.py) or resume them (training/resume.py), `run_epochs` (train, validate,
checkpoint, maybe stop early), and `score_best`: the best model on test, with the report. What
every step reads travels in one `Run`. The inner loop is training/loop.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from textclf import __version__
from textclf.core.atomic import atomic_write
from textclf.core.config_rules import check_config
from textclf.core.errors import TextclfError
from textclf.core.guards import RUN_FILES, RunFolder, refuse_overwriting_inputs
from textclf.data.example import Example, label_text
from textclf.data.pipeline import PreparedData, build_source, label_setting, prepare
from textclf.inference.checkpoint import load_checkpoint, save_checkpoint
from textclf.inference.device import resolve_device
from textclf.inference.loader import LoadedModel
from textclf.models.build import ModelArgs, reads_memory
from textclf.models.registry import part_from_config
from textclf.models.task import Task, tune_thresholds
from textclf.reporting.report import REPORT_FILES, ScoredSplit, write_json, write_report
from textclf.reporting.summary import baseline_line, beside_baseline
from textclf.training.baseline import baseline_results
from textclf.training.continued import adopt_parent, parent_record
from textclf.training.cross_validation import cross_validate
from textclf.training.distributed import Distributed
from textclf.training.lm_pretrain import pretrain_language_model
from textclf.training.loop import Scoring, append_csv, evaluate_split, train_one_epoch
from textclf.training.resume import capture_state, restore_state, resume_checkpoint
from textclf.training.setup import Training, data_parallel, setup_training, training_batches
from textclf.training.signals import Interrupted, held
from textclf.training.sparse import refuse_combinations
from textclf.training.stopping import EarlyStopping, monitored_metric
from textclf.training.tracking import Tracker, open_tracker

log = logging.getLogger("textclf.train")

EpochCallback = Callable[[dict[str, Any]], None]


class StopRun(Exception):
    """Raised by an `on_epoch` callback to end a run on purpose (a search's pruned trial): the run
    folder keeps what was saved, and a tracker marks the run stopped rather than failed."""


def stored_config(cfg: DictConfig) -> str:
    """The resolved config as YAML, with the data folder made absolute so that evaluation and
    prediction find the data from any working directory."""
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if "root" in resolved.data:
        resolved.data.root = os.path.abspath(Path(resolved.data.root).expanduser())  # not resolve(): a link loop has no target
    return OmegaConf.to_yaml(resolved)


def run_description(run: Run) -> dict[str, Any]:
    """What every checkpoint of a run shares (tokenizer, labels, config, the model and dataset by
    registry name and arguments, the data's one-line description, the baseline's scores, a few
    validation examples to show, when training started (a resumed run: when it resumed)):
    built once per run, not per epoch, since serialising a 15k-word tokenizer is not free.
    Loading rebuilds the model from ``model_args`` and the dataset from ``data_source``, so that
    moving a class to another module breaks no checkpoint (models/registry.py). A continued run
    (init_from) records its parent."""
    cfg, data, baseline = run.cfg, run.data, run.baseline
    config = stored_config(cfg)
    # From the stored config, whose data.root is absolute, so evaluation finds the data from anywhere;
    # with the task's multi_label for readers that take it, so that the entry says how to read the data.
    source = part_from_config("data", OmegaConf.create(config).data)
    source.args.update(label_setting(cfg.data, cfg.task.multi_label))
    if "streaming" in source.args:  # a table: whether it was streamed, not "auto", so that evaluation reads it alike
        source.args["streaming"] = data.shards is not None
    return {
        "tokenizer": data.vocab.to_json(),
        "labels": list(data.labels),
        "groups": list(data.groups),
        "encoding": data.encoding.settings(),
        "config": config,
        "model_args": ModelArgs.from_config(cfg).to_checkpoint(),
        "data_source": asdict(source),
        "synthetic": data.splits.synthetic,
        "data_description": data.splits.description,
        "data_files": data.fingerprint,
        "baseline": baseline,
        "examples": showcase(data.splits.val),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parent": parent_record(run.parent),
    }


SHOWCASE_COUNT, SHOWCASE_PER_LABEL, SHOWCASE_CHARS = 6, 2, 200


def showcase(examples: list[Example]) -> list[dict[str, str]]:
    """Up to six short validation inputs with their gold labels, for the server's page to offer:
    the model's own kind of text beats a made-up one. Taken label by label (the first short one
    of each label in file order, then a second), so that one frequent class does not fill them
    all, and the same every run."""
    by_label: dict[str, list[dict[str, str]]] = {}
    for ex in examples:
        text, label = showcase_text(ex), label_text(ex.label)
        found = by_label.setdefault(label, [])
        if text.strip() and len(text) <= SHOWCASE_CHARS and len(found) < SHOWCASE_PER_LABEL:
            found.append({"text": text, "label": label})
    rounds = ([found[i] for found in by_label.values() if i < len(found)] for i in range(SHOWCASE_PER_LABEL))
    return [item for chosen in rounds for item in chosen][:SHOWCASE_COUNT]


def showcase_text(ex: Example) -> str:
    """An example as a server takes it in one string: the text, or a story's numbered lines
    ending with its question (the format `textclf.predict` reads)."""
    lines = [*ex.context, ex.text]
    return "\n".join(f"{number} {line}" for number, line in enumerate(lines, start=1)) if ex.context else ex.text


def checkpoint_payload(description: dict[str, Any], model: torch.nn.Module, metrics: dict, epoch: int, task: Task) -> dict[str, Any]:
    """One epoch's checkpoint: the run's description, the weights as validated, their metrics, and
    for a multi-label model the thresholds it decides with, so best.pt is complete when written."""
    payload = {
        **description,
        "state_dict": {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in model.state_dict().items()},
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
        "epoch": epoch,
    }
    if task.multi_label:
        payload["thresholds"] = list(task.thresholds)
    return payload


def train(cfg: DictConfig, run_dir: str | Path, dist: Distributed | None = None, on_epoch: EpochCallback | None = None) -> dict[str, Any]:
    """Train as configured, writing checkpoints, logs and the test report into ``run_dir``.
    ``on_epoch(row)`` is called with each epoch's metrics.csv row once its checkpoints are saved
    (a search reports it to Optuna there, and stops a pruned trial by raising).

    With ``trainer.restarts=N`` (N > 1), N models are trained from seeds seed .. seed+N-1 in
    ``restart_<i>/`` folders and the one with the best validation score (``trainer.monitor``, never
    test) becomes the run's result: its best.pt, last.pt, metrics.csv and report/ are copied up.
    With ``data.folds=K`` (and no ``data.fold``), K runs in ``fold_<i>/``, one per fold, and their
    means (training/cross_validation.py). Under DDP (``dist``) only rank 0 returns results; the
    other ranks return an empty dict.
    """
    dist = dist or Distributed(False)
    run_dir = Path(run_dir)
    tc = cfg.trainer
    check_config(cfg)
    refuse_combinations(cfg)  # model.sparse with settings that need dense gradients: before any data is read
    if not dist.is_main:  # rank 0 owns the run folder; the others write to scratch ones
        return train_all(cfg, run_dir, dist, on_epoch)
    continuing = bool(tc.resume) or bool(cfg.ckpt_path)
    with RunFolder(run_dir, continuing, overwrite=bool(tc.overwrite)):
        return train_all(cfg, run_dir, dist, on_epoch)


def train_all(cfg: DictConfig, run_dir: Path, dist: Distributed, on_epoch: EpochCallback | None) -> dict[str, Any]:
    """The run in its folder: one training, or with data.folds=K one per fold and their means."""
    if cfg.data.folds is None or cfg.data.fold is not None:
        return train_in_folder(cfg, run_dir, dist, on_epoch)
    if cfg.ckpt_path:
        raise TextclfError("ckpt_path resumes a single run; resume a cross-validation with trainer.resume=true and the "
                           "same hydra.run.dir as the interrupted run.")
    results = cross_validate(cfg, run_dir, lambda fold_cfg, folder: train_in_folder(fold_cfg, folder, dist, on_epoch), dist.is_main)
    if dist.is_main:
        write_json(run_dir / "results.json", results)
        key = "micro_f1" if "val_micro_f1" in results else "acc"
        log.info("%d-fold cross-validation: val %s %.4f ± %.4f | test %s %.4f ± %.4f | folds.md in %s", results["folds"], key,
                 results[f"val_{key}"], results[f"val_{key}_std"], key, results[f"test_{key}"], results[f"test_{key}_std"], run_dir)
    return results


def run_files(run_dir: Path) -> list[Path]:
    """What a training run writes into its folder (restarts write the same into restart_<i>/)."""
    return [run_dir / name for name in (*RUN_FILES, "train.log")] + [run_dir / "report" / name for name in REPORT_FILES]


@dataclass
class Run:
    """What every step of one training run reads: the config, the prepared data, the device, the
    processes (DDP or one), and the baseline's entries, fitted once before the model
    (training/baseline.py; stored in checkpoints and results, shown in the report). The folder and
    the seed are not here: each restart has its own."""

    cfg: DictConfig
    data: PreparedData
    device: torch.device
    dist: Distributed
    baseline: dict[str, Any]
    on_epoch: EpochCallback | None = None
    tracker: Tracker = field(default_factory=Tracker)  # logger=mlflow: each epoch and the results to a store too
    parent: LoadedModel | None = None  # init_from: the trained model this run starts from


def train_in_folder(cfg: DictConfig, run_dir: Path, dist: Distributed, on_epoch: EpochCallback | None) -> dict[str, Any]:
    """`train` once the run folder is this run's."""
    cfg, parent = adopt_parent(cfg)  # init_from: the parent's architecture and vocabulary (training/continued.py)
    tc = cfg.trainer
    device = dist.device or resolve_device(tc.device)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    # Under DDP every rank prepares the same data itself (deterministic, and the files are written
    # atomically), which is simpler than shipping tensors between ranks and costs seconds.
    source = build_source(cfg.data, cfg.task.multi_label)
    if dist.is_main:  # hydra.run.dir=DATA_FOLDER: the run's files must not replace the data's
        refuse_overwriting_inputs(run_files(run_dir), source.files(), "Train into another folder (hydra.run.dir=DIR).")
    data = prepare(source, cfg.tokenizer, with_memory=reads_memory(cfg), parent=parent.encoding if parent else None)
    # The baseline is fitted before the model, once for all restarts: seconds, and its log line comes first.
    run = Run(cfg, data, device, dist, baseline_results(cfg, data) if dist.is_main else {}, on_epoch, open_tracker(cfg, run_dir, dist.is_main), parent)
    try:
        results = train_seed(run, run_dir, cfg.seed) if tc.restarts == 1 else best_of_restarts(run, run_dir)
    except BaseException as err:  # the tracker's run says how it ended; the error goes on
        run.tracker.fail(stopped=isinstance(err, (Interrupted, StopRun, KeyboardInterrupt)))
        raise
    if not dist.is_main:
        return results
    write_json(run_dir / "results.json", results)
    run.tracker.finish(results, run_dir)
    log.info("test acc %.4f | macro-F1 %.4f | results in %s", results["test_acc"], results["test_macro_f1"], run_dir)
    if baseline_line(results):
        log.info("%s", beside_baseline(results))
    if "mean_error" in results:
        log.info("bAbI mean error %.2f %% | failed tasks: %s", results["mean_error"], results["failed_tasks"] or "none")
    return results


def best_of_restarts(run: Run, run_dir: Path) -> dict[str, Any]:
    cfg, dist = run.cfg, run.dist
    if cfg.ckpt_path:
        raise TextclfError(
            "ckpt_path resumes a single run; with trainer.restarts > 1 resume the whole set with trainer.resume=true "
            "and the same hydra.run.dir as the interrupted run."
        )
    stopper = EarlyStopping(monitored_metric(cfg.trainer.monitor, run.data.encoding.multi_label), patience=None)
    runs = []
    for restart in range(cfg.trainer.restarts):
        seed = cfg.seed + restart
        restart_dir = run_dir / f"restart_{restart}"
        done = restart_dir / "results.json"
        # Rank 0 decides for all: the other ranks' folders are scratch ones.
        if dist.broadcast(bool(cfg.trainer.resume) and done.is_file()):
            log.info("restart %d/%d (seed %d) finished earlier: %s", restart + 1, cfg.trainer.restarts, seed, done)
            results = json.loads(done.read_text()) if dist.is_main else {}
        else:
            log.info("restart %d/%d (seed %d)", restart + 1, cfg.trainer.restarts, seed)
            results = train_seed(run, restart_dir, seed)
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
    log.info("best restart by %s: %d (seed %d)", stopper.monitor, best, cfg.seed + best)
    source = run_dir / f"restart_{best}"
    for name in ("best.pt", "last.pt", "metrics.csv"):
        shutil.copy2(source / name, run_dir / name)
    shutil.copytree(source / "report", run_dir / "report", dirs_exist_ok=True)
    pd.DataFrame(runs).to_csv(run_dir / "restarts.csv", index=False)
    total = sum(row["train_seconds"] for row in runs)
    return {**chosen, "restart": best, "restarts": len(runs), "train_seconds": round(total, 2)}


def train_seed(run: Run, run_dir: Path, seed: int) -> dict[str, Any]:
    """One training run from one seed into ``run_dir``: set up (or resume), train the epochs, score
    the best model.

    Under DDP every rank trains; only rank 0 writes files and scores the test split, and the
    other ranks return an empty dict."""
    cfg, data, device, dist = run.cfg, run.data, run.device, run.dist
    run_dir.mkdir(parents=True, exist_ok=True)
    training = setup_training(cfg, data, device, seed, run.parent.model.state_dict() if run.parent else None)
    log.info("model: %s | %d trainable parameters | device %s", cfg.model.name, training.parameters, device)
    description = run_description(run)
    start_epoch, elapsed = 0, 0.0
    checkpoint = resume_checkpoint(cfg, run_dir, description, dist)
    if checkpoint is not None:
        start_epoch, elapsed = restore_state(training, checkpoint, device)
        log.info("resuming from %s after epoch %d", checkpoint["source"], start_epoch)
    else:
        if dist.is_main:
            (run_dir / "metrics.csv").unlink(missing_ok=True)
        if cfg.pretrain.kind == "lm":  # every rank alike: the same seed gives the same weights
            elapsed = pretrain_language_model(cfg.pretrain, data, training.model, device, seed)  # counted as training time
    if dist.enabled:
        # Ranks draw their own dropout masks and noise (DDP keeps the weights equal anyway).
        torch.manual_seed(training.seed + 100_003 * dist.rank + start_epoch)
    started = time.perf_counter()
    epoch = run_epochs(run, training, description, run_dir, start_epoch, elapsed)
    train_seconds = elapsed + time.perf_counter() - started
    if not dist.is_main:
        return {}
    return score_best(run, training, run_dir, epoch, round(train_seconds, 2))


def run_epochs(run: Run, training: Training, description: dict[str, Any], run_dir: Path, start_epoch: int, elapsed: float) -> int:
    """Train from ``start_epoch`` until max_epochs or an early stop; returns the last epoch.
    Each epoch: train, validate, log, step the schedules, then save last.pt (and best.pt)."""
    tc, main = run.cfg.trainer, run.dist.is_main
    batches = training_batches(run.cfg, run.data, training, run.device, run.dist, start_epoch)
    train_model = data_parallel(run.cfg, training.model, run.device, run.dist, batches, len(run.data.encoded["val"]))
    writer = tensorboard(run, run_dir, start_epoch)
    # Worked out from the current patience, so a resumed run may be extended past an early stop.
    finished = training.stopper.should_stop
    if start_epoch and (finished or start_epoch >= tc.max_epochs):
        log.info("the run had finished at epoch %d: scoring its best model only", start_epoch)
    started, epoch = time.perf_counter(), start_epoch
    try:  # a pruned trial leaves by an exception: the event file is closed all the same
        for epoch in range(start_epoch + 1, tc.max_epochs + 1) if not finished else range(0):
            row, val_prob = train_and_validate(run, training, train_model, batches, epoch)
            improved = training.stopper.update(row, epoch)
            # The weights as validated (before linear start may switch the model's kind below).
            task = epoch_task(run, training.task, val_prob)
            payload = checkpoint_payload(description, training.model, row, epoch, task) if main else None
            log_epoch(row, improved, training.linear.on, run_dir if main else None, writer)
            run.tracker.epoch(row)
            if training.linear.update(row["val_loss"], epoch):
                # The softmax is back: the model changed kind, so best.pt is selected from here on.
                training.stopper = EarlyStopping(training.stopper.monitor, tc.patience)
                log.info("linear start ends after epoch %d: softmax restored", epoch)
            training.step_scheduler(row["val_loss"])
            if main:
                save_epoch(training, run, run_dir, payload, improved, elapsed + time.perf_counter() - started)
            if run.on_epoch is not None:
                run.on_epoch(row)
            if training.stopper.should_stop:
                log.info("early stop: %s has not improved for %d epochs", training.stopper.monitor, tc.patience)
                break
    finally:
        if writer is not None:
            writer.close()
    return epoch


def train_and_validate(run: Run, training: Training, train_model: torch.nn.Module, batches, epoch: int) -> tuple[dict[str, Any], Any]:
    """One epoch's metrics.csv row: trained (``train_model``: the model, or its DDP wrapper), then
    validated, with the learning rate it trained at and its time; and the validation probabilities."""
    tc = run.cfg.trainer
    epoch_start = time.perf_counter()
    with training.linear.scaled_lr(training.optimizer) as lr_factor:
        row = {"epoch": epoch, **train_one_epoch(train_model, batches, training, epoch, tc.progress and run.dist.is_main, run.dist)}
    scoring = Scoring(tc.eval_batch_size, run.device, training.precision, run.dist)
    val_metrics, val_prob = evaluate_split(training.model, run.data, "val", scoring, training.task)
    row.update({k: v for k, v in val_metrics.items() if isinstance(v, float)})
    row["lr"] = training.optimizer.param_groups[0]["lr"] * lr_factor  # the rate this epoch trained at
    row["linear_start"] = int(training.linear.on)
    row["seconds"] = round(time.perf_counter() - epoch_start, 3)
    return row, val_prob


def epoch_task(run: Run, task: Task, val_prob) -> Task:
    """How this epoch's model decides: multi-label thresholds tuned on its own validation scores
    (task.threshold=tuned: each label's best F1; cheap next to an epoch) or the training task's
    fixed ones. Stored with every checkpoint, so that best.pt is written once and evaluate and
    predict decide as the report does."""
    if not task.multi_label or run.cfg.task.threshold != "tuned":
        return task
    return task.with_thresholds(tune_thresholds(val_prob, run.data.encoded["val"].labels.numpy()))


def save_epoch(training: Training, run: Run, run_dir: Path, payload: dict[str, Any], improved: bool, seconds: float) -> None:
    """last.pt after this epoch's every update, so a resumed run starts exactly where this one is
    now; then best.pt if the epoch improved. last.pt first, so a kill between them is repaired on
    resume (resume.adopt_history) instead of leaving a best.pt the history does not know."""
    state = capture_state(training, seconds, run.device)
    with held():  # a signal now waits for both files (textclf/training/signals.py)
        save_checkpoint(run_dir / "last.pt", {**payload, "optimizer": training.optimizer.state_dict(), "training_state": state})
        if improved:
            save_checkpoint(run_dir / "best.pt", payload)


def tensorboard(run: Run, run_dir: Path, start_epoch: int):
    """A TensorBoard writer into run_dir/tb (rank 0, trainer.tensorboard=true), else None."""
    if not (run.cfg.trainer.tensorboard and run.dist.is_main):
        return None
    from torch.utils.tensorboard import SummaryWriter  # imported here: it is slow to import

    # purge_step drops events a killed run logged past its last checkpoint.
    return SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=start_epoch + 1 if start_epoch else None)


def log_epoch(row: dict[str, Any], improved: bool, linear: bool, run_dir: Path | None, writer) -> None:
    """One epoch's row: to the log, and (rank 0, ``run_dir`` given) to metrics.csv and TensorBoard."""
    if run_dir is not None:
        append_csv(run_dir / "metrics.csv", row)
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(key, value, row["epoch"])
    log.info(
        "epoch %d | train loss %.4f acc %.4f | val loss %.4f acc %.4f | lr %.3g | %.1fs%s%s",
        row["epoch"], row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"], row["lr"], row["seconds"],
        " | linear" if linear else "", " | best" if improved else "",
    )


def score_best(run: Run, training: Training, run_dir: Path, epoch: int, train_seconds: float) -> dict[str, Any]:
    """best.pt on validation and test, the test report (with the baseline's line), and the run's
    results. A multi-label model decides with the thresholds best.pt holds (`epoch_task`)."""
    cfg, data, device = run.cfg, run.data, run.device
    tc, model = cfg.trainer, training.model
    best = load_checkpoint(run_dir / "best.pt")
    model.load_state_dict(best["state_dict"])
    # Scored in float32, as `textclf.evaluate` scores it, whatever precision trained it.
    task = best_task(run, training.task, best)
    val_metrics, _ = evaluate_split(model, data, "val", Scoring(tc.eval_batch_size, device), task)
    test_metrics, test_prob = evaluate_split(model, data, "test", Scoring(tc.eval_batch_size, device), task)
    title = f"{cfg.model.name} on {data.splits.description} (test){' [synthetic data]' if data.splits.synthetic else ''}"
    write_report(
        run_dir / "report",
        ScoredSplit.of(data.splits.test, test_prob, data.encoded["test"], data.labels, data.groups),
        title=title,
        compare_to_paper=data.splits.reference == "babi1k",
        task=task,
        note=baseline_line(run.baseline),
    )
    results: dict[str, Any] = {
        "model": cfg.model.name,
        "data": data.splits.description,
        "synthetic_data": data.splits.synthetic,
        **val_metrics,
        **test_metrics,
        "epochs": epoch,
        "best_epoch": best["epoch"],
        "train_seconds": train_seconds,
        "parameters": training.parameters,
        "seed": training.seed,
        "world_size": run.dist.world_size,
        "textclf_version": __version__,
        **run.baseline,
    }
    if task.multi_label:
        results["thresholds"] = dict(zip(data.labels, task.thresholds))
    for key in ("per_task", "mean_error", "failed_tasks"):  # bAbI contract: unprefixed test figures
        if f"test_{key}" in results:
            results[key] = results.pop(f"test_{key}")
            results.pop(f"val_{key}", None)
    return results


def best_task(run: Run, task: Task, best: dict[str, Any]) -> Task:
    """The task best.pt decides with: its stored thresholds (multi-label), logged when tuned."""
    if not task.multi_label:
        return task
    # A best.pt saved before checkpoints carried thresholds (a run resumed across versions) has none.
    task = task.with_thresholds(best.get("thresholds", task.thresholds))
    if run.cfg.task.threshold == "tuned":
        log.info("thresholds tuned on validation F1: %s", ", ".join(f"{name} {t:.2f}" for name, t in zip(run.data.labels, task.thresholds)))
    return task


def compose_train_config(overrides: list[str]) -> DictConfig:
    """The config `python -m textclf OVERRIDES` runs with, through Hydra's compose API, with Hydra's
    own node (``hydra.run.dir``, ``hydra.runtime.choices``: the option chosen in each group)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    GlobalHydra.instance().clear()  # a notebook may have initialised Hydra before
    try:
        with initialize_config_module("textclf.conf", version_base="1.3"):
            return compose("train", overrides=list(overrides), return_hydra_config=True)
    except HydraException as err:
        raise TextclfError(f"textclf.train({list(overrides)!r}): {err}") from None
    finally:
        GlobalHydra.instance().clear()


def train_from_overrides(overrides: list[str], run_dir: str | Path | None = None, on_epoch: EpochCallback | None = None) -> dict[str, Any]:
    """`textclf.train(overrides)`: compose the config as `python -m textclf OVERRIDES` does (Hydra's
    compose API, conf/train.yaml), train into the same run folder layout (.hydra/config.yaml and
    overrides.yaml, train.log, checkpoints, report/) and return the results."""
    cfg = compose_train_config(overrides)
    folder = Path(run_dir if run_dir is not None else cfg.hydra.run.dir)
    with open_dict(cfg):
        del cfg["hydra"]  # the command line's run has no hydra node in its config either
    check_config(cfg)  # before anything is written
    hydra_dir = folder / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    for name, content in (("config.yaml", cfg), ("overrides.yaml", OmegaConf.create(list(overrides)))):
        atomic_write(hydra_dir / name, lambda fh, text=OmegaConf.to_yaml(content): fh.write(text.encode("utf-8")))
    handler = logging.FileHandler(folder / "train.log")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    package_log = logging.getLogger("textclf")
    package_log.addHandler(handler)
    level = package_log.level
    package_log.setLevel(logging.INFO)
    try:
        return train(cfg, folder, on_epoch=on_epoch)
    finally:
        package_log.removeHandler(handler)
        package_log.setLevel(level)
        handler.close()
