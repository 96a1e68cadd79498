"""Report files shared by training (on its test split) and `textclf.evaluate` (the metrics: reporting/metrics.py).

Files written by `write_report`: classification_report.txt/.csv (scikit-learn's report),
confusion_matrix.png (row-normalised, drawn by textclf.reporting.confusion; multi-label:
label_scores.png, precision/recall/F1 bars per label), predictions.csv, and for bAbI-style grouped
data the per-task error table (multi-label: the error is the share of questions whose predicted set
is not exactly the gold set).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix

from textclf.data.batching import EncodedSplit
from textclf.data.example import Example, label_text
from textclf.models.task import Task
from textclf.reporting.confusion import plot_confusion_matrix
from textclf.reporting.figures import pyplot, save_png, wrap_title
from textclf.reporting.metrics import present_classes, row_errors, summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Every file evaluation may write into its folder (results.json beside write_report's own).
REPORT_FILES = (
    "classification_report.txt", "classification_report.csv", "confusion_matrix.png", "label_scores.png",
    "predictions.csv", "per_task_errors.md", "per_task_errors.csv", "results.json",
)


@dataclass(frozen=True)
class ScoredSplit:
    """One split as a report reads it: its examples, the model's probabilities for them, the gold
    labels (class indices, or 0/1 rows), the class names, and the groups (bAbI tasks) if any."""

    examples: Sequence[Example]
    prob: np.ndarray
    gold: np.ndarray
    labels: Sequence[str]
    group: np.ndarray | None = None
    groups: Sequence[str] = ()
    weights: np.ndarray | None = None  # each row's weight (data.weight_column); None: each counts 1

    @classmethod
    def of(cls, examples: Sequence[Example], prob: np.ndarray, encoded: EncodedSplit, labels: Sequence[str], groups: Sequence[str]) -> ScoredSplit:
        """Gold labels, groups and weights as the encoded split holds them."""
        group = None if encoded.group is None else encoded.group.numpy()
        weights = None if encoded.weights is None else encoded.weights.numpy()
        return cls(examples, prob, encoded.labels.numpy(), labels, group, groups, weights)


def write_report(
    out_dir: str | Path, split: ScoredSplit, *, title: str = "", compare_to_paper: bool = True, task: Task | None = None, note: str | None = None,
) -> dict[str, Any]:
    """Write the report files for one split into ``out_dir`` and return its metrics. ``note``: a
    line under the title of classification_report.txt (training's baseline)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = task or Task()
    examples, prob, gold, labels = split.examples, split.prob, split.gold, split.labels
    pred = task.decide(prob)
    metrics = summarize(prob, gold, split.group, split.groups, task, split.weights)
    present = present_classes(gold, pred)
    names = [labels[i] for i in present]
    common = {"labels": present, "target_names": names, "zero_division": 0, "sample_weight": split.weights}
    text = classification_report(gold, pred, digits=4, **common)
    table = classification_report(gold, pred, output_dict=True, **common)
    if task.multi_label:
        # scikit-learn scores a text with no gold and no predicted label 0 in "samples avg" (zero
        # division), though the empty set was right; acc (exact sets) is the per-text view instead.
        table.pop("samples avg", None)
        text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("samples avg"))
    header = "".join(f"{line}\n" for line in (title, note) if line) + ("\n" if title or note else "")
    (out / "classification_report.txt").write_text(header + text + "\n")
    pd.DataFrame(table).transpose().to_csv(out / "classification_report.csv")
    if task.multi_label:
        plot_label_scores(table, names, out / "label_scores.png", title)
    else:
        plot_confusion_matrix(confusion_matrix(gold, pred, labels=present), names, out / "confusion_matrix.png", title)
    pd.DataFrame(
        {
            "text": [ex.text for ex in examples],
            "gold": [label_text(ex.label) for ex in examples] if task.multi_label else [labels[i] for i in gold],
            "predicted": task.names(pred, labels),
            "probability": prob.max(axis=1).round(4),
            "correct": ~row_errors(gold, pred),
            "group": [ex.group or "" for ex in examples],
        }
    ).to_csv(out / "predictions.csv", index=False)
    if "per_task" in metrics:
        write_task_table(metrics, out, title, compare_to_paper)
    return metrics


