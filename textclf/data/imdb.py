"""IMDB movie reviews (Maas et al. 2011), the aclImdb folder layout:

    root/train/pos/*.txt  root/train/neg/*.txt  root/test/pos/*.txt  root/test/neg/*.txt

one review per file (UTF-8, with "<br />" line breaks). Validation is ``val_fraction`` of train,
held out with ``seed``. `data.download=true` fetches aclImdb_v1.tar.gz (SHA-256 checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textclf.core.errors import MissingDataError, TextclfError
from textclf.data.example import DataSource, Example, Splits
from textclf.data.files import folder_problem, hold_out, shown, undecodable_at, unreadable

LABELS = {"neg": "negative", "pos": "positive"}


def read_reviews(folder: Path) -> list[Example]:
    examples = []
    for sub, label in LABELS.items():
        for path in sorted((folder / sub).glob("*.txt")):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise TextclfError(
                    f"{path}: not valid UTF-8 text ({undecodable_at(path, 'utf-8', err)}). Convert the review to UTF-8."
                ) from None
            except OSError as err:
                raise unreadable(path, err) from None
            examples.append(Example(text=text.replace("<br />", " ").strip(), label=label))
    return examples


@dataclass(kw_only=True)
class IMDB(DataSource):
    download_name = "imdb"

    def load(self) -> Splits:
        root = Path(self.root).expanduser()
        problem = folder_problem(root, missing_ok=True)  # a missing folder: the message below lists what it needs
        if problem:
            raise MissingDataError(
                f"IMDB: data folder {shown(root)} {problem}. Point data.root=DIR at the aclImdb folder "
                "(train/{pos,neg}/*.txt, test/{pos,neg}/*.txt), or add data.download=true to fetch it."
            )
        folders = [root / split / sub for split in ("train", "test") for sub in LABELS]
        missing = [str(f.relative_to(root)) for f in folders if not f.is_dir() or not any(f.glob("*.txt"))]
        if missing:
            raise MissingDataError(
                f"IMDB: no reviews in {', '.join(missing)} under {shown(root)}. Expected the aclImdb layout "
                "train/{pos,neg}/*.txt and test/{pos,neg}/*.txt. Point data.root=DIR at the aclImdb folder, or "
                "add data.download=true to fetch it."
            )
        train, val = hold_out(read_reviews(root / "train"), self.val_fraction, seed=self.seed)
        test = read_reviews(root / "test")
        return Splits(train, val, test, label_names=list(LABELS.values()), description="IMDB (aclImdb v1)")
