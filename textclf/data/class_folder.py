"""The folder layout many Chinese classification sets use (THUCNews-style):

    class.txt            one class name per line; line i names label id i (from 0)
    train.txt, dev.txt, test.txt    one example per line: text<TAB>label-id

`Table` reads such a folder when it holds class.txt; labels become the class names, so reports
show "体育" rather than "3". The same kind of names file serves tables whose label column holds
ids (``data.label_names=classes.txt``): `read_class_names` and `name_for_id`.
"""

from __future__ import annotations

from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.data.example import Example, Splits
from textclf.data.files import read_lines, require_files

FILES = ("class.txt", "train.txt", "dev.txt", "test.txt")


def is_class_folder(root: str | Path) -> bool:
    return (Path(root).expanduser() / "class.txt").is_file()


def read_class_names(path: Path, encoding: str = "utf-8") -> list[str]:
    """The lines of a names file, each a different class name, in id order. Blank lines at the end
    are ignored; one in the middle is refused, since dropping it would shift every later id."""
    names = [line.strip() for _, line in read_lines(path, encoding, setting="data.charset")]
    while names and not names[-1]:
        names.pop()
    if "" in names:
        raise TextclfError(f"{path}:{names.index('') + 1}: a blank line among the class names; line i names label id i, so remove it or name the class.")
    if not names:
        raise TextclfError(f"{path}: no class names; write one class name per line (line i names label id i).")
    if len(set(names)) != len(names):
        raise TextclfError(f"{path}: a class name appears twice; each line must name a different class.")
    return names


def name_for_id(label_id: str, names: list[str], path: Path, number: int, names_file: str, base: int = 0) -> str:
    """The class name of ``label_id``, line ``label_id - base`` of ``names_file`` (zero-based lines)."""
    if not label_id.isdigit() or not base <= int(label_id) < len(names) + base:
        counting = f" with data.label_id_base={base}" if base else ""
        raise TextclfError(
            f"{path}:{number}: label id {label_id!r} is not a line of {names_file} ({base}..{len(names) - 1 + base}{counting})."
        )
    return names[int(label_id) - base]


def read_class_folder(root: str | Path, encoding: str = "utf-8") -> Splits:
    class_path, train_path, dev_path, test_path = require_files("Table (class.txt folder)", root, FILES)
    names = read_class_names(class_path, encoding)

    def read(path: Path) -> list[Example]:
        examples = []
        for number, line in read_lines(path, encoding, setting="data.charset"):
            if not line.strip():
                continue
            text, tab, label_id = line.rpartition("\t")
            if not tab:
                raise TextclfError(f"{path}:{number}: expected 'text<TAB>label-id', found no tab.")
            examples.append(Example(text=text, label=name_for_id(label_id.strip(), names, path, number, "class.txt")))
        if not examples:
            raise TextclfError(f"{path}: no examples; expected 'text<TAB>label-id' lines.")
        return examples

    return Splits(
        read(train_path), read(dev_path), read(test_path), label_names=names,
        description=f"{Path(root).name} (class.txt folder)",
    )
