"""Data-parallel training across processes: `torchrun --nproc_per_node=N -m textclf trainer=ddp`.

torchrun starts N copies of the same command and tells each its place through the environment
(RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT). `Distributed` reads that, joins the process group
(NCCL on GPUs, gloo on CPUs) and offers the few collective steps the loop needs. Every rank runs
the same loop on its share of the batches; gradients are averaged by DistributedDataParallel;
metrics are summed across ranks, so every rank sees the same numbers and makes the same
early-stopping decisions (ranks that disagree about when to stop would hang). Only rank 0 writes.

Without torchrun (no WORLD_SIZE) this is a world of one and every method is a cheap no-op.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from textclf.core.errors import TextclfError
from textclf.data.batching import EncodedSplit

log = logging.getLogger("textclf.training.distributed")


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


class Distributed:
    def __init__(self, enabled: bool, device_name: str = "auto", timeout_minutes: float = 30.0) -> None:
        self.enabled = enabled and launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1
        if not enabled and launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1:
            # Else every process would train the whole run on its own, N times over.
            raise TextclfError(
                f"started by torchrun with {os.environ['WORLD_SIZE']} processes but without trainer=ddp: add "
                "trainer=ddp to the command (or run one process, without torchrun)."
            )
        if enabled and not launched_by_torchrun():
            log.warning(
                "trainer=ddp but not started by torchrun: training in one process. "
                "Launch with `torchrun --nproc_per_node=N -m textclf trainer=ddp ...`."
            )
        self.rank = int(os.environ.get("RANK", 0)) if self.enabled else 0
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if self.enabled else 1
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0)) if self.enabled else 0
        self.device: torch.device | None = None
        if not self.enabled:
            return
        if device_name not in ("auto", "cpu", "cuda"):
            raise TextclfError(
                f"trainer.device={device_name} under trainer=ddp: each process takes the GPU of its local rank, so use "
                "trainer.device=auto, cuda or cpu, and choose GPUs with CUDA_VISIBLE_DEVICES."
            )
        if device_name == "cuda" and not torch.cuda.is_available():
            raise TextclfError("trainer.device=cuda but no CUDA device is available. Use trainer.device=cpu or auto.")
        use_cuda = torch.cuda.is_available() and device_name != "cpu"
        if use_cuda and self.local_rank >= torch.cuda.device_count():
            raise TextclfError(
                f"{os.environ.get('LOCAL_WORLD_SIZE', self.local_rank + 1)} processes on this node but only "
                f"{torch.cuda.device_count()} GPU(s): set --nproc_per_node to the number of GPUs, or trainer.device=cpu."
            )
        if use_cuda:
            torch.cuda.set_device(self.local_rank)  # one GPU per process, picked by its local rank
            self.device = torch.device("cuda", self.local_rank)
        else:
            self.device = torch.device("cpu")
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
            except (RuntimeError, ValueError) as err:
                raise TextclfError(
                    f"could not join the process group ({backend}): {str(err).splitlines()[0]}. Check that every "
                    "node runs the same torchrun command with the same --master_addr/--master_port and "
                    "--nnodes, and that the port is open between nodes."
                ) from None
        log.info("distributed: rank %d of %d, backend %s, device %s", self.rank, self.world_size, backend, self.device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled: only for objects rank 0 made or loaded safely)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (float64, so counts stay exact)."""
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(tensor)
        return tensor.tolist()

    def sum_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return tensor
        moved = tensor.to(self._comm_device())
        dist.all_reduce(moved)
        return moved.to(tensor.device)

    def shard(self, split: EncodedSplit) -> tuple[EncodedSplit, torch.Tensor]:
        """This rank's rows of ``split`` (every world_size-th) and their positions in it."""
        rows = torch.arange(self.rank, len(split), self.world_size)
        if not self.enabled:
            return split, rows
        picked = {
            field.name: (value[rows] if isinstance(value := getattr(split, field.name), torch.Tensor) else value)
            for field in dataclasses.fields(split)
        }
        return EncodedSplit(**picked), rows

    def _comm_device(self) -> torch.device:
        # NCCL reduces CUDA tensors only; gloo reduces CPU tensors.
        return self.device if self.device is not None and self.device.type == "cuda" else torch.device("cpu")

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()

