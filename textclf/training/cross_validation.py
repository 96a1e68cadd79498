"""`data.folds=K`: K models, each trained with one fold of the training data as validation
(data/folds.py), each in its own run folder (``fold_0/`` ..), then one table of them with the mean
and spread (folds.csv, folds.md) and a results.json of means, so a sweep over settings compares
cross-validated scores. Test is never used to choose anything: each fold's model is scored on the
one test set, and the test figures are averaged like the validation ones.

`data.fold=I` (with data.folds=K) trains fold I alone: ``-m data.fold=0,1,2,3,4`` runs the folds as
jobs of a sweep, in parallel with a launcher.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from textclf.core.atomic import atomic_write

log = logging.getLogger("textclf.train")

# Figures kept per fold and averaged: the model's, the baseline's, and how long it took.
SCORES = ("val_", "test_", "baseline_val_", "baseline_test_")


def cross_validate(cfg: DictConfig, run_dir: Path, train_fold: Callable[[DictConfig, Path], dict[str, Any]], main: bool) -> dict[str, Any]:
    """Train every fold with ``train_fold(cfg, folder)`` into ``run_dir/fold_<i>``; on the main
    process, write folds.csv / folds.md and return the means (each with its ``_std``)."""
    folds, rows = cfg.data.folds, []
    for fold in range(folds):
        folder = run_dir / f"fold_{fold}"
        done = folder / "results.json"
        if cfg.trainer.resume and done.is_file():  # a resumed cross-validation keeps the folds it finished
            log.info("fold %d of %d finished earlier: %s", fold + 1, folds, done)
            results = json.loads(done.read_text())
        else:
            log.info("fold %d of %d", fold + 1, folds)
            fold_cfg = OmegaConf.merge(cfg, {"data": {"fold": fold}})
            results = train_fold(fold_cfg, folder)
        if main:
            rows.append({"fold": fold, **{k: v for k, v in results.items() if k.startswith(SCORES) and is_figure(v)},
                         "epochs": results["epochs"], "train_seconds": results["train_seconds"]})
    if not main:
        return {}
    frame = pd.DataFrame(rows)
    atomic_write(run_dir / "folds.csv", lambda fh: fh.write(frame.to_csv(index=False).encode("utf-8")))
    summary = {"model": results["model"], "data": results["data"].rsplit(", fold ", 1)[0], "folds": folds}
    for column in frame.columns.drop("fold"):
        summary[column] = float(frame[column].mean())
        summary[f"{column}_std"] = float(frame[column].std(ddof=1))
    atomic_write(run_dir / "folds.md", lambda fh: fh.write(folds_table(frame, summary).encode("utf-8")))
    return summary


def is_figure(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def folds_table(frame: pd.DataFrame, summary: dict[str, Any]) -> str:
    """folds.md: one row per fold and a last row of mean ± standard deviation (over folds, n-1)."""
    key = "micro_f1" if "val_micro_f1" in frame.columns else "acc"
    columns = [c for c in (f"val_{key}", f"test_{key}", "val_macro_f1", "test_macro_f1", f"baseline_test_{key}", "epochs") if c in frame.columns]
    lines = [f"# {summary['model']} on {summary['data']}: {summary['folds']}-fold cross-validation", "",
             "| fold | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append(f"| {int(row['fold'])} | " + " | ".join(cell(column, row[column]) for column in columns) + " |")
    lines.append("| mean ± sd | " + " | ".join(f"{cell(c, summary[c])} ± {cell(c, summary[c + '_std'])}" for c in columns) + " |")
    return "\n".join(lines) + "\n"


def cell(column: str, value: float) -> str:
    return f"{value:.1f}" if column == "epochs" else f"{100 * value:.1f}"
