"""The one predictor: a model's probabilities [N, C] for an `EncodedSplit`, rows in example order.

Every caller that turns a model into probabilities comes here: training's validation
(`training.loop.evaluate_split`, under DDP too), evaluate and its ensembles, explain, and
`Classifier` (the Python API, predict and serve). What differs between them is only the runtime
that computes a batch's logits:

* `TorchRuntime`: the PyTorch model as loaded (or as trained), on its device;
* `OnnxRuntime` (inference/onnx_runtime.py): the same model exported to ONNX, run by onnxruntime.

`Predictor` holds the one batching loop, and ``task`` reads the logits (softmax and cross-entropy,
or a sigmoid per label and the binary cross-entropy summed over labels, mean over rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import numpy as np
import torch

from textclf.data.batching import Batch, BatchIterator, EncodedSplit, eval_token_budget
from textclf.inference.loader import LoadedModel
from textclf.models.task import Task

# Inputs up to this many are scored as one batch. For a server's micro-batches the regrouping
# costs more than the model on a few short texts (BiLSTM, one sentence, 1 thread: 1.6 against
# 2.9 ms a call with the regrouping, the loss and model.eval(); docs/speed.md).
ONE_BATCH = 64

Scored = TypeVar("Scored")


class Runtime(Protocol):
    """What computes the logits [B, C] of one batch; ``device`` is where its batches go."""

    device: torch.device

    def logits(self, batch: Batch) -> torch.Tensor: ...


class TorchRuntime:
    """A PyTorch model as a runtime. It is put in eval mode here, once, not on every call (a
    server's call on a few texts would pay for the module walk); training hands its model back
    to ``model.train()`` at the start of each epoch."""

    def __init__(self, model: torch.nn.Module, device: torch.device | None = None) -> None:
        self.model = model.eval()
        self.device = device or next(model.parameters()).device

    def logits(self, batch: Batch) -> torch.Tensor:
        return self.model(batch)


class Predictor:
    """Probabilities of ``runtime``'s model, read as ``task`` reads them (default: single-label).

    Batching: a split of at most ``min(ONE_BATCH, batch_size)`` rows is one batch. A larger one is
    sorted by length and cut into batches of at most ``batch_size`` rows under `eval_token_budget`:
    fewer rows for long texts, so the last batches of the sorted split do not pad hundreds of rows
    to its longest text. Results do not depend on the grouping; only the time does.

    ``workers > 1`` scores that many batches at once, each on its own thread with one intra-op
    thread (restored afterwards). For recurrent models with large batches this uses the cores
    better than splitting every operation across them (BiLSTM, 2 cores: ~1.4x, docs/speed.md);
    small models are bound by Python, which threads share, and gain nothing.
    """

    def __init__(self, runtime: Runtime, task: Task | None = None, batch_size: int = 256, workers: int = 1) -> None:
        self.runtime = runtime
        self.task = task or Task()
        self.batch_size = batch_size
        self.workers = workers

    def proba(self, split: EncodedSplit) -> np.ndarray:
        """Probabilities [N, C] of a split of at least one example (its labels unread)."""
        prob, _ = self.scored(split, gold=False)
        return prob

    def proba_and_loss(self, split: EncodedSplit) -> tuple[np.ndarray, float]:
        """Probabilities [N, C] and the mean loss against the split's labels."""
        prob, loss = self.scored(split, gold=True)
        return prob, float(loss) / len(split)

    def batches(self, split: EncodedSplit) -> BatchIterator:
        device = self.runtime.device
        if len(split) <= min(ONE_BATCH, self.batch_size):
            return BatchIterator(split, len(split), device=device)
        return BatchIterator(split, self.batch_size, device=device, token_budget=eval_token_budget(split, self.batch_size))

    def scored(self, split: EncodedSplit, gold: bool) -> tuple[np.ndarray, torch.Tensor]:
        """The one batching loop: probabilities in example order and the summed loss (0 unless ``gold``)."""

        def score(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
            with torch.inference_mode():  # per thread: inference mode is thread-local
                logits = self.runtime.logits(batch).float()
                loss = self.task.loss(logits, batch.labels, reduction="sum").double().cpu() if gold else None
                return batch.index.cpu(), self.task.probabilities(logits).cpu(), loss

        probs: torch.Tensor | None = None
        total_loss = torch.zeros((), dtype=torch.float64)
        for index, prob, loss in self.each_batch(score, self.batches(split)):
            if probs is None:
                probs = torch.empty((len(split), prob.shape[1]), dtype=torch.float32)
            probs[index] = prob
            if loss is not None:
                total_loss += loss
        assert probs is not None  # an EncodedSplit to score has at least one example
        return probs.numpy(), total_loss

    def each_batch(self, score: Callable[[Batch], Scored], batches: BatchIterator) -> Iterable[Scored]:
        """``score`` of every batch: in turn, or on ``workers`` threads of one intra-op thread each."""
        if self.workers <= 1:
            return map(score, batches)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(self.workers) as pool:
                return list(pool.map(score, batches))
        finally:
            torch.set_num_threads(threads)


def model_predictor(loaded: LoadedModel, batch_size: int) -> Predictor:
    """The predictor of a loaded checkpoint's PyTorch model, read as its task reads it."""
    return Predictor(TorchRuntime(loaded.model, loaded.device), loaded.task, batch_size)


def ensemble(members: Sequence[tuple[Predictor, EncodedSplit]]) -> tuple[np.ndarray, float]:
    """`Predictor.proba_and_loss` of one model, or of several averaged, with the cross-entropy of
    the average (floored where float32 probabilities underflow to 0). Each model comes with the
    split encoded its own way (a memory network and a flat encoder read the same examples
    differently). Single-label only: inference/loader.py refuses multi-label ensembles."""
    results = [predictor.proba_and_loss(split) for predictor, split in members]
    if len(results) == 1:
        return results[0]
    prob = np.mean([member_prob for member_prob, _ in results], axis=0)
    gold = members[0][1].labels.numpy()
    loss = float(-np.log(np.maximum(prob[np.arange(len(gold)), gold], np.finfo(np.float32).tiny)).mean())
    return prob, loss
