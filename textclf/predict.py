"""Predict labels for new text: `python -m textclf.predict ckpt_path=PATH input=FILE|- [output=-] [top_k=3]`.

Writes one JSON line per input: {"text", "label", "probability", "top_k": [{"label", "probability"}]}
(and "story" for bAbI-style inputs). Input is streamed: read, encoded and predicted `batch_size`
examples at a time, so a large file is never held in memory whole.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import TextIO

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from textclf.data.batching import BatchIterator
from textclf.data.example import Example
from textclf.data.pipeline import encode_examples, memory_layout
from textclf.errors import TextclfError, exit_on_user_error
from textclf.evaluate import load_model
from textclf.inference import predict_proba

log = logging.getLogger("textclf.predict")


def text_examples(lines: Iterable[str]) -> Iterator[Example]:
    """One text per line (single-text models); the line's own text, untouched, is the input."""
    for line in lines:
        yield Example(text=line.rstrip("\r\n"), label="")


def story_examples(lines: Iterable[str], source: str) -> Iterator[Example]:
    """bAbI story format: `ID sentence` lines, ID 1 starting a story; a line ending in '?' (an
    answer after a tab is allowed and ignored) is a question about the story so far."""
    story: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        if not head.isdigit():
            raise TextclfError(
                f"{source}:{number}: expected a bAbI story line 'ID sentence' (this model was trained on "
                f"stories), got {line[:60]!r}. Number story lines from 1; end with a question line 'ID question?'."
            )
        if head == "1":
            story = []
        text = rest.split("\t")[0].strip()
        if text.endswith("?"):
            yield Example(text=text, label="", context=tuple(story))
        else:
            story.append(text)


@contextmanager
def open_input(name: str) -> Iterator[TextIO]:
    if name == "-":
        yield sys.stdin
        return
    path = Path(name).expanduser()
    if not path.is_file():
        raise TextclfError(f"input file {path} does not exist. Pass input=FILE (one text per line) or input=- for stdin.")
    with open(path, encoding="utf-8", errors="strict") as fh:
        yield fh


@contextmanager
def open_output(name: str | None, run_dir: Path) -> Iterator[TextIO]:
    if name == "-":
        yield sys.stdout
        return
    path = Path(name).expanduser() if name else run_dir / "predictions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        yield fh
    log.info("predictions in %s", path)


def batched(items: Iterator[Example], size: int) -> Iterator[list[Example]]:
    while chunk := list(islice(items, size)):
        yield chunk


def predict(cfg: DictConfig, run_dir: str | Path) -> int:
    """Stream predictions for cfg.input into cfg.output; returns how many were written."""
    if cfg.top_k < 1 or cfg.batch_size < 1:
        raise TextclfError("top_k and batch_size must be positive integers.")
    model, vocab, checkpoint, train_cfg = load_model(cfg.ckpt_path, cfg.device)
    labels = checkpoint["labels"]
    source = instantiate(train_cfg.data)  # for max_tokens and the memory layout; no data is read
    memory = memory_layout(source) if getattr(model.encoder, "reads_memory", False) else None
    stories = bool(checkpoint["groups"])  # trained on bAbI-style stories
    device = next(model.parameters()).device
    top_k = min(cfg.top_k, len(labels))
    written = 0
    with open_input(cfg.input) as lines, open_output(cfg.output, Path(run_dir)) as out:
        try:
            examples = story_examples(lines, cfg.input) if stories else text_examples(lines)
            for chunk in batched(examples, cfg.batch_size):
                encoded = encode_examples(chunk, vocab, labels, [], source.max_tokens, "input", memory, labelled=False)
                prob, _ = predict_proba(model, BatchIterator(encoded, cfg.batch_size, device=device))  # no gold: loss unused
                values, indices = torch.from_numpy(prob).topk(top_k, dim=-1)
                for ex, top_values, top_indices in zip(chunk, values.tolist(), indices.tolist()):  # input order
                    record = {"text": ex.text}
                    if ex.context:
                        record["story"] = list(ex.context)
                    record["label"] = labels[top_indices[0]]
                    record["probability"] = round(top_values[0], 6)
                    record["top_k"] = [{"label": labels[i], "probability": round(v, 6)} for v, i in zip(top_values, top_indices)]
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += len(chunk)
        except UnicodeDecodeError as err:
            raise TextclfError(f"{cfg.input}: not valid UTF-8 text ({err.reason} at byte {err.start}); convert it to UTF-8.") from None
    if written == 0:
        raise TextclfError(
            f"{cfg.input}: no input to predict ({'no question lines' if stories else 'the input is empty'}). "
            + ("Give stories as numbered lines ending with a question line 'ID question?'." if stories else "Give one text per line.")
        )
    return written


@hydra.main(config_path="pkg://textclf.conf", config_name="predict", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    count = predict(cfg, HydraConfig.get().runtime.output_dir)
    log.info("%d predictions", count)


if __name__ == "__main__":
    main()
