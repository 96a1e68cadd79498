"""Every setting's rule, in one table, checked where a config enters the program.

A value that YAML parses into the wrong type (``optimizer.lr=abc``), out of range
(``trainer.grad_clip=-1``, which would flip every gradient) or meaningless (``embedding.dim=0``)
is refused here with one message naming the key, what it must be and what it got, before any data
is read or model built. `check_config` runs at the start of every command (train, evaluate,
predict, explain, export, serve).

Why a table rather than Hydra structured configs (dataclasses in the ConfigStore): the groups
swap whole subtrees (``model=memn2n`` brings keys the other models lack, ``scheduler=none`` has no
keys at all), experiments add keys with ``++`` and datasets differ in theirs; one dataclass per
option would spread the same rule (a dropout is a share in [0, 1)) over many classes. Here a key
has one rule wherever it appears, and tests/test_config_rules.py walks every file in conf/ and
fails for a key without one.

Keys that no file in conf/ sets but users add (``++optimizer.betas=[0.9,0.98]``) have rules too
where they are common; any other added key is left to what reads it (the optimizer or dataset
constructor refuses what it does not take). Hydra's own ``hydra.*`` keys are Hydra's to check.
"""

from __future__ import annotations

import codecs
import difflib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from textclf.core.errors import TextclfError


class Rule:
    """What one setting may be: `problem` says what is wrong with a value, or None."""

    text: str  # "a whole number >= 1", for the message

    def problem(self, value: Any) -> str | None:
        return None if self.accepts(value) else f"must be {self.text}"

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError


def is_number(value: Any) -> bool:
    """A real, finite number: YAML makes ``nan``/``inf`` floats, and bools are ints in Python."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Number(Rule):
    """A finite number between ``low`` and ``high`` (each bound inclusive unless ``*_open``)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    whole: bool = False
    null: bool = False  # None (YAML null) allowed, meaning "off" or "not set"

    @property
    def text(self) -> str:  # type: ignore[override]
        if self.whole and self.low == 1 and self.high is None:
            return "a positive integer" + (" or null" if self.null else "")
        parts = ["a whole number" if self.whole else "a number"]
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {bound(self.low)}")
        if self.high is not None:
            parts.append(f"{'and ' if self.low is not None else ''}{'<' if self.high_open else '<='} {bound(self.high)}")
        return " ".join(parts) + (" or null" if self.null else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.null
        if not is_number(value) or (self.whole and not isinstance(value, int)):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))


