"""Run models over a whole split and return class (or label) probabilities in example order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from textclf.data.batching import Batch, BatchIterator, EncodedSplit, eval_token_budget
from textclf.models.task import Task


def predict_proba(model: torch.nn.Module, batches: BatchIterator, workers: int = 1, task: Task | None = None) -> tuple[np.ndarray, float]:
    """Probabilities [N, C] (rows in the split's example order) and the mean cross-entropy loss.
    ``task`` (default: single-label) says how: softmax and cross-entropy, or for a multi-label
    model a sigmoid per label and the binary cross-entropy (summed over labels, mean over rows).

    An evaluation-order iterator without a token budget is regrouped under one (see
    `eval_token_budget`): at most ``batches.batch_size`` rows per batch as asked, fewer for long
    texts, so the last batches of the sorted split do not pad hundreds of rows to its longest text.
    Results do not depend on the grouping; only the time does.

    ``workers > 1`` scores that many batches at once, each on its own thread with one intra-op
    thread (restored afterwards). For recurrent models with large batches this uses the cores
    better than splitting every operation across them (BiLSTM, 2 cores: ~1.4x, docs/speed.md);
    small models are bound by Python, which threads share, and gain nothing.
    """
    model.eval()
    task = task or Task()
    split = batches.split
    n = len(split)
    if not batches.shuffle and batches.token_budget is None:
        budget = eval_token_budget(split, batches.batch_size)
        batches = BatchIterator(split, batches.batch_size, device=batches.device, token_budget=budget)

    def score(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.inference_mode():  # per thread: inference mode is thread-local
            logits = model(batch).float()
            loss = task.loss(logits, batch.labels, reduction="sum").double().cpu()
            return batch.index.cpu(), task.probabilities(logits).cpu(), loss

    if workers > 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(workers) as pool:
                scored = list(pool.map(score, batches))
        finally:
            torch.set_num_threads(threads)
    else:
        scored = map(score, batches)
    probs: torch.Tensor | None = None
    total_loss = torch.zeros((), dtype=torch.float64)
    for index, prob, loss in scored:
        if probs is None:
            probs = torch.empty((n, prob.shape[1]), dtype=torch.float32)
        probs[index] = prob
        total_loss += loss
    assert probs is not None
    return probs.numpy(), float(total_loss) / n


def ensemble_proba(
    scored: list[tuple[torch.nn.Module, EncodedSplit]], batch_size: int, task: Task | None = None,
) -> tuple[np.ndarray, float]:
    """`predict_proba` of one model, or of several averaged (with the cross-entropy of the average,
    floored where float32 probabilities underflow to 0). Each model comes with the split encoded
    its own way (a memory network and a flat encoder read the same examples differently).
    ``task``: how one model's outputs are read (loading/loader.py refuses multi-label ensembles)."""
    results = [
        predict_proba(model, BatchIterator(split, batch_size, device=next(model.parameters()).device), task=task)
        for model, split in scored
    ]
    if len(results) == 1:
        return results[0]
    prob = np.mean([member_prob for member_prob, _ in results], axis=0)
    gold = scored[0][1].labels.numpy()
    loss = float(-np.log(np.maximum(prob[np.arange(len(gold)), gold], np.finfo(np.float32).tiny)).mean())
    return prob, loss


def one_batch_proba(model: torch.nn.Module, split: EncodedSplit, task: Task | None = None) -> np.ndarray:
    """Probabilities [N, C] of a few examples scored as one batch, rows in example order; the model
    must be in eval mode already. For a server's micro-batches: `predict_proba`'s regrouping, loss
    and ``model.eval()`` cost more than the model itself on a batch of a few short texts (BiLSTM,
    one sentence, 1 thread: 1.6 against 2.9 ms a call). The same maths, batched differently."""
    batch = next(iter(BatchIterator(split, len(split), device=next(model.parameters()).device)))
    with torch.inference_mode():
        prob = (task or Task()).probabilities(model(batch).float()).cpu()
    ordered = torch.empty_like(prob)
    ordered[batch.index.cpu()] = prob
    return ordered.numpy()
