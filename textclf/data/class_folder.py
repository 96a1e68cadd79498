"""The folder layout many Chinese classification sets use (THUCNews-style):

    class.txt            one class name per line; line i names label id i (from 0)
    train.txt, dev.txt, test.txt    one example per line: text<TAB>label-id

`Table` reads such a folder when it holds class.txt; labels become the class names, so reports
show "体育" rather than "3".
"""

from __future__ import annotations

from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.data.example import Example, Splits
from textclf.data.files import read_lines, require_files

FILES = ("class.txt", "train.txt", "dev.txt", "test.txt")


def is_class_folder(root: str | Path) -> bool:
    return (Path(root).expanduser() / "class.txt").is_file()


def read_class_folder(root: str | Path, encoding: str = "utf-8") -> Splits:
    class_path, train_path, dev_path, test_path = require_files("Table (class.txt folder)", root, FILES)
    names = [line.strip() for _, line in read_lines(class_path, encoding)]
    names = [name for name in names if name]
    if not names:
        raise TextclfError(f"{class_path}: no class names; write one class name per line (line i names label id i).")
    if len(set(names)) != len(names):
        raise TextclfError(f"{class_path}: a class name appears twice; each line must name a different class.")

    def read(path: Path) -> list[Example]:
        examples = []
        for number, line in read_lines(path, encoding):
            if not line.strip():
                continue
            text, tab, label_id = line.rpartition("\t")
            if not tab:
                raise TextclfError(f"{path}:{number}: expected 'text<TAB>label-id', found no tab.")
            label_id = label_id.strip()
            if not label_id.isdigit() or int(label_id) >= len(names):
                raise TextclfError(
                    f"{path}:{number}: label id {label_id!r} is not a line of class.txt (0..{len(names) - 1})."
                )
            examples.append(Example(text=text, label=names[int(label_id)]))
        if not examples:
            raise TextclfError(f"{path}: no examples; expected 'text<TAB>label-id' lines.")
        return examples

    return Splits(
        read(train_path), read(dev_path), read(test_path), label_names=names,
        description=f"{Path(root).name} (class.txt folder)",
    )