def bound(value: float) -> str:
    """A range end as people write it: 4294967295 rather than 4.29497e+09, 0.5 rather than 0.500000."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def whole(low: int | None = None, high: int | None = None, null: bool = False) -> Number:
    return Number(low, high, whole=True, null=null)


COUNT = whole(1)  # sizes, counts, epochs: at least one
SHARE = Number(0, 1, high_open=True)  # dropout-like probabilities: 1 would drop everything
SEED = whole(0, 2**32 - 1)  # numpy's and Python's generators take seeds in this range


@dataclass(frozen=True)
class OneOf(Rule):
    """One of fixed names; a number given for one (``precision=16``) compares as its text."""

    options: tuple[str, ...]

    @property
    def text(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.options)

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, str) or is_number(value)) and str(value) in self.options


@dataclass(frozen=True)
class Flag(Rule):
    null: bool = False
    text: str = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool) or (self.null and value is None)


@dataclass(frozen=True)
class Text(Rule):
    """A non-empty string (a path, a name, a column); ``null`` allows None."""

    null: bool = False

    @property
    def text(self) -> str:  # type: ignore[override]
        return "a non-empty text" + (" or null" if self.null else "")

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, str) and value.strip() != "") or (self.null and value is None)


@dataclass(frozen=True)
class Check(Rule):
    """A rule that needs code: ``accepts`` as a function, ``text`` for the message."""

    test: Callable[[Any], bool]
    text: str

    def accepts(self, value: Any) -> bool:
        return self.test(value)


def known_codec(value: Any) -> bool:
    if value == "auto":
        return True
    try:
        return isinstance(value, str) and codecs.lookup(value) is not None
    except LookupError:
        return False


def listed(rule: Rule, value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(rule.accepts(item) for item in value)


TASKS = Check(lambda v: v == "all" or COUNT.accepts(v) or listed(COUNT, v), "all, a task number >= 1 or a list of them")
CHECKPOINTS = Check(lambda v: Text().accepts(v) or listed(Text(), v), "a checkpoint file or run folder, or a list of them")
DEVICE = Check(
    lambda v: isinstance(v, str) and (v in ("auto", "cpu", "cuda", "mps") or (v.startswith("cuda:") and v[5:].isdigit())),
    "auto, cpu, cuda, cuda:N or mps",
)
BETAS = Check(lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(SHARE.accepts(b) for b in v), "a pair [b1, b2], each in [0, 1)")
INDICES = Check(lambda v: v is None or listed(whole(0), v), "null or a list of example positions >= 0")
VAL_METRIC = Check(lambda v: isinstance(v, str) and v.startswith("val_"), "a validation metric such as val_acc, val_macro_f1 or val_loss")
PARTIAL = Check(lambda v: v is True, "true (the trainer supplies the rest of the arguments)")
COLUMN = Check(lambda v: Text().accepts(v) or whole(0).accepts(v), "a column name or position (0 = the first)")
COLUMNS = Check(lambda v: COLUMN.accepts(v) or listed(COLUMN, v), "a column name or position (0 = the first), or a list of them")
WEIGHTS = Check(
    lambda v: v in (None, "none", "balanced") or listed(Number(0, low_open=True), v),
    "none, balanced or a list of weights > 0, one per class in label order",
)
THRESHOLD = Check(lambda v: v == "tuned" or (is_number(v) and 0 < v < 1), "a number > 0 and < 1, or tuned")
TARGET = Check(lambda v: isinstance(v, str) and "." in v and " " not in v, "a dotted Python path such as torch.optim.Adam")

# The table: full dotted key -> rule. Keys shared by several files of a group (model.encoder.hidden_size,
# data.root) have one rule, since they mean the same wherever they appear.
RULES: dict[str, Rule] = {
    # the top level (train.yaml and the commands' own files)
    "seed": SEED,
    "ckpt_path": Check(lambda v: v is None or CHECKPOINTS.accepts(v), "null, a checkpoint file or run folder, or a list of them"),
    "optimized_metric": Text(),
    "init_from": Text(null=True),
    "paths.data_dir": Text(),
    "split": OneOf(("train", "val", "test")),
    "batch_size": COUNT,
    "device": DEVICE,
    "input": Text(null=True),
    "text": Text(null=True),
    "output": Text(null=True),
    "top_k": COUNT,
    "indices": INDICES,
    "group": Text(null=True),
    "count": COUNT,
    "format": OneOf(("torchscript", "onnx")),
    "out_dir": Text(null=True),
    # serve.yaml
    "host": Text(),
    "port": whole(1, 65535),
    "runtime": OneOf(("torch", "onnx", "onnx-int8")),
    "quantize": Check(lambda v: v in (None, "int8"), "null or int8"),
    "num_threads": whole(1, null=True),
    "max_texts": COUNT,
    "max_chars": COUNT,
    "batch_wait_ms": Number(0, 1000),
    "access_log": Flag(),
    "read_timeout": Number(0, 3600, low_open=True),
    "max_connections": COUNT,
    "allowed_hosts": Check(lambda v: v is None or listed(Text(), v), "null or a list of host names, e.g. [example.org, 10.0.0.5]"),
    # data: conf/data/*.yaml and DataSource's fields
    "data._target_": TARGET,
    "data.root": Text(),
    "data.download": Flag(),
    "data.seed": SEED,
    "data.folds": whole(2, null=True),
    "data.fold": whole(0, null=True),  # the held-out validation split's shuffle
    "data.tasks": TASKS,
    "data.val_fraction": Number(0, 1, low_open=True, high_open=True),
    "data.max_tokens": COUNT,
    "data.max_memories": COUNT,
    "data.memory_window": COUNT,
    "data.n_train": COUNT,
    "data.n_test": COUNT,
    "data.generator_seed": SEED,
    "data.variant": OneOf(("binary", "fine")),
    "data.fine": Flag(),
    "data.train_file": Text(null=True),
    "data.val_file": Text(null=True),
    "data.test_file": Text(null=True),
    "data.header": Flag(),
    "data.text_column": COLUMNS,
    "data.label_column": COLUMN,
    "data.context_column": Check(lambda v: v is None or COLUMN.accepts(v), "null, a column name or position (0 = the first)"),
    "data.label_names": Text(null=True),
    "data.weight_column": Check(lambda v: v is None or COLUMN.accepts(v), "null, a column name or position (0 = the first)"),
    "data.label_id_base": whole(0, 1),
    "data.charset": Check(known_codec, "auto or a Python codec name such as utf-8, latin-1 or gb18030"),  # auto: data/charsets.py
    "data.label_separator": Check(lambda v: isinstance(v, str) and v != "", "a non-empty text (a space or a tab is allowed)"),
    "data.missing_labels": OneOf(("refuse", "drop")),
    "data.streaming": Check(lambda v: v in (True, False, "auto"), "true, false or auto"),
    "data.streaming_above_mb": Number(0, None),
    "data.val_max_rows": COUNT,
    # embedding: conf/embedding/*.yaml
    "embedding._target_": TARGET,
    "embedding.path": Text(),
    "embedding.words": Text(null=True),
    "embedding.dim": COUNT,
    "embedding.dropout": SHARE,
    "embedding.word_dropout": SHARE,
    "embedding.freeze": Flag(),
    # model: conf/model/*.yaml
    "model.name": Text(),  # a name for logs and reports; model.encoder._target_ picks the code
    "model.dropout": SHARE,
    "model.encoder._target_": TARGET,
    "model.encoder.hidden_size": COUNT,
    "model.encoder.projection_size": COUNT,
    "model.encoder.num_layers": COUNT,
    "model.encoder.dropout": SHARE,
    "model.encoder.cell": OneOf(("rnn", "lstm", "gru")),
    "model.encoder.bidirectional": Flag(),
    "model.encoder.pooling": OneOf(("max", "mean", "attention", "last")),
    "model.encoder.widths": Check(lambda v: listed(COUNT, v), "a list of filter widths, each a positive integer"),
    "model.encoder.filters": COUNT,
    "model.encoder.hops": COUNT,
    "model.encoder.memory_size": COUNT,
    "model.encoder.tying": OneOf(("adjacent", "layerwise")),
    "model.encoder.position_encoding": Flag(),
    "model.encoder.position_span": whole(1, null=True),
    "model.encoder.temporal_encoding": Flag(),
    "model.encoder.random_noise": SHARE,
    "model.encoder.init_std": Number(0, low_open=True),
    "model.encoder.attend_empty_slots": Flag(),
    "model.encoder.empty_slot_value": Flag(),
    "model.encoder.nonlinearity": OneOf(("none", "relu")),
    "model.encoder.hop_map": Flag(null=True),
    "model.encoder.hop_gate": Flag(),
    "model.encoder.hop_gate_mode": OneOf(("replace", "add")),
    "model.linear_start": Flag(),
    "model.linear_start_patience": COUNT,
    "model.linear_start_max_epochs": whole(1, null=True),
    "model.linear_start_lr_scale": Number(0, low_open=True),
    "model.tie_answers": Flag(),
    "model.sparse": Flag(),  # sparse gradients for the word and n-gram tables (training/sparse.py); absent = false
    # the n-gram branch: conf/model/ngrams/*.yaml, chosen with model/ngrams=NAME; absent or null = off
    "model.ngrams": Check(lambda v: v is None, "null (no branch) or the branch's settings: choose them with model/ngrams=bigrams"),
    "model.ngrams.max_n": whole(2),
    "model.ngrams.buckets": whole(1, 2**24),
    "model.ngrams.dim": COUNT,
    "model.ngrams.dropout": SHARE,
    # tokenizer: conf/tokenizer/*.yaml
    "tokenizer.kind": OneOf(("word", "bpe", "wordpiece")),
    "tokenizer.lowercase": Flag(),
    "tokenizer.min_freq": COUNT,
    "tokenizer.max_size": whole(1, null=True),
    "tokenizer.cjk_chars": Flag(),
    "tokenizer.drop_punctuation": Flag(),
    # trainer: conf/trainer/*.yaml
    # search: conf/search/optuna.yaml, with conf/hparams_search/*.yaml
    "search.study_name": Check(lambda v: isinstance(v, str) and v.strip() != "" and "/" not in v, "a name without /"),
    "search.direction": OneOf(("maximize", "minimize")),
    "search.n_trials": COUNT,
    "search.n_jobs": COUNT,
    "search.dir": Text(),
    "search.storage": Text(null=True),
    "search.sampler": OneOf(("tpe", "random")),
    "search.seed": SEED,
    "search.pruner": OneOf(("median", "hyperband", "none")),
    "search.startup_trials": whole(0),
    "search.warmup_epochs": whole(0),
    "search.params": Check(lambda v: isinstance(v, dict) and len(v) > 0, "a mapping of settings to search, such as {optimizer.lr: 'interval(0.001, 0.1)'}"),
    # logger: conf/logger/*.yaml
    "logger.kind": OneOf(("none", "mlflow")),
    "logger.tracking_uri": Text(null=True),
    "logger.experiment": Text(),
    # task: conf/task/*.yaml
    "task.multi_label": Flag(),
    "task.class_weights": WEIGHTS,
    "task.sampler": OneOf(("shuffle", "balanced")),
    "task.threshold": THRESHOLD,
    "trainer.max_epochs": COUNT,
    "trainer.batch_size": COUNT,
    "trainer.pool_batches": COUNT,
    "trainer.eval_batch_size": COUNT,
    "trainer.grad_clip": Number(0, low_open=True, null=True),  # a negative norm would flip every gradient
    "trainer.grad_clip_scope": OneOf(("global", "parameter", "spectral")),
    "trainer.grad_noise": Number(0),
    "trainer.loss_reduction": OneOf(("mean", "sum")),
    "trainer.monitor": VAL_METRIC,
    "trainer.patience": whole(1, null=True),
    "trainer.device": DEVICE,
    "trainer.deterministic": Flag(),
    "trainer.num_threads": whole(1, null=True),
    "trainer.progress": Flag(),
    "trainer.tensorboard": Flag(),
    "trainer.restarts": COUNT,
    "trainer.precision": OneOf(("32", "bf16", "16")),
    "trainer.resume": Flag(),
    "trainer.overwrite": Flag(),
    "trainer.allow_changed_data": Flag(),
    "trainer.distributed": Flag(),
    "trainer.find_unused_parameters": Flag(),
    # baseline: conf/baseline/*.yaml
    "baseline.kind": OneOf(("tfidf", "none")),
    "baseline.strengths": Check(lambda v: listed(Number(0, low_open=True), v), "a list of numbers > 0 (logistic regression's C)"),
    "baseline.max_iter": COUNT,
    "baseline.max_train_rows": COUNT,
    # pretrain: conf/pretrain/*.yaml
    "pretrain.kind": OneOf(("none", "lm")),
    "pretrain.epochs": COUNT,
    "pretrain.lr": Number(0, low_open=True),
    "pretrain.batch_size": COUNT,
    "pretrain.unlabeled_file": Text(null=True),
    # optimizer: conf/optimizer/*.yaml, and the torch.optim arguments users most often add
    "optimizer._target_": TARGET,
    "optimizer._partial_": PARTIAL,  # the trainer passes the parameters
    "optimizer.lr": Number(0, low_open=True),
    "optimizer.weight_decay": Number(0),
    "optimizer.momentum": SHARE,
    "optimizer.dampening": SHARE,
    "optimizer.nesterov": Flag(),
    "optimizer.betas": BETAS,
    "optimizer.eps": Number(0, low_open=True),
    "optimizer.amsgrad": Flag(),
    "optimizer.fused": Flag(null=True),
    "optimizer.foreach": Flag(null=True),
    # scheduler: conf/scheduler/*.yaml, and the torch.optim.lr_scheduler arguments users most often add
    "scheduler._target_": TARGET,
    "scheduler._partial_": PARTIAL,  # the trainer passes the optimizer
    "scheduler.step_size": COUNT,
    "scheduler.gamma": Number(0, 1, low_open=True),
    "scheduler.mode": OneOf(("min", "max")),
    "scheduler.factor": Number(0, 1, low_open=True, high_open=True),
    "scheduler.patience": whole(0),
    "scheduler.T_max": COUNT,
    "scheduler.eta_min": Number(0),
    "scheduler.min_lr": Number(0),
    "scheduler.cooldown": whole(0),
    "scheduler.threshold": Number(0),
}


# Mappings checked whole: their keys are settings' names (a search space), not settings.
WHOLE = ("search.params",)


def leaves(cfg: DictConfig, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, resolved value) for every leaf of ``cfg`` but Hydra's own ``hydra.*``. Values
    still at ``???`` are skipped: the first code that needs one asks for it by name."""
    for key in cfg.keys():
        path = f"{prefix}{key}"
        if path == "hydra" or OmegaConf.is_missing(cfg, key):
            continue
        value = cfg[key]
        if path in WHOLE:
            yield path, OmegaConf.to_container(value, resolve=True)
        elif isinstance(value, DictConfig):
            yield from leaves(value, f"{path}.")
        else:
            yield path, OmegaConf.to_container(value, resolve=True) if isinstance(value, ListConfig) else value


