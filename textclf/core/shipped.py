"""Defaults in one place: the shipped config files.

A class that Hydra builds from a config file can also be built from Python (tests, notebooks,
the server's `Limits`). Its defaults are read from that same file, so that the YAML a user reads
and edits and the code that runs without it cannot drift apart (they had: an embedding of 300
dimensions in code against 128 in conf/embedding/random.yaml). Loaded once, on first use, with
OmegaConf alone (no Hydra composition: these files' own keys need no defaults list).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from omegaconf import OmegaConf


@cache
def shipped(name: str) -> Any:
    """conf/<name>.yaml as a DictConfig, e.g. shipped("serve").max_texts, shipped("embedding/random").dim."""
    return OmegaConf.load(str(files("textclf.conf").joinpath(f"{name}.yaml")))
