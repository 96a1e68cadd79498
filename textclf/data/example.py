"""The one example type every reader produces and every encoder consumes."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from textclf.core.errors import TextclfError


@dataclass(frozen=True)
class Example:
    """A single text to classify, or a bAbI story with its question.

    text:       the sentence/document, or the bAbI question.
    label:      the gold label as a string (bAbI answers such as ``n,w`` are one label); for
                multi-label data (task=multi_label) a sorted tuple of labels, maybe empty.
    context:    the bAbI story sentences before the question, oldest first; empty for single texts.
    group:      a sub-population for per-group reports, e.g. ``"qa3"`` for bAbI task 3.
    supporting: indices into ``context`` of the supporting facts (bAbI), for attention plots.
    weight:     how much the example counts in the loss and the metrics (data.weight_column); 1 by default.
    """

    text: str
    label: str | tuple[str, ...]
    context: tuple[str, ...] = ()
    group: str | None = None
    supporting: tuple[int, ...] = ()
    weight: float = 1.0

    @property
    def labels(self) -> tuple[str, ...]:
        """The example's labels, one for single-label data: what every label count iterates."""
        return self.label if isinstance(self.label, tuple) else (self.label,)


def label_text(label: str | tuple[str, ...]) -> str:
    """A label or label set for reports: ``sports|finance``; the empty set as ``(none)``."""
    if isinstance(label, str):
        return label
    return "|".join(label) if label else "(none)"


@dataclass
class Splits:
    """A dataset as read from disk: three lists of examples and, optionally, the label order.

    ``label_names`` fixes the order of classes in reports when the dataset defines one (SST-5 runs
    from very negative to very positive); when it is None the order is the sorted labels.
    """

    train: list[Example]
    val: list[Example]
    test: list[Example]
    label_names: list[str] | None = None
    description: str = ""  # one line for logs and reports, e.g. "SST-2 (sentence level)"
    synthetic: bool = False  # generated data: reports must say so
    # Published results these splits can be set beside: "babi1k" for the real 1k bAbI tasks (the
    # per-task tables then show the MemN2N paper's 1k joint figures). None: nothing comparable.
    reference: str | None = None
    multi_label: bool = False  # every example's label is a tuple of labels (task=multi_label)
    sampled_train: bool = False  # train is a sample of the training file, whose rows stay on disk (data/streaming.py)

    def labels(self) -> list[str]:
        """The class list: the dataset's own order, else every label seen in any split, sorted.

        All splits count, not only train: a bAbI answer that happens to occur only in test is
        still a class of the task, and scoring it as an error beats refusing to evaluate.
        """
        if self.label_names is not None:
            return list(self.label_names)
        return sorted({label for ex in self.train + self.val + self.test for label in ex.labels})

    def split(self, name: str) -> list[Example]:
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)


@dataclass(kw_only=True)
class DataSource:
    """Base of every dataset config: Hydra instantiates a subclass from ``conf/data/*.yaml``.

    Subclasses add their own fields (``root``, ``tasks``, ``variant`` ...) and implement `load`.
    The fields here are shared pipeline settings whose right value depends on the dataset. Their
    defaults are the config's too: conf/__init__.py registers them (`shared_settings`) as the
    ``data/base`` node each conf/data/*.yaml starts from, so they are written only here.
    """

    root: str
    seed: int = 0  # seeds the held-out validation split where the dataset has none
    val_fraction: float = 0.1
    max_tokens: int = 256  # flat encoders: longest token sequence kept (story + question)
    max_memories: int = 50  # memory encoders: most recent story sentences kept
    memory_window: int = 6  # memory encoders on single texts: tokens per memory window
    download: bool = False  # fetch the dataset from its official address into root first (download.py)
    folds: int | None = None  # cross-validation: K folds of train + validation (data/folds.py); None: the splits as they are
    fold: int | None = None  # with folds: the fold this run validates on, 0 .. K-1 (training runs them all when it is None)

    # Which entry of textclf.data.download.source_for fetches this dataset; None: no download known.
    download_name: ClassVar[str | None] = None

    def load(self) -> Splits:
        raise NotImplementedError

    @classmethod
    def shared_settings(cls) -> dict[str, Any]:
        """The settings every dataset takes, with their defaults (``root`` has none: each dataset names its folder)."""
        return {f.name: f.default for f in fields(cls) if f.init and f.default is not MISSING}

    def files(self) -> list[Path]:
        """The files this dataset may read: its folder's, and any a ``*_file`` setting names (a
        table's data.train_file=...). No command may write over one of them (core/guards.py)."""
        folder = Path(self.root).expanduser()
        found = [path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")] if folder.is_dir() else []  # not locks, markers
        named = [value for key, value in vars(self).items() if key.endswith("_file") and isinstance(value, str)]
        return found + [folder / Path(name).expanduser() for name in named]  # folder / an absolute path = that path

    def fetch(self) -> None:
        """Download into ``root`` when asked to (and not done before); then `load` reads it."""
        if self.download:
            from textclf.data.download import ensure_downloaded, source_for

            if self.download_name is None:
                raise TextclfError(f"{type(self).__name__}: no download is known for this dataset; put its files in data.root.")
            ensure_downloaded(source_for(self.download_name, Path(self.root).expanduser()), self.root)
