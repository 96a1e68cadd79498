"""Resuming a killed run: `trainer.resume=true` (same run folder) or `ckpt_path=.../last.pt`.

last.pt carries, beside the weights, everything the loop needs to go on as if never stopped: the
optimizer, scheduler and loss-scaler states, the epoch, the early-stopping and linear-start
counters, the training time so far, and the random-number states (Python, NumPy, torch CPU and
CUDA). With the same seed on the same machine in deterministic mode, a resumed run ends with the
same metrics as an uninterrupted one (tests/test_resume.py kills a real process to check).
"""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from textclf.core.atomic import atomic_write
from textclf.core.config_history import current_config, current_data_args
from textclf.core.errors import TextclfError
from textclf.data.example import DataSource
from textclf.inference.checkpoint import load_checkpoint, save_checkpoint
from textclf.training.distributed import Distributed

log = logging.getLogger("textclf.training.resume")

# Config sections a resumed run must share with the run it continues: they decide the data, the
# vocabulary, the shapes of the weights and the optimizer state. trainer.* (max_epochs, patience,
# progress...) may change, so a finished run can be extended.
MUST_MATCH = ("data", "task.multi_label", "tokenizer", "embedding", "model", "optimizer", "scheduler", "seed")
# Keys of those sections that choose how the same update is computed, not what it computes, and so
# may differ: a run saved before conf/optimizer/sgd.yaml asked for foreach resumes under it.
# data.streaming says how to choose between streaming a table and reading it whole, and "auto" may
# choose either: what a run did is compared instead (`refuse_other_streaming`).
IMPLEMENTATION_ONLY = {"optimizer": ("foreach",), "data": ("streaming", "streaming_above_mb")}


# Keys added to those sections after runs were saved, with the value that means what such a run did:
# a last.pt from before tokenizer.kind existed was trained with word tokens, and resumes as such.
ADDED_SINCE: dict[str, Any] = {
    "tokenizer": {"kind": "word"},
    "embedding": {"words": None},
    # The shared dataset settings were in code only until conf/data/ listed them (data/base).
    "data": {**DataSource.shared_settings(), "header": True, "label_names": None, "label_id_base": 0, "charset": "utf-8", "label_separator": "|",
             "val_max_rows": 50_000},
    "task.multi_label": False,
    "model": {"encoder": {"cell": "lstm"}, "sparse": False},
}


def _comparable(cfg: DictConfig, key: str) -> Any:
    node = OmegaConf.select(cfg, key)
    if node is None:
        return ADDED_SINCE.get(key)
    if not isinstance(node, DictConfig):
        return node
    values = OmegaConf.to_container(OmegaConf.merge(ADDED_SINCE.get(key, {}), node), resolve=True)
    return {name: value for name, value in values.items() if name not in IMPLEMENTATION_ONLY.get(key, ())}


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every random stream the loop draws from, as tensors and plain types (weights_only-safe).
    The CUDA stream only for a CUDA run: asking for it would otherwise initialise CUDA."""
    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def resume_source(cfg: DictConfig, run_dir: Path) -> Path | None:
    """The last.pt to continue from, or None to start afresh.

    ``ckpt_path=FILE`` names it; ``trainer.resume=true`` takes the run folder's own last.pt when
    there is one (so a preempted job can be restarted with the very same command and
    ``hydra.run.dir`` fixed) and starts afresh, with a log line, when there is none yet.
    """
    ckpt_path = cfg.ckpt_path
    if ckpt_path:
        path = Path(str(ckpt_path)).expanduser()
        if path.is_dir():
            path = path / "last.pt"
        if not path.is_file():
            raise TextclfError(
                f"ckpt_path={ckpt_path}: no such checkpoint. Point it at the last.pt of the run to continue "
                "(outputs/<date>/<time>/last.pt), or drop ckpt_path to train from scratch."
            )
        return path
    if cfg.trainer.resume:
        path = run_dir / "last.pt"
        if path.is_file():
            return path
        log.info("trainer.resume=true but %s has no last.pt yet: starting from scratch", run_dir)
    return None


def load_resume_checkpoint(path: Path, cfg_yaml: str, tokenizer_json: str, data_source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load ``path`` and check that it can continue the configured run (reading its data as
    ``data_source`` says, when given)."""
    checkpoint = load_checkpoint(path)
    if "training_state" not in checkpoint:
        raise TextclfError(
            f"{path} holds weights only (a best.pt, or a last.pt from an older textclf) and cannot resume training. "
            "Resume from the last.pt of the same run folder."
        )
    stored, current = current_config(OmegaConf.create(checkpoint["config"])), OmegaConf.create(cfg_yaml)
    changed = [key for key in MUST_MATCH if _comparable(stored, key) != _comparable(current, key)]
    if changed:
        raise TextclfError(
            f"{path} was trained with other {', '.join(changed)} settings than this command's. Resume with the "
            "same overrides as the original run (its .hydra/overrides.yaml lists them); only trainer.* and task.* (but task.multi_label) may change."
        )
    if data_source is not None:  # before the vocabulary: a table read the other way gives another one, for this reason
        refuse_other_streaming(path, checkpoint.get("data_source"), data_source)
    if checkpoint["tokenizer"] != tokenizer_json:
        raise TextclfError(
            f"the data under data.root gives another vocabulary than {path} was trained with: the files changed "
            "since. Resume on the same files, or train from scratch."
        )
    return checkpoint


