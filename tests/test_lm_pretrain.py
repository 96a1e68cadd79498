"""pretrain=lm: the encoder's own recurrence learns to predict words before it classifies."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from textclf.core.errors import TextclfError
from textclf.data.pipeline import build_source, prepare
from textclf.models.build import build_model
from textclf.training.lm_pretrain import LanguageModel, perplexity, pretrain_language_model
from textclf.training.trainer import train

from conftest import compose_train


def tiny(table_dir, model="bilstm", *extra):
    return compose_train([
        "data=table", f"data.root={table_dir}", "embedding.dim=16", f"model={model}", "trainer.max_epochs=2",
        "trainer.progress=false", "trainer.tensorboard=false", *extra,
    ] + (["model.encoder.hidden_size=16"] if model in ("bilstm", "textrnn", "rcnn") else []))


def setup(cfg):
    data = prepare(build_source(cfg.data), cfg.tokenizer)
    torch.manual_seed(0)
    return data, build_model(cfg, len(data.vocab), len(data.labels))


def test_only_real_neighbours_are_predicted():
    cfg = compose_train(["model=bilstm", "embedding.dim=8", "model.encoder.hidden_size=8"])
    lm = LanguageModel(build_model(cfg, 20, 2)).eval()
    tokens = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]])
    _, count = lm(tokens, torch.tensor([3, 5]))
    assert int(count) == 2 * ((3 - 1) + (5 - 1))  # each direction: length - 1 words per text
    # Padding after a text changes nothing: the same loss with or without it.
    assert torch.allclose(lm(tokens[:1, :3], torch.tensor([3]))[0], lm(tokens[:1], torch.tensor([3]))[0], atol=1e-5)


def test_warm_start_lowers_perplexity_and_moves_only_the_encoder_and_table(table_dir, caplog):
    cfg = tiny(table_dir, "bilstm", "pretrain=lm", "pretrain.epochs=4", "pretrain.lr=0.01")
    data, model = setup(cfg)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    torch.manual_seed(0)
    start = perplexity(LanguageModel(model), data.encoded["val"], 64, torch.device("cpu"))  # untrained: about the vocabulary size
    with caplog.at_level("INFO", logger="textclf.training.lm_pretrain"):
        pretrain_language_model(cfg.pretrain, data, model, torch.device("cpu"), seed=0)
    logged = [float(line.split("perplexity ")[1].split(" ")[0]) for line in caplog.text.splitlines() if "perplexity" in line]
    assert len(logged) == 4 and logged[-1] < logged[0] and logged[-1] < 0.8 * start
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert "embedding.table.weight" in moved and any(name.startswith("encoder.rnn.") for name in moved)
    assert not [name for name in moved if name.startswith("head.")]  # the classifier trains later


def test_unlabeled_texts_join_the_corpus_and_bad_files_are_refused(table_dir, tmp_path, caplog):
    extra = tmp_path / "more.txt"
    extra.write_text("the film was good\n\nthe plot was dull\n", encoding="utf-8")
    cfg = tiny(table_dir, "bilstm", "pretrain=lm", "pretrain.epochs=1", f"pretrain.unlabeled_file={extra}")
    data, model = setup(cfg)
    with caplog.at_level("INFO", logger="textclf.training.lm_pretrain"):
        pretrain_language_model(cfg.pretrain, data, model, torch.device("cpu"), seed=0)
    assert f"{len(data.splits.train) + 2} texts" in caplog.text  # the blank line is skipped
    for content, message in ((None, "does not exist"), (b"\xff\xfe bad", "not UTF-8"), (b"\n \n", "holds no text")):
        bad = tmp_path / "bad.txt"
        bad.unlink(missing_ok=True)
        if content is not None:
            bad.write_bytes(content)
        settings = OmegaConf.merge(cfg.pretrain, {"unlabeled_file": str(bad)})
        with pytest.raises(TextclfError, match=message):
            pretrain_language_model(settings, data, model, torch.device("cpu"), seed=0)


def test_encoders_without_a_recurrence_are_refused_with_the_alternative(table_dir):
    data, model = setup(tiny(table_dir, "textcnn"))
    with pytest.raises(TextclfError, match="pretrain=none"):
        LanguageModel(model)


def test_a_run_with_the_warm_start_learns_and_logs_it(table_dir, tmp_path, caplog):
    cfg = tiny(table_dir, "bilstm", "pretrain=lm", "pretrain.epochs=1", "trainer.max_epochs=8", "trainer.batch_size=16", "optimizer.lr=0.01")
    with caplog.at_level("INFO", logger="textclf"):
        results = train(cfg, tmp_path)
    assert "lm epoch 1" in caplog.text and results["test_acc"] > 0.9
