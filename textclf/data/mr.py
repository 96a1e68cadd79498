"""Movie Review sentence polarity (Pang & Lee 2005): rt-polarity.pos / rt-polarity.neg."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textclf.data.example import DataSource, Example, Splits
from textclf.data.files import content_lines, require_files, stratified_split

# The Cornell sentence files predate UTF-8 use there: they are Latin-1 / cp1252.
ENCODING = "latin-1"


def load_one_file_per_label(
    source: DataSource, dataset: str, files: dict[str, str], test_fraction: float, description: str
) -> Splits:
    """Read one sentence per line from one file per label, then split 80/10/10 by label.

    ``files`` maps label to file name, in the order the labels should have in reports.

    Shared by MR and SUBJ, which ship the same way: no official split, so a seeded, stratified split
    (`stratified_split`) makes runs comparable: the same seed always gives the same split.
    """
    paths = require_files(dataset, source.root, list(files.values()))
    examples: list[Example] = []
    for label, path in zip(files, paths):
        examples += read_sentences(path, label)
    train, val, test = stratified_split(
        examples, [ex.label for ex in examples], source.val_fraction, test_fraction, source.seed
    )
    return Splits(train, val, test, label_names=list(files), description=description)


def read_sentences(path: Path, label: str) -> list[Example]:
    """Every non-blank line of a Latin-1 file as one example with ``label``."""
    lines = content_lines(path, ENCODING, expected="one sentence per line")
    return [Example(text=line.strip(), label=label) for _, line in lines]


@dataclass(kw_only=True)
class MR(DataSource):
    """MR from ``root``/rt-polarity.{pos,neg} (Latin-1), labels ``negative`` and ``positive``.

    MR has no official split (papers use 10-fold cross-validation), so it is split here: per label,
    ``val_fraction`` (default 10%) goes to validation and a fixed 10% to test, the rest to train,
    by a shuffle seeded with ``seed``. The same seed always gives the same split; change ``seed`` to
    get another one.
    """

    download_name = "mr"

    TEST_FRACTION: ClassVar[float] = 0.1

    def load(self) -> Splits:
        files = {"negative": "rt-polarity.neg", "positive": "rt-polarity.pos"}
        description = f"MR movie-review polarity (seeded 80/10/10 split, seed {self.seed})"
        return load_one_file_per_label(self, "MR", files, self.TEST_FRACTION, description)
