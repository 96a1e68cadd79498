"""The metrics of one split's predictions, for training (validation each epoch, test at the end),
the baseline, evaluation and explanations alike: accuracy and macro-F1 over the classes present,
multi-label's micro-F1 and Hamming loss, and bAbI's per-task errors. No files: reporting/report.py
writes them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, hamming_loss

from textclf.models.task import Task

FAILED_ERROR = 5.0  # bAbI convention (Weston et al. 2015): a task is failed above 5 % test error


def present_classes(gold: np.ndarray, pred: np.ndarray) -> list[int]:
    """The class indices that occur in gold labels or predictions, sorted (multi-label: the
    columns that are 1 somewhere in either)."""
    if gold.ndim == 2:
        return np.flatnonzero(gold.any(axis=0) | pred.any(axis=0)).tolist()
    return sorted(set(gold.tolist()) | set(pred.tolist()))


def scores(gold: np.ndarray, pred: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy and macro-F1 over the classes that occur in gold or predictions (a class the split
    never has and the model never predicts would only add a meaningless 0 to the average).
    Multi-label (0/1 rows): acc is subset accuracy (the exact set), with micro-F1 and the Hamming loss.
    ``weights`` (data.weight_column): each row counts by its weight, as scikit-learn's sample_weight."""
    present = present_classes(gold, pred)
    result = {
        "acc": float(accuracy_score(gold, pred, sample_weight=weights)),
        "macro_f1": float(f1_score(gold, pred, labels=present, average="macro", zero_division=0, sample_weight=weights)) if present else 0.0,
    }
    if gold.ndim == 2:
        result["micro_f1"] = float(f1_score(gold, pred, average="micro", zero_division=0, sample_weight=weights))
        result["hamming_loss"] = float(hamming_loss(gold, pred, sample_weight=weights))
    return result


def task_key(group: str) -> str:
    """bAbI groups are named qaN; reports key them by the task number N."""
    match = re.fullmatch(r"qa(\d+)", group)
    return match.group(1) if match else group


def row_errors(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """[N] bool: rows predicted wrong (multi-label: any label wrong, so the set is not exact)."""
    wrong = gold != pred
    return wrong.any(axis=1) if wrong.ndim == 2 else wrong


def group_errors(gold: np.ndarray, pred: np.ndarray, group: np.ndarray, groups: Sequence[str]) -> dict[str, Any]:
    """Per-group test error in %, their mean, and the groups failed (error > 5 %)."""
    wrong = row_errors(gold, pred)
    per_task = {}
    for index, name in enumerate(groups):
        rows = group == index
        if rows.any():
            per_task[task_key(name)] = round(100.0 * float(wrong[rows].mean()), 2)
    mean_error = round(float(np.mean(list(per_task.values()))), 2) if per_task else math.nan
    failed = [key for key, error in per_task.items() if error > FAILED_ERROR]
    return {"per_task": per_task, "mean_error": mean_error, "failed_tasks": failed}


def summarize(
    prob: np.ndarray, gold: np.ndarray, group: np.ndarray | None, groups: Sequence[str], task: Task | None = None,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """All headline metrics of one split's predictions, decided as ``task`` decides (default: argmax),
    each row counted by its weight (``weights``, data.weight_column) where given; per-task errors unweighted."""
    pred = (task or Task()).decide(prob)
    result: dict[str, Any] = scores(gold, pred, weights)
    if group is not None and len(groups):
        result.update(group_errors(gold, pred, group, groups))
    return result
