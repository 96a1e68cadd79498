"""The few lines a finished training run ends with on the terminal.

The log has every epoch; this says what came out (model, test accuracy, the per-task table for
bAbI-style data), where the report and its pictures are, and the next commands to try, with this
run's folder filled in, so a first run leads on to evaluation, prediction, explanation and export.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from textclf.data.babi import TASK_NAMES


def headline_key(results: dict[str, Any], prefix: str = "test_") -> str:
    """The score a run is judged by: accuracy, or micro-F1 for multi-label runs."""
    return f"{prefix}micro_f1" if f"{prefix}micro_f1" in results else f"{prefix}acc"


def baseline_line(results: dict[str, Any]) -> str | None:
    """``baseline (tf-idf + logistic regression) 81.2 %, 3 s``: its test score, or None when the
    run has no baseline (baseline=none)."""
    key = headline_key(results, "baseline_test_")
    if key not in results:
        return None
    return f"baseline ({results['baseline']}) {100 * results[key]:.1f} %, {results['baseline_seconds']:.0f} s"


def beside_baseline(results: dict[str, Any]) -> str:
    """``bilstm 85.7 %  |  baseline (...) 89.6 %, 3 s``, and which is ahead on test, in points."""
    model = 100 * results[headline_key(results)]
    line = f"{results['model']} {model:.1f} %  |  {baseline_line(results)}"
    gap = model - 100 * results[headline_key(results, "baseline_test_")]
    if abs(gap) < 0.05:
        return line + "  (level)"
    return line + f"  ({results['model'] if gap > 0 else 'the baseline'} ahead by {abs(gap):.1f} points)"


def shown_folder(run_dir: str | Path) -> Path:
    run = Path(run_dir)
    if run.is_absolute() and run.is_relative_to(Path.cwd()):
        run = run.relative_to(Path.cwd())  # outputs/DATE/TIME reads better than the full path
    return run


def folds_summary(results: dict[str, Any], run_dir: str | Path) -> str:
    """The lines a cross-validation (data.folds=K) ends with: means ± standard deviations over the folds."""
    run, key = shown_folder(run_dir), headline_key(results, "")
    name = "micro-F1" if key == "micro_f1" else "accuracy"
    figure = lambda prefix: f"{100 * results[prefix + key]:.1f} ± {100 * results[prefix + key + '_std']:.1f} %"  # noqa: E731
    lines = ["", f"{results['model']} on {results['data']}: {results['folds']}-fold cross-validation (mean ± sd over the folds)",
             f"  validation {name} {figure('val_')}   test {name} {figure('test_')}"]
    if f"baseline_test_{key}" in results:
        lines.append(f"  baseline test {name} {figure('baseline_test_')}")
    lines += [f"  per fold: {run / 'folds.md'}   each fold's model: {run / 'fold_<i>'}/best.pt",
              "next:", f"  python -m textclf.evaluate ckpt_path={shlex.quote(str(run / 'fold_0'))} split=val"]
    return "\n".join(lines) + "\n"


def run_summary(results: dict[str, Any], run_dir: str | Path) -> str:
    if "folds" in results:
        return folds_summary(results, run_dir)
    run = shown_folder(run_dir)
    shown = shlex.quote(str(run))
    multi_label = "test_micro_f1" in results
    headline = (
        f"  test micro-F1 {100 * results['test_micro_f1']:.1f} %   exact sets {100 * results['test_acc']:.1f} %"
        if multi_label else f"  test accuracy {100 * results['test_acc']:.1f} %"
    )
    lines = [
        "",
        f"{results['model']} on {results['data']}",
        f"{headline}   macro-F1 {100 * results['test_macro_f1']:.1f} %   "
        f"({results['epochs']} epochs; best.pt is epoch {results['best_epoch']}, chosen on validation: {100 * results[headline_key(results, 'val_')]:.1f} %)",
    ]
    if baseline_line(results):
        lines.append(f"  {beside_baseline(results)}")
    per_task = results.get("per_task")
    if per_task:
        lines.append("  task                         test acc %")
        for task, error in per_task.items():
            name = TASK_NAMES.get(int(task), "") if task.isdigit() else ""
            lines.append(f"  {task:>4} {name:<24} {100 - error:6.1f}")
    report = run / "report"
    lines += [
        f"  report: {report}/ (classification_report.txt, {'label_scores.png' if multi_label else 'confusion_matrix.png'}"
        + (", per_task_errors.md" if per_task else "") + ")",
        f"  weights: {run / 'best.pt'}   log: {run / 'train.log'}",
        "next:",
        f"  python -m textclf.evaluate ckpt_path={shown} split=val",
    ]
    if per_task:  # trained on stories with questions: predict reads the bAbI format
        lines.append(f"  printf '1 Mary went to the kitchen.\\n2 Where is Mary?\\n' | python -m textclf.predict ckpt_path={shown} input=- output=-")
    else:
        lines.append(f"  python -m textclf.predict ckpt_path={shown} text='a text to classify'")
    lines.append(f"  python -m textclf.explain ckpt_path={shown} count=2")
    lines.append(f"  python -m textclf.export ckpt_path={shown} format=torchscript")
    return "\n".join(lines) + "\n"
