"""Checkpoint -> ready model: the one loading layer under every command that uses a trained model.

`load_model` turns a checkpoint (a file or a run folder) into a `LoadedModel`: the network in eval
mode on its device, the `Encoding` that turns new text into what it reads, the checkpoint's own
entries and the training config. `load_members` does it for an ensemble and checks that the
members read the same data the same way. Commands (evaluate, predict, explain, export, serve) and
the Python API call these; none of them rebuilds a model or an encoding itself.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from textclf import __version__
from textclf.core.config_history import current_config, current_data_args
from textclf.core.errors import TextclfError, first_line
from textclf.data.encoding import Encoding, MemoryLayout
from textclf.data.encoding import settings as encoding_settings
from textclf.data.pipeline import build_source
from textclf.inference.checkpoint import find_checkpoints, load_checkpoint, one_checkpoint
from textclf.inference.device import resolve_device
from textclf.models.build import ModelArgs, build_model, reads_memory
from textclf.models.registry import Part, class_path, part_from_config, resolve
from textclf.models.task import DEFAULT_THRESHOLD, Task

log = logging.getLogger("textclf.inference")


class LoadedModel(NamedTuple):
    model: torch.nn.Module
    encoding: Encoding
    checkpoint: dict[str, Any]
    config: DictConfig  # the training run's
    path: Path  # the checkpoint file it came from

    @property
    def labels(self) -> list[str]:
        return self.encoding.labels

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def task(self) -> Task:
        return checkpoint_task(self.checkpoint, self.encoding, self.config)


def checkpoint_task(checkpoint: dict[str, Any], encoding: Encoding, train_cfg: DictConfig) -> Task:
    """How the model decides: single-label (every checkpoint from before multi-label), or a
    sigmoid per label with the thresholds the checkpoint stores; one written before checkpoints
    carried them uses the run's fixed task.threshold, or 0.5 where that was ``tuned``."""
    if not encoding.multi_label:
        return Task()
    stored = checkpoint.get("thresholds")
    if stored is None:
        fixed = OmegaConf.select(train_cfg, "task.threshold", default=DEFAULT_THRESHOLD)
        stored = [DEFAULT_THRESHOLD if fixed == "tuned" else float(fixed)] * len(encoding.labels)
    return Task(True, tuple(float(t) for t in stored))


