"""From a data config to encoded splits: read the dataset, fit the `Encoding` on train, encode
every split once (training's `prepare`). Evaluation and prediction encode with the `Encoding` a
checkpoint stores (data/encoding.py) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from textclf.core.errors import TextclfError
from textclf.data.batching import EncodedSplit
from textclf.data.checks import check_empty_share, check_label_counts, check_training_data
from textclf.data.encoding import Encoding, MemoryLayout
from textclf.data.example import DataSource, Example, Splits
from textclf.data.files import fingerprint
from textclf.data.folds import fold_of
from textclf.data.shards import Shards
from textclf.data.streaming import streamed_split, streamed_tokens
from textclf.data.table import Table
from textclf.data.vocab import Vocab

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """A dataset read, its `Encoding` fitted on train, and every split encoded with it."""

    splits: Splits
    encoding: Encoding
    encoded: dict[str, EncodedSplit]
    fingerprint: dict[str, dict] = field(default_factory=dict)  # the files read (data/files.py `fingerprint`)
    # A streamed table (data/streaming.py): every training row, in token shards; splits.train and
    # encoded["train"] then hold a sample of them (what the baseline fits on). None: all in memory.
    shards: Shards | None = None

    @property
    def train_labels(self) -> torch.Tensor:
        """Every training row's class index (or label set), wherever the rows are."""
        if self.shards is not None:
            return torch.from_numpy(np.asarray(self.shards.labels, dtype=np.int64))
        return self.encoded["train"].labels

    @property
    def train_rows(self) -> int:
        return len(self.shards) if self.shards is not None else len(self.encoded["train"])

    @property
    def vocab(self) -> Vocab:
        return self.encoding.vocab

    @property
    def labels(self) -> list[str]:
        return self.encoding.labels

    @property
    def groups(self) -> list[str]:
        return self.encoding.groups


def training_texts(examples: Sequence[Example]) -> list[str]:
    """Every string the vocabulary should learn from: texts and their story sentences."""
    texts = [ex.text for ex in examples]
    texts.extend(sentence for ex in examples for sentence in ex.context)
    return texts


def group_names(examples: Sequence[Example]) -> list[str]:
    """Group names in natural order (qa2 before qa10)."""
    names = {ex.group for ex in examples if ex.group is not None}

    def natural(name: str):
        digits = "".join(ch for ch in name if ch.isdigit())
        return (name.rstrip("0123456789"), int(digits) if digits else -1, name)

    return sorted(names, key=natural)


def build_source(data_cfg: DictConfig, multi_label: bool | None = None) -> DataSource:
    """The dataset object a ``data`` config describes, reading labels as sets when ``multi_label``
    (task=multi_label: the task's choice, not the dataset's; None keeps the config's). A key the
    dataset does not take (e.g. ``+data.colum=x``) or a bad ``_target_`` fails inside Hydra's
    instantiate, which would print Hydra's wrapper message; the constructor's own error is the
    useful part."""
    label_sets = label_setting(data_cfg, multi_label)
    try:
        return instantiate(data_cfg, **label_sets)
    except InstantiationException as err:
        message = " ".join(line.strip() for line in str(err.__cause__ or err).strip().splitlines())
        if not message.endswith((".", "?")):
            message += "."
        raise TextclfError(
            f"cannot set up data {data_cfg.get('_target_', '?')}: {message} Check the data.* settings against "
            "conf/data/<name>.yaml (a key added with + must be one the dataset takes)."
        ) from None


def label_setting(data_cfg: DictConfig, multi_label: bool | None) -> dict[str, bool]:
    """The reader's ``multi_label`` argument: given to readers that can read label sets (tables,
    bAbI), none to the others, and task=multi_label refused for those."""
    target = str(data_cfg.get("_target_", ""))
    try:
        reads_sets = "multi_label" in {f.name for f in fields(get_class(target))}
    except Exception:  # a bad _target_: instantiate says so, with its own message
        return {}
    if multi_label is None or (not multi_label and not reads_sets):
        return {}
    if not reads_sets:
        raise TextclfError(
            f"task=multi_label: {target.rsplit('.', 1)[-1]} data has one label per text. Label sets are read "
            "from tables (data=table: a JSON list or data.label_separator in the label cell) and bAbI answers "
            "(data=babi, data=babi_gen); drop task=multi_label for this dataset."
        )
    return {"multi_label": bool(multi_label)}


def load_source(source: DataSource) -> Splits:
    """Download first if the config asks for it (data.download=true), then read; with data.folds,
    the fold data.fold of the training examples becomes validation (data/folds.py)."""
    if source.folds is None:
        if source.fold is not None:
            raise TextclfError(f"data.fold={source.fold} needs data.folds=K, the number of folds.")
        source.fetch()
        return source.load()
    if source.fold is None or not 0 <= source.fold < source.folds:
        raise TextclfError(f"data.fold must be one of 0 .. {source.folds - 1} with data.folds={source.folds}, got {source.fold}.")
    source.fetch()
    return fold_of(source.load(), source.folds, source.fold, source.seed)


