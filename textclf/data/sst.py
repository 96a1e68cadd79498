"""Stanford Sentiment Treebank, sentence level (SST-2 and SST-5), in Yoon Kim's ``stsa.*`` files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.data.example import DataSource, Example, Splits
from textclf.data.files import content_lines, require_files

# Label names in the order of their numbers, so reports run from negative to positive.
LABEL_NAMES: dict[str, list[str]] = {
    "binary": ["negative", "positive"],
    "fine": ["very negative", "negative", "neutral", "positive", "very positive"],
}
FILE_PREFIX = {"binary": "stsa.binary", "fine": "stsa.fine"}
DESCRIPTION = {"binary": "SST-2 (sentence level)", "fine": "SST-5 (sentence level)"}


@dataclass(kw_only=True)
class SST(DataSource):
    """SST from ``root``/stsa.{binary,fine}.{train,dev,test}: one ``<label> <sentence>`` per line.

    ``variant`` is ``binary`` (SST-2: 0 negative, 1 positive) or ``fine`` (SST-5: 0 very negative ..
    4 very positive). Labels are stored by name. The official dev file is the validation split, so
    ``seed`` and ``val_fraction`` do not change the data.
    """

    download_name = "sst"

    variant: str = "binary"

    def load(self) -> Splits:
        if self.variant not in LABEL_NAMES:
            raise TextclfError(
                f"SST: unknown variant {self.variant!r}; use data.variant=binary (SST-2) or data.variant=fine (SST-5)."
            )
        prefix = FILE_PREFIX[self.variant]
        names = [f"{prefix}.{split}" for split in ("train", "dev", "test")]
        train, dev, test = require_files(DESCRIPTION[self.variant], self.root, names)
        labels = LABEL_NAMES[self.variant]
        return Splits(
            read_sst(train, labels),
            read_sst(dev, labels),
            read_sst(test, labels),
            label_names=list(labels),
            description=DESCRIPTION[self.variant],
        )


def read_sst(path: Path, label_names: list[str]) -> list[Example]:
    """Read ``<label> <sentence>`` lines, turning the label number into its name."""
    last = len(label_names) - 1
    meaning = ", ".join(f"{i}={name}" for i, name in enumerate(label_names))
    examples = []
    for number, line in content_lines(path, expected="one '<label> <sentence>' per line"):
        head, _, sentence = line.strip().partition(" ")
        if not (head.isascii() and head.isdigit()) or int(head) > last:
            raise TextclfError(
                f"{path}:{number}: expected '<label> <sentence>' with a label from 0 to {last} ({meaning}), "
                f"got {head!r}."
            )
        if not sentence.strip():
            raise TextclfError(f"{path}:{number}: label {head} has no sentence after it.")
        examples.append(Example(text=sentence.strip(), label=label_names[int(head)]))
    return examples
