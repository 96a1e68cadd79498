"""Users' own labelled data in CSV, TSV or JSON Lines files.

Read with the standard csv and json modules, streaming one row at a time, so a large file costs no
more memory than its examples and no pandas import is needed.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.data import table_columns
from textclf.data.class_folder import is_class_folder, name_for_id, read_class_folder, read_class_names
from textclf.data.example import DataSource, Example, Splits
from textclf.data.files import hold_out, read_lines, require_files
from textclf.data.streaming import streamed_split
from textclf.data.table_columns import JOIN, Role, Spec

log = logging.getLogger(__name__)

FORMATS = {".csv": "CSV", ".tsv": "TSV", ".jsonl": "JSON Lines"}
# The csv module refuses fields over 128 KiB by default, but a whole document in one cell (a long
# review, a chapter) is valid input: texts are cut to data.max_tokens after tokenizing, not here.
# 2**31 - 1 is the largest limit every platform's C long accepts.
FIELD_SIZE_LIMIT = 2**31 - 1
CONTEXT_SEPARATOR = "|"  # between story sentences inside one cell, written " | " for readability

Record = dict  # column name -> value, one per example


@dataclass(kw_only=True)
class Table(DataSource):
    """Labelled examples from files in ``root``; the format follows each file's extension.

    - ``.csv``: comma-separated with a header row; quote fields that contain commas, quotes or
      newlines (standard CSV quoting).
    - ``.tsv``: tab-separated with a header row and no quoting, so a field holds any character but a
      tab or a newline; quote characters are kept as text.
    - ``.jsonl``: one JSON object per line, keyed by column name.

    ``text_column`` and ``label_column`` name the columns to read, by name or position (0 = the
    first); ``header=False``: CSV/TSV files have no header row, and columns have positions only.
    ``text_column`` may list several columns, joined into one text with ``<sep>`` between them
    (table_columns.py). Labels are strings (numbers are cast with ``str``, so ``1`` and ``"1"`` are
    the same class); empty text is allowed, an empty label is not. ``context_column`` optionally names a column of story sentences for memory
    models: in CSV/TSV one cell with the sentences joined by ``" | "`` (e.g. ``Mary went home. |
    John left.``; split on ``|``, so a sentence cannot contain one; empty cell = no context); in
    JSON Lines either such a string or a list of strings. ``label_names``: a file in ``root`` with
    one class name a line; the label column then holds ids, id N naming line N counted from
    ``label_id_base`` (0 or 1), and examples carry the names. ``charset``: a Python codec, or
    ``auto`` to tell UTF-8, UTF-16 with BOM and GB18030 apart per file (charsets.py); a UTF-8
    byte-order mark and CRLF line ends are read as if absent. ``multi_label=true``: a label cell is a
    set of labels, split on ``label_separator`` (CSV/TSV, e.g. ``sports|finance``) or a JSON list
    (``["sports", "finance"]``); a row may have none (see `label_set`). With ``val_file`` left
    None, ``val_fraction`` of the training rows are held out with a shuffle seeded by ``seed``.
    A folder with a class.txt is read in the THUCNews-style layout instead (class_folder.py).
    """

    # None: found in root by its stem and any supported extension (find_split_files).
    train_file: str | None = None
    val_file: str | None = None
    test_file: str | None = None
    header: bool = True
    text_column: Spec | list[Spec] = "text"
    label_column: Spec = "label"
    context_column: Spec | None = None
    weight_column: Spec | None = None  # a column of row weights >= 0 for the loss and the metrics; None: every row counts 1
    label_names: str | None = None
    label_id_base: int = 0
    charset: str = "utf-8"  # the files' text encoding (data.charset); not the model's `Encoding`
    multi_label: bool = False
    label_separator: str = "|"
    missing_labels: str = "refuse"  # a label cell NA / null / NaN / None / empty: refuse, or drop the row (counted)
    # Tables larger than memory (data/streaming.py): true, false, or auto (a training file of at least
    # streaming_above_mb megabytes); a streamed table holds out at most val_max_rows rows for validation.
    streaming: bool | str = "auto"
    streaming_above_mb: float = 100.0
    val_max_rows: int = 50_000
    # The class names read from label_names, in id order (None: labels are used as they are).
    names: list[str] | None = field(default=None, init=False, repr=False)

    def load(self) -> Splits:
        if is_class_folder(self.root):  # train/dev/test.txt + class.txt (see class_folder.py)
            self.refuse_table_options()
            return read_class_folder(self.root, self.charset)
        if self.streams():  # too large for memory: training rows stay in the file (data/streaming.py)
            return streamed_split(self).splits(self)
        train_path, val_path, test_path = self.locate()
        train, test = self.read(train_path), self.read(test_path)
        if val_path is not None:
            val, where = self.read(val_path), val_path.name
        else:
            train, val = hold_out(train, self.val_fraction, seed=self.seed)
            where = f"{self.val_fraction:g} of {train_path.name} held out (seed {self.seed})"
        description = f"table {Path(self.root).name}: train {train_path.name}, val {where}, test {test_path.name}"
        return Splits(train, val, test, label_names=self.names, description=description, multi_label=self.multi_label)

    def locate(self) -> tuple[Path, Path | None, Path]:
        """The train, val (None: held out of train) and test files, checked to exist and to have a
        known format; the class names too, when data.label_names names their file."""
        self.check_columns_differ()
        if not self.header:
            table_columns.check_positions_only(self.roles())
        train_file, val_file, test_file = find_split_files(self.root, self.train_file, self.val_file, self.test_file)
        names = [train_file, test_file] + ([val_file] if val_file else [])
        for name in names:
            check_format(name)
        paths = require_files("Table", self.root, names + ([self.label_names] if self.label_names else []), hint=NAMING_HINT)
        if self.label_names:
            self.names = read_class_names(paths[-1], self.charset)
        return paths[0], paths[2] if val_file else None, paths[1]

    def streams(self) -> bool:
        """Whether the training file is streamed (data.streaming): always with true, never with
        false, and with auto when it is at least data.streaming_above_mb large. What streaming
        cannot do (`stream_blockers`) is refused with true and reads the table into memory with auto."""
        if str(self.streaming).lower() == "false" or is_class_folder(self.root):
            return False
        blockers = self.stream_blockers()
        if str(self.streaming).lower() == "true":
            if blockers:
                raise TextclfError(f"data.streaming=true cannot stream this table with {' and '.join(blockers)}: a streamed table is read "
                                   "as single-label rows of text, without weights or stories. Drop them, or set data.streaming=false.")
            return True
        train_path = self.locate()[0]
        megabytes = train_path.stat().st_size / 2**20
        if megabytes < self.streaming_above_mb:
            return False
        if blockers:
            log.warning("%s is %.0f MB, over data.streaming_above_mb, but is read into memory: %s cannot stream.",
                        train_path, megabytes, " and ".join(blockers))
            return False
        return True

    def stream_blockers(self) -> list[str]:
        """The settings a streamed table cannot honour: shards hold one class per row and token ids only."""
        given = [("task=multi_label", self.multi_label), ("data.weight_column", self.weight_column is not None),
                 ("data.context_column", self.context_column is not None), ("data.folds", self.folds is not None)]
        return [name for name, on in given if on]

    def refuse_table_options(self) -> None:
        """A class.txt folder has its own fixed layout (one text, one id, names in class.txt): the
        options for CSV/TSV/JSONL tables would be silently ignored there, so they are refused."""
        given = [name for name, value, usual in (("task=multi_label", self.multi_label, False), ("data.label_names", self.label_names, None),
                                                 ("data.header", self.header, True)) if value != usual]
        given += ["data.text_column"] if isinstance(self.text_column, (list, tuple)) else []
        if given:
            raise TextclfError(
                f"{self.root} is a class.txt folder (train.txt/dev.txt/test.txt of text<TAB>label-id lines), which "
                f"{', '.join(given)} cannot apply to; leave {'them' if len(given) > 1 else 'it'} out, or give CSV/TSV/JSONL files."
            )

    def check_columns_differ(self) -> None:
        table_columns.check_differ(self.roles())

    def roles(self) -> list[Role]:
        """(setting, column) for every column read (table_columns.py)."""
        return table_columns.roles(self.text_column, self.label_column, self.context_column, self.weight_column)

    def columns(self) -> list[Spec]:
        return [spec for _, spec in self.roles()]

    def lines(self, path: Path) -> Iterator[tuple[int, str]]:
        return read_lines(path, self.charset, setting="data.charset")

    def read(self, path: Path) -> list[Example]:
        """Every record of one file as an example (`stream`), in memory."""
        examples = list(self.stream(path))
        if self.multi_label and not any(ex.label for ex in examples):
            raise TextclfError(
                f"{path}: the label column {self.label_column!r} is empty in every row. With task=multi_label a row "
                "may have no label, but not every row: check data.label_column and data.label_separator "
                f"(now {self.label_separator!r})."
            )
        return examples

    def stream(self, path: Path) -> Iterator[Example]:
        """Every record of one file as an example, one at a time, with `path:line` messages for bad
        rows; rows whose label is missing (NA, null, ...) refused, or dropped and counted
        (data.missing_labels=drop). The streaming path (data/streaming.py) reads files through this."""
        found = kept = 0
        for number, record in records(path, self):
            found += 1
            example = self.example(path, number, record)
            if example is not None:
                kept += 1
                yield example
        if kept < found:
            log.warning("%s: dropped %d of %d rows whose label is missing (%s; data.missing_labels=drop)",
                        path, found - kept, found, ", ".join(MISSING_SHOWN))
        if not kept:
            raise TextclfError(f"{path}: has a header but no rows; expected one row per example.")

    def example(self, path: Path, number: int, record: Record) -> Example | None:
        """The row as an example; None for a row whose label is missing, with data.missing_labels=drop."""
        text = joined_text(record, table_columns.text_specs(self.text_column), path, number)
        if self.label_missing(record[self.label_column], path, number):
            return None
        label: str | tuple[str, ...]
        if self.multi_label:
            label = label_set(record[self.label_column], self.label_separator, path, number, self.label_column)
            if self.names is not None:
                label = tuple(sorted(name_for_id(one, self.names, path, number, self.label_names, self.label_id_base) for one in label))
        else:
            label = cell_text(record[self.label_column], path, number, self.label_column).strip()
            if self.names is not None:
                label = name_for_id(label, self.names, path, number, self.label_names, self.label_id_base)
        context: tuple[str, ...] = ()
        if self.context_column is not None:  # a position may be 0
            context = cell_context(record[self.context_column], path, number, self.context_column)
        weight = 1.0 if self.weight_column is None else cell_weight(record[self.weight_column], path, number, self.weight_column)
        return Example(text=text, label=label, context=context, weight=weight)


    def label_missing(self, cell: object, path: Path, number: int) -> bool:
        """Whether the label cell is a missing value (as pandas, R and spreadsheets write one): True
        to drop the row (data.missing_labels=drop), else refused. Read as a class, "NA" would train
        as one. A multi-label row with no label is a row with none, not a missing one."""
        if isinstance(cell, list):  # a JSON list of labels (multi-label), checked by label_set
            return False
        value = cell_text(cell, path, number, self.label_column).strip() if cell is not None else ""
        if value.lower() not in MISSING or (self.multi_label and value == "" and cell is not None):
            return False
        if self.missing_labels == "drop":
            return True
        shown = f"the missing value {value!r}" if value else "empty"
        raise TextclfError(f"{path}:{number}: the label in column {self.label_column!r} is {shown}, not a class. Fill it in, "
                           "or drop such rows (counted in the log) with data.missing_labels=drop.")


# Label cells that mean "no value" in the files pandas, R and spreadsheets write, compared lowercased.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a"})
MISSING_SHOWN = ("empty", "NA", "N/A", "NaN", "null", "None", "#N/A")


# The stems a split's file may have when not named; any of FORMATS' extensions.
SPLIT_STEMS = {"train": ("train",), "val": ("val", "dev", "valid", "validation"), "test": ("test",)}
NAMING_HINT = " Or name the files: data.train_file=FILE data.test_file=FILE (and data.val_file=FILE)."


def find_split_files(root: str, train: str | None, val: str | None, test: str | None) -> tuple[str, str | None, str]:
    """The file names of train, val and test: as given, else the one file in ``root`` named like
    the split (train.csv, dev.tsv, test.jsonl, ...). Validation may be absent (held out of train
    then); train and test are reported missing by `require_files` under their usual names, and
    two candidates for one split are refused, naming both."""
    folder = Path(root).expanduser()
    found = {}
    for split, given in (("train", train), ("val", val), ("test", test)):
        if given:
            found[split] = given
            continue
        candidates = [f"{stem}{suffix}" for stem in SPLIT_STEMS[split] for suffix in FORMATS if (folder / f"{stem}{suffix}").is_file()]
        if len(candidates) > 1:
            raise TextclfError(
                f"Table: {folder} holds {' and '.join(candidates)}, both of which could be the {split} split. "
                f"Name the one to use: data.{split}_file={candidates[0]}."
            )
        found[split] = candidates[0] if candidates else (None if split == "val" else f"{split}.csv")
    return found["train"], found["val"], found["test"]


def check_format(name: str) -> str:
    """The format of a file by its extension, or a message listing the ones supported."""
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise TextclfError(
            f"Table: cannot read {name}: unsupported extension {suffix or '(none)'!r}. "
            f"Use .csv, .tsv or .jsonl (one JSON object per line)."
        )
    return suffix


def records(path: Path, table: Table) -> Iterator[tuple[int, Record]]:
    """Yield (line number, record) from a CSV, TSV or JSON Lines file."""
    suffix = check_format(path.name)
    if suffix == ".jsonl":
        yield from jsonl_records(path, table)
    else:
        yield from delimited_records(path, table, "\t" if suffix == ".tsv" else ",")


def missing_columns(path: Path, table: Table, found: list[str], where: str = "") -> TextclfError | None:
    """A message naming the file, the columns found, the ones expected and the overrides to set."""
    absent = [name for name in table.columns() if isinstance(name, str) and name not in found]
    if not absent:
        return None
    overrides = {spec: table_columns.setting_of(key) for key, spec in table.roles()}
    fix = " and ".join(dict.fromkeys(f"{overrides[name]}=NAME" for name in absent))
    return TextclfError(
        f"{path}{where}: no column {', '.join(repr(name) for name in absent)}. Columns found: "
        f"{', '.join(found) if found else '(none)'}; expected: {', '.join(map(str, table.columns()))}. "
        f"Set {fix} to the column that holds it."
    )


def delimited_records(path: Path, table: Table, delimiter: str) -> Iterator[tuple[int, Record]]:
    """Rows of a CSV (quoted) or TSV (unquoted) file, with a header line unless ``table.header``
    is off; each record holds the columns the table reads, keyed by their name or position."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))  # process-wide: only ever raised
    reader = csv.reader((line + "\n" for _, line in table.lines(path)), delimiter=delimiter, quoting=quoting)
    try:
        rows = ((reader.line_num, row) for row in reader if row)
        first = next(rows, None)
        if first is None:
            raise TextclfError(f"{path}: the file is empty. Expected {expected_rows(table)}.")
        header, rows = header_and_rows(path, table, first, rows)
        index = table_columns.positions(path, table.roles(), header, table.header, first[0])
        width = "the header has" if table.header else "the first row has"
        for number, row in rows:
            if len(row) != len(header):
                raise TextclfError(
                    f"{path}:{number}: {len(row)} fields but {width} {len(header)}"
                    + (" (quote fields that contain commas)." if delimiter == "," else ".")
                )
            yield number, {spec: row[at] for spec, at in index.items()}
    except csv.Error as err:
        raise TextclfError(f"{path}:{reader.line_num}: malformed {FORMATS[path.suffix.lower()]} ({err}).") from None


