"""A data or input file that exists but cannot be read (permission, EIO halfway through) is named
with what the system said and what to do; never "does not exist", never a traceback."""

from __future__ import annotations

import builtins
import errno
import io

import pytest

import textclf.data.files as files
from textclf.core.errors import TextclfError
from textclf.data.table import Table


def write_table(folder):
    rows = "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20))
    for name in ("train.csv", "test.csv"):
        (folder / name).write_text("text,label\n" + rows)


class BreaksAfter(io.StringIO):
    """A file whose disk fails after ``lines`` good lines, as a failing disk or share does."""

    def __init__(self, text: str, lines: int):
        super().__init__(text)
        self.left = lines

    def __next__(self):
        if self.left == 0:
            raise OSError(errno.EIO, "Input/output error")
        self.left -= 1
        return super().__next__()


@pytest.mark.parametrize("failure, words", [
    (PermissionError(errno.EACCES, "Permission denied"), r"cannot be read \(permission denied\)\. Give this user read access"),
    (OSError(errno.EIO, "Input/output error"), r"cannot be read \(input/output error\)\. The disk or network share"),
    (OSError(errno.ENXIO, "No such device or address"), r"cannot be read \(No such device or address\)"),
])
def test_a_data_file_that_cannot_be_opened(tmp_path, monkeypatch, failure, words):
    write_table(tmp_path)

    def refuse(path, *args, **kwargs):
        if str(path).endswith("train.csv"):
            raise failure
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(files, "open", refuse, raising=False)
    with pytest.raises(TextclfError, match=rf"{tmp_path / 'train.csv'}: {words}"):
        Table(root=str(tmp_path)).load()


def test_a_data_file_that_fails_halfway(tmp_path, monkeypatch):
    write_table(tmp_path)
    real_open = builtins.open

    def failing(path, *args, **kwargs):
        if str(path).endswith("train.csv"):
            return BreaksAfter(real_open(path, *args, **kwargs).read(), lines=15)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files, "open", failing, raising=False)
    with pytest.raises(TextclfError, match=r"train.csv: cannot be read \(input/output error\)"):
        Table(root=str(tmp_path)).load()
