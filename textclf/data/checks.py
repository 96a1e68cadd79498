"""Data that cannot mean what it says is refused (or, where it can still be scored, warned about)
before a model trains on it, whichever reader it came from.

Refused: labels that differ only by case or by how a number is written (`pos`/`Pos`, `1`/`1.0`:
almost always one class spelt two ways, which would split it in two); a training split with a
single class (nothing to learn); training texts that are (nearly) all empty after tokenizing (a
wrong column, or a tokenizer that drops everything). Warned: a class with no training rows, e.g. a
label seen only in test, which the model can never predict (scored as errors, as designed).
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from textclf.core.errors import TextclfError
from textclf.data.batching import EncodedSplit
from textclf.data.example import Example
from textclf.data.vocab import PAD_ID

log = logging.getLogger("textclf.data")

EMPTY_SHARE = 0.95  # training texts without a single token above this share: refused


def label_key(label: str) -> str:
    """The spelling-independent form of a label: a number's value, else the case-folded text."""
    try:
        value = float(label)
    except ValueError:
        return label.strip().casefold()
    return repr(value) if math.isfinite(value) else label.strip().casefold()


def check_label_spellings(labels: Sequence[str], where: str) -> None:
    spellings: dict[str, list[str]] = defaultdict(list)
    for label in labels:
        spellings[label_key(label)].append(label)
    clashes = [names for names in spellings.values() if len(names) > 1]
    if clashes:
        shown = "; ".join(" and ".join(repr(n) for n in names) for names in clashes[:5])
        raise TextclfError(
            f"{where}: labels {shown} differ only by case or number formatting, so one class would be split in two. "
            "Write each label one way in the data files (or, if they really are different classes, rename one)."
        )


def check_training_data(train: Sequence[Example], labels: Sequence[str], encoded_train: EncodedSplit, where: str) -> None:
    """Run every check above on a dataset about to be trained on (``labels``: all classes)."""
    counts = Counter(label for ex in train for label in ex.labels)
    check_label_counts(counts, labels, any(isinstance(ex.label, tuple) for ex in train), where)
    check_empty_share(float((encoded_train.tokens[:, 0] == PAD_ID).float().mean()), where)


def check_label_counts(counts: Mapping[str, int], labels: Sequence[str], multi_label: bool, where: str) -> None:
    """The checks on the labels training holds (``counts``: its rows per label). A streamed table
    (data/streaming.py) counts them while it streams, before it tokenizes anything."""
    check_label_spellings(labels, where)
    if multi_label and not counts:
        raise TextclfError(
            f"{where}: no training example has a label, so there is nothing to learn. Check data.label_column "
            "(or the label field) and data.label_separator."
        )
    if len(counts) < 2 and not multi_label:  # one label of a label set is still a yes/no question
        only = next(iter(counts), "")
        raise TextclfError(
            f"{where}: every training example has the label {only!r}, so there is nothing to tell apart. "
            "Check data.label_column (or the label field) and that the training file holds at least two classes."
        )
    unseen = [label for label in labels if label not in counts]
    if unseen:
        shown = ", ".join(map(repr, unseen[:10])) + (" ..." if len(unseen) > 10 else "")
        log.warning(
            "%s: %d class(es) have no training examples (%s); the model cannot predict them, and their "
            "validation and test examples count as errors", where, len(unseen), shown,
        )


def check_empty_share(empty: float, where: str) -> None:
    """``empty``: the share of training texts with no token left after tokenizing."""
    if empty > EMPTY_SHARE:
        raise TextclfError(
            f"{where}: {100 * empty:.0f} % of the training texts have no token left after tokenizing. Check "
            "data.text_column (it may name an empty or numeric column) and the tokenizer settings (e.g. tokenizer.drop_punctuation)."
        )
