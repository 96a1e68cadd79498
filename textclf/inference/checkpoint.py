"""Checkpoints: one self-contained file per model, safe to load from a stranger.

A checkpoint holds the weights, the tokenizer JSON, the label and group lists, the resolved config
(YAML text), metrics and the textclf version — everything evaluation and prediction need, without
the training run's folder. Only tensors and plain Python types go in, so it loads with
``torch.load(weights_only=True)``, which refuses any pickle that would run code.
"""

from __future__ import annotations

import glob
import logging
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from textclf import __version__
from textclf.core.atomic import atomic_write
from textclf.core.errors import TextclfError, first_line

log = logging.getLogger("textclf.inference.checkpoint")
GLOB_CHARACTERS = re.compile(r"[*?[]")  # what makes a ckpt_path entry a pattern for `glob`

FORMAT = "textclf-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("state_dict", "tokenizer", "labels", "groups", "config")
# What each required entry must be; a file that passes the stamp checks but holds something else
# was edited by hand or assembled from parts, and would otherwise fail deep inside model building.
KEY_TYPES = {"state_dict": dict, "tokenizer": str, "labels": list, "groups": list, "config": str}


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format and version stamps) to ``path`` atomically.

    The file is written next to its destination and renamed over it: a kill mid-write leaves the
    previous checkpoint intact and at worst a stray temp file, never a half-written ``best.pt``.
    """
    path = Path(path)
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "textclf_version": __version__, **payload}
    atomic_write(path, lambda fh: torch.save(full, fh))


def _natural_order(path: Path) -> list:
    """Sort key that puts sweep job 10 after job 9 (and restart_10 after restart_9)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_checkpoints(entry: str | Path) -> list[Path]:
    """The checkpoint files one ``ckpt_path`` entry names: a file; a run folder (its best.pt); a
    sweep folder (the best.pt of each run in it, job 0, 1, ..., 10 in that order); or a glob
    pattern (each folder or .pt file it matches, taken as above; one level, no ``**``). A path
    that exists is never read as a pattern (a folder may be called ``run[1]``). A path that does
    not exist is returned as it is, for `load_checkpoint` to report."""
    if not str(entry).strip():
        raise TextclfError("ckpt_path is empty: give a checkpoint file, a run folder or a sweep folder.")
    path = Path(str(entry)).expanduser()
    if not path.exists() and GLOB_CHARACTERS.search(str(path)):
        return _pattern_checkpoints(entry, path)
    if not path.is_dir():
        return [path]
    return _folder_checkpoints(path)


def _pattern_checkpoints(entry: str | Path, pattern: Path) -> list[Path]:
    # Folders and .pt files only: runs/* should not pick up the logs beside the run folders.
    matches = sorted(map(Path, glob.glob(str(pattern))), key=_natural_order)
    folders = {match: match.is_dir() for match in matches}
    matches = [match for match in matches if folders[match] or match.suffix == ".pt"]
    if not matches:
        raise TextclfError(f"ckpt_path pattern {entry} matches no folder or .pt file; check the path (quote the list).")
    found, empty = [], []
    for match in matches:
        if not folders[match]:
            found.append(match)
            continue
        try:
            found.extend(_folder_checkpoints(match))
        except TextclfError:  # e.g. SWEEP/* meeting a failed job: left out, as a sweep folder leaves it out
            empty.append(match.name)
    if not found:
        raise TextclfError(
            f"ckpt_path pattern {entry} matches {len(matches)} folder(s), none with a best.pt in it or in its "
            "subfolders; point it at run folders, sweep folders or .pt files."
        )
    if empty:
        log.warning("%s: %d matching folders hold no best.pt and are left out: %s", entry, len(empty), ", ".join(empty))
    return found


