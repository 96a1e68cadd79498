"""Sparse updates of the big tables: `model.sparse=true` (off by default: conf/model/fasttext.yaml says why).

A fastText step reads a few dozen rows of the word table and of the hashed n-gram table, yet a
dense backward writes a gradient the size of each whole table, and Adam, the gradient clip and
zeroing then walk all of it: on a 100 k-row table that was ~5 ms of an ~8 ms step for ~6 M
parameters (docs/speed.md). With sparse lookups (``nn.Embedding(sparse=True)``, ``F.embedding(...,
sparse=True)``) the gradient holds only the rows the batch read, and the update touches only those,
as fastText's own SGD does.

Only gradients change: the weights, checkpoints and exported graphs are the same (a model rebuilt
from a checkpoint looks its rows up densely; inference has no gradients to care).

The optimizer follows:

* ``optimizer=sgd``: torch's SGD takes sparse gradients itself; with momentum 0 (the default) the
  update is the dense one, row for row.
* ``optimizer=adam``: `SparseDenseAdam`, torch.optim.SparseAdam for the sparse tables beside Adam
  for the rest, one optimizer to the loop, schedulers and checkpoints. SparseAdam is "lazy": a row's
  moments decay only on the steps that read it, where dense Adam decays (and so moves) every row
  every step, and on SST-2 that costs accuracy (conf/model/fasttext.yaml).

When it pays (docs/speed.md): when a batch reads few rows of big tables, as with small batches
(fastText at batch 64, two threads: an epoch of a 100 k-row table 4.9 against 11.0 s, of 1 M rows
50.2 against 121.2 s). At batch 1024 a batch reads ~15 k rows, and sorting and gathering them costs
as much as walking the 4 M-weight tables densely: it does not pay (an epoch of 1 M rows: 25.8
against 25.1 s).

Settings that need every row's gradient are refused, with what to change (`refuse_combinations`).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from textclf.core.errors import TextclfError
from textclf.models.build import reads_memory

OFF = "or set model.sparse=false (dense gradients)"


def wanted(cfg: DictConfig) -> bool:
    """Whether the config asks for sparse updates (absent, as in every model but fastText: no)."""
    return bool(cfg.model.get("sparse", False))


def refuse_combinations(cfg: DictConfig) -> None:
    """Refuse, before any data is read, settings that cannot work with sparse gradients."""
    if not wanted(cfg):
        return
    tc = cfg.trainer
    if reads_memory(cfg):
        raise TextclfError(f"model.sparse=true makes the word and n-gram tables of flat models sparse; model={cfg.model.name} "
                           "reads its memories through tables of its own. Set model.sparse=false.")
    if tc.get("grad_noise"):
        # Noise on every row of every table is the opposite of a sparse update.
        raise TextclfError(f"trainer.grad_noise={tc.grad_noise} adds noise to every row of every table, and sparse gradients "
                           f"hold only the rows a batch read. Set trainer.grad_noise=0, {OFF}.")
    if tc.get("distributed"):
        # NCCL has no sparse all-reduce, and gloo's would change how ranks add their gradients.
        raise TextclfError(f"model.sparse=true is not supported under data-parallel training (trainer=ddp). "
                           f"Train in one process, {OFF}.")
    optimizer_options(cfg)  # refuses an optimizer that cannot take sparse gradients


def optimizer_options(cfg: DictConfig) -> tuple[type, dict[str, Any]]:
    """The configured optimizer's class and options, refused unless it can train sparse tables."""
    build = instantiate(cfg.optimizer)
    if not isinstance(build, functools.partial) or build.func not in (torch.optim.Adam, torch.optim.SGD):
        raise TextclfError(f"model.sparse=true trains with optimizer=adam or optimizer=sgd, not {cfg.optimizer._target_}. "
                           f"Choose one of those, {OFF}.")
    options = dict(build.keywords)
    if build.func is torch.optim.SGD and options.get("fused"):
        raise TextclfError(f"torch's fused SGD takes no sparse gradients: set optimizer.fused=false, {OFF}.")
    if build.func is torch.optim.Adam:
        if options.get("weight_decay"):
            raise TextclfError(f"SparseAdam, which updates the sparse tables, has no weight decay: set optimizer.weight_decay=0, {OFF}.")
        if options.get("amsgrad"):
            raise TextclfError(f"SparseAdam, which updates the sparse tables, has no AMSGrad: drop optimizer.amsgrad, {OFF}.")
    return build.func, options


def sparse_tables(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Switch the model's word table and n-gram table (when it has one) to sparse gradients; returns
    those of them that train (a frozen word table has no gradient at all)."""
    tables = []
    lookup = getattr(model.embedding, "table", None)
    if isinstance(lookup, torch.nn.Embedding):
        lookup.sparse = True
        tables.append(lookup.weight)
    if getattr(model, "ngrams", None) is not None:
        model.ngrams.sparse = True
        tables.append(model.ngrams.table)
    return [table for table in tables if table.requires_grad]


def make_optimizer(cfg: DictConfig, model: torch.nn.Module, trainable: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``trainable``; with model.sparse=true, over the model's sparse tables too."""
    if not wanted(cfg):
        return instantiate(cfg.optimizer)(params=trainable)
    refuse_combinations(cfg)
    kind, options = optimizer_options(cfg)
    tables = sparse_tables(model)
    if kind is torch.optim.SGD or not tables:
        return kind(trainable, **options)
    sparse = {id(table) for table in tables}
    dense = [param for param in trainable if id(param) not in sparse]
    return SparseDenseAdam(tables, dense, **options)


class SparseDenseAdam(torch.optim.Optimizer):
    """Adam over the dense parameters and torch.optim.SparseAdam over the sparse tables, as one optimizer.

    Its ``param_groups`` are the two inner optimizers' own group dicts (the sparse group first), so
    a scheduler or linear start that sets ``lr`` sets it where each update reads it; its state dict
    holds both inner ones, so a checkpoint resumes it as any optimizer.
    """

    def __init__(self, sparse: list[torch.nn.Parameter], dense: list[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, **dense_options: Any) -> None:
        dense_options.pop("weight_decay", None)  # 0 here (refuse_combinations): the sparse half has none
        self.sparse = torch.optim.SparseAdam(sparse, lr=lr, betas=tuple(betas), eps=eps)
        self.dense = torch.optim.Adam(dense, lr=lr, betas=tuple(betas), eps=eps, **dense_options) if dense else None
        # The inner groups themselves (add_param_group keeps the dicts it is given), not copies.
        super().__init__(self._inner_groups(), {"lr": lr})

    def _inner_groups(self) -> list[dict[str, Any]]:
        return [*self.sparse.param_groups, *(self.dense.param_groups if self.dense is not None else [])]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.sparse.step()
        if self.dense is not None:
            self.dense.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"sparse": self.sparse.state_dict(), "dense": self.dense.state_dict() if self.dense is not None else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if set(state_dict) != {"sparse", "dense"}:
            raise TextclfError("this optimizer state is not a sparse/dense Adam's: the checkpoint was trained with "
                               "model.sparse=false. Resume with the same settings as the original run.")
        self.sparse.load_state_dict(state_dict["sparse"])
        if self.dense is not None:
            self.dense.load_state_dict(state_dict["dense"])
        # Loading gives the inner optimizers new group dicts: share those again.
        self.param_groups = self._inner_groups()
