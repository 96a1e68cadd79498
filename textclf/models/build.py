"""Build a classifier from config: the one place that wires embedding, encoder and head.

Used by training and by everything that loads a checkpoint, so a model rebuilt from a
checkpoint's stored config is the very architecture that was trained.
"""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from textclf.errors import TextclfError
from textclf.models.classifier import TextClassifier


def build_model(cfg: DictConfig, vocab_size: int, num_classes: int) -> TextClassifier:
    """``cfg`` is the full run config; its ``embedding`` and ``model`` groups choose the parts."""
    try:
        embedding = instantiate(cfg.embedding, vocab_size=vocab_size)
        encoder = instantiate(cfg.model.encoder, input_size=embedding.dim)
    except Exception as err:  # Hydra wraps the constructor's error with the target and config key
        message = " ".join(line.strip() for line in str(err).strip().splitlines())
        raise TextclfError(
            f"cannot build model '{cfg.model.get('name', '?')}': {message}. Check the model/embedding "
            "settings on the command line against conf/model/ and conf/embedding/."
        ) from None
    return TextClassifier(embedding, encoder, num_classes, dropout=cfg.model.get("dropout", 0.0))
