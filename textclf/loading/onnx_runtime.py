"""`runtime=onnx`: the checkpoint's model exported to ONNX in memory and run by onnxruntime.

The graph is the one `python -m textclf.export format=onnx` writes (`export_model`, checked
against the PyTorch model before use); the tokenizer and the encoding are the checkpoint's, and
the batches are cut as `predict_proba` cuts them, so probabilities agree with `runtime=torch` to
float rounding (~1e-7; a test holds them to 1e-5). onnxruntime releases the GIL for a whole
batch, where PyTorch takes it back between operators: in a server, whose event loop wants the GIL
too, that matters more than the kernels' speed (docs/speed.md).
"""

from __future__ import annotations

import numpy as np
import torch

from textclf.data.batching import BatchIterator, EncodedSplit, eval_token_budget
from textclf.loading.exporting import export_model, require_onnx
from textclf.models.classifier import TextClassifier
from textclf.models.task import Task


class OnnxModel:
    """An onnxruntime session of ``model`` (trained on a vocabulary of ``vocab_size``), with
    ``threads`` intra-op threads; ``task`` reads its logits (softmax, or sigmoids for multi-label)."""

    def __init__(self, model: TextClassifier, vocab_size: int, threads: int, task: Task | None = None) -> None:
        self.task = task or Task()
        require_onnx()
        import onnxruntime

        data, wrapper, _ = export_model(model, vocab_size, "onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # the graph is one chain of operators: nothing to run side by side
        self.session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.inputs = list(wrapper.inputs)  # names of Batch fields: tokens, lengths / memory, memory_lengths, query

    def proba(self, split: EncodedSplit, batch_size: int) -> np.ndarray:
        """Probabilities [N, C] in example order; more than ``batch_size`` examples are cut into
        length-sorted batches under `predict_proba`'s token budget."""
        budget = eval_token_budget(split, batch_size) if len(split) > batch_size else None
        prob: np.ndarray | None = None
        for batch in BatchIterator(split, batch_size, token_budget=budget):
            feeds = {name: getattr(batch, name).numpy().astype(np.int64, copy=False) for name in self.inputs}
            batch_prob = self.task.probabilities(torch.from_numpy(self.session.run(["logits"], feeds)[0])).numpy()
            if prob is None:
                prob = np.empty((len(split), batch_prob.shape[1]), dtype=np.float32)
            prob[batch.index.numpy()] = batch_prob
        assert prob is not None  # an EncodedSplit has at least one example
        return prob
