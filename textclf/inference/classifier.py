"""`textclf.Classifier`: a trained model as a Python object.

    clf = Classifier.load("outputs/DATE/TIME/best.pt")   # or the run folder; device="cpu"|"cuda"
    clf.labels                                            # class names, in the probabilities' column order
    clf.predict(["a gorgeous film", "boilerplate"])       # -> labels
    clf.predict_proba(texts)                              # -> numpy array [N, C]
    clf.predict(texts, top_k=3)                           # -> [(label, probability), ...] per text
    clf.explain(texts)                                    # -> the words behind each prediction, weighted

A multi-label model (task=multi_label) gives each input the list of its labels at or above
their thresholds (``predict``), and every label's own probability (``predict_proba``: sigmoids,
rows need not sum to 1).

A model trained on several text columns (``data.text_column=[title, body]``) takes each input as
a dict of them (``{"title": ..., "body": ...}``), a list in that order, or a string already joined
with ``<sep>`` as training joined them.

Models trained on bAbI stories take each input as a `Story(story=[...], question="...")`, its
JSON form ``{"story": [...], "question": "..."}``, or a string in the story format
`textclf.predict` reads (numbered lines, ending with one question).
`textclf.predict` and `textclf.serve` predict through this class too, their inputs read by the
same parser (`records.input_example`) and scored by the same `Predictor`, so the three give the
same answers.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from textclf import __version__
from textclf.core.errors import TextclfError, positive_int
from textclf.data.encoding import Encoding, recent_context
from textclf.data.example import Example
from textclf.data.memory import memories_and_query
from textclf.data.table_columns import text_specs
from textclf.inference.explanation import HopAttention, WordSalience, hop_attention, word_salience
from textclf.inference.loader import LoadedModel, load_model
from textclf.inference.onnx_runtime import OnnxRuntime
from textclf.inference.predictor import Predictor, Runtime, TorchRuntime
from textclf.inference.records import input_example, label_sets, prediction_records, top_labels

RUNTIMES = ("torch", "onnx", "onnx-int8")
PATH_KEYS = ("root", "train_file", "val_file", "test_file")


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise TextclfError(f"runtime={runtime!r} is not a runtime; use one of {', '.join(RUNTIMES)}.")


def runtime_of(loaded: LoadedModel, runtime: str, threads: int | None) -> Runtime:
    """What computes the logits: the model as loaded, or (onnx) exported to an onnxruntime session
    of ``threads`` threads (default: one: on two cores one intra-op thread scored batches of 128
    faster than two for every encoder in int8 and all but TextRCNN in float32, docs/speed.md);
    onnx-int8: with int8 weights (inference/quantize.py)."""
    if runtime.startswith("onnx"):
        int8 = loaded.task if runtime == "onnx-int8" else None
        return OnnxRuntime(loaded.model, len(loaded.encoding.vocab), threads or 1, int8)
    return TorchRuntime(loaded.model, loaded.device)


class Classifier:
    """Predictions from one trained model; see the module docstring for the calls."""

    def __init__(self, loaded: LoadedModel, batch_size: int = 256, runtime: str = "torch", threads: int | None = None) -> None:
        """``runtime="onnx"`` exports the model to ONNX in memory (a second or two) and runs it with
        onnxruntime on ``threads`` threads (default: one); ``"onnx-int8"`` quantizes that
        graph's weights to int8 first (checked against float32; `metadata()["quantization"]`);
        ``"torch"`` runs it as loaded."""
        check_runtime(runtime)
        positive_int(batch_size, "batch_size")
        if threads is not None:
            positive_int(threads, "threads")
        if runtime.startswith("onnx") and loaded.device.type != "cpu":
            raise TextclfError(f"runtime={runtime} runs on the CPU, but the model was loaded on {loaded.device}; use device=cpu, or runtime=torch.")
        self.loaded = loaded
        self.runtime = runtime
        self.predictor = Predictor(runtime_of(loaded, runtime, threads), loaded.task, batch_size)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", runtime: str = "torch", batch_size: int = 256, threads: int | None = None) -> Classifier:
        """The model of a checkpoint file (best.pt, last.pt) or of a run folder (its best.pt)."""
        check_runtime(runtime)  # before the (slow) loading
        return cls(load_model(path, device), batch_size, runtime, threads)

    @property
    def labels(self) -> list[str]:
        return list(self.loaded.labels)

    @property
    def multi_label(self) -> bool:
        """True for models trained on label sets: `predict` gives each input a list of labels."""
        return self.loaded.task.multi_label

    @property
    def stories(self) -> bool:
        """True for models trained on stories with questions (bAbI): inputs are `Story`s."""
        return self.loaded.encoding.stories

    @functools.cached_property
    def text_columns(self) -> tuple[str, ...]:
        """The columns of a model trained on several (data.text_column=[title, body]), in the order
        they were joined; an input may then be a dict of them. () for a model of one text, and for
        story models, whose inputs are stories (their question is the joined text)."""
        spec = None if self.stories else self.loaded.config.data.get("text_column")
        specs = () if spec is None else text_specs(spec)
        return tuple(map(str, specs)) if len(specs) > 1 else ()

    def examples(self, texts: Iterable[Any]) -> list[Example]:
        """The inputs as examples (texts, or stories for story models), checked one by one."""
        if isinstance(texts, (str, bytes)):
            raise TextclfError("texts must be a list of inputs, not one string; wrap it: predict([text]).")
        if isinstance(texts, dict) or not isinstance(texts, Iterable):
            kind = "one input (a dict)" if isinstance(texts, dict) else type(texts).__name__
            raise TextclfError(f"texts must be a list of inputs, got {kind}; give a list: predict([...]).")
        return [input_example(item, f"texts[{index}]", self.stories, self.text_columns) for index, item in enumerate(texts)]

    def example_proba(self, examples: Sequence[Example]) -> np.ndarray:
        """Class probabilities [N, C] for examples, in their order (N = 0 gives [0, C])."""
        if not examples:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.predictor.proba(self.loaded.encoding.encode(examples, "input", labelled=False, groups=[]))

    def predict_proba(self, texts: Iterable[Any]) -> np.ndarray:
        return self.example_proba(self.examples(texts))

    def predict(self, texts: Iterable[Any], top_k: int | None = None) -> list[str] | list[list[str]] | list[list[tuple[str, float]]]:
        """The most probable label of each input (a multi-label model: the list of labels at or
        above their thresholds); with ``top_k``, its ``top_k`` labels and probabilities."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise TextclfError(f"top_k must be a positive integer or None, got {top_k!r}.")
        prob = self.predict_proba(texts)
        if top_k is None and self.multi_label:
            return label_sets(prob, self.labels, self.loaded.task)
        top = top_labels(prob, self.labels, top_k or 1)
        return [row[0][0] for row in top] if top_k is None else top

    def records(self, texts: Iterable[Any], top_k: int = 3) -> list[dict]:
        """The answer `textclf.predict` and the server give for each input, as dicts: text (story),
        label, probability and top_k labels; an empty or blank input flagged ``"empty": True``, since
        its label is only the model's prior (``predict`` answers it like any other text)."""
        return self.example_records(self.examples(texts), top_k)

    def example_records(self, examples: Sequence[Example], top_k: int) -> list[dict]:
        return prediction_records(examples, self.example_proba(examples), self.labels, top_k, self.loaded.task)

    def explain(self, texts: Iterable[Any]) -> list[WordSalience]:
        """Why each input got its label. A flat encoder: the words it read, one weight each
        (`word_salience`: attention, max share or signed occlusion; models/salience.py says which).
        A memory network (MemN2N): its memory slots (the story's sentences, or a text's windows of
        words) as the "words", weighted by its last hop's attention, the read the answer comes from."""
        return self.example_explanations(self.examples(texts))

    def example_explanations(self, examples: Sequence[Example]) -> list[WordSalience]:
        if not examples:
            return []
        if self.loaded.encoding.memory is None:
            return word_salience(self.loaded, examples, self.predictor)
        # Under linear start (a model saved before it ended) the attention is raw scores, which may be negative.
        linear = bool(self.loaded.model.encoder.linear_start)
        return [last_hop(self.loaded.encoding, ex, hops, linear) for ex, hops in zip(examples, hop_attention(self.loaded, examples))]

    def metadata(self) -> dict[str, Any]:
        """What the model is: its name, data, classes, validation metrics at its epoch, test
        metrics where the run's results.json has them, versions, and a few validation examples."""
        config, checkpoint = self.loaded.config, self.loaded.checkpoint
        data = OmegaConf.to_container(config.data, resolve=True)
        for key in PATH_KEYS:  # where the data lay on the training machine is no business of a client
            data.pop(key, None)
        return {
            "model": config.model.name,
            "data": data,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "stories": self.stories,
            "text_columns": list(self.text_columns),
            "epoch": checkpoint.get("epoch"),
            "metrics": checkpoint.get("metrics", {}),
            "test_metrics": stored_test_metrics(self.loaded.path, checkpoint.get("epoch")),
            "baseline": checkpoint.get("baseline", {}),  # its scores on the same splits (absent before baselines)
            # Absent from checkpoints written before they were stored: no description, no examples, no date.
            "data_description": checkpoint.get("data_description"),
            "examples": checkpoint.get("examples", []),
            "trained_at": checkpoint.get("trained_at"),
            "runtime": self.runtime,
            # onnx-int8: how the int8 model compared with float32 when it was made (inference/quantize.py).
            "quantization": quantization.as_metadata() if (quantization := getattr(self.predictor.runtime, "quantization", None)) else None,
            "trained_with": checkpoint.get("textclf_version"),
            "textclf_version": __version__,
        }


