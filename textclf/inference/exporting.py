"""Trace a trained model into TorchScript or ONNX bytes, checked against the model itself.

The core of `python -m textclf.export` (which adds the tokenizer, labels and metadata files) and
of the ONNX runtime of `textclf.Classifier` (`runtime=onnx` for predict, serve and the Python
API), which exports the checkpoint's model in memory the same way: one graph, one check.
"""

from __future__ import annotations

import importlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from textclf.core.errors import TextclfError
from textclf.models.classifier import TextClassifier
from textclf.models.exportable import FlatInputs, MemoryInputs, exportable

# Not the exporter's newest: older onnxruntime and TensorRT builds read 17 too, and the ops these
# models use (LSTM, GRU, CumSum, Gather, ...) gain nothing in later opsets.
ONNX_OPSET = 17
# Sizes of each input axis (named in models/exportable.py) in the example the graph is traced with
# and in the batch the export is checked on: different from each other and between the two, so
# that a size the trace froze into the graph, or two axes it mixed up, make the check fail.
TRACE_SIZES = {"batch": 2, "tokens": 3, "memories": 3, "memory_words": 4, "query_words": 5}
CHECK_SIZES = {"batch": 5, "tokens": 7, "memories": 9, "memory_words": 8, "query_words": 2}
# float32 logits of the same maths through another runtime differ by ~1e-7.
ATOL, RTOL = 1e-5, 1e-4


