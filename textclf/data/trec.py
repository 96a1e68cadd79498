"""TREC question classification (Li & Roth 2002) in the raw UIUC format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.data.example import DataSource, Example, Splits
from textclf.data.files import content_lines, hold_out, require_files

COARSE = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
ENCODING = "latin-1"  # one training line has a Latin-1 byte (0xf0)
LINE_FORMAT = "'COARSE:fine question', e.g. 'DESC:manner How did serfdom develop ?'"


@dataclass(kw_only=True)
class TREC(DataSource):
    """TREC from ``root``/TREC.train and TREC.test, lines ``COARSE:fine question`` (Latin-1).

    The class is the coarse label (TREC-6: ABBR, DESC, ENTY, HUM, LOC, NUM), or ``COARSE:fine``
    (TREC-50) when ``fine`` is true. TREC has no dev set, so ``val_fraction`` of the training
    questions are held out with a shuffle seeded by ``seed``.
    """

    fine: bool = False

    def load(self) -> Splits:
        train_path, test_path = require_files("TREC", self.root, ["TREC.train", "TREC.test"])
        train, val = hold_out(read_trec(train_path, self.fine), self.val_fraction, seed=self.seed)
        test = read_trec(test_path, self.fine)
        if self.fine:
            # Some fine classes are rare; naming every one seen keeps test labels inside the label set.
            names = sorted({ex.label for ex in train + val + test})
            description = "TREC-50 question classification (fine labels)"
        else:
            names, description = list(COARSE), "TREC-6 question classification (coarse labels)"
        return Splits(train, val, test, label_names=names, description=description)


def read_trec(path: Path, fine: bool) -> list[Example]:
    """One example per ``COARSE:fine question`` line, labelled coarse or ``COARSE:fine``."""
    examples = []
    for number, line in content_lines(path, ENCODING, expected=f"one {LINE_FORMAT} per line"):
        tag, _, question = line.strip().partition(" ")
        coarse, colon, detail = tag.partition(":")
        if not colon or not detail:
            raise TextclfError(f"{path}:{number}: expected {LINE_FORMAT}, got {tag!r} as the label.")
        if coarse not in COARSE:
            raise TextclfError(
                f"{path}:{number}: unknown coarse class {coarse!r}; expected one of {', '.join(COARSE)}."
            )
        if not question.strip():
            raise TextclfError(f"{path}:{number}: label {tag} has no question after it.")
        examples.append(Example(text=question.strip(), label=tag if fine else coarse))
    return examples
