"""Exporting checkpoints: every encoder to TorchScript and ONNX, reloaded as a server would, must
give the checkpoint model's logits on a batch of other sizes than the trace's, padding included."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf
from tokenizers import Tokenizer

import textclf.inference.exporting as exporting
from textclf.commands.export import export
from textclf.core.errors import TextclfError
from textclf.data.batching import Batch
from textclf.data.example import Example
from textclf.inference.exporting import TRACE_SIZES
from textclf.inference.loader import load_model

from conftest import MEMORY_SIZE

# torch 2.13 marks TorchScript deprecated; loading model.pt is still what these tests must do.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

RECURRENT = ["textrnn", "bilstm", "rcnn"]
# bilstm+ngrams: a flat encoder with the hashed n-gram branch, whose hashing must run in the graph too.
ENCODERS = [*RECURRENT, "textcnn", "fasttext", "bilstm+ngrams", "memn2n"]
# MemN2N with the switches whose ops tracing and ONNX treat differently (H, ReLU, gates).
MEMN2N_SWITCHES = [
    "model.encoder.hop_map=true", "model.encoder.nonlinearity=relu", "model.encoder.attend_empty_slots=true",
    "model.encoder.hop_gate=true",
]

TEXTS = ["the film was superb and lovely", "a dull , boring plot", "", "very bright and fun cast , quite moving and great", "awful"]
STORIES = [
    (("Mary went to the kitchen.", "John moved to the garden.", "Mary went to the office.",
      "Sandra went to the hallway.", "John went back to the bedroom after lunch."), "Where is Mary?"),
    (("Daniel went to the bathroom.",), "Where is Daniel?"),
    (("Sandra went to the garden.", "Mary moved to the hallway.", "Daniel went to the office.",
      "Sandra moved to the kitchen."), "Is Sandra in the kitchen?"),
    ((), "Where is John?"),  # no story: the question becomes the memories, and the query is empty
    (("John went to the office.", "John moved to the garden."), "Is John in the garden?"),
]  # fmt: skip


# The plain tanh RNN cell in every flat encoder: ONNX has an RNN op of its own, unlike LSTM/GRU's.
PLAIN_RNN = [f"{name}-rnn" for name in RECURRENT]


@pytest.fixture(params=ENCODERS + ["memn2n-switches"] + PLAIN_RNN)
def checkpoint(request, tiny_run):
    """A tiny trained checkpoint per encoder (conftest.tiny_run, shared): flat encoders on texts,
    MemN2N on bAbI stories."""
    name = request.param
    switches = {"memn2n-switches": MEMN2N_SWITCHES}.get(name, ["model.encoder.cell=rnn"] if name in PLAIN_RNN else [])
    name = name.removesuffix("-switches").removesuffix("-rnn")
    return tiny_run(name, "stories" if name == "memn2n" else "text", *switches) / "best.pt"


def export_cfg(ckpt, out_dir, fmt):
    return OmegaConf.create({"ckpt_path": str(ckpt), "format": fmt, "out_dir": str(out_dir)})


def reference_batch(ckpt):
    """Real inputs through the prediction pipeline: the tensors an exported model is fed, and the
    checkpoint model's logits for them (computed on the Batch, as evaluation does)."""
    loaded = load_model(ckpt)
    model = loaded.model
    reads_memory = loaded.encoding.memory is not None
    if loaded.encoding.stories:
        examples = [Example(text=question, label="", context=story) for story, question in STORIES]
    else:
        examples = [Example(text=text, label="") for text in TEXTS]
    enc = loaded.encoding.encode(examples, "test", labelled=False, groups=[])
    batch = Batch(tokens=enc.tokens, lengths=enc.lengths, labels=enc.labels)
    if reads_memory:
        batch.memory, batch.memory_lengths, batch.query = enc.memory.long(), enc.memory_lengths, enc.query
        inputs = {"memory": batch.memory, "memory_lengths": batch.memory_lengths, "query": batch.query}
        # Stories longer than the model keeps, a row without question, sentences and questions of
        # different widths (MemN2N may encode both in one product).
        assert (batch.memory_lengths > MEMORY_SIZE).any() and (batch.query == 0).all(dim=1).any()
        assert batch.memory.shape[2] != batch.query.shape[1]
    else:
        inputs = {"tokens": batch.tokens, "lengths": batch.lengths}
        assert (batch.lengths < batch.tokens.shape[1]).any()  # padded rows
    with torch.no_grad():
        return inputs, model(batch), loaded.encoding.vocab, loaded.checkpoint


