"""Checkpoints: one self-contained file per model, safe to load from a stranger.

A checkpoint holds the weights, the tokenizer JSON, the label and group lists, the resolved config
(YAML text), metrics and the textclf version — everything evaluation and prediction need, without
the training run's folder. Only tensors and plain Python types go in, so it loads with
``torch.load(weights_only=True)``, which refuses any pickle that would run code.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from textclf import __version__
from textclf.atomic import atomic_write
from textclf.errors import TextclfError, first_line

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