def config_problems(cfg: DictConfig) -> list[str]:
    """One line per setting that breaks its rule (keys without a rule are not checked here)."""
    found = []
    for key, value in leaves(cfg):
        rule = RULES.get(key)
        problem = rule.problem(value) if rule is not None else None
        if problem:
            found.append(f"{key} {problem}, got {value!r}")
    return found


def unread_keys(cfg: DictConfig) -> list[str]:
    """One line per key nothing reads: a misspelt key added with ``+`` (``+trainer.max_epoch=1``)
    would otherwise be kept, ignored, and the run go on with the real key's value. Every key textclf
    reads has a rule here; the keys of a node with a ``_target_`` go to its constructor, which
    refuses those it does not take (and may take more than this table knows, e.g. scheduler.milestones)."""
    found = []
    for key, value in leaves(cfg):
        if key in RULES or value is None or constructed(cfg, key):  # null: a group or value left unset
            continue
        near = difflib.get_close_matches(key, RULES, n=1, cutoff=0.75)
        found.append(f"{key} is not a setting textclf reads" + (f"; did you mean {near[0]}?" if near else ""))
    return found


def constructed(cfg: DictConfig, key: str) -> bool:
    """Whether ``key`` lies under a node that is instantiated with its keys (has a ``_target_``)."""
    parts = key.split(".")
    node: Any = cfg
    for part in parts[:-1]:
        node = node[part]
        if isinstance(node, DictConfig) and "_target_" in node:
            return True
    return False


def check_config(cfg: DictConfig) -> None:
    """Refuse a config with a key nothing reads, or any setting that breaks its rule, naming every one at once."""
    unread = unread_keys(cfg)
    if unread:
        raise TextclfError(f"{'; '.join(unread)}. Remove it (a key added with + must be one textclf reads), or spell it as the config files do.")
    found = config_problems(cfg)
    if len(found) == 1:
        raise TextclfError(f"{found[0]}. Set it on the command line (key=value) or in the config file.")
    if found:
        lines = "\n  ".join(found)
        raise TextclfError(f"{len(found)} settings are wrong:\n  {lines}\nSet them on the command line (key=value) or in the config files.")
