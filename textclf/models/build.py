"""Build a classifier from config: the one place that wires embedding, encoder and head.

Used by training and by everything that loads a checkpoint, so a model rebuilt from a
checkpoint's stored config is the very architecture that was trained.
"""

from __future__ import annotations

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from textclf.errors import TextclfError
from textclf.models.classifier import TextClassifier


def reads_memory(cfg: DictConfig) -> bool:
    """Whether the configured encoder reads memories + query (MemN2N) rather than one sequence."""
    try:
        return bool(getattr(get_class(cfg.model.encoder._target_), "reads_memory", False))
    except Exception as err:
        raise TextclfError(f"model.encoder._target_={cfg.model.encoder._target_!r} is not an importable class ({err}).") from None


def build_model(cfg: DictConfig, vocab_size: int, num_classes: int) -> TextClassifier:
    """``cfg`` is the full run config; its ``embedding`` and ``model`` groups choose the parts."""
    # Memory encoders own further embedding tables (MemN2N's C^k), so they need the vocabulary size.
    sizes = {"vocab_size": vocab_size} if reads_memory(cfg) else {}
    try:
        embedding = instantiate(cfg.embedding, vocab_size=vocab_size)
        encoder = instantiate(cfg.model.encoder, input_size=embedding.dim, **sizes)
    except Exception as err:  # Hydra wraps the constructor's error with the target and config key
        message = " ".join(line.strip() for line in str(err).strip().splitlines())
        raise TextclfError(
            f"cannot build model '{cfg.model.get('name', '?')}': {message}. Check the model/embedding "
            "settings on the command line against conf/model/ and conf/embedding/."
        ) from None
    return TextClassifier(embedding, encoder, num_classes, dropout=cfg.model.get("dropout", 0.0))
