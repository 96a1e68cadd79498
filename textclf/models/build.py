"""Build a classifier from names and arguments: the one place that wires embedding, encoder and head.

Training and loading meet here: training turns its config into `ModelArgs` (`ModelArgs.from_config`)
and stores them in every checkpoint (``model_args``); loading reads them back
(`ModelArgs.from_checkpoint`). Both then build through `build_model`, so a model rebuilt from a
checkpoint is the very architecture that was trained, and the classes are found by their registry
names (models/registry.py), not by the import paths they had when the checkpoint was written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from textclf.core.errors import TextclfError
from textclf.data.vocab import UNK_ID
from textclf.models.classifier import TextClassifier, TiedAnswerHead
from textclf.models.ngrams import HashedNgrams
from textclf.models.registry import Part, part_from_config, resolve


@dataclass(frozen=True)
class ModelArgs:
    """Everything `build_model` needs besides the data's sizes, by registry name: a checkpoint's
    ``model_args`` entry (`asdict` of this)."""

    embedding: Part
    encoder: Part
    dropout: float = 0.0  # before the classification layer
    tie_answers: bool = False  # W^T = C^K through the labels' tokens (TiedAnswerHead)
    ngrams: dict[str, Any] | None = None  # the hashed n-gram branch's settings, or no branch

    @classmethod
    def from_config(cls, cfg: DictConfig) -> ModelArgs:
        """The arguments a full run config's ``embedding`` and ``model`` groups give."""
        model = cfg.model
        ngrams = model.get("ngrams")
        return cls(
            # embedding.path and .words (pretrained vectors) are for the trainer to read, not module arguments.
            embedding=part_from_config("embedding", cfg.embedding, skip=("path", "words")),
            encoder=part_from_config("encoder", model.encoder),
            dropout=model.get("dropout", 0.0),
            tie_answers=bool(model.get("tie_answers", False)),
            ngrams=OmegaConf.to_container(ngrams, resolve=True) if isinstance(ngrams, DictConfig) else ngrams,
        )

    @classmethod
    def from_checkpoint(cls, stored: dict[str, Any]) -> ModelArgs:
        """The inverse of `to_checkpoint`."""
        return cls(**{**stored, "embedding": Part(**stored["embedding"]), "encoder": Part(**stored["encoder"])})

    def to_checkpoint(self) -> dict[str, Any]:
        """Plain dicts and values only: a checkpoint loads with ``weights_only=True``."""
        return asdict(self)

    @property
    def reads_memory(self) -> bool:
        """Whether the encoder reads memories + query (MemN2N) rather than one sequence."""
        return encoder_reads_memory(self.encoder.name)


def encoder_reads_memory(name_or_target: str) -> bool:
    """Whether an encoder (a registry name or ``_target_``) reads memories + query, as MemN2N does."""
    return resolve("encoder", name_or_target).reads_memory


def reads_memory(cfg: DictConfig) -> bool:
    """Whether the configured encoder reads memories + query (MemN2N) rather than one sequence."""
    return encoder_reads_memory(cfg.model.encoder._target_)


def label_bags(label_tokens: list[list[int]], vocab_size: int) -> torch.Tensor:
    """[C, V]: row c averages the one-hot vectors of label c's token ids."""
    bags = torch.zeros(len(label_tokens), vocab_size)
    for row, ids in enumerate(label_tokens):
        for token in ids or [UNK_ID]:
            bags[row, token] += 1.0 / max(1, len(ids))
    return bags


def ngram_branch(args: ModelArgs) -> HashedNgrams | None:
    """The n-gram branch ``model.ngrams`` asks for (conf/model/ngrams/), or None: absent (as in every
    config and checkpoint from before the branch existed), null or empty (model/ngrams=none) means no branch."""
    if not args.ngrams:
        return None
    if args.reads_memory:
        raise TextclfError(
            f"model.ngrams: the n-gram branch reads one token sequence, and model={args.encoder.name} reads "
            "a story and a question. Drop model/ngrams=... (or model.ngrams) for memory models; any flat model takes it."
        )
    try:
        return HashedNgrams(**args.ngrams)
    except (TypeError, ValueError) as err:
        raise TextclfError(f"model.ngrams: {err}. conf/model/ngrams/bigrams.yaml lists its settings (max_n, buckets, dim, dropout).") from None


def build_parts(args: ModelArgs, vocab_size: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The embedding and the encoder, by their registry names."""
    # Memory encoders own further embedding tables (MemN2N's C^k), so they need the vocabulary size.
    sizes = {"vocab_size": vocab_size} if args.reads_memory else {}
    embedding_class, encoder_class = resolve("embedding", args.embedding.name), resolve("encoder", args.encoder.name)
    try:
        embedding = embedding_class(**args.embedding.args, vocab_size=vocab_size)
        encoder = encoder_class(**args.encoder.args, input_size=embedding.dim, **sizes)
    except Exception as err:  # the constructor's own complaint (a setting it does not take, a bad value)
        message = " ".join(line.strip() for line in str(err).strip().splitlines())
        raise TextclfError(
            f"cannot build model '{args.encoder.name}': {message}. Check the model/embedding "
            "settings on the command line against conf/model/ and conf/embedding/."
        ) from None
    return embedding, encoder


def build_model(
    spec: ModelArgs | DictConfig, vocab_size: int, num_classes: int, label_tokens: list[list[int]] | None = None
) -> TextClassifier:
    """``spec``: `ModelArgs`, or a full run config whose ``embedding`` and ``model`` groups give them.
    ``label_tokens`` (token ids of each label) lets ``tie_answers`` tie the answer layer to an
    encoder's ``answer_embedding`` (MemN2N's W^T = C^K)."""
    args = spec if isinstance(spec, ModelArgs) else ModelArgs.from_config(spec)
    ngrams = ngram_branch(args)  # first: a memory model with a branch is refused before anything is built
    embedding, encoder = build_parts(args, vocab_size)
    head = None
    if args.tie_answers:
        if encoder.answer_embedding() is None:
            raise TextclfError(f"model.tie_answers=true needs an encoder with an answer embedding (memn2n), not {args.encoder.name}.")
        if label_tokens is None or len(label_tokens) != num_classes:
            raise ValueError("tie_answers needs the token ids of every label")
        head = TiedAnswerHead(encoder.answer_embedding(), label_bags(label_tokens, vocab_size), args.dropout)
    return TextClassifier(embedding, encoder, num_classes, dropout=args.dropout, head=head, ngrams=ngrams)
