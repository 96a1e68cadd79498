"""The torch device a setting names (`trainer.device`, `device`), checked against the machine."""

from __future__ import annotations

import torch

from textclf.core.errors import TextclfError


def resolve_device(name: str, key: str = "trainer.device") -> torch.device:
    """The torch device ``name`` means; ``key`` is the setting, for the message."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TextclfError(f"{key}={name} but no CUDA device is available. Use {key}=cpu or auto.")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TextclfError(f"{key}={name!r} is not a device; use auto, cpu, cuda or cuda:N.") from None
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise TextclfError(f"{key}={name} but this machine has no Apple GPU (MPS) that torch can use. Use {key}=cpu or auto.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise TextclfError(f"{key}={name!r}: textclf runs on cpu, cuda or mps, not {device.type}.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise TextclfError(f"{key}={name} but this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    return device