def sample_inputs(wrapper: FlatInputs | MemoryInputs, vocab_size: int, sizes: dict[str, int], seed: int):
    """Random valid inputs with sizes[axis] along each axis; the first row is full, the last
    minimal (one token; no memories and no question), the others in between."""
    gen = torch.Generator().manual_seed(seed)
    batch = sizes["batch"]

    def ids(*shape: int) -> torch.Tensor:
        return torch.randint(1, vocab_size, (batch, *shape), generator=gen)

    def counts(low: int, high: int, *shape: int) -> torch.Tensor:
        n = torch.randint(low, high + 1, (batch, *shape), generator=gen)
        n[0], n[-1] = high, low
        return n

    def pad(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:  # zero the last axis from n on
        return x.masked_fill(torch.arange(x.shape[-1]) >= n.unsqueeze(-1), 0)

    if isinstance(wrapper, FlatInputs):
        lengths = counts(1, sizes["tokens"])
        return pad(ids(sizes["tokens"]), lengths), lengths
    memories, words, query_words = sizes["memories"], sizes["memory_words"], sizes["query_words"]
    memory_lengths = counts(0, memories)
    sentences = pad(ids(memories, words), counts(1, words, memories))
    memory = sentences.masked_fill((torch.arange(memories) >= memory_lengths.unsqueeze(1)).unsqueeze(-1), 0)
    return memory, memory_lengths, pad(ids(query_words), counts(0, query_words))


@contextmanager
def quiet_torch() -> Iterator[None]:
    # Tracing warns about every Python branch it freezes (nn.LSTM's input checks, MemN2N's branches
    # on shapes), and torch marks TorchScript and its ONNX exporter as deprecated at each call. The
    # check on a batch of other sizes is what shows the graph right; the warnings would be noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def trace(wrapper: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    with quiet_torch(), torch.no_grad():
        return torch.jit.trace(wrapper, example, check_trace=False)


def _bool_safe_cumsum(g, x, dim, dtype=None):
    # torch counts a bool tensor as int64; the exporter's own cumsum hands the bool to ONNX's CumSum,
    # which rejects it. MemN2N's position encoding counts real tokens that way (memn2n.py,
    # position_coefficients), so the input is cast first.
    from torch.onnx import symbolic_opset11

    if x.type().scalarType() == "Bool":
        x = g.op("Cast", x, to_i=torch.onnx.TensorProtoDataType.INT64)
    return symbolic_opset11.cumsum(g, x, dim, dtype)


def _plain_relu(g, x):
    # The exporter's relu asks for its input's scalar type (to cast integers before opset 14) and
    # fails where the trace does not record it (MemN2N's u^{k+1} = H u^k + o^k with
    # nonlinearity=relu). From opset 14 ONNX's Relu takes every type, so no cast is needed.
    return g.op("Relu", x)


# Exporter symbolics replaced for the length of one export: the models stay plain PyTorch.
SYMBOLICS = {"aten::cumsum": _bool_safe_cumsum, "aten::relu": _plain_relu}


@contextmanager
def custom_symbolics() -> Iterator[None]:
    """Register `SYMBOLICS` with the ONNX exporter for one export, and take them back after."""
    for name, symbolic in SYMBOLICS.items():
        torch.onnx.register_custom_op_symbolic(name, symbolic, ONNX_OPSET)
    try:
        yield
    finally:
        for name in SYMBOLICS:
            torch.onnx.unregister_custom_op_symbolic(name, ONNX_OPSET)


def export_model(model: TextClassifier, vocab_size: int, fmt: str) -> tuple[bytes, FlatInputs | MemoryInputs, float]:
    """(the model as ``fmt`` bytes, its input wrapper, the largest logit difference `check_export`
    found). Raises if the export's logits differ from the model's."""
    wrapper = exportable(model).requires_grad_(False)  # a server gets logits without autograd history
    # No more memories than the model keeps: the trace then freezes its "nothing to cut" branch (see keep_recent).
    memories = min(TRACE_SIZES["memories"], getattr(wrapper, "memory_size", TRACE_SIZES["memories"]))
    example = sample_inputs(wrapper, vocab_size, {**TRACE_SIZES, "memories": memories}, seed=0)
    traced = trace(wrapper, example)
    if fmt == "torchscript":
        buffer = io.BytesIO()
        with quiet_torch():
            torch.jit.save(traced, buffer)
        data = buffer.getvalue()
    else:
        data = to_onnx(traced, wrapper, example)
    return data, wrapper, check_export(fmt, data, wrapper, vocab_size)


def to_onnx(traced: torch.jit.ScriptModule, wrapper: FlatInputs | MemoryInputs, example: tuple[torch.Tensor, ...]) -> bytes:
    """The traced graph as ONNX, through torch's TorchScript-based exporter.

    Not the torch.export-based one (dynamo=True): with torch 2.13 it writes the padded LSTMs as
    ONNX's own LSTM op, but torch.export freezes the sequence length at the example's in the
    LSTM's decomposition for some sizes and for every export after the first in a process (the
    graph then refuses other lengths), and it cannot take MemN2N at all (docs/export.md, "Which
    exporter"). This one writes ONNX's own LSTM/GRU ops, dynamic in every axis. Exporting the
    trace (not the module) keeps both formats one graph.
    """
    axes = {name: dict(enumerate(dims)) for name, dims in wrapper.inputs.items()}
    buffer = io.BytesIO()
    with quiet_torch(), custom_symbolics():
        torch.onnx.export(
            traced, example, buffer, dynamo=False, opset_version=ONNX_OPSET,
            input_names=list(wrapper.inputs), output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
        )
    return buffer.getvalue()


def run_exported(fmt: str, data: bytes, wrapper: FlatInputs | MemoryInputs, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Load an export from its bytes, as a server would, and compute logits."""
    if fmt == "torchscript":
        with quiet_torch(), torch.no_grad():
            return torch.jit.load(io.BytesIO(data))(*inputs)
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {name: x.numpy() for name, x in zip(wrapper.inputs, inputs)}
    return torch.from_numpy(session.run(["logits"], feeds)[0])


def check_export(fmt: str, data: bytes, wrapper: FlatInputs | MemoryInputs, vocab_size: int) -> float:
    """Largest |logit difference| between the export and the checkpoint model on a check batch."""
    # More memories than the model keeps, so that the cut to the most recent ones runs.
    memories = max(CHECK_SIZES["memories"], getattr(wrapper, "memory_size", 0) + 2)
    inputs = sample_inputs(wrapper, vocab_size, {**CHECK_SIZES, "memories": memories}, seed=1)
    with torch.no_grad():
        expected = wrapper.model(wrapper.batch(*inputs))
    got = run_exported(fmt, data, wrapper, inputs)
    diff = float((got - expected).abs().max())
    if got.shape != expected.shape or not torch.allclose(got, expected, atol=ATOL, rtol=RTOL):
        raise TextclfError(
            f"the exported {fmt} model's logits differ from the checkpoint model's (largest difference "
            f"{diff:.3g}, shape {tuple(got.shape)} vs {tuple(expected.shape)}), so nothing was written. "
            "This is a bug in textclf's export for this model: please report it with the model config; "
            f"the other format may work meanwhile."
        )
    return diff


def require_onnx() -> None:
    missing = []
    for name in ("onnx", "onnxruntime"):  # torch's exporter writes with onnx; the check runs onnxruntime
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise TextclfError(
            f"format=onnx needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed. "
            'Install the export extra: pip install -e ".[export]" (or pip install onnx onnxruntime), or use format=torchscript.'
        )
