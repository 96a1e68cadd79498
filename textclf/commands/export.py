"""Export a checkpoint for serving: `python -m textclf.export ckpt_path=PATH format=torchscript|onnx [out_dir=DIR]`.

Writes into out_dir (default: the run folder, outputs/export/<date>/<time>):
  model.pt (TorchScript) or model.onnx   logits [batch, classes] from plain int64 tensors; every
                                         batch and sequence axis is dynamic (models/exportable.py);
  tokenizer.json                         the Hugging Face `tokenizers` JSON the model was trained with;
  labels.json                            the class names, in the order of the logits' columns;
  metadata.json                          inputs, outputs, preprocessing settings, model and versions.

Before anything is written, the exported model is loaded back from its bytes and run on a batch of
another size than the one it was traced with; its logits must match the checkpoint model's. Each
file is written atomically and metadata.json last (after removing any old one), so a folder with
a metadata.json holds a complete export. See docs/export.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from textclf import __version__
from textclf.core.atomic import atomic_write
from textclf.core.config_rules import check_config
from textclf.core.errors import TextclfError, exit_on_user_error
from textclf.core.guards import FolderLock, owns_run_folder, refuse_overwriting_inputs
from textclf.data.vocab import PAD_ID, SEP_ID, UNK_ID
from textclf.inference.exporting import ONNX_OPSET, export_model, require_onnx
from textclf.inference.loader import LoadedModel, load_model
from textclf.inference.quantize import check_int8, quantize_int8
from textclf.models.exportable import FlatInputs, MemoryInputs

log = logging.getLogger("textclf.export")

MODEL_FILES = {"torchscript": "model.pt", "onnx": "model.onnx"}
METADATA = "metadata.json"


def describe(fmt: str, wrapper: FlatInputs | MemoryInputs, loaded: LoadedModel) -> dict[str, Any]:
    """metadata.json: what a server needs to feed the model and read its output."""
    encoding, checkpoint = loaded.encoding, loaded.checkpoint
    labels = list(encoding.labels)
    preprocessing: dict[str, Any] = {
        "tokenize": "tokenizer.encode(text, add_special_tokens=False).ids with tokenizer.json",
        "padding_id": PAD_ID,
        "unk_id": UNK_ID,
        "sep_id": SEP_ID,
        "max_tokens": encoding.max_tokens,
        "stories": encoding.stories,  # trained on bAbI-style stories + questions
    }
    if isinstance(wrapper, MemoryInputs):
        memory = encoding.memory
        preprocessing.update(max_memories=memory.max_memories, memory_window=memory.window, memory_size=wrapper.memory_size)
    metadata = {
        "format": fmt,
        "model_file": MODEL_FILES[fmt],
        "tokenizer_file": "tokenizer.json",
        "labels_file": "labels.json",
        "model": loaded.config.model.name,
        "kind": wrapper.kind,
        "inputs": [{"name": name, "dtype": "int64", "shape": list(dims)} for name, dims in wrapper.inputs.items()],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", len(labels)]}],
        "output": output_meaning(loaded),
        "labels": labels,
        "multi_label": encoding.multi_label,
        "preprocessing": preprocessing,
        "textclf_version": __version__,
        "torch_version": torch.__version__,
        "checkpoint": {"epoch": checkpoint.get("epoch"), "metrics": checkpoint.get("metrics", {})},
    }
    if encoding.multi_label:
        metadata["thresholds"] = list(loaded.task.thresholds)
    if fmt == "onnx":
        metadata["onnx_opset"] = ONNX_OPSET
    return metadata


def output_meaning(loaded: LoadedModel) -> str:
    if loaded.encoding.multi_label:
        return (
            "logits: unnormalised label scores, columns in labels order; a sigmoid of each gives its probability, "
            "and a label is predicted when its probability is >= its entry in thresholds (as textclf.predict does)"
        )
    return "logits: unnormalised class scores, columns in labels order; softmax over the last axis gives the probabilities textclf.predict reports"


def write_export(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write each file atomically, in order; metadata.json (the last) marks a complete export, so an
    old one goes first: an export that fails half-way never looks whole."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / METADATA).unlink(missing_ok=True)
    for name, data in files.items():
        atomic_write(out_dir / name, lambda fh, data=data: fh.write(data))


def to_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def export(cfg: DictConfig, run_dir: str | Path) -> Path:
    """Export cfg.ckpt_path as cfg.format into cfg.out_dir (or run_dir); returns the folder."""
    check_config(cfg)
    fmt, quantize = cfg.format, cfg.get("quantize")
    if quantize and fmt != "onnx":
        raise TextclfError(f"quantize={quantize} quantizes an ONNX graph: add format=onnx (format={fmt} has no int8 form here).")
    out_dir = Path(cfg.out_dir).expanduser() if cfg.get("out_dir") else Path(run_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TextclfError(f"out_dir {out_dir} is a file; pass out_dir=DIR, a folder (created if missing).")
    if fmt == "onnx":
        require_onnx()
    loaded = load_model(cfg.ckpt_path, "cpu")
    vocab = loaded.encoding.vocab
    data, wrapper, diff = export_model(loaded.model, len(vocab), fmt)
    metadata = describe(fmt, wrapper, loaded)
    if quantize:  # int8 weights, checked against the float32 graph just made (inference/quantize.py)
        quantized = quantize_int8(data)
        metadata["quantization"] = check_int8(data, quantized, wrapper, len(vocab), loaded.task).as_metadata()
        data = quantized
    files = {
        MODEL_FILES[fmt]: data,
        "tokenizer.json": vocab.to_json().encode("utf-8"),
        "labels.json": to_json(list(loaded.labels)),
        METADATA: to_json(metadata),  # last: see write_export
    }
    refuse_overwriting_inputs([out_dir / name for name in files], [loaded.path], "Pass another out_dir=DIR.")
    write_export(out_dir, files)
    log.info("%s %s export in %s (logits match the checkpoint's to %.1e)", loaded.config.model.name, fmt, out_dir, diff)
    return out_dir


@owns_run_folder("export")
@hydra.main(config_path="pkg://textclf.conf", config_name="export", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    with FolderLock(out_dir, "export"):
        export(cfg, out_dir)

