"""int8: `runtime=onnx-int8` and `export format=onnx quantize=int8`, checked against float32 when made."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from textclf.commands.export import export
from textclf.core.errors import TextclfError
from textclf.inference.classifier import Classifier
from textclf.inference.records import Story

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TEXTS = ["the film was superb and lovely", "a dull , boring plot", "very bright and fun cast , quite moving and great", "awful",
         "weak", "the story is flat and tired and the cast is messy , the plot dull", "fine", "the cast"]


@pytest.mark.parametrize("model", ["bilstm", "rcnn", "textcnn", "fasttext"])
def test_the_int8_runtime_decides_as_float32_does(tiny_run, model):
    checkpoint = tiny_run(model) / "best.pt"
    int8 = Classifier.load(checkpoint, runtime="onnx-int8", threads=1)
    fp32 = Classifier.load(checkpoint)
    assert int8.metadata()["runtime"] == "onnx-int8"
    check = int8.metadata()["quantization"]
    assert check["agreement"] >= 0.95 and check["max_probability_difference"] < 0.2  # on 512 check rows
    prob, reference = int8.predict_proba(TEXTS), fp32.predict_proba(TEXTS)
    assert np.abs(prob - reference).max() < 0.1 and not np.array_equal(prob, reference)  # close, and really quantized


def test_the_int8_runtime_reads_stories(tiny_run):
    checkpoint = tiny_run("memn2n", "stories") / "best.pt"
    stories = [Story(["Mary went to the kitchen.", "John moved to the garden."], "Where is Mary?"), Story([], "Where is John?")]
    prob = Classifier.load(checkpoint, runtime="onnx-int8", threads=1).predict_proba(stories)
    assert np.abs(prob - Classifier.load(checkpoint).predict_proba(stories)).max() < 0.1


def test_an_int8_export_records_its_check_and_quantizes_the_lstm(tiny_run, tmp_path):
    checkpoint = tiny_run("bilstm") / "best.pt"
    out = export(OmegaConf.create({"ckpt_path": str(checkpoint), "format": "onnx", "quantize": "int8", "out_dir": str(tmp_path / "int8")}), tmp_path)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["quantization"]["scheme"].startswith("dynamic int8") and metadata["quantization"]["agreement"] >= 0.95
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops


def test_int8_is_an_onnx_option(tiny_run, tmp_path):
    cfg = OmegaConf.create({"ckpt_path": str(tiny_run("bilstm") / "best.pt"), "format": "torchscript", "quantize": "int8", "out_dir": str(tmp_path)})
    with pytest.raises(TextclfError, match="quantize=int8 quantizes an ONNX graph: add format=onnx"):
        export(cfg, tmp_path)


@pytest.mark.slow
def test_a_server_answers_with_the_int8_model(tiny_run, tmp_path):
    import httpx

    from test_serve import start, stop  # a real server process on a loopback port

    checkpoint = tiny_run("bilstm") / "best.pt"
    proc, url = start(checkpoint, tmp_path / "serve", runtime="onnx-int8")
    try:
        answer = httpx.post(f"{url}/predict", json={"texts": TEXTS[:3]}, timeout=30).json()
        metadata = httpx.get(f"{url}/metadata", timeout=30).json()
    finally:
        stop(proc)
    expected = Classifier.load(checkpoint, runtime="onnx-int8", threads=1).records(TEXTS[:3])
    assert [row["label"] for row in answer["predictions"]] == [row["label"] for row in expected]
    assert metadata["runtime"] == "onnx-int8" and metadata["quantization"]["agreement"] >= 0.95