def last_hop(encoding: Encoding, ex: Example, hops: HopAttention, signed: bool) -> WordSalience:
    """A memory network's explanation in `word_salience`'s shape: each memory slot as text, with
    the last hop's attention (a distribution over the slots, or less under attend_empty_slots;
    ``signed``: linear start's raw scores)."""
    return WordSalience(memory_slots(encoding, ex), hops.attention[-1], "hop attention", signed, hops.predicted, hops.probability)


def memory_slots(encoding: Encoding, ex: Example) -> list[str]:
    """The memory an example fills, slot by slot as text, built by the encoder's own
    `memories_and_query`: the story's last sentences, or a single text's windows of words."""
    memory = encoding.memory
    sentences = [[sentence] for sentence in recent_context(ex.context, encoding.max_tokens, memory)]
    words = encoding.vocab.words([ex.text], encoding.max_tokens)[0]
    slots, _ = memories_and_query(sentences, words, memory.max_memories, memory.window)
    return [" ".join(slot) for slot in slots]


def stored_test_metrics(checkpoint_path: Path, epoch: int | None) -> dict[str, float]:
    """The test figures in the results.json beside a checkpoint, when they are its own (the run's
    best epoch is the checkpoint's): training scores test only once, after its last epoch, so the
    checkpoint cannot hold them. {} for a checkpoint moved on its own or a run still training."""
    try:
        results = json.loads((checkpoint_path.parent / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(results, dict) or results.get("best_epoch") != epoch:
        return {}
    return {key: value for key, value in results.items() if key.startswith("test_") and isinstance(value, float)}