def prepare(source: DataSource, tokenizer: Mapping[str, Any] | None = None, with_memory: bool = False, parent: Encoding | None = None) -> PreparedData:
    """Read the dataset, fit vocabulary and labels on train, encode train/val/test (with memory
    tensors too when the encoder reads memories). ``tokenizer`` holds the settings of
    conf/tokenizer/ (kind, lowercase, min_freq, max_size, cjk_chars, drop_punctuation), passed on to
    `Vocab.fit` together; None: its defaults (words, lowercased, every word kept).

    ``parent``: continued training (init_from): the parent's vocabulary is kept as it is (a word it
    never saw reads as <unk>, as it does when the parent predicts), and its labels keep their
    places, this data's new labels after them."""
    if isinstance(source, Table) and source.streams():
        return prepare_streamed(source, tokenizer, with_memory, parent)
    splits = load_source(source)
    for name in ("train", "val", "test"):
        if not splits.split(name):
            raise TextclfError(f"{splits.description or type(source).__name__}: the {name} split is empty; check the data files.")
    vocab, labels = fitted(splits, source, tokenizer, with_memory) if parent is None else grown(splits, parent)
    encoding = Encoding(
        vocab=vocab,
        labels=labels,
        groups=group_names(splits.train + splits.test),
        max_tokens=source.max_tokens,
        memory=MemoryLayout(source.max_memories, source.memory_window) if with_memory else None,
        stories=any(ex.context for ex in splits.train),
        multi_label=splits.multi_label,
    )
    encoded = {name: encoding.encode(splits.split(name), name) for name in ("train", "val", "test")}
    check_training_data(splits.train, labels, encoded["train"], splits.description or type(source).__name__)
    prepared = PreparedData(splits=splits, encoding=encoding, encoded=encoded, fingerprint=fingerprint(source.files()))
    log_prepared(prepared)
    return prepared


def log_prepared(data: PreparedData) -> None:
    splits = data.splits
    log.info(
        "data: %s | train %d, val %d, test %d | vocab %d | %d labels | max tokens %d",
        splits.description, data.train_rows, len(splits.val), len(splits.test),
        len(data.vocab), len(data.labels), int(data.encoded["train"].lengths.max()),
    )


def prepare_streamed(source: Table, tokenizer: Mapping[str, Any] | None, with_memory: bool, parent: Encoding | None) -> PreparedData:
    """`prepare` for a streamed table (data/streaming.py): validation and test encoded in memory,
    the training rows into token shards, and a sample of them encoded for the baseline."""
    if with_memory:
        raise TextclfError("a memory encoder (model=memn2n) reads stories, which a streamed table does not keep. Train a flat "
                           "encoder on it, or read the table into memory with data.streaming=false.")
    split = streamed_split(source)
    splits = split.splits(source)
    labels = splits.labels() if parent is None else grown(splits, parent)[1]
    check_label_counts(split.label_counts, labels, False, splits.description)  # before the two longer passes
    vocab, shards = streamed_tokens(split, source, tokenizer, None if parent is None else parent.vocab, labels)
    check_empty_share(shards.empty / max(1, len(shards)), splits.description)
    encoding = Encoding(vocab=vocab, labels=labels, groups=[], max_tokens=source.max_tokens, memory=None, stories=False)
    encoded = {name: encoding.encode(splits.split(name), name) for name in ("train", "val", "test")}
    prepared = PreparedData(splits=splits, encoding=encoding, encoded=encoded, fingerprint=fingerprint(source.files()), shards=shards)
    log_prepared(prepared)
    return prepared


def grown(splits: Splits, parent: Encoding) -> tuple[Vocab, list[str]]:
    """A continued model's vocabulary (the parent's) and labels (the parent's, then the new ones)."""
    new = [label for label in splits.labels() if label not in parent.labels]
    if new:
        log.info("init_from: %d new label(s) beside the parent's %d: %s", len(new), len(parent.labels), ", ".join(new))
    return parent.vocab, [*parent.labels, *new]


def fitted(splits: Splits, source: DataSource, tokenizer: Mapping[str, Any] | None, with_memory: bool) -> tuple[Vocab, list[str]]:
    """The vocabulary fitted on the training texts, and the labels."""
    texts = training_texts(splits.train)
    if with_memory:
        # The answer words too: MemN2N's tied answer layer (W^T = C^K) scores a class through its
        # label's word vectors, and bAbI answers such as yes, no, two or "n,w" never occur in a
        # story or question, so without this they would all be <unk> and indistinguishable.
        texts += [label for example in splits.train for label in example.labels]
    vocab = Vocab.fit(texts, **(tokenizer or {}), max_tokens=source.max_tokens)
    labels = splits.labels()
    if with_memory:
        vocab.add_answer_tokens(labels)  # after the words, so every word keeps its id
    return vocab, labels