def expected_rows(table: Table) -> str:
    if not table.header:
        return "one row per example (data.header=false: no header line)"
    return f"a header line naming the columns ({', '.join(map(str, table.columns()))}) and one row per example"


def header_and_rows(
    path: Path, table: Table, first: tuple[int, list[str]], rows: Iterator[tuple[int, list[str]]]
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The column names and the data rows: the first row is the header, or (``header=False``) the
    first example, its columns then named "0", "1", ... by position."""
    if not table.header:
        return [str(i) for i in range(len(first[1]))], itertools.chain([first], rows)
    header = first[1]
    error = missing_columns(path, table, header)
    if error:
        raise error
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise TextclfError(
            f"{path}: the header names {', '.join(map(repr, twice))} more than once, so which column holds the "
            "data is ambiguous. Give every column its own name."
        )
    return header, rows


def jsonl_records(path: Path, table: Table) -> Iterator[tuple[int, Record]]:
    """One JSON object per non-blank line."""
    table_columns.refuse_positions(path, table.roles())
    seen = False
    for number, line in table.lines(path):
        if not line.strip():
            continue
        seen = True
        try:
            record = json.loads(line, object_pairs_hook=functools.partial(unique_keys, path, number))
        except json.JSONDecodeError as err:
            raise TextclfError(f"{path}:{number}: invalid JSON ({err.msg} at column {err.colno}).") from None
        if not isinstance(record, dict):
            raise TextclfError(
                f"{path}:{number}: expected a JSON object such as "
                f'{{"{table.text_column}": "...", "{table.label_column}": "..."}}, got {type(record).__name__}.'
            )
        error = missing_columns(path, table, list(record), where=f":{number}")
        if error:
            raise error
        yield number, record
    if not seen:
        raise TextclfError(
            f"{path}: the file is empty. Expected one JSON object per line with keys {', '.join(table.columns())}."
        )


def unique_keys(path: Path, number: int, pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different (json keeps the last of a repeated key silently)."""
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise TextclfError(f"{path}:{number}: the key(s) {', '.join(map(repr, twice))} appear more than once in one object; keep one of each.")
    return dict(pairs)


def as_text(value: object) -> str | None:
    """A cell as a string: text as is, numbers and booleans cast, null as empty; None for a list
    or an object, which are no text. Training and prediction read cells alike through this."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool)):
        return value if isinstance(value, str) else str(value)
    return None


def cell_text(value: object, path: Path, number: int, column: str) -> str:
    """A table cell as text (`as_text`), or a message naming the file, line and column."""
    text = as_text(value)
    if text is None:
        raise TextclfError(f"{path}:{number}: column {column!r} holds a {type(value).__name__}, expected a string.")
    return text


def cell_weight(value: object, path: Path, number: int, column: Spec) -> float:
    """A row's weight (data.weight_column): a finite number >= 0, or a message naming the row."""
    try:
        weight = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        weight = math.nan
    if not math.isfinite(weight) or weight < 0:
        raise TextclfError(f"{path}:{number}: the weight column {column!r} holds {value!r}; a row's weight is a number >= 0 "
                           "(data.weight_column). Fix the row, or drop data.weight_column to count every row once.")
    return weight


def joined_text(record: Record, columns: Sequence[Spec], path: Path, number: int) -> str:
    """The text of one column as it is, or of several joined with `JOIN` (``" <sep> "``)."""
    return JOIN.join(cell_text(record[column], path, number, column) for column in columns)


def label_set(value: object, separator: str, path: Path, number: int, column: str) -> tuple[str, ...]:
    """A multi-label cell as a sorted tuple of distinct labels: a JSON list of labels, or a string
    split on ``separator``; empty parts (``a||b``, an empty cell, ``[]``) are no label."""
    items = value if isinstance(value, list) else cell_text(value, path, number, column).split(separator)
    return tuple(sorted({cell_text(item, path, number, column).strip() for item in items} - {""}))


def cell_context(value: object, path: Path, number: int, column: str) -> tuple[str, ...]:
    """Story sentences from a ``" | "``-joined string or (JSON Lines) a list of strings."""
    if isinstance(value, list):
        return tuple(cell_text(item, path, number, column).strip() for item in value)
    text = cell_text(value, path, number, column)
    return tuple(part.strip() for part in text.split(CONTEXT_SEPARATOR) if part.strip())
