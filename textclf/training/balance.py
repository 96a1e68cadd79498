"""Imbalanced classes: weights in the loss (task.class_weights) and a balanced sampler
(task.sampler=balanced), both computed from the encoded training labels.

Only training is weighted: validation loss, early stopping and every report score the model as
it is, so runs with and without weights are compared on the same terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight

from textclf.core.errors import TextclfError
from textclf.models.task import Task


def balanced_weights(targets: torch.Tensor, classes: int, task: Task) -> torch.Tensor:
    """Single-label: scikit-learn's ``compute_class_weight("balanced")``, n / (k * count) over the
    k classes train has (a class absent from train never is a target, so its 1.0 is unused).
    Multi-label: each label's ``pos_weight`` = negatives / positives (1.0 where it has none)."""
    if task.multi_label:
        positives = targets.sum(dim=0).double()
        negatives = len(targets) - positives
        return torch.where(positives > 0, negatives / positives.clamp(min=1), 1.0).float()
    y = targets.numpy()
    present = np.unique(y)
    weights = torch.ones(classes)
    weights[torch.from_numpy(present)] = torch.from_numpy(compute_class_weight("balanced", classes=present, y=y)).float()
    return weights


def class_weights(setting: Any, targets: torch.Tensor, labels: Sequence[str], task: Task) -> torch.Tensor | None:
    """The loss weights ``task.class_weights`` asks for: None (none), balanced, or the list given
    (one per class in label order, as reports list them; multi-label: one pos_weight per label)."""
    if setting is None or setting == "none":
        return None
    if setting == "balanced":
        return balanced_weights(targets, len(labels), task)
    weights = [float(w) for w in setting]
    if len(weights) != len(labels):
        shown = ", ".join(labels[:10]) + (" ..." if len(labels) > 10 else "")
        raise TextclfError(
            f"task.class_weights has {len(weights)} weight(s) but the data has {len(labels)} "
            f"{'labels' if task.multi_label else 'classes'} ({shown}); give one weight per class in this order, "
            "or use task.class_weights=balanced."
        )
    return torch.tensor(weights)


def sample_weights(targets: torch.Tensor, task: Task) -> torch.Tensor:
    """[N] drawing weights that make every class equally likely in a batch: 1 / its count.
    Multi-label: an example counts as its rarest label (rows without a label form a class)."""
    if not task.multi_label:
        return 1.0 / torch.bincount(targets).double()[targets]
    counts = targets.sum(dim=0).double()
    per_label = torch.where(targets.bool(), 1.0 / counts.clamp(min=1), 0.0).amax(dim=1)
    unlabelled = ~targets.bool().any(dim=1)
    per_label[unlabelled] = 1.0 / max(int(unlabelled.sum()), 1)
    return per_label
