"""New input as examples, and probabilities as prediction records: shared by every way of predicting.

`textclf.predict` (the command), `textclf.Classifier` (the Python API) and `textclf.serve` (the
HTTP server) all turn their input into `Example`s here and their probabilities into the same
JSON-ready records, so the three give identical answers for the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from textclf.core.errors import TextclfError
from textclf.data.example import Example
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


def item_example(item: object, index: int, stories: bool) -> Example:
    """One input of the Python API or the server: a text, or for story models a `Story` or a
    string in the story format `textclf.predict` reads, holding exactly one question."""
    where = f"texts[{index}]"
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
    top_k; for a multi-label model, its labels and every label's probability instead."""
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
        records.append(record)
    return records
