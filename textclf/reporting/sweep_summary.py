"""One table for a whole Hydra multirun or search: `summary.csv` and `summary.md` in its folder.

Registered as a Hydra callback in conf/train.yaml, so it runs when `python -m textclf -m ...` ends,
and written by a search (experiments/search.py) when it ends, a pruned trial's row saying so:
one row per job with its overrides and the scalar metrics of its results.json (the baseline's
beside the model's), sorted by ``optimized_metric``; a job that failed (failed.json) or never finished has a row saying so. When
every job trained on one distinct bAbI task (experiment=babi1k_memn2n_single), their per-task
errors are also combined into per_task_errors.md/.csv in the paper's layout.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from pandas.api.types import is_numeric_dtype

from textclf.reporting.metrics import FAILED_ERROR
from textclf.reporting.report import write_task_table

log = logging.getLogger(__name__)

SKIPPED_OVERRIDES = ("hydra.", "trainer.progress", "trainer.num_threads")


def job_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job folder (named by its number), its overrides reduced to those that differ
    between jobs: the ones every job shares (a search's data and fixed settings) say nothing about a row."""
    rows = []
    job_dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    for job_dir in sorted(job_dirs, key=lambda p: int(p.name)):
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        overrides = []
        if overrides_file.is_file():
            overrides = [o for o in yaml.safe_load(overrides_file.read_text()) or [] if not o.startswith(SKIPPED_OVERRIDES)]
        row: dict[str, Any] = {"job": int(job_dir.name), "overrides": " ".join(overrides)}
        if (job_dir / "results.json").is_file():
            results = json.loads((job_dir / "results.json").read_text())
            row["status"] = "ok"
            row.update({k: v for k, v in results.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)})
            row["_per_task"] = results.get("per_task")
        elif (job_dir / "pruned.json").is_file():  # a search's trial stopped by its pruner (experiments/search.py)
            pruned = json.loads((job_dir / "pruned.json").read_text())
            row["status"] = f"pruned after epoch {pruned['epoch']}"
            row.update({"epochs": pruned["epoch"], **{k: v for k, v in pruned.items() if k.startswith("val_")}})
        elif (job_dir / "failed.json").is_file():
            row["status"] = "failed: " + json.loads((job_dir / "failed.json").read_text())["error"]
        else:
            row["status"] = "did not finish (see its log)"
        rows.append(row)
    shared = set.intersection(*(set(row["overrides"].split()) for row in rows)) if len(rows) > 1 else set()
    for row in rows:
        row["overrides"] = " ".join(item for item in row["overrides"].split() if item not in shared)
    return rows


def write_summary(sweep_dir: Path, metric: str | None) -> pd.DataFrame | None:
    rows = job_rows(sweep_dir)
    if not rows:
        return None
    per_task = [row.pop("_per_task", None) for row in rows]
    frame = pd.DataFrame(rows)
    if metric and metric in frame.columns:
        lower_is_better = metric.endswith(("loss", "error"))
        frame = frame.sort_values(metric, ascending=lower_is_better, na_position="last", kind="stable")
    frame.to_csv(sweep_dir / "summary.csv", index=False)
    shown = [c for c in ("job", "overrides", "status", metric, "val_acc", "test_acc", "test_macro_f1", "mean_error",
                         "baseline_val_acc", "baseline_test_acc", "epochs", "train_seconds") if c and c in frame.columns]
    shown = list(dict.fromkeys(shown))
    lines = [f"# Sweep summary ({len(frame)} jobs, sorted by {metric})", "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for _, row in frame[shown].iterrows():
        cells = [f"{v:.4f}" if isinstance(v, float) and not math.isnan(v) else ("" if isinstance(v, float) else str(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    if len(frame) > 1 and frame["overrides"].str.fullmatch(r"data\.fold=\d+").all():  # the folds of one cross-validation
        spread = [f"{frame[c].mean():.4f} ± {frame[c].std(ddof=1):.4f}" if c in frame and is_numeric_dtype(frame[c]) and c != "job" else "" for c in shown]
        lines.append("| " + " | ".join(["mean ± sd", *spread[1:]]) + " |")
    (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")
    combine_single_task_tables(sweep_dir, per_task)
    return frame


def combine_single_task_tables(sweep_dir: Path, per_task: list[dict | None]) -> None:
    """Jobs that each trained and tested one bAbI task -> one table over all of them."""
    tables = [t for t in per_task if t]
    if len(tables) < 2 or any(len(t) != 1 for t in tables):
        return
    combined = {task: error for t in tables for task, error in t.items()}
    if len(combined) != len(tables):
        return  # several jobs per task (a grid): no single number per task to show
    combined = dict(sorted(combined.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0]))
    errors = list(combined.values())
    metrics = {
        "per_task": combined,
        "mean_error": round(sum(errors) / len(errors), 2),
        "failed_tasks": [t for t, e in combined.items() if e > FAILED_ERROR],
    }
    # No paper column: the one textclf keeps is the paper's *joint* model, not comparable here.
    write_task_table(metrics, sweep_dir, "Per-task test error, one model per task", compare_to_paper=False)


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        frame = write_summary(sweep_dir, config.get("optimized_metric"))
        if frame is not None:
            log.info("sweep summary: %s", sweep_dir / "summary.md")