def run_export(out_dir, metadata, inputs):
    """Load the export from its folder with the runtime a server would use."""
    names = [spec["name"] for spec in metadata["inputs"]]
    if metadata["format"] == "torchscript":
        with torch.no_grad():
            return torch.jit.load(out_dir / metadata["model_file"])(*(inputs[n] for n in names))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out_dir / metadata["model_file"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == names
    assert all(isinstance(dim, str) for i in session.get_inputs() for dim in i.shape)  # every axis dynamic
    return torch.from_numpy(session.run(["logits"], {n: inputs[n].numpy() for n in names})[0])


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_gives_the_checkpoint_logits(checkpoint, fmt, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out_dir = export(export_cfg(checkpoint, tmp_path / "export", fmt), tmp_path / "run")
    assert out_dir == tmp_path / "export" and not (tmp_path / "run").exists()
    metadata = json.loads((out_dir / "metadata.json").read_text())
    inputs, expected, vocab, ckpt = reference_batch(checkpoint)
    for spec in metadata["inputs"]:  # every axis of another size than in the traced example
        assert all(size != TRACE_SIZES[axis] for axis, size in zip(spec["shape"], inputs[spec["name"]].shape)), spec

    got = run_export(out_dir, metadata, inputs)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)

    assert json.loads((out_dir / "labels.json").read_text()) == metadata["labels"] == ckpt["labels"]
    assert metadata["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", len(ckpt["labels"])]}]
    assert metadata["format"] == fmt and metadata["kind"] == ("memory" if "memory" in inputs else "flat")
    if metadata["kind"] == "memory":
        assert metadata["preprocessing"]["memory_size"] == MEMORY_SIZE
    tokenizer = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    for text in TEXTS:
        assert tokenizer.encode(text, add_special_tokens=False).ids == vocab.encode_many([text])[0]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(["labels.json", "metadata.json", "tokenizer.json", metadata["model_file"]])


def test_unknown_format_and_missing_checkpoint(tmp_path):
    with pytest.raises(TextclfError, match="format must be one of torchscript, onnx, got 'tflite'"):
        export(export_cfg(tmp_path / "best.pt", tmp_path / "out", "tflite"), tmp_path)
    with pytest.raises(TextclfError, match="does not exist"):
        export(export_cfg(tmp_path / "best.pt", tmp_path / "out", "torchscript"), tmp_path)
    assert not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(TextclfError, match="is a file"):
        export(export_cfg(tmp_path / "best.pt", tmp_path / "file", "torchscript"), tmp_path)


@pytest.mark.parametrize("module", ["onnx", "onnxruntime"])
def test_onnx_without_its_packages_names_the_extra(module, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(TextclfError, match=rf'needs {module}, which is not installed.*pip install -e "\.\[export\]"'):
        export(export_cfg(tmp_path / "best.pt", tmp_path / "out", "onnx"), tmp_path)
    assert not (tmp_path / "out").exists()


class Shifted(torch.nn.Module):
    """A wrong export: the real wrapper's logits plus one."""

    def __init__(self, wrapper):
        super().__init__()
        self.wrapper = wrapper

    def forward(self, *inputs):
        return self.wrapper(*inputs) + 1.0


@pytest.mark.parametrize("checkpoint", ["textrnn"], indirect=True)
def test_a_wrong_export_is_caught_and_the_old_one_kept(checkpoint, tmp_path, monkeypatch):
    out_dir = tmp_path / "export"
    export(export_cfg(checkpoint, out_dir, "torchscript"), tmp_path)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}

    real_trace = exporting.trace
    monkeypatch.setattr(exporting, "trace", lambda wrapper, example: real_trace(Shifted(wrapper), example))
    with pytest.raises(TextclfError, match="logits differ from the checkpoint model's"):
        export(export_cfg(checkpoint, out_dir, "torchscript"), tmp_path)
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before  # untouched, no temp files


@pytest.mark.parametrize("checkpoint", ["memn2n"], indirect=True)
@pytest.mark.slow
def test_command_line(checkpoint, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "textclf.export", f"ckpt_path={checkpoint}", "format=torchscript", "hydra.run.dir=run"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metadata = json.loads((tmp_path / "run" / "metadata.json").read_text())  # default out_dir: the run folder
    assert (tmp_path / "run" / metadata["model_file"]).is_file() and metadata["model"] == "memn2n"