def load_model(ckpt_path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the trained model from a checkpoint, in eval mode on ``device``."""
    if isinstance(ckpt_path, (str, Path)):  # a list is refused by load_checkpoint, with its message
        ckpt_path = one_checkpoint(ckpt_path)
    checkpoint = load_checkpoint(ckpt_path)
    train_cfg = stored_config(checkpoint, ckpt_path)
    encoding = checkpoint_encoding(checkpoint, train_cfg)
    vocab = encoding.vocab
    model = build_model(model_args(checkpoint, train_cfg), len(vocab), len(encoding.labels), vocab.label_ids(encoding.labels))
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise TextclfError(
            f"{ckpt_path}: the weights do not fit the model its config describes ({first}). The file was "
            "edited or mixes two runs; use the best.pt/last.pt a training run wrote."
        ) from None
    model.to(resolve_device(device, key="device")).eval()
    return LoadedModel(model, encoding, checkpoint, train_cfg, Path(ckpt_path))


def checkpoint_encoding(checkpoint: dict[str, Any], train_cfg: DictConfig) -> Encoding:
    """The checkpoint's `Encoding`. Checkpoints written before it was stored (no "encoding" entry)
    get it from their data config, read the way those versions read it."""
    settings = checkpoint.get("encoding")
    if settings is None:
        source = build_source(train_cfg.data)  # reads no file: only the config's length settings
        memory = MemoryLayout(source.max_memories, source.memory_window) if reads_memory(train_cfg) else None
        settings = encoding_settings(source.max_tokens, memory, stories=bool(checkpoint["groups"]))
    return Encoding.from_checkpoint(checkpoint, settings)


def stored_config(checkpoint: dict[str, Any], ckpt_path: str | Path) -> DictConfig:
    """The training config a checkpoint carries, checked for the parts that rebuild the model and
    find the data, so that a damaged one fails here by name rather than as a missing key later,
    read under today's key names (core/config_history.py) and with its classes where they live
    today (`with_current_classes`)."""
    needed = ("model.encoder._target_", "embedding._target_", "data._target_")
    try:
        cfg = OmegaConf.create(checkpoint["config"])
    except Exception as err:  # the YAML parser's errors share no useful base class
        raise TextclfError(
            f"{ckpt_path}: the training config stored in the checkpoint is not valid YAML ({first_line(err)}). "
            "Use the best.pt/last.pt a training run wrote, or retrain."
        ) from None
    missing = [key for key in needed if not isinstance(cfg, DictConfig) or OmegaConf.select(cfg, key) is None]
    if missing:
        raise TextclfError(
            f"{ckpt_path}: the training config stored in the checkpoint lacks {', '.join(missing)}, so the model "
            "cannot be rebuilt. Use the best.pt/last.pt a training run wrote, or retrain."
        )
    return with_current_classes(checkpoint, current_config(cfg), ckpt_path)


def model_args(checkpoint: dict[str, Any], train_cfg: DictConfig) -> ModelArgs:
    """The model's registry names and arguments: the checkpoint's ``model_args``, or, in one
    written before they were stored, what its config's ``_target_`` import paths resolve to."""
    stored = checkpoint.get("model_args")
    return ModelArgs.from_config(train_cfg) if stored is None else ModelArgs.from_checkpoint(stored)


def data_source(checkpoint: dict[str, Any], train_cfg: DictConfig) -> Part:
    """The dataset's registry name and arguments, found the way `model_args` finds the model's."""
    stored = checkpoint.get("data_source")
    part = part_from_config("data", train_cfg.data) if stored is None else Part(**stored)
    return Part(part.name, current_data_args(part.name, part.args))


def with_current_classes(checkpoint: dict[str, Any], cfg: DictConfig, ckpt_path: str | Path) -> DictConfig:
    """``cfg`` with every ``_target_`` that builds the model or reads the data set to where its class
    lives today, found by registry name: whatever reads the config later (evaluate and explain's
    `build_source`, `reads_memory`) then never imports a path that moved since the checkpoint was written."""
    try:
        args, source = model_args(checkpoint, cfg), data_source(checkpoint, cfg)
        cfg.embedding._target_ = class_path(resolve("embedding", args.embedding.name))
        cfg.model.encoder._target_ = class_path(resolve("encoder", args.encoder.name))
        cfg.data = {"_target_": class_path(resolve("data", source.name)), **source.args}
    except TextclfError as err:
        raise TextclfError(
            f"{ckpt_path}: {err} The checkpoint names a class this textclf {__version__} does not have: "
            "load it with the version that wrote it, or retrain."
        ) from None
    except (TypeError, KeyError) as err:  # model_args or data_source edited into another shape
        raise TextclfError(
            f"{ckpt_path}: the checkpoint's model_args or data_source is damaged ({first_line(err)}). "
            "Use the best.pt/last.pt a training run wrote, or retrain."
        ) from None
    return cfg


def data_config(train_cfg: DictConfig, override: DictConfig | None) -> DictConfig:
    """The dataset to read: the checkpoint's own, patched or replaced by the command line."""
    stored = train_cfg.data
    if not override:
        return stored
    if "_target_" in override and override._target_ != stored._target_:
        return override  # a different dataset (data=NAME): take it as it is
    return OmegaConf.merge(stored, override)  # same dataset, some keys changed (e.g. +data.root=DIR)


def checkpoint_paths(value: Any) -> list[str]:
    """``ckpt_path`` as a list of files: one checkpoint, or several (an ensemble); each entry may
    be a file, a run folder, a sweep folder or a glob pattern (`find_checkpoints`)."""
    entries = [str(p) for p in value] if isinstance(value, (list, ListConfig)) else [str(value)]
    if not entries:
        raise TextclfError("ckpt_path=[] names no checkpoint; give one (ckpt_path=PATH) or several (ckpt_path=[A,B]).")
    paths = [str(path) for entry in entries for path in find_checkpoints(entry)]
    # Naming one checkpoint twice is allowed (it then weighs double), but with folders and patterns
    # it mostly happens by accident ([SWEEP, SWEEP/0], RUN/*.pt matching best.pt and last.pt).
    counts = Counter(str(Path(path).resolve()) for path in paths)
    repeated = [path for path, count in counts.items() if count > 1]
    if repeated:
        log.warning("ckpt_path names %s more than once; each copy counts in the average", ", ".join(repeated))
    return paths


def load_members(paths: list[str], device: str) -> list[LoadedModel]:
    """The models of ``paths``, checked to read the same data the same way: averaging
    probabilities needs the same classes in the same order and the same token ids."""
    members = [load_model(path, device) for path in paths]
    if len(members) > 1 and any(member.encoding.multi_label for member in members):
        raise TextclfError(
            f"cannot ensemble {len(members)} checkpoints: {', '.join(str(m.path) for m in members if m.encoding.multi_label)} "
            "is a multi-label model, and averaging models with per-label thresholds is not supported. "
            "Evaluate each checkpoint on its own (ckpt_path=PATH)."
        )
    first = members[0].checkpoint
    for path, member in zip(paths[1:], members[1:]):
        other = member.checkpoint
        if other["labels"] != first["labels"]:
            mine, theirs = len(first["labels"]), len(other["labels"])
            how = f"{mine} vs {theirs} labels" if mine != theirs else f"the same {mine} labels in another order"
            raise TextclfError(
                f"cannot ensemble {paths[0]} and {path}: their label sets differ ({how}). "
                "Ensemble runs trained on the same data."
            )
        if other["tokenizer"] != first["tokenizer"]:
            raise TextclfError(
                f"cannot ensemble {paths[0]} and {path}: their vocabularies differ, so the same text would get "
                "different token ids. Ensemble runs trained on the same data with the same tokenizer settings."
            )
    return members
