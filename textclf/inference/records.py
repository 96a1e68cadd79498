"""New input as examples, and probabilities as prediction records: shared by every way of predicting.

`textclf.predict` (the command), `textclf.Classifier` (the Python API) and `textclf.serve` (the
HTTP server) all turn their input into `Example`s here and their probabilities into the same
JSON-ready records, so the three give identical answers for the same text.

`input_example` is the one parser of an input (a string, a `Story` or its JSON form, a dict or
list of a model's text columns, a line of `textclf.predict`'s input): every check of an input's
shape lives there, and its callers only say where the input came from (``texts[3]``,
``in.txt:12``). Stories given as lines (`story_examples`) are split line by line as training's
bAbI reader splits them (data/babi.py, `story_line`), but leniently: no answers needed, any IDs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from textclf.core.errors import TextclfError
from textclf.data.babi import story_line
from textclf.data.example import Example
from textclf.data.table import as_text
from textclf.data.table_columns import JOIN
from textclf.models.task import Task

STORY_JSON = '{"story": ["a sentence", ...], "question": "a question?"}'


@dataclass(frozen=True)
class Story:
    """A bAbI-style input for a model trained on stories: the story sentences (oldest first) and the question."""

    story: Sequence[str]
    question: str


def python_kind(value: object) -> str:
    """A value of the wrong type as the Python API names it: its type and the start of its repr."""
    return f"{type(value).__name__} {value!r:.40}"


def input_example(item: object, where: str, stories: bool, columns: Sequence[str] = (), kind: Callable[[object], str] = python_kind) -> Example:
    """One input as the model reads it, or a `TextclfError` naming ``where`` it came from: a text;
    for a story model a `Story`, its JSON form or a string in the story format (`story_input`); for
    a model of several text ``columns`` also a dict or list of them (`column_text`). ``kind`` names
    a value of the wrong type (the server names JSON's types, the Python API Python's)."""
    if stories:
        example = story_input(item, where, kind)
    elif columns and isinstance(item, (dict, list, tuple)):
        example = Example(text=column_text(item, columns, where), label="")
    elif isinstance(item, str):
        example = Example(text=item, label="")
    else:
        wanted = f"a string or the text columns {', '.join(columns)} (a dict, or a list in that order)" if columns else "a string"
        raise TextclfError(f"{where} must be {wanted}, got {kind(item)}.")
    for text in (example.text, *example.context):
        check_unicode(text, where)
    return example


def check_unicode(text: str, where: str) -> None:
    """Refuse a lone surrogate (\\ud800 in JSON): it is not text, and would fail the tokenizer,
    and with it every input batched with this one (a server batches other clients' texts)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise TextclfError(f"{where} holds {text[err.start]!r} at character {err.start}, half of a surrogate pair, which is not text; send valid Unicode.") from None


def story_input(item: object, where: str, kind: Callable[[object], str]) -> Example:
    """A story model's input: a `Story`, its JSON form {"story": [...], "question": "..."}, or a
    string in the story format `textclf.predict` reads, holding exactly one question."""
    if isinstance(item, Story):
        return story_example(item.story, item.question, where)
    if isinstance(item, dict):
        if set(item) != {"story", "question"}:
            raise TextclfError(f"{where}: a story is {STORY_JSON}, or a Story.")
        return story_example(item["story"], item["question"], where)
    if not isinstance(item, str):
        raise TextclfError(f"{where} must be a string in the story format, a Story or {STORY_JSON}, got {kind(item)}.")
    found = list(story_examples(item.splitlines(), where))
    if len(found) != 1:
        raise TextclfError(
            f"{where} holds {len(found)} question lines; this model reads stories: give each input as numbered story "
            "lines ending with one question line ('1 Mary went to the kitchen.\\n2 Where is Mary?'), or a Story."
        )
    return found[0]


def story_example(story: object, question: object, where: str) -> Example:
    """A story given as its sentences and question, each of them text."""
    if isinstance(story, str) or not isinstance(story, (list, tuple)) or not all(isinstance(s, str) for s in story) or not isinstance(question, str):
        raise TextclfError(f"{where}: a story takes a list of sentences and a question, all text: {STORY_JSON}, or a Story.")
    return Example(text=question, label="", context=tuple(story))


def column_text(item: object, columns: Sequence[str], where: str) -> str:
    """The text of one input given as its columns, joined as training joined them (`JOIN`): a
    dict keyed by the column names, or a list of the columns' texts in the training order."""
    if isinstance(item, dict):
        if set(item) != set(columns):
            raise TextclfError(
                f"{where}: this model reads the text columns {', '.join(columns)}; the input has "
                f"{', '.join(map(str, item)) or 'none'}. Give every one of them, and no other."
            )
        values = [item[column] for column in columns]
    elif isinstance(item, (list, tuple)) and len(item) == len(columns):
        values = list(item)
    else:
        raise TextclfError(f"{where}: give this model's {len(columns)} text columns ({', '.join(columns)}) as a dict, a list in that order, or one string joined with '{JOIN.strip()}'.")
    texts = [as_text(value) for value in values]
    for column, value, text in zip(columns, values, texts):
        if text is None:
            raise TextclfError(f"{where}: the text column {column!r} holds a {type(value).__name__}; give it as a string.")
    return JOIN.join(texts)


def line_examples(lines: Iterable[str], source: str, stories: bool, columns: Sequence[str] = ()) -> Iterator[Example]:
    """`textclf.predict`'s input as examples, read the way the model was trained: stories, or one
    input a line (`line_item`), each read by `input_example`."""
    if stories:
        yield from story_examples(lines, source)
        return
    for number, raw in enumerate(lines, start=1):
        where = f"{source}:{number}"
        yield input_example(line_item(raw.rstrip("\r\n"), columns, where), where, False, columns)


def line_item(line: str, columns: Sequence[str], where: str) -> object:
    """One line of `textclf.predict`'s input as an input: for a model of several text ``columns``
    a line starting with '{' is a JSON object of them; any other line is its own text, untouched."""
    if not (columns and line.lstrip().startswith("{")):
        return line
    try:
        return json.loads(line)
    except ValueError as err:
        raise TextclfError(
            f"{where}: a line starting with '{{' is read as a JSON object of the columns "
            f"{', '.join(columns)}, but it is not valid JSON ({err}). Fix it, or give the text joined: "
            f"'{JOIN.join(columns)}'."
        ) from None


def story_examples(lines: Iterable[str], source: str) -> Iterator[Example]:
    """bAbI story format, read leniently: `ID sentence` lines (`story_line`), ID 1 starting a
    story; a line ending in '?' (an answer after a tab is allowed and ignored) is a question about
    the story so far."""
    story: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            story_id, rest = story_line(line)
        except ValueError:
            raise TextclfError(
                f"{source}:{number}: expected a bAbI story line 'ID sentence' (this model was trained on "
                f"stories), got {line[:60]!r}. Number story lines from 1; end with a question line 'ID question?'."
            ) from None
        if story_id == 1:
            story = []
        text = rest.split("\t")[0].strip()
        if text.endswith("?"):
            yield Example(text=text, label="", context=tuple(story))
        else:
            story.append(text)


def top_labels(prob: np.ndarray, labels: Sequence[str], top_k: int) -> list[list[tuple[str, float]]]:
    """The ``top_k`` most probable labels of each row, most probable first (ties: as torch.topk)."""
    values, indices = torch.from_numpy(prob).topk(min(top_k, len(labels)), dim=-1)
    return [[(labels[i], v) for v, i in zip(row_values, row_indices)] for row_values, row_indices in zip(values.tolist(), indices.tolist())]


def label_sets(prob: np.ndarray, labels: Sequence[str], task: Task) -> list[list[str]]:
    """A multi-label model's decisions: each row's labels at or above their thresholds, in label order."""
    return [[label for label, on in zip(labels, row) if on] for row in task.decide(prob)]


def prediction_records(examples: Sequence[Example], prob: np.ndarray, labels: Sequence[str], top_k: int, task: Task | None = None) -> list[dict]:
    """`textclf.predict`'s JSON line for each example: text, (story,) then label, probability and
    top_k; for a multi-label model, its labels and every label's probability instead. An empty or
    blank input is answered too (the server and predict answer every item) and flagged ``"empty": true``."""
    task = task or Task()
    if task.multi_label:
        fields = [
            {"labels": chosen, "probabilities": {label: round(p, 6) for label, p in zip(labels, row)}}
            for chosen, row in zip(label_sets(prob, labels, task), prob.tolist())
        ]
    else:
        fields = [
            {"label": top[0][0], "probability": round(top[0][1], 6), "top_k": [{"label": label, "probability": round(p, 6)} for label, p in top]}
            for top in top_labels(prob, labels, top_k)
        ]
    records = []
    for ex, more in zip(examples, fields):
        record: dict = {"text": ex.text}
        if ex.context:
            record["story"] = list(ex.context)
        record.update(more)
        if not ex.text.strip() and not any(sentence.strip() for sentence in ex.context):
            # Nothing to read: the answer is the model's prior, not a judgement of the text; say so.
            record["empty"] = True
        records.append(record)
    return records
