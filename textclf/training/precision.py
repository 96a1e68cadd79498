"""Mixed precision: `trainer.precision=32|bf16|16`.

On CUDA, bf16 and 16 run the forward pass and loss under `torch.autocast`; float16 also scales the
loss (GradScaler) so small gradients do not underflow, while bf16 has float32's range and needs no
scaling. On the CPU these models gain nothing from autocast (and float16 matmuls are slow there),
so a lower precision is ignored with a warning rather than silently changing the numbers.
"""

from __future__ import annotations

import contextlib
import logging

import torch

from textclf.core.errors import TextclfError

log = logging.getLogger("textclf.training.precision")

DTYPES = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}
PRECISIONS = tuple(DTYPES)


class Precision:
    def __init__(self, precision: str | int, device: torch.device) -> None:
        name = str(precision)
        if name not in DTYPES:
            raise TextclfError(f"trainer.precision must be 32, bf16 or 16, got {precision!r}.")
        self.dtype = DTYPES[name]
        self.device_type = device.type
        if self.dtype is not None and device.type != "cuda":
            log.warning("trainer.precision=%s needs a CUDA device; on %s training stays in float32.", name, device.type)
            self.dtype = None
        if self.dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise TextclfError("trainer.precision=bf16 but this GPU has no bfloat16 support; use trainer.precision=16.")
        # Only float16 needs loss scaling; a disabled scaler passes everything through unchanged.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype is torch.float16)

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def backward_and_step(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, params, clip=None, before_step=None
    ) -> None:
        """Backward, ``clip(params)`` and ``before_step(params)`` if given (gradient clipping, noise),
        optimizer step."""
        self.scaler.scale(loss).backward()
        if clip is not None or before_step is not None:
            self.scaler.unscale_(optimizer)  # clip (and perturb) the true gradients, not the scaled ones
        if clip is not None:
            clip(params)
        if before_step is not None:
            before_step(params)
        self.scaler.step(optimizer)
        self.scaler.update()
