"""Continued training: ``init_from=CKPT`` starts a new run from a trained model.

The new run takes the parent's architecture (its model, word-table and tokenizer settings replace
the command's), its vocabulary as it is, and its weights; it trains on the data the command names,
in a run folder of its own, with the parent recorded in its checkpoints and results. Labels: the
parent's keep their rows of the output layer, and labels the new data adds get fresh rows after
them. Words: the vocabulary is the parent's, so a word it never saw reads as <unk>, exactly as when
the parent itself predicts; subword tokenizers (tokenizer=bpe|wordpiece) split such words into
pieces they know.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from textclf.core.errors import TextclfError
from textclf.inference.loader import LoadedModel, load_model

log = logging.getLogger("textclf.train")

ARCHITECTURE = ("model", "embedding", "tokenizer")  # the config groups a continued run takes from its parent


def adopt_parent(cfg: DictConfig) -> tuple[DictConfig, LoadedModel | None]:
    """``cfg`` with the parent's architecture, and the parent (None without init_from)."""
    if not cfg.init_from:
        return cfg, None
    if cfg.ckpt_path:
        raise TextclfError("init_from starts a new run from a trained model and ckpt_path resumes an interrupted one; give one of them.")
    parent = load_model(str(cfg.init_from))
    if parent.encoding.multi_label != bool(cfg.task.multi_label):
        kinds = {True: "task=multi_label", False: "task=single_label"}
        raise TextclfError(f"init_from={cfg.init_from} was trained with {kinds[parent.encoding.multi_label]}; continue it with the same.")
    cfg = OmegaConf.create(OmegaConf.to_container(cfg))
    with open_dict(cfg):
        for group in ARCHITECTURE:
            cfg[group] = parent.config[group]
        cfg.init_from = str(parent.path.absolute())
    log.info("init_from %s: model %s, its word tables and vocabulary, trained %s on %s", parent.path, parent.config.model.name,
             parent.checkpoint.get("trained_at", "(date not recorded)"), parent.checkpoint.get("data_description") or "its data")
    return cfg, parent


def parent_record(parent: LoadedModel | None) -> dict[str, Any] | None:
    """What a continued run's checkpoints say of its parent."""
    if parent is None:
        return None
    return {"path": str(Path(parent.path).absolute()), "trained_at": parent.checkpoint.get("trained_at"),
            "data": parent.checkpoint.get("data_description"), "labels": list(parent.labels), "epoch": parent.checkpoint.get("epoch")}


def load_grown(model: torch.nn.Module, parent_state: dict[str, torch.Tensor]) -> None:
    """Copy the parent's weights into ``model``. A tensor of the same shape is copied whole; one that
    has grown along its first dimension (the output layer's rows, one per label) gets the parent's
    rows first and keeps its fresh initialisation in the new ones."""
    own = model.state_dict()
    with torch.no_grad():
        for key, value in parent_state.items():
            target = own.get(key)
            if target is None:
                raise TextclfError(f"init_from: the parent has weights ({key}) the new model lacks; it was built another way.")
            if target.shape == value.shape:
                target.copy_(value)
            elif target.dim() == value.dim() and target.shape[1:] == value.shape[1:] and target.shape[0] > value.shape[0]:
                target[: value.shape[0]].copy_(value)
            else:
                raise TextclfError(f"init_from: {key} is {tuple(value.shape)} in the parent and {tuple(target.shape)} here; "
                                   "only the label rows of the output layer may grow.")
