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


def run_summary(results: dict[str, Any], run_dir: str | Path) -> str:
    run = Path(run_dir)
    if run.is_absolute() and run.is_relative_to(Path.cwd()):
        run = run.relative_to(Path.cwd())  # outputs/DATE/TIME reads better than the full path
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
        f"({results['epochs']} epochs; best.pt is epoch {results['best_epoch']}, chosen on validation: {100 * results['val_micro_f1' if multi_label else 'val_acc']:.1f} %)",
    ]
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
        lines.append(f"  echo 'a text to classify' | python -m textclf.predict ckpt_path={shown} input=- output=-")
    lines.append(f"  python -m textclf.explain ckpt_path={shown} count=2")
    lines.append(f"  python -m textclf.export ckpt_path={shown} format=torchscript")
    return "\n".join(lines) + "\n"
