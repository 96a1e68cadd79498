"""Which columns of a table file hold the text, the label and the story (data/table.py).

Each of ``data.text_column``, ``data.label_column`` and ``data.context_column`` is a column's
name in the header or its position (0 = the first field). Without a header row
(``data.header=false``) columns have positions only, and are named by them: ``"0"``, ``"1"``, ...
``data.text_column`` may also list several columns (``[title, description]``, names or positions):
their cells are joined into one text with the vocabulary's ``<sep>`` token between them, so a model
can tell where one ends and the next begins.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.data.vocab import SEP

Spec = str | int  # a column's name or position, as the config gives it
Role = tuple[str, Spec]  # (the setting, e.g. "data.label_column", and its column)
JOIN = f" {SEP} "  # between the cells of several text columns


def text_specs(value: Spec | Sequence[Spec]) -> tuple[Spec, ...]:
    """data.text_column as a tuple: one column, or the several of a list."""
    return (value,) if isinstance(value, (str, int)) else tuple(value)


def roles(text: Spec | Sequence[Spec], label: Spec, context: Spec | None, weight: Spec | None = None) -> list[Role]:
    """Every column the settings name, with the setting that names it."""
    texts = text_specs(text)
    found = [("data.text_column", texts[0])] if len(texts) == 1 else [(f"data.text_column[{i}]", s) for i, s in enumerate(texts)]
    found.append(("data.label_column", label))
    if context is not None:
        found.append(("data.context_column", context))
    if weight is not None:
        found.append(("data.weight_column", weight))
    return found


def setting_of(key: str) -> str:
    """The setting a role's key belongs to: data.text_column[1] is set by data.text_column."""
    return key.split("[")[0]


def check_differ(named: Sequence[Role]) -> None:
    """One column cannot be two things: a text that is its own label would train a model that
    copies its input, with perfect scores and no meaning."""
    seen: dict[Spec, str] = {}
    for key, column in named:
        if column in seen:
            raise TextclfError(f"{seen[column]} and {key} both name the column {column!r}; each must name its own column.")
        seen[column] = key


def check_positions_only(named: Sequence[Role]) -> None:
    """Without a header row, a column is found by its position only."""
    names = [(key, spec) for key, spec in named if not (isinstance(spec, int) or spec.isdigit())]
    if names:
        listed = ", ".join(f"{key}={spec!r}" for key, spec in names)
        raise TextclfError(
            f"data.header=false: the files have no header row, so columns have positions, not names ({listed}). "
            "Set each to a position (0 = the first field), e.g. data.text_column=1 data.label_column=0, "
            "or set data.header=true if the first row names the columns."
        )


def refuse_positions(path: Path, named: Sequence[Role]) -> None:
    """JSON Lines objects are keyed by name, and their keys have no order to count in."""
    for key, spec in named:
        if isinstance(spec, int):
            raise TextclfError(
                f"{path}: {key}={spec} is a position, but JSON Lines objects are keyed by name. "
                f"Set {setting_of(key)}=NAME to the key that holds it."
            )


def positions(path: Path, named: Sequence[Role], header: list[str], has_header: bool, number: int) -> dict[Spec, int]:
    """Each named column's field index in rows of ``header`` (the header's names, or "0".. "n-1"
    for files without one, read from the first row, line ``number``). Two settings that turn out
    to name one column (0 and "text") are refused as `check_differ` refuses equal names."""
    found: dict[Spec, int] = {}
    for key, spec in named:
        index = header.index(spec) if isinstance(spec, str) and spec in header else int(spec)
        if index >= len(header):
            raise beyond(path, key, spec, header, has_header, number)
        found[spec] = index
    check_differ([(key, header[found[spec]]) for key, spec in named])
    return found


def beyond(path: Path, key: str, spec: Spec, header: list[str], has_header: bool, number: int) -> TextclfError:
    """The message for a position past the last field."""
    last, setting = len(header) - 1, setting_of(key)
    if has_header:
        return TextclfError(
            f"{path}: {key}={spec} is beyond the header's {len(header)} columns (positions 0 to {last}: "
            f"{', '.join(header)}). Set {setting} to a position from 0 to {last}, or to a column's name."
        )
    return TextclfError(
        f"{path}:{number}: {key}={spec} is beyond the row's {len(header)} field(s) (positions 0 to {last}; "
        f"0 is the first). Set {setting} to a position from 0 to {last}."
    )
