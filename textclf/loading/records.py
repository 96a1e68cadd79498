"""New input as examples, and probabilities as prediction records: shared by every way of predicting.

`textclf.predict` (the command), `textclf.Classifier` (the Python API) and `textclf.serve` (the
HTTP server) all turn their input into `Example`s here and their probabilities into the same
JSON-ready records, so the three give identical answers for the same text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from textclf.core.errors import TextclfError
from textclf.data.example import Example
from textclf.data.table import as_text
from textclf.data.table_columns import JOIN
from textclf.models.task import Task


@dataclass(frozen=True)
class Story:
    """A bAbI-style input for a model trained on stories: the story sentences (oldest first) and the question."""

    story: Sequence[str]
    question: str


def text_examples(lines: Iterable[str]) -> Iterator[Example]:
    """One text per line (single-text models); the line's own text, untouched, is the input."""
    for line in lines:
        yield Example(text=line.rstrip("\r\n"), label="")


def column_examples(lines: Iterable[str], columns: Sequence[str], source: str) -> Iterator[Example]:
    """One input per line for a model trained on several text columns: a JSON object with those
    columns (``{"title": "...", "body": "..."}``), or any other line as the already joined text."""
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.lstrip().startswith("{"):
            yield Example(text=line, label="")
            continue
        try:
            item = json.loads(line)
        except ValueError as err:
            raise TextclfError(
                f"{source}:{number}: a line starting with '{{' is read as a JSON object of the columns "
                f"{', '.join(columns)}, but it is not valid JSON ({err}). Fix it, or give the text joined: "
                f"'{JOIN.join(columns)}'."
            ) from None
        yield Example(text=column_text(item, columns, f"{source}:{number}"), label="")


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


def line_examples(lines: Iterable[str], source: str, stories: bool, columns: Sequence[str] = ()) -> Iterator[Example]:
    """`textclf.predict`'s input as examples, read the way the model was trained: stories, lines
    that may be JSON objects of several text columns, or one text per line."""
    if stories:
        return story_examples(lines, source)
    return column_examples(lines, columns, source) if columns else text_examples(lines)


def item_example(item: object, index: int, stories: bool, columns: Sequence[str] = ()) -> Example:
    """One input of the Python API or the server: a text, or for story models a `Story` or a
    string in the story format `textclf.predict` reads, holding exactly one question. A model
    trained on several text ``columns`` also takes a dict or list of them (`column_text`)."""
    where = f"texts[{index}]"
    if columns and isinstance(item, (dict, list, tuple)):
        return Example(text=column_text(item, columns, where), label="")
    if isinstance(item, Story) and stories:
        if isinstance(item.story, str) or not all(isinstance(s, str) for s in item.story) or not isinstance(item.question, str):
            raise TextclfError(f"{where}: a Story takes a list of sentences (story) and a question, both text.")
        return Example(text=item.question, label="", context=tuple(item.story))
    if not isinstance(item, str):
        wanted = "a string in the story format or a Story" if stories else "a string"
        raise TextclfError(f"{where} must be {wanted}, got {type(item).__name__} {item!r:.40}.")
    if not stories:
        return Example(text=item, label="")
    found = list(story_examples(item.splitlines(), where))
    if len(found) != 1:
        raise TextclfError(
            f"{where} holds {len(found)} question lines; this model reads stories: give each input as numbered story "
            "lines ending with one question line ('1 Mary went to the kitchen.\\n2 Where is Mary?'), or a Story."
        )
    return found[0]


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
