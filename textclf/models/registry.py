"""Classes by short name: what a checkpoint records instead of import paths.

A checkpoint that named its encoder ``textclf.models.bilstm.BiLSTM`` would stop loading the day
that class moved or its module was renamed. Checkpoints name it ``bilstm`` instead (nanoGPT's
``model_args``: a name and the constructor's arguments), and this file maps the names to today's
classes: one dict per kind, the only place that changes when a class moves.

The config files keep Hydra's ``_target_`` import paths (config_rules checks them, Hydra
composes them); `resolve` turns one of those, or a name, into the registered class. An import
path is matched by the class's own path and, failing that, by its class name alone, so that a
checkpoint written before a class moved to another module still finds it. No registered class
has moved or been renamed so far (git log of textclf/models and textclf/data), so there is no
table of old paths yet; a class renamed later would need one, consulted by `registered_name`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from textclf.core.errors import TextclfError
from textclf.data.babi import Babi
from textclf.data.generated import GeneratedBabi
from textclf.data.imdb import IMDB
from textclf.data.mr import MR
from textclf.data.sst import SST
from textclf.data.subj import SUBJ
from textclf.data.table import Table
from textclf.data.trec import TREC
from textclf.models.bilstm import BiLSTM
from textclf.models.embedding import Embedding
from textclf.models.fasttext import FastText
from textclf.models.memn2n import MemN2N
from textclf.models.rcnn import TextRCNN
from textclf.models.textcnn import TextCNN
from textclf.models.textrnn import TextRNN

ENCODERS: dict[str, type] = {
    "textrnn": TextRNN,
    "bilstm": BiLSTM,
    "rcnn": TextRCNN,
    "memn2n": MemN2N,
    "textcnn": TextCNN,
    "fasttext": FastText,
}
# Every conf/embedding/*.yaml builds the same table; they differ in arguments and vectors only.
EMBEDDINGS: dict[str, type] = {"embedding": Embedding}
# sst2 and sst5 are one class with different arguments, so one name.
DATA_SOURCES: dict[str, type] = {
    "babi": Babi,
    "babi_gen": GeneratedBabi,
    "sst": SST,
    "mr": MR,
    "subj": SUBJ,
    "trec": TREC,
    "imdb": IMDB,
    "table": Table,
}
REGISTRY: dict[str, dict[str, type]] = {"encoder": ENCODERS, "embedding": EMBEDDINGS, "data": DATA_SOURCES}


@dataclass(frozen=True)
class Part:
    """A registered class by name, with its constructor's arguments (plain Python values, so that
    a checkpoint holding it still loads with ``torch.load(weights_only=True)``)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


def class_path(cls: type) -> str:
    """The import path Hydra's ``_target_`` gives for ``cls``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_name(kind: str, name_or_target: str) -> str:
    """The registry name of ``name_or_target``: a name, or the import path of a registered class
    (where it lives now, or anywhere else under its class name)."""
    known = REGISTRY[kind]
    if name_or_target in known:
        return name_or_target
    by_path = {class_path(cls): name for name, cls in known.items()}
    by_class_name = {cls.__name__: name for name, cls in known.items()}
    found = by_path.get(name_or_target) or by_class_name.get(str(name_or_target).rsplit(".", 1)[-1])
    if found is None:
        raise TextclfError(
            f"unknown {kind} {name_or_target!r}: the known {kind} names are {', '.join(sorted(known))} "
            "(or the import path of one of their classes)."
        )
    return found


def resolve(kind: str, name_or_target: str) -> type:
    """The class registered for ``name_or_target`` (see `registered_name`)."""
    return REGISTRY[kind][registered_name(kind, name_or_target)]


def part_from_config(kind: str, node: DictConfig, skip: tuple[str, ...] = ()) -> Part:
    """The `Part` a config node with a ``_target_`` describes: its keys but ``_target_`` (and
    ``skip``) are the constructor's arguments."""
    args = OmegaConf.to_container(node, resolve=True)
    target = args.pop("_target_")
    return Part(registered_name(kind, target), {key: value for key, value in args.items() if key not in skip})
