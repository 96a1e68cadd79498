"""How much each word of a text counts for a flat encoder's decision: one weight per token.

Which measure depends on how the encoder turns its word states into one vector, because where the
model's own arithmetic already says which word it used, that is the most faithful answer:

* ``attention`` (BiLSTM, ``pooling=attention``): the attention weights alpha_t themselves. The text
  vector *is* sum_t alpha_t h_t, so alpha says exactly how much of each word's state went into it.
  The weights are a distribution: >= 0, summing to 1 over the real words.
* ``max share`` (BiLSTM ``pooling=max``, TextRCNN, eq. 5): each feature d of the pooled vector is
  the value of one word, the one whose state is largest in d. A word's weight is the share of the
  features it wins (also a distribution). It says which words the pooled vector was copied from,
  whether or not the classifier then leans on those features.
* ``occlusion`` (TextRNN's last state, BiLSTM ``pooling=mean|last``): no step of the model singles
  out words, so each word is hidden in turn, replaced by ``<unk>``, and its weight is how far the
  probability of the explained class (the prediction, by default) falls. We chose occlusion over
  gradient x input: its number has a meaning one can check (remove the word and the prediction
  drops by this much), it stays right when the LSTM's gates saturate, where a gradient is near zero
  even for the word that decided everything, and hiding a word as ``<unk>`` is exactly what the
  model met in training under word dropout. It costs one forward pass per word (batched), fine
  for the few texts an explanation shows. Weights are signed: a negative one is a word whose
  removal makes the class *more* likely (a word that argued against it).
  TextCNN (``pooling=windows``) and fastText (a mean of word vectors) use it too: TextCNN's pooled
  features are windows of several words, not one word's state. So does every model with the
  n-gram branch (models/ngrams.py), whatever its pooling: the head also reads the n-gram vector,
  which attention or max share would leave out, and hiding a word also removes its n-grams.

Attention and max share weigh word *states*, and each state also holds its neighbours' context
(both directions of a BiLSTM; TextRCNN's c_l, c_r), so their peak can sit beside the deciding word:
docs/design.md has how often each measure finds it on a toy task (benchmarks/salience_toy.py).

Padding positions get weight 0. Memory encoders (MemN2N) attend over sentences, not words: their
hop attention is the explanation (``encoder(..., return_attention=True)``), not this.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from textclf.data.batching import Batch
from textclf.data.vocab import UNK_ID
from textclf.models.classifier import TextClassifier
from textclf.models.pooling import mask_from_lengths

METHODS = {"attention": "attention", "max": "max share", "mean": "occlusion", "last": "occlusion", "windows": "occlusion"}


class Salience(NamedTuple):
    weights: torch.Tensor  # [B, T] float, 0 at padding
    method: str  # "attention", "max share" or "occlusion"
    signed: bool  # weights may be negative (occlusion) rather than a distribution over the words


def method_for(model: TextClassifier) -> str:
    """The measure `token_salience` uses for this model (see the module docstring)."""
    if model.encoder.reads_memory:
        raise ValueError("memory encoders are explained by their hop attention over sentences, not per word")
    if getattr(model, "ngrams", None) is not None:
        return "occlusion"  # the pooled states are only part of what the head reads
    return METHODS[getattr(model.encoder, "pooling", "last")]


@torch.no_grad()
def token_salience(model: TextClassifier, batch: Batch, classes: torch.Tensor | None = None, multi_label: bool = False) -> Salience:
    """Per-token weights [B, T] for a flat-encoder model in eval mode and a batch of its input.

    ``classes`` [B]: the class each row's occlusion weights explain (default: the most probable
    one); attention and max share do not depend on a class. ``multi_label``: the model's outputs
    are one sigmoid per label, so occlusion measures the drop in that label's own probability.
    """
    method = method_for(model)
    mask = mask_from_lengths(batch.lengths, batch.tokens.shape[1])
    if method == "occlusion":
        return Salience(occlusion(model, batch, classes, multi_label).masked_fill(~mask, 0.0), method, signed=True)
    encoder = model.encoder
    states = encoder.step_features(model.embedding(batch.tokens), batch.lengths)  # [B, T, D]
    if method == "attention":
        _, weights = encoder.attention(states, mask, return_weights=True)
        return Salience(weights, method, signed=False)
    winners = states.masked_fill(~mask.unsqueeze(-1), float("-inf")).argmax(dim=1)  # [B, D]: the word each feature copies
    wins = torch.zeros_like(mask, dtype=states.dtype).scatter_add_(1, winners, torch.ones_like(winners, dtype=states.dtype))
    return Salience(wins / states.shape[-1], method, signed=False)


def occlusion(model: TextClassifier, batch: Batch, classes: torch.Tensor | None, multi_label: bool = False) -> torch.Tensor:
    """[B, T]: p(class | text) - p(class | text with word t replaced by <unk>); 0 where t is padding."""

    def proba(logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid() if multi_label else logits.softmax(dim=-1)

    probs = proba(model(batch))
    classes = probs.argmax(dim=-1) if classes is None else classes.to(probs.device)
    rows = torch.arange(len(batch), device=probs.device)
    full = probs[rows, classes]
    drops = torch.zeros(batch.tokens.shape, dtype=probs.dtype, device=probs.device)
    for row in range(len(batch)):  # one text at a time: its copies are [length, T], not [B * T, T]
        length = int(batch.lengths[row])
        copies = batch.tokens[row, :length].repeat(length, 1)  # trailing padding is not needed
        copies.fill_diagonal_(UNK_ID)  # copy t hides word t
        hidden = Batch(tokens=copies, lengths=batch.lengths[row].repeat(length), labels=batch.labels[row].repeat(length))
        drops[row, :length] = full[row] - proba(model(hidden))[:, classes[row]]
    return drops
