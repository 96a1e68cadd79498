"""Every shipped config composes through Hydra and builds what it names."""

from __future__ import annotations

from importlib.resources import files

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from textclf.data.example import DataSource
from textclf.models.build import build_model

from conftest import CONFIG_MODULE, compose_train

CONF = files(CONFIG_MODULE)


def options(group: str) -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in CONF.joinpath(group).iterdir() if p.name.endswith(".yaml"))


def test_every_group_has_options():
    for group in ("data", "model", "embedding", "tokenizer", "trainer", "optimizer", "scheduler"):
        assert options(group), group
    assert {"textrnn", "bilstm", "rcnn", "textcnn", "fasttext"} <= set(options("model"))
    assert {"babi", "babi_gen", "sst2", "sst5", "mr", "table"} <= set(options("data"))


@pytest.mark.parametrize("model", options("model"))
def test_model_configs_build(model):
    cfg = compose_train([f"model={model}", "~recipe"])  # the model file alone (the first run's recipe ties answers)
    net = build_model(cfg, vocab_size=30, num_classes=4)
    assert net.head[-1].out_features == 4
    assert cfg.model.name == model


@pytest.mark.parametrize("data", options("data"))
def test_data_configs_instantiate(data):
    cfg = compose_train([f"data={data}"]).data
    source = instantiate(cfg)
    assert isinstance(source, DataSource)
    assert source.max_tokens > 0
    # The shared settings are in every dataset's config, with the class's defaults unless the file sets its own.
    shared = DataSource.shared_settings()
    assert set(shared) == {"seed", "val_fraction", "max_tokens", "max_memories", "memory_window", "download", "folds", "fold"} <= set(cfg)
    own = set(OmegaConf.load(files("textclf.conf").joinpath("data", f"{data}.yaml")))
    assert all(cfg[key] == value for key, value in shared.items() if key not in own)


@pytest.mark.parametrize("group", ["optimizer", "scheduler", "trainer", "embedding", "tokenizer"])
def test_other_groups_compose(group):
    for option in options(group):
        cfg = compose_train([f"{group}={option}"])
        assert group in cfg


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_configs_compose(experiment):
    cfg = compose_train([f"experiment={experiment}"])
    build_model(cfg, vocab_size=30, num_classes=2, label_tokens=[[3], [4]])  # tied answers need label tokens
    assert isinstance(instantiate(cfg.data), DataSource)


def test_eval_config_requires_checkpoint():
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = compose("eval")
        assert cfg.split == "test" and "data" not in cfg
        with_data = compose("eval", overrides=["ckpt_path=x.pt", "data=sst2"])
        assert with_data.data.variant == "binary"


@pytest.mark.parametrize("variant, recipe, changes", [
    ("babi1k_memn2n_fast", "babi1k_memn2n_joint", {"trainer.batch_size": (64, 32)}),
    ("babi1k_memn2n_gated", "babi1k_memn2n_joint",
     {"model.encoder.hop_gate": (True, False), "model.encoder.hop_gate_mode": ("add", "replace")}),
    ("babi10k_memn2n_layerwise", "babi10k_memn2n_joint",
     {"model.encoder.tying": ("layerwise", "adjacent"), "embedding.dim": (100, 50)}),
])
def test_babi_recipe_variants_change_only_what_they_name(variant, recipe, changes):
    """The numbers in docs/results/babi.md for these variants are their recipe's runs with exactly these overrides."""
    from omegaconf import OmegaConf

    cfg, base = compose_train([f"experiment={variant}"]), compose_train([f"experiment={recipe}"])
    for key, (theirs, recipes) in changes.items():
        assert (OmegaConf.select(cfg, key), OmegaConf.select(base, key)) == (theirs, recipes)
        OmegaConf.update(cfg, key, recipes)
    assert OmegaConf.to_container(cfg, resolve=True) == OmegaConf.to_container(base, resolve=True)


@pytest.mark.parametrize(
    ("overrides", "model"),
    [
        ([], "memn2n"),  # the first run: generated stories
        (["data=babi"], "memn2n"),
        (["data=sst2"], "fasttext"),  # single texts never get the memory network by default
        (["data=table"], "fasttext"),
        (["data=babi", "model=rcnn"], "rcnn"),  # the command line wins either way
        (["data=table", "model=memn2n"], "memn2n"),
    ],
)
def test_without_model_stories_get_memn2n_and_single_texts_the_sentence_model(overrides, model):
    cfg = compose_train(overrides)
    assert cfg.model.name == model
    assert (cfg.embedding.dim == 50) == (model == "memn2n")  # and its own word tables come with it


def test_evaluate_and_explain_still_compose_with_a_story_dataset():
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        for command in ("eval", "explain"):
            assert compose(command, overrides=["data=babi", "ckpt_path=x"]).data._target_.endswith("Babi")


def test_the_first_run_trains_on_one_thread_whatever_the_cores():
    # The thread count changes the order of float sums and so the run (docs/results/first_run.md):
    # pinned, the README's first-run numbers come out the same on any number of cores.
    cfg = compose_train([])
    assert cfg.model.name == "memn2n" and cfg.trainer.num_threads == 1
    assert compose_train(["trainer.num_threads=2"]).trainer.num_threads == 2
