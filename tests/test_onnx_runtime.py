"""`runtime=onnx`: the model exported in memory and run by onnxruntime gives `runtime=torch`'s probabilities."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from textclf.core.errors import TextclfError
from textclf.inference.classifier import Classifier
from textclf.inference.records import Story

pytest.importorskip("onnxruntime")

TEXTS = ["the film was superb and lovely", "a dull , boring plot", "", "very bright and fun cast , quite moving and great", "awful",
         "weak", "the story is flat and tired and the cast is messy , the plot dull", "fine"]


# Tiny trained checkpoints, shared (conftest.tiny_run).
@pytest.fixture(params=["bilstm", "textcnn", "fasttext", "bilstm+ngrams"])
def flat_model(request, tiny_run):
    return tiny_run(request.param) / "best.pt"


@pytest.fixture
def story_model(tiny_run):
    return tiny_run("memn2n", "stories") / "best.pt"  # memory_size 3: the first story below is cut


@pytest.mark.parametrize("batch_size", [64, 3])  # one batch; several length-sorted ones
def test_onnx_gives_the_torch_probabilities(flat_model, batch_size):
    torch_prob = Classifier.load(flat_model, batch_size=batch_size).predict_proba(TEXTS)
    onnx = Classifier.load(flat_model, runtime="onnx", batch_size=batch_size, threads=1)
    assert onnx.metadata()["runtime"] == "onnx"
    np.testing.assert_allclose(onnx.predict_proba(TEXTS), torch_prob, atol=1e-5, rtol=0)


def test_onnx_reads_stories_as_torch_does(story_model):
    stories = [Story(["Mary went to the kitchen.", "John moved to the garden.", "Mary went to the office.", "Sandra went to the hallway."], "Where is Mary?"),
               Story([], "Where is John?"), "1 Daniel went to the bathroom.\n2 Where is Daniel?"]
    np.testing.assert_allclose(Classifier.load(story_model, runtime="onnx", threads=1).predict_proba(stories),
                               Classifier.load(story_model).predict_proba(stories), atol=1e-5, rtol=0)


@pytest.mark.parametrize("flat_model", ["bilstm"], indirect=True)
def test_onnx_without_its_packages_names_the_extra(flat_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(TextclfError, match=r'pip install -e "\.\[export\]"'):
        Classifier.load(flat_model, runtime="onnx")