def _folder_checkpoints(path: Path) -> list[Path]:
    if (path / "best.pt").is_file():
        return [path / "best.pt"]
    try:
        runs = sorted((sub for sub in path.iterdir() if sub.is_dir()), key=_natural_order)
    except OSError as err:
        raise TextclfError(f"cannot list the folder {path} ({first_line(err)}); check its permissions.") from None
    if any(run.name.startswith("restart_") for run in runs):
        # trainer.restarts copies the chosen restart's best.pt up when the last restart ends; its
        # restarts are candidates for "best of", not an ensemble, so they are not averaged here.
        raise TextclfError(
            f"{path} is a trainer.restarts run that has not finished (best.pt comes when the last restart ends). "
            f"Resume it (trainer.resume=true), score one restart (ckpt_path={path / 'restart_0' / 'best.pt'}), "
            f"or average them on purpose with \"ckpt_path='{path / 'restart_*'}'\"."
        )
    has_best = {run: (run / "best.pt").is_file() for run in runs}
    found = [run / "best.pt" for run in runs if has_best[run]]
    if not found:
        hint = f" It has a last.pt: pass ckpt_path={path / 'last.pt'}." if (path / "last.pt").is_file() else ""
        raise TextclfError(
            f"{path} is a folder with no best.pt in it or in its subfolders.{hint} Point ckpt_path at a run folder "
            "(outputs/<date>/<time>), a sweep folder (multirun/<date>/<time>) or a .pt file."
        )
    # Runs of a sweep that never wrote best.pt (failed, or still running) would silently shrink
    # an ensemble: say which were left out. Hydra's own folders (.hydra, .submitit) are not runs.
    skipped = [run.name for run in runs if not has_best[run] and not run.name.startswith(".")]
    if skipped:
        log.warning("%s: %d of its subfolders have no best.pt and are left out: %s", path, len(skipped), ", ".join(skipped))
    return found


def one_checkpoint(entry: str | Path) -> Path:
    """The single checkpoint a tool that loads one model gets from ``ckpt_path``: a file, or the
    best.pt of a run folder; a sweep folder is refused with the two ways on."""
    found = find_checkpoints(entry)
    if len(found) > 1:
        raise TextclfError(
            f"ckpt_path={entry} holds {len(found)} runs' checkpoints ({found[0]}, ...), and this tool loads one "
            f"model: name one (e.g. ckpt_path={found[0]}), or score them as an ensemble with "
            f"python -m textclf.evaluate \"ckpt_path='{entry}'\"."
        )
    return found[0]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint, or raise one message that says what is wrong with the file."""
    if not isinstance(path, (str, Path)):  # e.g. ckpt_path=[a,b] given to a tool that takes one
        raise TextclfError(
            f"ckpt_path must be one checkpoint file here, got {path!r}. Only textclf.evaluate takes a list "
            "(an ensemble); give the others ckpt_path=PATH."
        )
    path = Path(path).expanduser()
    if not path.is_file():
        hint = " It is a folder; point at the best.pt or last.pt inside it." if path.is_dir() else ""
        raise TextclfError(
            f"checkpoint {path} does not exist.{hint} Pass ckpt_path=PATH to a best.pt or last.pt "
            "written by a training run (see outputs/<date>/<time>/)."
        )
    if path.stat().st_size == 0:
        raise TextclfError(
            f"{path} is empty (0 bytes): the write that made it never finished. Use another checkpoint "
            "(e.g. last.pt beside it) or retrain."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise TextclfError(
            f"refused to load {path}: it holds objects other than tensors and plain Python types, and "
            f"unpickling them could run code ({first_line(err)}). Only load textclf "
            "checkpoints from a source you trust; textclf's own never contain such objects."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, IndexError, KeyError) as err:
        # torch.load reads a file of the legacy format byte by byte, so a text file or other junk
        # fails with whatever the first bytes happen to trigger (KeyError, IndexError ...).
        raise TextclfError(
            f"{path} is not a readable checkpoint (truncated or corrupt: {first_line(err)}). "
            "Use another checkpoint (e.g. last.pt beside it) or retrain."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TextclfError(f"{path} is a PyTorch file but not a textclf checkpoint (no '{FORMAT}' stamp).")
    if payload.get("format_version") != FORMAT_VERSION:
        raise TextclfError(
            f"{path} uses checkpoint format {payload.get('format_version')} (written by textclf "
            f"{payload.get('textclf_version')}); this textclf {__version__} reads format "
            f"{FORMAT_VERSION}. Evaluate it with the textclf version that wrote it, or retrain."
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise TextclfError(f"{path} is incomplete: it lacks {', '.join(missing)}. Retrain to get a full checkpoint.")
    wrong = [f"{key} is a {type(payload[key]).__name__}" for key, kind in KEY_TYPES.items() if not isinstance(payload[key], kind)]
    if wrong:
        raise TextclfError(
            f"{path} is damaged: {', '.join(wrong)} ({', '.join(f'{k}: {v.__name__}' for k, v in KEY_TYPES.items())} "
            "expected). Use the best.pt/last.pt a training run wrote, or retrain."
        )
    return payload
