"""The contract every model keeps, on every kind of data it reads (as timm tests each of its models):
a training step reaches every weight; the best.pt a run saves reloads to the very model the run
scored; the ONNX export gives the checkpoint model's logits; and explain gives one weight per word
(a memory network: one per memory slot, the story sentences it keeps). Tiny one-epoch runs, shared
with the other tests through conftest.tiny_run: the contract is about shapes, files and equality."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from textclf.commands.export import export
from textclf.data.batching import BatchIterator
from textclf.data.pipeline import build_source, group_names, load_source
from textclf.inference.classifier import memory_slots
from textclf.inference.explanation import hop_attention, word_salience
from textclf.inference.loader import load_model
from textclf.inference.predictor import model_predictor

from conftest import MEMORY_SIZE

# Every model on single-label texts; stories for MemN2N and a flat model (which reads story and
# question as one sequence); multi-label tags for a flat model.
CASES = [
    *((model, "text") for model in ("textrnn", "bilstm", "rcnn", "memn2n", "textcnn", "fasttext")),
    ("memn2n", "stories"), ("bilstm", "stories"), ("textcnn", "tags"),
]  # fmt: skip
IDS = [f"{model}-{data}" for model, data in CASES]
EVAL_BATCH = 512  # trainer.eval_batch_size: training scored the test split in one batch of this size


@pytest.fixture(params=CASES, ids=IDS)
def case(request, tiny_run):
    model, data = request.param
    return model, data, tiny_run(model, data)


def split(loaded, name: str, count: int | None = None):
    """The examples of one split of the data the model was trained on, and their encoding."""
    examples = load_source(build_source(loaded.config.data)).split(name)[:count]
    return examples, loaded.encoding.encode(examples, name, groups=group_names(examples))


def test_a_training_step_reaches_every_weight(case):
    model_name, _, run = case
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == model_name and results["epochs"] == 1
    history = pd.read_csv(run / "metrics.csv")
    assert list(history["epoch"]) == [1] and math.isfinite(history["train_loss"][0])

    loaded = load_model(run)
    model = loaded.model
    _, encoded = split(loaded, "train", 16)
    batch = next(iter(BatchIterator(encoded, 16)))
    # Eval mode (no dropout, no random memory noise): the two losses below see the same function.
    loss = loaded.task.loss(model(batch), batch.labels)
    loss.backward()
    weights = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    assert weights and [name for name, p in weights if p.grad is None] == []  # the loss reaches every weight
    assert all(torch.isfinite(p.grad).all() for _, p in weights)
    assert sum(float(p.grad.abs().sum()) for _, p in weights) > 0
    torch.optim.SGD(model.parameters(), lr=1e-3).step()
    with torch.no_grad():
        assert float(loaded.task.loss(model(batch), batch.labels)) < float(loss)  # a step down the gradient lowers it


def test_best_pt_reloads_to_the_model_the_run_scored(case):
    _, _, run = case
    loaded = load_model(run / "best.pt")
    examples, encoded = split(loaded, "test")
    prob, loss = model_predictor(loaded, EVAL_BATCH).proba_and_loss(encoded)
    scored = pd.read_csv(run / "report" / "predictions.csv", keep_default_na=False)  # written by the run, before best.pt was reloaded
    assert list(scored["text"]) == [ex.text for ex in examples]
    assert list(scored["predicted"]) == loaded.task.names(loaded.task.decide(prob), loaded.labels)
    np.testing.assert_allclose(prob.max(axis=1), scored["probability"], atol=1e-4, rtol=0)  # written to 4 places
    assert json.loads((run / "results.json").read_text())["test_loss"] == pytest.approx(loss, rel=1e-5)


def test_the_onnx_export_gives_the_checkpoint_logits(case, tmp_path):
    pytest.importorskip("onnx", reason="the ONNX export needs the export extra (onnx)")
    onnxruntime = pytest.importorskip("onnxruntime", reason="running the ONNX export needs the export extra (onnxruntime)")
    _, _, run = case
    out_dir = export(OmegaConf.create({"ckpt_path": str(run / "best.pt"), "format": "onnx", "out_dir": str(tmp_path / "export")}), tmp_path / "run")
    metadata = json.loads((out_dir / "metadata.json").read_text())
    loaded = load_model(run / "best.pt")
    assert metadata["labels"] == loaded.labels and metadata["multi_label"] == loaded.encoding.multi_label
    session = onnxruntime.InferenceSession(str(out_dir / metadata["model_file"]), providers=["CPUExecutionProvider"])
    names = [spec["name"] for spec in metadata["inputs"]]
    _, encoded = split(loaded, "test")
    shapes = set()
    for batch in BatchIterator(encoded, 16):  # length-sorted batches: each of another width
        with torch.no_grad():
            expected = loaded.model(batch)
        got = session.run(["logits"], {name: getattr(batch, name).numpy().astype(np.int64) for name in names})[0]
        torch.testing.assert_close(torch.from_numpy(got), expected, atol=1e-5, rtol=1e-5)
        shapes.add(tuple(getattr(batch, names[0]).shape))
    assert len(shapes) > 1


def test_explain_gives_one_weight_per_word(case):
    model_name, data, run = case
    loaded = load_model(run / "best.pt")
    examples, encoded = split(loaded, "test", 8)
    prob = model_predictor(loaded, EVAL_BATCH).proba(encoded)
    predicted = loaded.task.names(loaded.task.decide(prob), loaded.labels)
    if model_name == "memn2n":
        found = hop_attention(loaded, examples)
        hops = loaded.config.model.encoder.hops
        for ex, hop in zip(examples, found):
            slots = memory_slots(loaded.encoding, ex)  # the story's sentences (a text: its windows of words)
            assert slots and hop.attention.shape == (hops, len(slots)) and np.isfinite(hop.attention).all()
            assert not hop.attention[:, : max(len(slots) - MEMORY_SIZE, 0)].any()  # none on slots older than the model keeps
        assert data == "text" or any(len(memory_slots(loaded.encoding, ex)) > MEMORY_SIZE for ex in examples)  # stories it cuts
    else:
        found = word_salience(loaded, examples)
        for words, salience in zip(loaded.encoding.flat_words(examples), found):
            assert salience.words == words and salience.weights.shape == (len(words),)
            assert np.isfinite(salience.weights).all()
    assert [f.predicted for f in found] == predicted  # the explanation is of the model's own answer
