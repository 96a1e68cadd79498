"""`textclf.explain` on the flat encoders, trained on a toy task where one opinion word decides the
label (conftest.sentiment_rows): the salience finds that word, and every encoder gets its PNG and text."""

from __future__ import annotations

import re

import matplotlib.image
import numpy as np
import pytest
from omegaconf import OmegaConf

from textclf.commands.explain import explain
from textclf.core.errors import TextclfError
from textclf.data.example import Example
from textclf.inference.explanation import word_salience
from textclf.inference.loader import load_model
from textclf.inference.predictor import model_predictor
from textclf.training.trainer import train

from conftest import NEGATIVE, POSITIVE, SMALL_NGRAMS, compose_train, sentiment_rows

# name -> (overrides, the measure explain should use for it)
HIDDEN = "model.encoder.hidden_size=16"
ENCODERS = {
    "textrnn": (["model=textrnn", HIDDEN], "occlusion"),
    "bilstm-max": (["model=bilstm", HIDDEN, "model.encoder.pooling=max"], "max share"),
    "bilstm-attention": (["model=bilstm", HIDDEN, "model.encoder.pooling=attention"], "attention"),
    "bilstm-mean": (["model=bilstm", HIDDEN, "model.encoder.pooling=mean"], "occlusion"),
    "rcnn": (["model=rcnn", HIDDEN, "model.encoder.projection_size=16"], "max share"),
    "textcnn": (["model=textcnn", "model.encoder.filters=16"], "occlusion"),  # windows, not words
    "fasttext": (["model=fasttext", *SMALL_NGRAMS], "occlusion"),
    # With the n-gram branch the head reads more than the attention pools: occlusion sees it all.
    "bilstm-attention+ngrams": (["model=bilstm", HIDDEN, "model.encoder.pooling=attention", "model/ngrams=bigrams", *SMALL_NGRAMS], "occlusion"),
}
QUIET = ["trainer.num_threads=1", "trainer.progress=false", "trainer.tensorboard=false"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny(table_dir, *overrides: str) -> list[str]:
    return ["data=table", f"data.root={table_dir}", "embedding.dim=16", "trainer.batch_size=16", *overrides, *QUIET]


# Its own runs, not conftest's shared tiny ones: salience is judged on models trained to confidence.
@pytest.fixture(scope="module")
def runs(tmp_path_factory, table_dir):
    """One trained run folder per encoder (about a second each). Chosen on validation loss, so
    best.pt is a model trained to confidence, not the first epoch that got every example right."""
    folders = {}
    for name, (overrides, _) in ENCODERS.items():
        folder = tmp_path_factory.mktemp(name)
        train(compose_train(tiny(table_dir, *overrides, "optimizer.lr=0.01", "trainer.max_epochs=20",
                                 "trainer.patience=null", "trainer.monitor=val_loss")), folder)
        folders[name] = folder
    return folders


def request(ckpt, **keys) -> OmegaConf:
    return OmegaConf.create({"ckpt_path": str(ckpt), "split": "test", "indices": None, "group": None, "count": 2,
                             "device": "cpu", **keys})


@pytest.mark.slow
@pytest.mark.parametrize("name", ENCODERS)
def test_the_deciding_word_gets_the_highest_salience(runs, name):
    found = word_salience(load_model(runs[name]), [Example(text, label) for text, label in sentiment_rows(60, seed=1)])
    assert {f.method for f in found} == {ENCODERS[name][1]}
    opinion = set(POSITIVE + NEGATIVE)
    top = [f.words[int(np.argmax(f.weights))] for f in found]
    # Chance is about 1 in 8 (texts have 4-13 words). Seeds 0-3 gave 37-47 of 60 for rcnn, whose
    # word states each hold their left and right context, and 57-60 of 60 for the others.
    assert sum(word in opinion for word in top) / len(top) > 0.5, list(zip(top, [f.words for f in found]))
    if not found[0].signed:  # attention and max share are distributions over the words
        assert all(abs(f.weights.sum() - 1) < 1e-4 for f in found)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENCODERS)
def test_explain_writes_a_png_and_the_words_with_weights(runs, name, tmp_path):
    written = explain(request(runs[name], indices=[0, 5]), tmp_path)
    assert [p.name for p in written] == ["example_0.png", "example_5.png"]
    texts = dict(sentiment_rows(60, seed=1)[i] for i in (0, 5))
    for png in written:
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        height, width, _ = matplotlib.image.imread(png).shape
        assert width > 300 and height > 50
        lines = png.with_suffix(".txt").read_text().splitlines()
        text = lines[0].removeprefix("text: ")
        assert text in texts and lines[1].startswith(f"gold: {texts[text]} | predicted: ")
        assert lines[2].startswith(f"salience: {ENCODERS[name][1]}, ")
        rows = [re.fullmatch(r"\s*([+-]?\d+\.\d{3})  (\S+)\s*[#-]*", line) for line in lines[4:]]
        assert all(rows), lines
        assert [row.group(2) for row in rows] == text.split()  # every word, in reading order
    summary = (tmp_path / "salience.txt").read_text()
    assert summary.count("## test example") == 2 and "## test example 5 (no group)" in summary


def test_without_indices_or_group_explain_shows_the_most_confident_mistakes(tmp_path, table_dir):
    run = tmp_path / "run"
    train(compose_train(tiny(table_dir, "model=bilstm", HIDDEN, "model.encoder.pooling=mean", "optimizer.lr=0.003", "trainer.max_epochs=1")), run)
    loaded = load_model(run)
    examples = [Example(text, label) for text, label in sentiment_rows(60, seed=1)]
    encoded = loaded.encoding.encode(examples)
    prob = model_predictor(loaded, 64).proba(encoded)
    gold = encoded.labels.numpy()
    wrong = np.flatnonzero(prob.argmax(axis=1) != gold)
    assert len(wrong) >= 3, "a one-epoch model gets several wrong"
    explain(request(run, count=3), tmp_path / "explain")
    shown = re.findall(r"gold: (\w+) \| predicted: (\w+) \((\d\.\d\d)\)", (tmp_path / "explain" / "salience.txt").read_text())
    assert len(shown) == 3 and all(g != p for g, p, _ in shown)
    expected = sorted(prob[wrong].max(axis=1), reverse=True)[:3]
    assert [float(p) for _, _, p in shown] == [round(float(p), 2) for p in expected]


@pytest.mark.slow
def test_explain_of_a_flat_model_refuses_to_overwrite_its_inputs(runs, tmp_path):
    ckpt = tmp_path / "salience.txt"  # a checkpoint under the name of explain's summary file
    ckpt.write_bytes((runs["textrnn"] / "best.pt").read_bytes())
    before = ckpt.read_bytes()
    with pytest.raises(TextclfError, match=r"salience.txt, which this command reads.*hydra.run.dir=DIR\)\. Nothing was written"):
        explain(request(ckpt, indices=[0]), tmp_path)
    assert ckpt.read_bytes() == before and not (tmp_path / "example_0.png").exists()


@pytest.mark.slow
def test_indices_outside_the_split_and_unknown_groups_are_refused(runs, tmp_path):
    with pytest.raises(TextclfError, match=r"indices \[60\] are outside the test split \(0\.\.59\)\. Give positions from 0 to 59"):
        explain(request(runs["rcnn"], indices=[3, 60]), tmp_path)
    with pytest.raises(TextclfError, match=r"no examples in group 'qa2' in the test split; its groups: none\. Leave group out"):
        explain(request(runs["rcnn"], group="qa2"), tmp_path)
    assert not list(tmp_path.iterdir())