# Sukhbaatar et al. 2015, "End-To-End Memory Networks", Table 1: test error (%) of the best 1k
# variant, MemN2N PE LS RN, jointly trained on the 20 tasks (mean 12.4 %, 11 tasks failed).
PAPER_1K_JOINT_ERROR = dict(zip(
    map(str, range(1, 21)),
    [0.0, 11.4, 21.9, 13.4, 14.4, 2.8, 18.3, 9.3, 1.9, 6.5, 0.3, 0.1, 0.2, 6.9, 0.0, 2.7, 40.4, 9.4, 88.0, 0.0],
))


def write_task_table(metrics: dict[str, Any], out: Path, title: str, compare_to_paper: bool = True) -> None:
    """Per-task error table in the paper's layout (Markdown and CSV): task number and name, our
    error, the paper's figure for the same task (MemN2N PE LS RN, 1k, joint), failed marked.
    Only for the real 1k tasks: generated tasks only share names with the real ones, and 10k or
    single-task results are not what that column measured."""
    from textclf.data.babi import TASK_NAMES

    rows = []
    for key, error in metrics["per_task"].items():
        name = TASK_NAMES.get(int(key), "") if key.isdigit() else ""
        rows.append({
            "task": key,
            "name": name,
            "error_%": error,
            "paper_memn2n_1k_joint_%": PAPER_1K_JOINT_ERROR.get(key, math.nan) if compare_to_paper else math.nan,
            "failed": "yes" if key in metrics["failed_tasks"] else "",
        })
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "per_task_errors.csv", index=False)
    lines = [
        f"# {title}" if title else "# Per-task test error",
        "",
        "| task | name | error % | paper % | failed (> 5 %) |",
        "|---:|:---|---:|---:|:---:|",
    ]
    for r in rows:
        paper = "" if math.isnan(r["paper_memn2n_1k_joint_%"]) else f"{r['paper_memn2n_1k_joint_%']:.1f}"
        lines.append(f"| {r['task']} | {r['name']} | {r['error_%']:.1f} | {paper} | {r['failed']} |")
    lines += [
        f"| | **mean** | **{metrics['mean_error']:.1f}** | | **{len(metrics['failed_tasks'])} failed** |",
        "",
    ]
    if compare_to_paper:
        lines += [
            "paper %: Sukhbaatar et al. 2015, MemN2N PE LS RN, 1k training examples per task, joint training "
            "(mean 12.4 %, 11 failed).",
            "",
        ]
    (out / "per_task_errors.md").write_text("\n".join(lines))


def label_scores_figure(table: dict[str, Any], names: Sequence[str], title: str) -> Figure:
    """Multi-label's picture in place of a confusion matrix: precision, recall and F1 per label as
    grouped horizontal bars (one C x C matrix would mean nothing when a text has several labels)."""
    plt = pyplot()
    n = len(names)
    title = wrap_title(title or "Per-label scores", 8)
    fig, ax = plt.subplots(figsize=(8, min(2.5 + 0.45 * n, 40) + 0.25 * title.count("\n")), layout="constrained")
    rows = np.arange(n)
    for offset, metric in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1-score")):
        ax.barh(rows + offset, [table[name][metric] for name in names], height=0.27, label=metric)
    ax.set_yticks(rows, [f"{name} ({int(table[name]['support'])})" for name in names], fontsize=8 if n > 20 else 10)
    ax.invert_yaxis()  # first label on top, as in the text report
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (support in brackets)")
    fig.suptitle(title)  # over the figure, not the axes: a long title must not run past the canvas
    fig.legend(loc="outside lower center", ncol=3, fontsize=8)  # below: bars near 1 stay visible
    return fig


def plot_label_scores(table: dict[str, Any], names: Sequence[str], path: Path, title: str) -> None:
    save_png(label_scores_figure(table, names, title), path, dpi=100)


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
