"""`runtime=onnx`: the checkpoint's model exported to ONNX in memory and run by onnxruntime.

The graph is the one `python -m textclf.export format=onnx` writes (`export_model`, checked
against the PyTorch model before use); the tokenizer and the encoding are the checkpoint's, and
`Predictor` cuts the batches as it does for `runtime=torch`, so probabilities agree with it to
float rounding (~1e-7; a test holds them to 1e-5). onnxruntime releases the GIL for a whole
batch, where PyTorch takes it back between operators: in a server, whose event loop wants the GIL
too, that matters more than the kernels' speed (docs/speed.md).
"""

from __future__ import annotations

import numpy as np
import torch

from textclf.data.batching import Batch
from textclf.inference.exporting import export_model, require_onnx
from textclf.inference.quantize import QuantizationCheck, check_int8, quantize_int8
from textclf.models.classifier import TextClassifier
from textclf.models.task import Task


class OnnxRuntime:
    """An onnxruntime session of ``model`` (trained on a vocabulary of ``vocab_size``), with
    ``threads`` intra-op threads: a `Runtime` of `textclf.inference.predictor.Predictor`.
    ``int8`` (`runtime=onnx-int8`): the graph's weights dynamically quantized to int8 first, and
    checked against the float32 graph (``quantization``: inference/quantize.py)."""

    device = torch.device("cpu")  # batches stay on the CPU, where onnxruntime reads them

    def __init__(self, model: TextClassifier, vocab_size: int, threads: int, int8: Task | None = None) -> None:
        require_onnx()
        import onnxruntime

        data, wrapper, _ = export_model(model, vocab_size, "onnx")
        self.quantization: QuantizationCheck | None = None
        if int8 is not None:  # the task decides, so the check compares decisions as predictions make them
            quantized = quantize_int8(data)
            self.quantization = check_int8(data, quantized, wrapper, vocab_size, int8)
            data = quantized
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # the graph is one chain of operators: nothing to run side by side
        self.session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.inputs = list(wrapper.inputs)  # names of Batch fields: tokens, lengths / memory, memory_lengths, query

    def logits(self, batch: Batch) -> torch.Tensor:
        feeds = {name: getattr(batch, name).numpy().astype(np.int64, copy=False) for name in self.inputs}
        return torch.from_numpy(self.session.run(["logits"], feeds)[0])
