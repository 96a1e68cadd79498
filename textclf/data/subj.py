"""Subjectivity dataset (Pang & Lee 2004): subj.subjective / subj.objective."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textclf.data.example import DataSource, Splits
from textclf.data.mr import load_one_file_per_label


@dataclass(kw_only=True)
class SUBJ(DataSource):
    """SUBJ from ``root``/subj.{subjective,objective} (Latin-1), labels ``subjective``/``objective``.

    Like MR it has no official split, so it gets the same seeded, stratified split: per label
    ``val_fraction`` to validation, a fixed 10% to test, the rest to train. The same seed always
    gives the same split.
    """

    TEST_FRACTION: ClassVar[float] = 0.1

    def load(self) -> Splits:
        files = {"subjective": "subj.subjective", "objective": "subj.objective"}
        description = f"SUBJ subjectivity (seeded 80/10/10 split, seed {self.seed})"
        return load_one_file_per_label(self, "SUBJ", files, self.TEST_FRACTION, description)
