"""A language-model warm start for the recurrent encoders (pretrain=lm).

Dai & Le (2015) and ULMFiT (Howard & Ruder 2018): before the classifier is trained, its word table
and recurrent layers learn to predict text, on the training texts (their labels unused) plus any
unlabelled texts of the same kind (``pretrain.unlabeled_file``, one text a line). Then the
classifier trains as usual from those weights.

The encoder's own recurrence is the language model, read in both of its directions:

    forward states   ->h_t  predict w_{t+1}        backward states  <-h_t  predict w_{t-1}
    p(w | h) = softmax(E P h),   P in R^{d x H},  E the shared word table (tied, Press & Wolf 2017)

so every weight pretrained here is one the classifier uses; P is dropped afterwards. Tying keeps
the language model's only new weights to d x H, and makes its softmax train the word table itself.
Padding and the positions past each text's ends predict nothing.

For TextRNN, BiLSTM and TextRCNN (the encoders with a `PaddedRNN` at ``encoder.rnn``); other
encoders are refused with the reason. Not done: gradual unfreezing and discriminative learning
rates (ULMFiT's fine-tuning schedule); with a one-layer encoder there is little to unfreeze.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from textclf.core.errors import TextclfError
from textclf.data.batching import BatchIterator, EncodedSplit
from textclf.data.example import Example
from textclf.data.pipeline import PreparedData
from textclf.models.classifier import TextClassifier
from textclf.models.pooling import mask_from_lengths
from textclf.models.rnn import PaddedRNN

log = logging.getLogger(__name__)


class LanguageModel(nn.Module):
    """The classifier's word table and recurrence, with a tied softmax over the vocabulary."""

    def __init__(self, model: TextClassifier) -> None:
        super().__init__()
        rnn = getattr(model.encoder, "rnn", None)
        if not isinstance(rnn, PaddedRNN):
            raise TextclfError(
                f"pretrain=lm warms up a recurrent encoder (textrnn, bilstm, rcnn); {type(model.encoder).__name__} has none. "
                "Use pretrain=none with this model."
            )
        self.embedding, self.rnn = model.embedding, rnn
        self.project = nn.Linear(rnn.hidden_size, model.embedding.dim)  # P; dropped after pretraining

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed negative log-likelihood, number of predicted words) of a batch."""
        states, _ = self.rnn(self.embedding(tokens), lengths)
        real = mask_from_lengths(lengths, tokens.shape[1])
        hidden = self.rnn.hidden_size
        # forward: the state at t predicts the word at t + 1 (both real)
        pairs = [(states[:, :-1, :hidden], tokens[:, 1:], real[:, 1:])]
        if self.rnn.directions == 2:  # backward: the state at t predicts the word at t - 1
            pairs.append((states[:, 1:, hidden:], tokens[:, :-1], real[:, 1:]))
        total, count = states.new_zeros(()), 0
        for state, target, keep in pairs:
            logits = self.project(state[keep]) @ self.embedding.weight.T
            total = total + F.cross_entropy(logits, target[keep], reduction="sum")
            count += int(keep.sum())
        return total, torch.tensor(count)


def unlabeled_split(data: PreparedData, path: str | Path) -> EncodedSplit:
    """``path`` (UTF-8, one text a line; blank lines skipped) encoded as training encodes text."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise TextclfError(f"pretrain.unlabeled_file={file} does not exist. Give a UTF-8 text file with one text a line.")
    try:
        lines = [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as err:
        raise TextclfError(f"pretrain.unlabeled_file={file} is not UTF-8 ({err.reason} at byte {err.start}); convert it to UTF-8.") from None
    examples = [Example(text=line, label="") for line in lines if line]
    if not examples:
        raise TextclfError(f"pretrain.unlabeled_file={file} holds no text.")
    return data.encoding.encode(examples, "unlabeled", labelled=False)


def joined(splits: list[EncodedSplit]) -> EncodedSplit:
    """Token rows of several splits as one (padded to the widest); labels unused."""
    width = max(split.tokens.shape[1] for split in splits)
    tokens = torch.cat([F.pad(split.tokens, (0, width - split.tokens.shape[1])) for split in splits])
    return EncodedSplit(tokens=tokens, lengths=torch.cat([s.lengths for s in splits]), labels=torch.zeros(len(tokens), dtype=torch.long))


@torch.no_grad()
def perplexity(lm: LanguageModel, split: EncodedSplit, batch_size: int, device: torch.device) -> float:
    lm.eval()
    total, count = 0.0, 0
    for batch in BatchIterator(split, batch_size, shuffle=False, device=device):
        loss, words = lm(batch.tokens, batch.lengths)
        total, count = total + float(loss), count + int(words)
    return math.exp(total / max(1, count))


def pretrain_language_model(settings: DictConfig, data: PreparedData, model: TextClassifier, device: torch.device, seed: int) -> float:
    """Train ``model``'s word table and recurrence as a language model, in place (module
    docstring); returns the seconds it took."""
    if data.shards is not None:
        raise TextclfError("pretrain=lm reads the training texts in memory, and this table is streamed (data.streaming). Leave "
                           "pretraining out, or read the table into memory with data.streaming=false.")
    begun = time.perf_counter()
    lm = LanguageModel(model).to(device)
    texts = [data.encoded["train"]]
    if settings.unlabeled_file:
        texts.append(unlabeled_split(data, settings.unlabeled_file))
    corpus = joined(texts)
    batches = BatchIterator(corpus, int(settings.batch_size), shuffle=True, seed=seed, device=device)
    optimizer = torch.optim.Adam([p for p in lm.parameters() if p.requires_grad], lr=float(settings.lr))
    log.info("language-model warm start: %d texts, %d epochs", len(corpus), settings.epochs)
    for epoch in range(1, int(settings.epochs) + 1):
        started = time.perf_counter()
        lm.train()
        for batch in batches:
            loss, words = lm(batch.tokens, batch.lengths)
            optimizer.zero_grad(set_to_none=True)
            (loss / words.clamp(min=1)).backward()
            nn.utils.clip_grad_norm_(lm.parameters(), 5.0)
            optimizer.step()
        log.info(
            "lm epoch %d | validation perplexity %.1f | %.1fs",
            epoch, perplexity(lm, data.encoded["val"], 512, device), time.perf_counter() - started,
        )
    return time.perf_counter() - begun
