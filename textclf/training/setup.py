"""Everything one training run works with, built from the config: `setup_training`.

The model (with pretrained vectors when asked), the optimizer and scheduler, mixed precision,
gradient clipping and noise, early stopping and MemN2N's linear start, gathered in one `Training`
so that the loop, checkpointing and resuming (training/resume.py) all see the same objects.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from textclf.core.errors import TextclfError
from textclf.core.shipped import shipped
from textclf.data.batching import BatchIterator
from textclf.data.pipeline import PreparedData
from textclf.data.shards import Buffer, ShardBatches
from textclf.data.vectors import load_pretrained
from textclf.models.build import build_model
from textclf.models.task import Task
from textclf.training.balance import class_weights, sample_weights
from textclf.training.continued import load_grown
from textclf.training.distributed import Distributed
from textclf.training.grad_clip import clip_gradients
from textclf.training.gradient_noise import GradientNoise
from textclf.training.loop import seed_everything
from textclf.training.precision import Precision
from textclf.training.sparse import make_optimizer
from textclf.training.stopping import EarlyStopping, LinearStart, monitored_metric

log = logging.getLogger("textclf.train")


@dataclass
class Training:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None  # a torch.optim.lr_scheduler, or None (scheduler=none)
    precision: Precision
    linear: LinearStart
    stopper: EarlyStopping
    clip: Callable[[list[torch.nn.Parameter]], None] | None
    noise: GradientNoise
    seed: int
    parameters: int  # trainable ones
    task: Task
    class_weight: torch.Tensor | None  # task.class_weights, on the device; None: unweighted
    reduction: str  # trainer.loss_reduction: "mean" over a batch, or "sum" (MemN2N's paper recipe)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self.task.loss(logits, targets, reduction, self.class_weight, rows)

    def step_scheduler(self, val_loss: float) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(val_loss)
        else:
            self.scheduler.step()


def setup_training(cfg: DictConfig, data: PreparedData, device: torch.device, seed: int, init: dict | None = None) -> Training:
    """A fresh model and everything that trains it, seeded with ``seed``; ``init``: the weights of the
    model it continues (init_from, training/continued.py), copied in over any pretrained vectors."""
    tc = cfg.trainer
    seed_everything(seed, tc.deterministic)
    model = build_model(cfg, len(data.vocab), len(data.labels), data.vocab.label_ids(data.labels))
    if "path" in cfg.embedding.keys():  # `in cfg.embedding` is False while the value is still ???
        if OmegaConf.is_missing(cfg.embedding, "path"):
            raise TextclfError("embedding=pretrained needs the vectors file: add embedding.path=FILE (.txt, .vec, .npz or .npy).")
        load_pretrained(model.embedding, cfg.embedding.path, data.vocab, cfg.embedding.words)
    if init is not None:  # after any pretrained vectors: the parent's trained tables replace them
        load_grown(model, init)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(cfg, model, trainable)  # model.sparse: sparse tables, their own update (training/sparse.py)
    task = training_task(cfg.task, data)
    weight = class_weights(cfg.task.class_weights, data.train_labels, data.labels, task)
    clip = None
    if tc.grad_clip:
        clip = functools.partial(clip_gradients, max_norm=tc.grad_clip, scope=tc.grad_clip_scope)
    return Training(
        model=model,
        optimizer=optimizer,
        scheduler=instantiate(cfg.scheduler)(optimizer) if cfg.get("scheduler") else None,  # none: an empty group
        precision=Precision(tc.precision, device),
        linear=LinearStart(cfg, model),
        stopper=EarlyStopping(monitored_metric(tc.monitor, task.multi_label), tc.patience),
        clip=clip,
        noise=GradientNoise(tc.grad_noise or 0.0, seed),
        seed=seed,
        parameters=sum(p.numel() for p in trainable),
        task=task,
        class_weight=None if weight is None else weight.to(device),
        reduction=tc.loss_reduction,
    )


def training_task(task_cfg: DictConfig, data: PreparedData) -> Task:
    """The task while training: multi-label data decides at task.threshold (0.5 while it is
    ``tuned``: each checkpoint's thresholds are tuned on its own validation scores, training/trainer.py)."""
    if not data.encoding.multi_label:
        return Task()
    fixed = 0.5 if task_cfg.threshold == "tuned" else float(task_cfg.threshold)
    return Task(True, (fixed,) * len(data.labels))


def training_batches(cfg: DictConfig, data: PreparedData, training: Training, device: torch.device, dist: Distributed,
                     start_epoch: int) -> BatchIterator | ShardBatches:
    """The shuffled training batches, positioned at ``start_epoch`` (the shuffle of epoch e
    depends on seed + e only, so a resumed run sees the batches it would have seen): from the
    encoded split, or from a streamed table's shards (data/streaming.py), each DDP rank its own.
    task.sampler=balanced draws them so that every class is equally likely (training/balance.py)."""
    tc = cfg.trainer
    if data.shards is not None:
        if cfg.task.sampler == "balanced":
            raise TextclfError("task.sampler=balanced draws rows from anywhere in the training split, which a streamed table reads "
                               "block by block. Use task.class_weights=balanced instead, or data.streaming=false.")
        large = shipped("experiment/fasttext_large").trainer.batch_size
        if cfg.model.name == "fasttext" and tc.batch_size < large:  # a table this large: the recipe measured for it
            log.info("a streamed table: experiment=fasttext_large (batches of %d, trained as bags) trains fastText's epoch "
                     "about 15x faster than its defaults, at close to their accuracy (docs/speed.md)", large)
        batches: BatchIterator | ShardBatches = ShardBatches(
            data.shards, tc.batch_size, seed=training.seed, buffer=Buffer(pool_batches=tc.pool_batches),
            rank=dist.rank, world_size=dist.world_size, device=device,
        )
    else:
        train = data.encoded["train"]
        weights = sample_weights(train.labels, training.task) if cfg.task.sampler == "balanced" else None
        batches = BatchIterator(
            train, tc.batch_size, shuffle=True, seed=training.seed, device=device,
            pool_batches=tc.pool_batches,
            rank=dist.rank, world_size=dist.world_size, sample_weights=weights,
        )
    batches.epoch = start_epoch
    return batches


def data_parallel(cfg: DictConfig, model: torch.nn.Module, device: torch.device, dist: Distributed, batches: BatchIterator | ShardBatches,
                  val_size: int) -> torch.nn.Module:
    """The module the loop trains: ``model`` itself, or under DDP its DistributedDataParallel."""
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if len(batches) == 0 or val_size < dist.world_size:
        raise TextclfError(
            f"too little data for {dist.world_size} processes: {len(batches)} training batches each and "
            f"{val_size} validation examples, and every process needs at least one of each. "
            "Lower --nproc_per_node or trainer.batch_size."
        )
    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=bool(cfg.trainer.find_unused_parameters),
    )