def refuse_changed_data(path: Path, trained_on: dict | None, now: dict) -> None:
    """Refuse to continue ``path`` on data files other than it was trained on (same words with
    other labels would otherwise pass the vocabulary check and train on silently). Checkpoints
    from before fingerprints were stored (None) are not checked."""
    if trained_on is None:
        return
    changed = sorted(name for name in trained_on.keys() | now.keys() if trained_on.get(name) != now.get(name))
    if changed:
        what = ", ".join(f"{name} ({'new' if name not in trained_on else 'gone' if name not in now else 'changed'})" for name in changed)
        raise TextclfError(
            f"the data files differ from those {path} was trained on: {what}. Resume on the same files, train "
            "from scratch (trainer.overwrite=true or another hydra.run.dir), or continue on the new data on purpose "
            "with trainer.allow_changed_data=true."
        )


def adopt_history(source: Path, run_dir: Path, checkpoint: dict[str, Any]) -> None:
    """Bring the resumed run's history into ``run_dir``: best.pt, and metrics.csv cut at the
    checkpoint's epoch.

    A kill can land after an epoch's metrics row was written but before its last.pt was: rows past
    the checkpoint's epoch are dropped, since those epochs are trained again. It can also land
    between last.pt and best.pt of an epoch that improved (last.pt is written first): then best.pt
    is rewritten from last.pt's weights, which are that epoch's.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    epoch = checkpoint["epoch"]
    source_dir = source.parent
    if source_dir.resolve() != run_dir.resolve() and (source_dir / "best.pt").is_file():
        shutil.copy2(source_dir / "best.pt", run_dir / "best.pt")
    metrics = source_dir / "metrics.csv"
    if metrics.is_file():
        rows = pd.read_csv(metrics)
        kept = rows[rows["epoch"] <= epoch]
        atomic_write(run_dir / "metrics.csv", lambda fh: kept.to_csv(fh, index=False))
    best = run_dir / "best.pt"
    if checkpoint["training_state"]["early_stopping"]["best_epoch"] == epoch and (
        not best.is_file() or load_checkpoint(best).get("epoch") != epoch
    ):
        weights_only = {k: v for k, v in checkpoint.items() if k not in ("optimizer", "training_state", "source")}
        save_checkpoint(best, weights_only)
        log.info("best.pt rewritten from last.pt (epoch %d): the run was stopped between the two", epoch)


def resume_checkpoint(cfg: DictConfig, run_dir: Path, description: dict[str, Any], dist: Distributed) -> dict[str, Any] | None:
    """The last.pt to continue from (its path under "source"), or None to start afresh.

    Rank 0 finds, checks and loads it and sends it to the other ranks: their run folders are
    scratch ones (see __main__.py), and on several nodes they may not even see rank 0's disk."""
    checkpoint = None
    if dist.is_main:
        source = resume_source(cfg, run_dir)
        if source is not None:
            checkpoint = load_resume_checkpoint(source, description["config"], description["tokenizer"], description["data_source"])
            if not cfg.trainer.allow_changed_data:
                refuse_changed_data(source, checkpoint.get("data_files"), description["data_files"])
            checkpoint["source"] = str(source)
            adopt_history(source, run_dir, checkpoint)
    return dist.broadcast(checkpoint)


def refuse_other_streaming(path: Path, stored: dict[str, Any] | None, now: dict[str, Any]) -> None:
    """Refuse to continue a run on a table read the other way (streamed or into memory) than it was
    trained on: the two hold out other validation rows (data/streaming.py). ``stored`` and ``now``
    are the checkpoint's and this run's ``data_source``; a stored "auto" (not yet resolved when it
    was saved) is not checked, the file's fingerprint being."""
    if stored is None or "streaming" not in now["args"]:
        return
    was = current_data_args(stored["name"], stored["args"]).get("streaming")
    if isinstance(was, str):
        was = {"true": True, "false": False}.get(was.lower())
    if was is None or was == now["args"]["streaming"]:
        return
    raise TextclfError(f"{path} was trained on the table {'streamed' if was else 'read into memory'}, and this command "
                       f"{'reads it into memory' if was else 'streams it'}: the validation rows would differ. Resume with "
                       f"data.streaming={'true' if was else 'false'}.")


def capture_state(training: Any, train_seconds: float, device: torch.device) -> dict[str, Any]:
    """What last.pt keeps beside the weights and the optimizer, taken after an epoch's every
    update, so that `restore_state` continues exactly from here. ``training`` is the loop's
    `textclf.training.setup.Training`."""
    return {
        "scheduler": training.scheduler.state_dict() if training.scheduler is not None else None,
        "scaler": training.precision.scaler.state_dict(),
        "early_stopping": training.stopper.state_dict(),
        "linear_start": training.linear.state_dict(),
        "train_seconds": train_seconds,
        "seed": training.seed,
        "rng": rng_state(device),
    }


def restore_state(training: Any, checkpoint: dict[str, Any], device: torch.device) -> tuple[int, float]:
    """Put a last.pt (from `resume_checkpoint`) back into ``training``; returns the epoch it ended
    and the training seconds it had taken."""
    state = checkpoint["training_state"]
    training.model.load_state_dict(checkpoint["state_dict"])
    training.optimizer.load_state_dict(checkpoint["optimizer"])
    if training.scheduler is not None:
        training.scheduler.load_state_dict(state["scheduler"])
    if state["scaler"]:  # empty when the run had no float16 loss scaling
        training.precision.scaler.load_state_dict(state["scaler"])
    training.stopper.load_state_dict(state["early_stopping"])
    training.linear.load_state_dict(state["linear_start"])
    training.seed = state["seed"]
    set_rng_state(state["rng"], device)
    return checkpoint["epoch"], state["train_seconds"]
