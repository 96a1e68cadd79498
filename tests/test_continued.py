"""init_from=CKPT: a new run that starts from a trained model (training/continued.py)."""

from __future__ import annotations

import random

import pytest
import torch
from hydra import compose, initialize_config_module

from textclf.commands.evaluate import evaluate
from textclf.core.errors import TextclfError
from textclf.inference.checkpoint import load_checkpoint
from textclf.inference.loader import load_model
from textclf.models.bilstm import BiLSTM
from textclf.models.classifier import TextClassifier
from textclf.models.embedding import Embedding
from textclf.training.continued import load_grown
from textclf.training.trainer import train

from conftest import FILLER, NEGATIVE, POSITIVE, QUIET, compose_train


def model(classes: int) -> TextClassifier:
    torch.manual_seed(classes)
    return TextClassifier(Embedding(30, 8, dropout=0.0), BiLSTM(input_size=8, hidden_size=4), classes)


def test_the_parent_s_weights_are_copied_and_new_label_rows_kept_fresh():
    parent, child = model(2), model(3)
    fresh = child.head[1].weight.detach().clone()
    load_grown(child, parent.state_dict())
    assert torch.equal(child.embedding.weight, parent.embedding.weight)
    assert torch.equal(child.head[1].weight[:2], parent.head[1].weight) and torch.equal(child.head[1].weight[2], fresh[2])
    with pytest.raises(TextclfError, match=r"init_from: encoder.rnn.*only the label rows of the output layer may grow"):
        load_grown(TextClassifier(Embedding(30, 8, dropout=0.0), BiLSTM(input_size=8, hidden_size=6), 2), parent.state_dict())


def write_table(root, rows):
    root.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.csv", rows[: int(len(rows) * 0.8)]), ("test.csv", rows[int(len(rows) * 0.8) :])):
        (root / name).write_text("text,label\n" + "\n".join(f"{text},{label}" for text, label in part) + "\n")


def rows(n: int, seed: int, labels: tuple[str, ...]) -> list[tuple[str, str]]:
    """Toy sentiment with an optional third label, "neu", marked by the word "meh"."""
    rng, found = random.Random(seed), []
    for _ in range(n):
        label = rng.choice(labels)
        cue = {"pos": POSITIVE, "neg": NEGATIVE, "neu": ["meh"]}[label]
        words = rng.choices(FILLER, k=rng.randint(3, 8)) + [rng.choice(cue)]
        rng.shuffle(words)
        found.append((" ".join(words), label))
    return found


@pytest.mark.slow  # trains several runs: the full suite's
def test_a_continued_run_keeps_the_parent_s_model_and_vocabulary_and_adds_labels(tmp_path):
    write_table(tmp_path / "old", rows(300, 0, ("pos", "neg")))
    write_table(tmp_path / "new", rows(300, 1, ("pos", "neg", "neu")))
    common = [*QUIET, "data=table", "trainer.max_epochs=6", "trainer.batch_size=16", "optimizer.lr=0.01"]
    parent = train(compose_train([*common, f"data.root={tmp_path / 'old'}", "model=bilstm", "embedding.dim=16",
                                  "model.encoder.hidden_size=16"]), tmp_path / "parent")
    # model=textcnn is replaced by the parent's BiLSTM: a continued run is the parent's architecture.
    child = train(compose_train([*common, f"data.root={tmp_path / 'new'}", "model=textcnn", f"init_from={tmp_path / 'parent'}"]),
                  tmp_path / "child")
    mother, daughter = load_checkpoint(tmp_path / "parent" / "best.pt"), load_checkpoint(tmp_path / "child" / "best.pt")
    assert daughter["labels"] == ["neg", "pos", "neu"] and daughter["tokenizer"] == mother["tokenizer"]
    assert daughter["parent"]["path"] == str(tmp_path / "parent" / "best.pt") and daughter["parent"]["labels"] == ["neg", "pos"]
    assert child["model"] == "bilstm" and child["test_acc"] > 0.9
    # The old task is still known after a round on the new data: the continued model on the old test set.
    with initialize_config_module("textclf.conf", version_base="1.3"):
        old = compose("eval", overrides=[f"ckpt_path={tmp_path / 'child'}", "data=table", f"data.root={tmp_path / 'old'}", "device=cpu"])
    assert evaluate(old, tmp_path / "eval")["acc"] > 0.9 and parent["test_acc"] > 0.9
    assert load_model(tmp_path / "child").labels == ["neg", "pos", "neu"]


def test_init_from_and_ckpt_path_are_not_given_together(tmp_path):
    cfg = compose_train(["data=babi_gen", f"data.root={tmp_path}", f"init_from={tmp_path}", f"ckpt_path={tmp_path}"])
    with pytest.raises(TextclfError, match="init_from starts a new run from a trained model and ckpt_path resumes"):
        train(cfg, tmp_path / "run")
