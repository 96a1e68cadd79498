"""Explanations from a loaded model, for the explain command and any other caller (an API, a server).

`word_salience(loaded, examples)` gives, for each example, the words a flat encoder read with one
weight each (`textclf.models.salience` says which measure and why) and the prediction they explain
(the `Predictor`'s, so an explanation names the label predict gives);
`hop_attention(loaded, examples)` a memory network's attention over the story at each hop.
`mistakes_first(prob, gold)` orders a split's examples for showing the model's worst errors first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from textclf.data.batching import BatchIterator
from textclf.data.example import Example
from textclf.inference.loader import LoadedModel
from textclf.inference.predictor import Predictor, model_predictor
from textclf.models.salience import token_salience
from textclf.models.task import Task
from textclf.reporting.metrics import row_errors


class WordSalience(NamedTuple):
    words: list[str]  # the tokens the model read, as written in the text (story, <sep>, question for bAbI)
    weights: np.ndarray  # [len(words)], one per word
    method: str  # "attention", "max share" or "occlusion"
    signed: bool  # occlusion: weights may be negative; otherwise a distribution summing to 1
    predicted: str
    probability: float  # of the predicted label


def word_salience(loaded: LoadedModel, examples: Sequence[Example], predictor: Predictor | None = None, batch_size: int = 64) -> list[WordSalience]:
    """Per-word weights for ``examples`` (labels are not needed) under a flat-encoder model, in
    example order, with the prediction of ``predictor`` (default: the PyTorch model's; a
    `Classifier` passes its own, so an explanation names the label its predict gives). Raises
    ValueError for a memory network (its explanation is its hop attention)."""
    model, encoding = loaded.model, loaded.encoding
    encoded = encoding.encode(examples, "input", labelled=False, groups=[])
    probs = (predictor or model_predictor(loaded, batch_size)).proba(encoded)
    predicted = predicted_names(loaded, probs)
    words = encoding.flat_words(examples)
    results: list[WordSalience | None] = [None] * len(examples)
    for batch in BatchIterator(encoded, batch_size, device=loaded.device):
        salience = token_salience(model, batch, multi_label=loaded.task.multi_label)
        weights = salience.weights.float().cpu().numpy()
        for row, position in enumerate(batch.index.tolist()):
            shown = words[position]
            results[position] = WordSalience(
                shown, weights[row, : len(shown)], salience.method, salience.signed, predicted[position], float(probs[position].max())
            )
    return results  # type: ignore[return-value]  # every position is filled: the batches cover the split


class HopAttention(NamedTuple):
    attention: np.ndarray  # [K, M]: hop k's attention over the last M story sentences, oldest first
    empty: np.ndarray | None  # [K]: what each hop gave the empty memory slots (attend_empty_slots), else None
    predicted: str
    probability: float


def hop_attention(loaded: LoadedModel, examples: Sequence[Example]) -> list[HopAttention]:
    """The attention of a memory network (MemN2N) over each example's story, in example order."""
    model = loaded.model
    encoded = loaded.encoding.encode(examples, "input", labelled=False, groups=[])
    batch = next(iter(BatchIterator(encoded, batch_size=len(examples), device=loaded.device)))
    with torch.inference_mode():
        features, attention = model.encoder(batch, model.embedding, return_attention=True)
        # The probabilities come from the same forward pass as the attention: a `Predictor`
        # would run the model a second time for them.
        probs = loaded.task.probabilities(model.head(features)).cpu().numpy()
    attention = attention.float().cpu()
    # The rest of each hop's softmax went to the empty slots (not a distribution under linear start).
    attends_empty_slots = model.encoder.attend_empty_slots and not model.encoder.linear_start
    results: list[HopAttention | None] = [None] * len(examples)
    predicted = predicted_names(loaded, probs)
    for row, position in enumerate(batch.index.tolist()):  # evaluation batches are length-sorted
        kept = int(batch.memory_lengths[row].clamp(max=attention.shape[-1]))
        empty = 1.0 - attention[row].sum(dim=-1).numpy() if attends_empty_slots else None
        results[position] = HopAttention(attention[row, :, :kept].numpy(), empty, predicted[row], float(probs[row].max()))
    return results  # type: ignore[return-value]


def predicted_names(loaded: LoadedModel, probs: np.ndarray) -> list[str]:
    """Each row's prediction as text: the class, or a multi-label model's label set ("a,b")."""
    task = loaded.task
    return task.names(task.decide(probs), loaded.labels)


def wrong_rows(prob: np.ndarray, gold: np.ndarray, task: Task) -> np.ndarray:
    """[N] bool: rows decided wrong (multi-label: any label off, gold being 0/1 rows)."""
    return row_errors(gold, task.decide(prob))


def mistakes_first(prob: np.ndarray, gold: np.ndarray, task: Task | None = None) -> list[int]:
    """Example positions, the wrong predictions first (most confident first), then the right ones
    (least confident first): the first few are the errors most worth a look, and a model with
    fewer errors than asked for shows the examples it was least sure of next."""
    confidence = prob.max(axis=1)
    wrong = wrong_rows(prob, gold, task or Task())
    # lexsort sorts by the last key first: wrong before right, then by signed confidence.
    return np.lexsort((np.where(wrong, -confidence, confidence), ~wrong)).tolist()
