"""Every setting in conf/ has a rule, the shipped configs pass them, and bad values are refused
by name before anything runs (textclf/core/config_rules.py)."""

from __future__ import annotations

import functools
from importlib.resources import files

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf

from textclf.core.config_rules import RULES, check_config, config_problems, leaves
from textclf.core.errors import TextclfError

from conftest import CONFIG_MODULE, compose_train

CONF = files(CONFIG_MODULE)
TRAIN_GROUPS = ("data", "embedding", "model", "tokenizer", "trainer", "task", "logger", "optimizer", "scheduler", "pretrain", "baseline", "experiment", "hparams_search")
COMMANDS = ("eval", "predict", "explain", "export")


def options(group: str) -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in CONF.joinpath(group).iterdir() if p.name.endswith(".yaml"))


@functools.cache
def every_shipped_config() -> tuple[tuple[str, DictConfig], ...]:
    """Each option of each group composed into train.yaml, and each command's file with each dataset.
    Composed once (some seventy configs, seconds) for the tests below, which only read them."""
    walked = [(f"train {group}={option}", compose_train([f"{group}={option}"])) for group in TRAIN_GROUPS for option in options(group)]
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        for command in COMMANDS:
            walked.append((command, compose(command)))
            if command in ("eval", "explain"):  # the commands that take a data group
                walked += [(f"{command} data={data}", compose(command, overrides=[f"data={data}"])) for data in options("data")]
    return tuple(walked)


def test_the_walk_covers_every_file_in_conf():
    # If a group were left out of TRAIN_GROUPS its keys would go unchecked; the walk must see them all.
    groups = {p.name for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("_")}
    # recipes load with their model (and data), search with hparams_search: composed below
    assert groups - {"recipe", "model_recipe", "search", "hydra"} == set(TRAIN_GROUPS)  # hydra/: launcher presets
    names = {name for name, _ in every_shipped_config()}
    assert "train model=memn2n" in names and "explain data=table" in names


def test_every_key_in_conf_has_a_rule():
    unruled = {}
    for name, cfg in every_shipped_config():
        for key, _ in leaves(cfg):
            if key not in RULES:
                unruled.setdefault(key, name)
    assert not unruled, f"keys without a rule in textclf/core/config_rules.py (and where found): {unruled}"


def test_the_first_run_recipe_is_walked_too():
    cfg = compose_train([])  # babi_gen + memn2n loads conf/recipe/babi_gen_memn2n.yaml
    assert cfg.model.encoder.tying == "layerwise"
    assert config_problems(cfg) == []


def test_every_shipped_config_passes_its_rules():
    failures = {name: problems for name, cfg in every_shipped_config() if (problems := config_problems(cfg))}
    assert not failures


@pytest.mark.parametrize("override, message", [
    ("trainer.grad_clip=-1", "trainer.grad_clip must be a number > 0 or null, got -1"),
    ("optimizer.lr=abc", "optimizer.lr must be a number > 0, got 'abc'"),
    ("optimizer.lr=-0.01", "optimizer.lr must be a number > 0, got -0.01"),
    ("optimizer.lr=nan", "optimizer.lr must be a number > 0, got nan"),
    ("optimizer.lr=inf", "optimizer.lr must be a number > 0, got inf"),
    ("optimizer.weight_decay=-1e-4", "optimizer.weight_decay must be a number >= 0, got -0.0001"),
    ("seed=-1", "seed must be a whole number >= 0 and <= 4294967295, got -1"),
    ("seed=1.5", "seed must be a whole number"),
    ("embedding.dim=0", "embedding.dim must be a positive integer, got 0"),
    ("embedding.dropout=1", "embedding.dropout must be a number >= 0 and < 1, got 1"),
    ("trainer.max_epochs=true", "trainer.max_epochs must be a positive integer, got True"),
    ("trainer.precision=8", "trainer.precision must be one of 32, bf16, 16, got 8"),
    ("trainer.monitor=test_acc", "trainer.monitor must be a validation metric"),
    ("trainer.progress=yes", "trainer.progress must be true or false, got 'yes'"),
    ("data.val_fraction=0", "data.val_fraction must be a number > 0 and < 1, got 0"),
    ("data.tasks=[1,0]", "data.tasks must be all, a task number >= 1 or a list of them, got [1, 0]"),
    ("model.encoder.tying=both", "model.encoder.tying must be one of adjacent, layerwise, got 'both'"),
    ("data=table", None),
    (["data=table", "data.charset=utf8x"], "data.charset must be auto or a Python codec name such as utf-8, latin-1 or gb18030, got 'utf8x'"),
    (["data=table", "data.charset=latin-1"], None),
    (["data=table", "data.label_separator=' '"], None),  # a space between tags is a separator like any other
    (["data=table", "data.label_separator=''"], "data.label_separator must be a non-empty text"),
    ("scheduler=step", None),  # a valid choice: no problem
])
def test_bad_values_are_refused_by_name(override, message):
    problems = config_problems(compose_train(override if isinstance(override, list) else [override]))
    if message is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(message), problems


def test_added_keys_with_a_rule_are_checked_and_others_left_to_their_reader():
    cfg = compose_train(["++optimizer.betas=[0.9,1.5]", "++optimizer.capturable=false"])
    assert config_problems(cfg) == ["optimizer.betas must be a pair [b1, b2], each in [0, 1), got [0.9, 1.5]"]


def test_all_problems_are_named_in_one_message():
    cfg = compose_train(["trainer.grad_clip=-1", "optimizer.lr=abc"])
    with pytest.raises(TextclfError, match=r"2 settings are wrong:\n  trainer.grad_clip .*\n  optimizer.lr "):
        check_config(cfg)


def test_mandatory_values_left_open_are_not_a_rule_problem():
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = compose("predict")  # ckpt_path and input are ???: asked for by name where they are read
    assert OmegaConf.is_missing(cfg, "ckpt_path") and config_problems(cfg) == []
