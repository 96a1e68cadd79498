"""Predict labels for new text: `python -m textclf.predict ckpt_path=PATH input=FILE|- [output=-] [top_k=3]`.

Writes one JSON line per input: {"text", "label", "probability", "top_k": [{"label", "probability"}]}
(and "story" for bAbI-style inputs). A multi-label model writes {"text", "labels": [the labels at
or above their threshold], "probabilities": {every label: its probability}} instead. A model
trained on several text columns also reads a line that is a JSON object of them,
{"title": "...", "body": "..."}. Input is
streamed: read, encoded and predicted `batch_size` examples at a time, so a large file is never held in memory whole. An output file takes the place
of an earlier one only once all input is predicted (bad input leaves the earlier file as it was).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import BinaryIO, TextIO

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from textclf.core.atomic import atomic_write
from textclf.core.config_rules import check_config
from textclf.core.errors import TextclfError, exit_on_user_error, first_line, hint_misspelt_keys
from textclf.core.guards import refuse_overwriting_inputs
from textclf.data.example import Example
from textclf.data.files import undecodable_at, unreadable
from textclf.loading.classifier import Classifier
from textclf.loading.records import line_examples

log = logging.getLogger("textclf.predict")


@contextmanager
def open_input(name: str) -> Iterator[TextIO]:
    if name == "-":
        yield sys.stdin
        return
    path = Path(name).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise TextclfError(f"input file {path} {what}. Pass input=FILE (one text per line) or input=- for stdin.")
    try:
        fh = open(path, encoding="utf-8", errors="strict")
    except OSError as err:  # opening it; read_checked names failures while reading
        raise unreadable(path, err) from None
    with fh:  # an OSError of the caller's (writing the output) passes through as it is
        yield read_checked(fh, path)


def read_checked(lines: TextIO, path: Path) -> Iterator[str]:
    """The file's lines, a read that fails (EIO halfway through) named like a file that cannot be opened."""
    try:
        yield from lines
    except OSError as err:
        raise unreadable(path, err) from None


def output_path(name: str | None, run_dir: Path) -> Path:
    """Where predictions go: output=PATH, else predictions.jsonl in the run folder."""
    path = Path(name).expanduser() if name else run_dir / "predictions.jsonl"
    if path.is_dir():
        raise TextclfError(f"output {path} is a folder; pass output=FILE (e.g. {path / 'predictions.jsonl'}) or output=- for stdout.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TextclfError(f"cannot create the folder for output {path} ({first_line(err)}); pass another output=FILE.") from None
    return path


def write_text_atomically(path: Path, write: Callable[[TextIO], int]) -> int:
    """Run ``write`` on a UTF-8 text handle whose file replaces ``path`` only if ``write`` returns.

    Bad input found halfway (invalid UTF-8 on line 5000, an empty file) must not leave an earlier
    predictions file truncated, so the output goes to a temp file that is renamed at the end.
    """
    written = 0

    def body(raw: BinaryIO) -> None:
        nonlocal written
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        try:
            written = write(text)
            text.flush()
        finally:
            text.detach()  # atomic_write still owns (flushes, syncs and closes) the binary file

    atomic_write(path, body)
    return written


def batched(items: Iterator[Example], size: int) -> Iterator[list[Example]]:
    while chunk := list(islice(items, size)):
        yield chunk


def predict(cfg: DictConfig, run_dir: str | Path) -> int:
    """Stream predictions for cfg.input into cfg.output; returns how many were written."""
    check_config(cfg)
    clf = Classifier.load(cfg.ckpt_path, cfg.device, runtime=cfg.get("runtime", "torch"), batch_size=cfg.batch_size)
    stories = clf.stories

    def write_predictions(lines: Iterable[str], out: TextIO) -> int:
        written = 0
        examples = line_examples(lines, cfg.input, stories, clf.text_columns)
        for chunk in batched(examples, cfg.batch_size):
            for record in clf.records(chunk, cfg.top_k):  # input order
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += len(chunk)
        if written == 0:
            raise TextclfError(
                f"{cfg.input}: no input to predict ({'no question lines' if stories else 'the input is empty'}). "
                + ("Give stories as numbered lines ending with a question line 'ID question?'." if stories else "Give one text per line.")
            )
        return written

    with open_input(cfg.input) as lines:
        try:
            if cfg.output == "-":
                return write_predictions(lines, sys.stdout)
            path = output_path(cfg.output, Path(run_dir))
            refuse_overwriting_inputs([path], [clf.loaded.path] + ([] if cfg.input == "-" else [cfg.input]), "Pass another output=FILE, or output=- for stdout.")
            written = write_text_atomically(path, lambda out: write_predictions(lines, out))
        except UnicodeDecodeError as err:
            where = err.reason if cfg.input == "-" else undecodable_at(Path(cfg.input).expanduser(), "utf-8", err)
            raise TextclfError(f"{cfg.input}: not valid UTF-8 text ({where}); convert it to UTF-8.") from None
    log.info("predictions in %s", path)
    return written


@hint_misspelt_keys("predict")
@hydra.main(config_path="pkg://textclf.conf", config_name="predict", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    count = predict(cfg, HydraConfig.get().runtime.output_dir)
    log.info("%d predictions", count)


if __name__ == "__main__":
    main()
