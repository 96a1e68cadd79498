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

import functools
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
from textclf.core.guards import FolderLock, owns_run_folder, refuse_overwriting_inputs
from textclf.core.scratch import scratch_run_folder
from textclf.data.example import Example
from textclf.data.files import undecodable_at, unreadable
from textclf.inference.classifier import Classifier
from textclf.inference.records import line_examples

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


def source_of(cfg: DictConfig) -> tuple[str, str | None]:
    """(where the input comes from, where the output goes): input=FILE|-, or text=... whose answer
    goes to standard output unless output= names a file."""
    if cfg.get("text") is not None and cfg.input is not None:
        raise TextclfError("give input=FILE (or input=-) or text=\"...\", not both.")
    if cfg.get("text") is not None:
        return "text", cfg.output or "-"
    if cfg.input is None:
        raise TextclfError('nothing to predict: pass input=FILE (one text a line), input=- (standard input) or text="a text".')
    return cfg.input, cfg.output


@contextmanager
def input_lines(cfg: DictConfig, source: str) -> Iterator[Iterable[str]]:
    """The input's lines: text=... as one line (its line breaks read as spaces), else open_input's."""
    if source == "text":
        yield [" ".join(str(cfg.text).splitlines())]
        return
    with open_input(source) as lines:
        yield lines


def predict(cfg: DictConfig, run_dir: str | Path) -> int:
    """Stream predictions for cfg.input (or cfg.text) into cfg.output; returns how many were written."""
    check_config(cfg)
    source, output = source_of(cfg)
    clf = Classifier.load(cfg.ckpt_path, cfg.device, runtime=cfg.get("runtime", "torch"), batch_size=cfg.batch_size)
    stories = clf.stories

    def write_predictions(lines: Iterable[str], out: TextIO) -> int:
        written = 0
        examples = line_examples(lines, source, stories, clf.text_columns)
        for chunk in batched(examples, cfg.batch_size):
            for record in clf.example_records(chunk, cfg.top_k):  # input order
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += len(chunk)
        if written == 0:
            raise TextclfError(
                f"{source}: no input to predict ({'no question lines' if stories else 'the input is empty'}). "
                + ("Give stories as numbered lines ending with a question line 'ID question?'." if stories else "Give one text per line.")
            )
        return written

    with input_lines(cfg, source) as lines:
        try:
            if output == "-":
                return write_predictions(lines, sys.stdout)
            path = output_path(output, Path(run_dir))
            files = [] if source in ("-", "text") else [source]
            refuse_overwriting_inputs([path], [clf.loaded.path] + files, "Pass another output=FILE, or output=- for stdout.")
            written = write_text_atomically(path, lambda out: write_predictions(lines, out))
        except UnicodeDecodeError as err:
            where = err.reason if source == "-" else undecodable_at(Path(source).expanduser(), "utf-8", err)
            raise TextclfError(f"{source}: not valid UTF-8 text ({where}); convert it to UTF-8.") from None
    log.info("predictions in %s", path)
    return written


def positional_text_hint(main: Callable[[], None]) -> Callable[[], None]:
    """`python -m textclf.predict ckpt_path=RUN "a gorgeous film"`: Hydra reads every argument as an
    override and fails on a bare text with a parser error; say what was meant instead."""

    @functools.wraps(main)
    def wrapper() -> None:
        bare = [arg for arg in sys.argv[1:] if "=" not in arg and not arg.startswith("-")]
        if bare:
            print(f'textclf: error: {bare[0]!r} is not a setting. To predict one text, write text="{bare[0]}"; '
                  "for many, input=FILE (one a line) or input=-.", file=sys.stderr)
            raise SystemExit(2)
        main()

    return wrapper


def setting(argv: list[str], key: str) -> str | None:
    """The value the command line gives ``key`` (the last one, as Hydra reads it), else None."""
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{key}=")]
    return values[-1] if values else None


def no_folder_for_stdout(main: Callable[[], None]) -> Callable[[], None]:
    """When the answer goes to standard output (output=-, or text=... with no output file), run
    in a scratch folder: a prediction printed to the terminal leaves no outputs/predict/ folder."""

    @functools.wraps(main)
    def wrapper() -> None:
        output = setting(sys.argv[1:], "output")
        if output == "-" or (output in (None, "null") and setting(sys.argv[1:], "text") is not None):
            sys.argv = scratch_run_folder(sys.argv, "textclf-predict-")
        main()

    return wrapper


@positional_text_hint
@no_folder_for_stdout
@hint_misspelt_keys("predict")
@owns_run_folder("predict")
@hydra.main(config_path="pkg://textclf.conf", config_name="predict", version_base="1.3")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    with FolderLock(out_dir, "predict"):
        count = predict(cfg, out_dir)
    log.info("%d predictions", count)

