"""Build a classifier from config: the one place that wires embedding, encoder and head.

Used by training and by everything that loads a checkpoint, so a model rebuilt from a
checkpoint's stored config is the very architecture that was trained.
"""

from __future__ import annotations

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from textclf.core.errors import TextclfError
from textclf.data.vocab import UNK_ID
from textclf.models.classifier import TextClassifier, TiedAnswerHead
from textclf.models.ngrams import HashedNgrams


def reads_memory(cfg: DictConfig) -> bool:
    """Whether the configured encoder reads memories + query (MemN2N) rather than one sequence."""
    try:
        return bool(getattr(get_class(cfg.model.encoder._target_), "reads_memory", False))
    except Exception as err:
        raise TextclfError(f"model.encoder._target_={cfg.model.encoder._target_!r} is not an importable class ({err}).") from None


def label_bags(label_tokens: list[list[int]], vocab_size: int) -> torch.Tensor:
    """[C, V]: row c averages the one-hot vectors of label c's token ids."""
    bags = torch.zeros(len(label_tokens), vocab_size)
    for row, ids in enumerate(label_tokens):
        for token in ids or [UNK_ID]:
            bags[row, token] += 1.0 / max(1, len(ids))
    return bags


def ngram_branch(cfg: DictConfig) -> HashedNgrams | None:
    """The n-gram branch ``model.ngrams`` asks for (conf/model/ngrams/), or None: absent (as in every
    config and checkpoint from before the branch existed), null or empty (model/ngrams=none) means no branch."""
    settings = cfg.model.get("ngrams")
    if not settings:
        return None
    if reads_memory(cfg):
        raise TextclfError(
            f"model.ngrams: the n-gram branch reads one token sequence, and model={cfg.model.get('name', '?')} reads "
            "a story and a question. Drop model/ngrams=... (or model.ngrams) for memory models; any flat model takes it."
        )
    try:
        return HashedNgrams(**settings)
    except (TypeError, ValueError) as err:
        raise TextclfError(f"model.ngrams: {err}. conf/model/ngrams/bigrams.yaml lists its settings (max_n, buckets, dim, dropout).") from None


def build_model(
    cfg: DictConfig, vocab_size: int, num_classes: int, label_tokens: list[list[int]] | None = None
) -> TextClassifier:
    """``cfg`` is the full run config; its ``embedding`` and ``model`` groups choose the parts.
    ``label_tokens`` (token ids of each label) lets ``model.tie_answers`` tie the answer layer to
    an encoder's ``answer_embedding`` (MemN2N's W^T = C^K)."""
    ngrams = ngram_branch(cfg)  # first: a memory model with a branch is refused before anything is built
    # Memory encoders own further embedding tables (MemN2N's C^k), so they need the vocabulary size.
    sizes = {"vocab_size": vocab_size} if reads_memory(cfg) else {}
    try:
        # embedding.path and .words (pretrained vectors) are for the trainer to read, not module arguments.
        embedding_cfg = {key: cfg.embedding[key] for key in cfg.embedding if key not in ("path", "words")}
        embedding = instantiate(embedding_cfg, vocab_size=vocab_size)
        encoder = instantiate(cfg.model.encoder, input_size=embedding.dim, **sizes)
    except Exception as err:  # Hydra wraps the constructor's error with the target and config key
        message = " ".join(line.strip() for line in str(err).strip().splitlines())
        raise TextclfError(
            f"cannot build model '{cfg.model.get('name', '?')}': {message}. Check the model/embedding "
            "settings on the command line against conf/model/ and conf/embedding/."
        ) from None
    dropout = cfg.model.get("dropout", 0.0)
    head = None
    if cfg.model.get("tie_answers", False):
        if not hasattr(encoder, "answer_embedding"):
            raise TextclfError(f"model.tie_answers=true needs an encoder with an answer embedding (memn2n), not {cfg.model.name}.")
        if label_tokens is None or len(label_tokens) != num_classes:
            raise ValueError("tie_answers needs the token ids of every label")
        head = TiedAnswerHead(encoder.answer_embedding(), label_bags(label_tokens, vocab_size), dropout)
    return TextClassifier(embedding, encoder, num_classes, dropout=dropout, head=head, ngrams=ngrams)
