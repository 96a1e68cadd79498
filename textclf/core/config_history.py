"""Settings that moved: a config stored by an older textclf, read as today's.

Every checkpoint keeps the training config it was made with. When a setting moves to another
place or name, the configs already saved still use the old one; evaluation, prediction and
resuming read them through `current_config`, so that each reads one key, today's. Keys move only
when the old name misled: ``data.encoding`` was a file's charset, not the model's `Encoding`; how
labels are predicted and weighed (one or a set, thresholds, class weights, the sampler) is the
task's (conf/task/), not the dataset's or the trainer's.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

# old key -> today's key
MOVED: dict[str, str] = {
    "data.encoding": "data.charset",
    "data.multi_label": "task.multi_label",
    "trainer.threshold": "task.threshold",
    "trainer.class_weights": "task.class_weights",
    "trainer.sampler": "task.sampler",
}
# A dataset's constructor arguments as checkpoints store them (``data_source``): old name -> today's.
MOVED_DATA_ARGS: dict[str, str] = {"encoding": "charset"}


def current_config(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` with every moved key at today's place (today's wins where both are set)."""
    cfg = OmegaConf.create(OmegaConf.to_container(cfg))
    with open_dict(cfg):
        for old, new in MOVED.items():
            section, name = old.rsplit(".", 1)
            node = OmegaConf.select(cfg, section)
            if not isinstance(node, DictConfig) or name not in node:
                continue
            value = node.pop(name)
            if OmegaConf.select(cfg, new) is None:
                OmegaConf.update(cfg, new, value, force_add=True)
    return cfg


# Arguments a dataset gained after checkpoints were stored, with the value that means what those
# runs did: a table trained before data.streaming existed was read into memory (its default, auto,
# would stream a large one, and so hold out other validation rows).
ADDED_DATA_ARGS: dict[str, dict[str, Any]] = {"table": {"streaming": False}}


def current_data_args(dataset: str, args: dict[str, Any]) -> dict[str, Any]:
    """A stored ``data_source``'s arguments (of the dataset registered as ``dataset``) under today's names."""
    return {**ADDED_DATA_ARGS.get(dataset, {}), **{MOVED_DATA_ARGS.get(name, name): value for name, value in args.items()}}
