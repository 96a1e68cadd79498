"""Evaluate a checkpoint: `python -m textclf.evaluate ckpt_path=PATH [split=val] [data=NAME]`.

`ckpt_path=[A,B,...]` evaluates an ensemble: the checkpoints' class probabilities averaged, for
runs of the same data (same labels and vocabulary), e.g. the seeds of a `-m seed=0,1,...` sweep.

Uses only what the checkpoint holds (weights, tokenizer, labels, config) plus the data files, and
writes into its own run folder: classification_report.txt/.csv, confusion_matrix.png,
predictions.csv, results.json, and per_task_errors.md/.csv for bAbI data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from textclf.core.config_rules import check_config
from textclf.core.errors import MissingDataError, exit_on_user_error, hint_misspelt_keys
from textclf.core.guards import FolderLock, owns_run_folder, refuse_overwriting_inputs
from textclf.data.batching import EncodedSplit
from textclf.data.pipeline import build_source, group_names, load_source
from textclf.inference.loader import LoadedModel, checkpoint_paths, data_config, load_members
from textclf.inference.predictor import ensemble, model_predictor
from textclf.reporting.report import REPORT_FILES, ScoredSplit, write_json, write_report

log = logging.getLogger("textclf.evaluate")


def encode_for_members(members: list[LoadedModel], examples, groups: list[str], split: str) -> list[EncodedSplit]:
    """The split encoded as each member reads it; members with the same encoding share one copy."""
    keys = [repr(member.encoding.settings()) for member in members]
    encoded: dict[str, EncodedSplit] = {}
    for key, member in zip(keys, members):
        if key not in encoded:
            encoded[key] = member.encoding.encode(examples, split, groups=groups)
    return [encoded[key] for key in keys]


def evaluate(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    check_config(cfg)  # before the (slow) model and data loading
    paths = checkpoint_paths(cfg.ckpt_path)
    members = load_members(paths, cfg.device)
    train_cfg = members[0].config
    configs = [member.config for member in members]
    source = build_source(data_config(train_cfg, cfg.get("data")), members[0].encoding.multi_label)
    written = [Path(out_dir) / name for name in REPORT_FILES]  # checked before the data is read
    refuse_overwriting_inputs(written, [m.path for m in members] + source.files(), "Evaluate into another folder (hydra.run.dir=DIR).")
    try:
        splits = load_source(source)
    except MissingDataError as err:
        if "_target_" in (cfg.get("data") or {}):  # data=NAME chosen: data.root=DIR works as the reader says
            raise
        # The readers say "data.root=DIR", the training override; eval.yaml has no data group until
        # data=NAME picks one, so on the checkpoint's own dataset the override needs a leading +.
        raise MissingDataError(f"{err} (With textclf.evaluate, write it +data.root=DIR.)") from None
    examples = splits.split(cfg.split)
    if cfg.split == "train" and splits.sampled_train:
        log.warning("the training file is streamed (data/streaming.py): split=train scores the %s-row sample kept in memory, "
                    "not every training row.", f"{len(examples):,}")
    labels = members[0].labels
    groups = group_names(examples)
    splits_encoded = encode_for_members(members, examples, groups, cfg.split)
    encoded = splits_encoded[0]
    task = members[0].task  # one model, if multi-label (load_members refuses multi-label ensembles)
    prob, loss = ensemble([(model_predictor(member, cfg.batch_size), split) for member, split in zip(members, splits_encoded)])
    name = train_cfg.model.name
    if len(members) > 1:
        name = f"ensemble of {len(members)} ({', '.join(sorted({c.model.name for c in configs}))})"
    synthetic = " [synthetic data]" if splits.synthetic else ""
    metrics = write_report(
        out_dir,
        ScoredSplit.of(examples, prob, encoded, labels, groups),
        title=f"{name} on {splits.description} ({cfg.split}){synthetic}",
        compare_to_paper=splits.reference == "babi1k",
        task=task,
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
@owns_run_folder("evaluate")
@hydra.main(config_path="pkg://textclf.conf", config_name="eval", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    out_dir = HydraConfig.get().runtime.output_dir
    with FolderLock(out_dir, "evaluate"):
        return evaluate(cfg, out_dir)["acc"]

