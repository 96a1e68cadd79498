"""What a model's outputs mean: one class per text (softmax) or a set of labels (sigmoids).

`Task` is the one place that knows the difference. Training asks it for the loss and for which
rows are right, inference for probabilities, reports and predict for decisions; none of them
branches on multi-label itself. Gold labels come as the encoding makes them (data/encoding.py):
class indices [N] (long) for single-label data, 0/1 rows [N, C] (float) for multi-label data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from textclf.data.example import label_text

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Task:
    multi_label: bool = False
    # Multi-label only: each label's decision threshold on its probability, in label order
    # (trainer.threshold, or tuned on validation and stored in the checkpoint); None: 0.5 each.
    thresholds: tuple[float, ...] | None = None

    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean", weight: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cross-entropy (``weight``: one per class), or binary cross-entropy summed over the
        labels of a row (``weight``: each label's ``pos_weight``, the factor on its positive
        examples). ``reduction`` is over rows either way, so a multi-label "mean" loss is per text,
        on the scale of `predict_proba`'s validation loss, not per (text, label) pair.
        ``rows``: each row's own weight (data.weight_column); "mean" is then the weighted mean, the
        weights of the classes included as PyTorch's weighted cross-entropy divides by them."""
        if self.multi_label:
            per_row = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight, reduction="none").sum(dim=1)
            if rows is not None:
                return (per_row * rows).sum() / (1 if reduction == "sum" else rows.sum().clamp_min(1e-12))
            return per_row.sum() if reduction == "sum" else per_row.mean()
        if rows is None:
            return F.cross_entropy(logits, targets, weight=weight, reduction=reduction)
        per_row = F.cross_entropy(logits, targets, weight=weight, reduction="none") * rows
        norm = rows * (weight[targets] if weight is not None else 1)
        return per_row.sum() / (1 if reduction == "sum" else norm.sum().clamp_min(1e-12))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)

    def hits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """[B] bool: rows decided right (multi-label: the exact set, at each label's threshold, as
        `decide` reads validation and test)."""
        if self.multi_label:
            thresholds = torch.as_tensor(self.threshold_row(logits.shape[1]), device=logits.device)
            return ((logits.sigmoid() >= thresholds) == targets.bool()).all(dim=1)
        return logits.argmax(dim=1) == targets

    def decide(self, prob: np.ndarray) -> np.ndarray:
        """Decisions from probabilities: a class index per row [N], or 0/1 per label [N, C]."""
        if not self.multi_label:
            return prob.argmax(axis=1)
        return (prob >= self.threshold_row(prob.shape[1])).astype(np.int64)

    def names(self, decisions: np.ndarray, labels: Sequence[str]) -> list[str]:
        """Each row's decision as text: the class name, or the label set as `label_text` writes it."""
        if not self.multi_label:
            return [labels[i] for i in decisions]
        return [label_text(tuple(labels[i] for i in np.flatnonzero(row))) for row in decisions]

    def threshold_row(self, labels: int) -> np.ndarray:
        return np.asarray(self.thresholds if self.thresholds is not None else [DEFAULT_THRESHOLD] * labels, dtype=np.float32)

    def with_thresholds(self, thresholds: Sequence[float]) -> Task:
        return Task(self.multi_label, tuple(float(t) for t in thresholds))


def tune_thresholds(prob: np.ndarray, gold: np.ndarray) -> list[float]:
    """Each label's threshold with the best F1 on (validation) ``prob`` against 0/1 ``gold``.

    Candidates are the label's own probabilities (F1 changes only there); a threshold halfway to
    the next lower probability keeps the choice robust to small shifts. A label never gold on
    validation keeps 0.5: nothing there says where its boundary lies."""
    thresholds = []
    for column in range(prob.shape[1]):
        p, g = prob[:, column], gold[:, column].astype(bool)
        if not g.any():
            thresholds.append(DEFAULT_THRESHOLD)
            continue
        order = np.argsort(-p, kind="stable")
        ranked, hit = p[order], g[order]
        true_pos = np.cumsum(hit)
        f1 = 2 * true_pos / (np.arange(1, len(p) + 1) + g.sum())  # predicting the top k positive
        k = int(np.argmax(f1))  # the first best
        below = ranked[k + 1] if k + 1 < len(ranked) else 0.0
        thresholds.append(float(np.clip((ranked[k] + below) / 2, 1e-6, 1 - 1e-6)))
    return thresholds
