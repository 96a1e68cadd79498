"""Dynamic int8 quantization of an exported ONNX model: `runtime=onnx-int8` and
`python -m textclf.export format=onnx quantize=int8`.

onnxruntime's `quantize_dynamic` stores the word tables (Gather) and the weights of MatMul, Conv
and LSTM nodes as int8 and quantizes their inputs batch by batch at run time (an LSTM becomes a
DynamicQuantizeLSTM), so the graph is about a quarter of the size and its matrix products run in
integers; the rest (the output layer's Gemm, GRUs, the pooling) stays float32. PyTorch's own `quantize_dynamic` is deprecated and was slower than
float32 at batch 1 (docs/speed.md), so textclf quantizes the ONNX graph only.

Quantizing changes the numbers, so a quantized model is checked against its float32 graph when it
is made: on a check set of random inputs of every length up to ``CHECK_TOKENS`` (for memory models,
stories of every size), the share of rows whose decision is the same (`QuantizationCheck.agreement`)
and the largest difference of any probability. Both are logged, and stored in an export's
metadata.json; the accuracy change on real test sets is in docs/speed.md.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textclf.inference.exporting import sample_inputs
from textclf.models.exportable import FlatInputs, MemoryInputs
from textclf.models.task import Task

log = logging.getLogger("textclf.inference")

CHECK_ROWS, CHECK_TOKENS = 512, 40
CHECK_SIZES = {"batch": CHECK_ROWS, "tokens": CHECK_TOKENS, "memories": 12, "memory_words": 8, "query_words": 6}
SCHEME = "dynamic int8 (onnxruntime quantize_dynamic: int8 word tables and MatMul, Conv and LSTM weights; activations quantized per batch)"


@dataclass(frozen=True)
class QuantizationCheck:
    """How the int8 model compares with its float32 graph on the check set."""

    rows: int
    agreement: float  # share of rows decided alike (multi-label: the same label set)
    max_probability_difference: float

    def as_metadata(self) -> dict:
        return {"scheme": SCHEME, "check_rows": self.rows, "agreement": round(self.agreement, 6),
                "max_probability_difference": round(self.max_probability_difference, 6)}


def quantize_int8(fp32: bytes) -> bytes:
    """The ONNX model ``fp32`` with its weights dynamically quantized to int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root, advice = logging.getLogger(), AdviceFilter()
    root.addFilter(advice)
    try:
        with tempfile.TemporaryDirectory(prefix="textclf-int8-") as folder:  # quantize_dynamic reads and writes files
            source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
            source.write_bytes(fp32)
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
            return target.read_bytes()
    finally:
        root.removeFilter(advice)


class AdviceFilter(logging.Filter):
    """Drops onnxruntime's advice to run its shape pre-processing first, logged on the root logger
    at every quantization: it is for image models' static quantization, and would read as a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider to run pre-processing before quantization")


def check_int8(fp32: bytes, int8: bytes, wrapper: FlatInputs | MemoryInputs, vocab_size: int, task: Task) -> QuantizationCheck:
    """Compare the two graphs' decisions and probabilities on `CHECK_SIZES` random inputs."""
    import onnxruntime

    inputs = sample_inputs(wrapper, vocab_size, CHECK_SIZES, seed=2)
    feeds = {name: x.numpy() for name, x in zip(wrapper.inputs, inputs)}
    probs = []
    for data in (fp32, int8):
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        probs.append(task.probabilities(torch.from_numpy(session.run(["logits"], feeds)[0])).numpy())
    same = task.decide(probs[0]) == task.decide(probs[1])
    agreement = float((same.all(axis=1) if same.ndim == 2 else same).mean())
    check = QuantizationCheck(CHECK_ROWS, agreement, float(np.abs(probs[0] - probs[1]).max()))
    log.info("int8 model: %.1f %% of %d check rows decided as in float32; largest probability difference %.3f",
             100 * check.agreement, check.rows, check.max_probability_difference)
    return check

