"""Evaluate a checkpoint: `python -m textclf.evaluate ckpt_path=PATH [split=val] [data=NAME]`.

`ckpt_path=[A,B,...]` evaluates an ensemble: the checkpoints' class probabilities averaged, for
runs of the same data (same labels and vocabulary), e.g. the seeds of a `-m seed=0,1,...` sweep.

Uses only what the checkpoint holds (weights, tokenizer, labels, config) plus the data files, and
writes into its own run folder: classification_report.txt/.csv, confusion_matrix.png,
predictions.csv, results.json, and per_task_errors.md/.csv for bAbI data.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from textclf.checkpoint import find_checkpoints, load_checkpoint, one_checkpoint
from textclf.data.batching import BatchIterator, EncodedSplit
from textclf.data.pipeline import build_source, encode_examples, group_names, load_source, memory_layout
from textclf.data.vocab import Vocab
from textclf.errors import MissingDataError, TextclfError, exit_on_user_error, first_line, hint_misspelt_keys, positive_int
from textclf.inference import predict_proba
from textclf.models.build import build_model, reads_memory
from textclf.report import write_json, write_report
from textclf.train import resolve_device

log = logging.getLogger("textclf.evaluate")


class LoadedModel(NamedTuple):
    model: torch.nn.Module
    vocab: Vocab
    checkpoint: dict[str, Any]
    config: DictConfig  # the training run's


def load_model(ckpt_path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the trained model from a checkpoint, in eval mode on ``device``."""
    if isinstance(ckpt_path, (str, Path)):  # a list is refused by load_checkpoint, with its message
        ckpt_path = one_checkpoint(ckpt_path)
    checkpoint = load_checkpoint(ckpt_path)
    train_cfg = stored_config(checkpoint, ckpt_path)
    vocab = Vocab.from_json(checkpoint["tokenizer"])
    model = build_model(train_cfg, len(vocab), len(checkpoint["labels"]), vocab.label_ids(checkpoint["labels"]))
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise TextclfError(
            f"{ckpt_path}: the weights do not fit the model its config describes ({first}). The file was "
            "edited or mixes two runs; use the best.pt/last.pt a training run wrote."
        ) from None
    model.to(resolve_device(device, key="device")).eval()
    return LoadedModel(model, vocab, checkpoint, train_cfg)


def stored_config(checkpoint: dict[str, Any], ckpt_path: str | Path) -> DictConfig:
    """The training config a checkpoint carries, checked for the parts that rebuild the model and
    find the data, so that a damaged one fails here by name rather than as a missing key later."""
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
    return cfg


def data_config(train_cfg: DictConfig, override: DictConfig | None) -> DictConfig:
    """The dataset to evaluate on: the checkpoint's own, patched or replaced by the command line."""
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


def ensemble_proba(members: list[LoadedModel], encoded: EncodedSplit, batch_size: int) -> tuple[np.ndarray, float]:
    """`predict_proba` of one model, or of several averaged (with the cross-entropy of the average,
    floored where float32 probabilities underflow to 0)."""
    scored = [
        predict_proba(member.model, BatchIterator(encoded, batch_size, device=next(member.model.parameters()).device))
        for member in members
    ]
    if len(scored) == 1:
        return scored[0]
    prob = np.mean([member_prob for member_prob, _ in scored], axis=0)
    gold = encoded.labels.numpy()
    loss = float(-np.log(np.maximum(prob[np.arange(len(gold)), gold], np.finfo(np.float32).tiny)).mean())
    return prob, loss


def evaluate(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    if cfg.split not in ("train", "val", "test"):
        raise TextclfError(f"split must be train, val or test, got {cfg.split!r}.")
    positive_int(cfg.batch_size, "batch_size")  # checked before the (slow) model and data loading
    paths = checkpoint_paths(cfg.ckpt_path)
    members = load_members(paths, cfg.device)
    _, vocab, checkpoint, train_cfg = members[0]
    configs = [member.config for member in members]
    source = build_source(data_config(train_cfg, cfg.get("data")))
    try:
        splits = load_source(source)
    except MissingDataError as err:
        if "_target_" in (cfg.get("data") or {}):  # data=NAME chosen: data.root=DIR works as the reader says
            raise
        # The readers say "data.root=DIR", the training override; eval.yaml has no data group until
        # data=NAME picks one, so on the checkpoint's own dataset the override needs a leading +.
        raise MissingDataError(f"{err} (With textclf.evaluate, write it +data.root=DIR.)") from None
    examples = splits.split(cfg.split)
    labels = checkpoint["labels"]
    groups = group_names(examples)
    memory = memory_layout(source) if any(map(reads_memory, configs)) else None
    encoded = encode_examples(examples, vocab, labels, groups, source.max_tokens, cfg.split, memory=memory)
    prob, loss = ensemble_proba(members, encoded, cfg.batch_size)
    name = train_cfg.model.name
    if len(members) > 1:
        name = f"ensemble of {len(members)} ({', '.join(sorted({c.model.name for c in configs}))})"
    synthetic = " [synthetic data]" if splits.synthetic else ""
    metrics = write_report(
        out_dir,
        examples=examples,
        prob=prob,
        gold=encoded.labels.numpy(),
        labels=labels,
        group=None if encoded.group is None else encoded.group.numpy(),
        groups=groups,
        title=f"{name} on {splits.description} ({cfg.split}){synthetic}",
        compare_to_paper=splits.reference == "babi1k",
    )
    results = {
        "checkpoint": str(Path(paths[0]).resolve()) if len(paths) == 1 else [str(Path(p).resolve()) for p in paths],
        "model": name,
        "data": splits.description,
        "synthetic_data": splits.synthetic,
        "split": cfg.split,
        "examples": len(examples),
        "loss": loss,
        **metrics,
    }
    write_json(Path(out_dir) / "results.json", results)
    log.info("%s %s: acc %.4f | macro-F1 %.4f | report in %s", splits.description, cfg.split, metrics["acc"], metrics["macro_f1"], out_dir)
    if "mean_error" in metrics:
        log.info("bAbI mean error %.2f %% | failed tasks: %s", metrics["mean_error"], metrics["failed_tasks"] or "none")
    return results


@hint_misspelt_keys("eval")
@hydra.main(config_path="pkg://textclf.conf", config_name="eval", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    return evaluate(cfg, HydraConfig.get().runtime.output_dir)["acc"]


if __name__ == "__main__":
    main()
