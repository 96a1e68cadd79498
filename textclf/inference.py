"""Run a model over a whole split and return class probabilities in example order."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from textclf.data.batching import BatchIterator


@torch.inference_mode()
def predict_proba(model: torch.nn.Module, batches: BatchIterator) -> tuple[np.ndarray, float]:
    """Probabilities [N, C] (rows in the split's example order) and the mean cross-entropy loss."""
    model.eval()
    n = len(batches.split)
    probs: torch.Tensor | None = None
    total_loss = torch.zeros((), dtype=torch.float64)
    for batch in batches:
        logits = model(batch).float()
        total_loss += F.cross_entropy(logits, batch.labels, reduction="sum").double().cpu()
        if probs is None:
            probs = torch.empty((n, logits.shape[1]), dtype=torch.float32)
        probs[batch.index.cpu()] = logits.softmax(dim=1).cpu()
    assert probs is not None
    return probs.numpy(), float(total_loss) / n
