"""Table files as they come: no header row, columns by position, several text columns, label ids
with a names file, encodings (auto-detected or named) and CRLF / byte-order marks."""

from __future__ import annotations

import json
import logging
import re

import pytest
from omegaconf import OmegaConf

from textclf.core.config_rules import config_problems
from textclf.core.errors import TextclfError
from textclf.data.pipeline import build_source, prepare
from textclf.data.table import Table
from textclf.data.vocab import SEP_ID, Vocab

from conftest import compose_train, sentiment_rows

ZH = [("这部电影很好看，演员表现出色", "正面"), ("剧情太无聊了，不推荐", "负面"), ("音乐和画面都很美", "正面")]


def write(root, name, data):
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def load(root, **settings):
    return Table(root=str(root), val_fraction=0.5, **settings).load()


def pairs(splits):
    """(text, label) of every example, train and val together (the split is seeded, not tested here)."""
    return sorted((ex.text, ex.label) for ex in splits.train + splits.val)


# ------------------------------------------------------------------ no header row, columns by position


@pytest.mark.parametrize(("suffix", "sep"), [(".csv", ","), (".tsv", "\t")])
def test_a_file_without_header_is_read_by_position(tmp_path, suffix, sep):
    write(tmp_path, "train" + suffix, f"pos{sep}a fine film{sep}x\nneg{sep}a dull one{sep}y\n")
    write(tmp_path, "test" + suffix, f"pos{sep}great{sep}z\n")
    names = {"train_file": "train" + suffix, "test_file": "test" + suffix}
    splits = load(tmp_path, header=False, label_column=0, text_column=1, **names)
    assert pairs(splits) == [("a dull one", "neg"), ("a fine film", "pos")]  # the first row is an example
    assert [(ex.text, ex.label) for ex in splits.test] == [("great", "pos")]
    # Columns are named by position, so the position as text (a quoted YAML value) is the same column.
    assert pairs(load(tmp_path, header=False, label_column="0", text_column="1", **names)) == pairs(splits)
    stories = load(tmp_path, header=False, label_column=1, text_column=2, context_column=0, **names)
    assert stories.test[0].context == ("pos",) and stories.test[0].text == "z"  # a position may be 0


def test_positions_and_names_work_with_a_header(tmp_path):
    write(tmp_path, "train.csv", "id,label,text\n1,pos,a fine film\n2,neg,a dull one\n")
    write(tmp_path, "test.csv", "text,id,label\ngreat,3,pos\n")  # another order: names find the columns
    assert pairs(load(tmp_path, text_column="text")) == [("a dull one", "neg"), ("a fine film", "pos")]
    by_position = Table(root=str(tmp_path), text_column=2, label_column=1, test_file="train.csv", val_fraction=0.5).load()
    assert [(ex.text, ex.label) for ex in by_position.test] == [("a fine film", "pos"), ("a dull one", "neg")]


def test_without_header_names_are_refused_before_reading(tmp_path):
    with pytest.raises(TextclfError, match=r"data.header=false: the files have no header row, so columns have positions, "
                       r"not names \(data.text_column='text', data.label_column='label'\)\. Set each to a position"):
        load(tmp_path / "not-read", header=False)


def test_a_label_column_beyond_the_row_is_named(tmp_path):
    train = write(tmp_path, "train.csv", "pos,a fine film\nneg,a dull one\n")
    write(tmp_path, "test.csv", "pos,great\n")
    with pytest.raises(TextclfError, match=re.escape(f"{train}:1: data.label_column=5 is beyond the row's 2 field(s) "
                                                     "(positions 0 to 1; 0 is the first). Set data.label_column to a position from 0 to 1.")):
        load(tmp_path, header=False, label_column=5, text_column=1)
    write(tmp_path, "train.csv", "label,text\npos,a fine film\n")
    with pytest.raises(TextclfError, match=r"train.csv: data.text_column=2 is beyond the header's 2 columns \(positions 0 to 1: label, text\)"):
        load(tmp_path, text_column=2)


@pytest.mark.parametrize(
    ("suffix", "train", "settings", "pattern"),
    [
        (".csv", "pos,a fine film\nneg,a dull one,extra\n", {"header": False, "label_column": 0, "text_column": 1},
         r"train.csv:2: 3 fields but the first row has 2 \(quote fields that contain commas\)"),
        (".csv", "text,label\na,pos\nb,neg\n", {"label_column": 0},
         r"data.text_column and data.label_column both name the column 'text'"),
        (".jsonl", '{"text": "a", "label": "x"}\n', {"label_column": 1},
         r"train.jsonl: data.label_column=1 is a position, but JSON Lines objects are keyed by name"),
    ],
)
def test_columns_that_cannot_be_meant_are_refused(tmp_path, suffix, train, settings, pattern):
    write(tmp_path, "train" + suffix, train)
    write(tmp_path, "test" + suffix, train)
    with pytest.raises(TextclfError, match=pattern):
        load(tmp_path, train_file="train" + suffix, test_file="test" + suffix, **settings)


# ------------------------------------------------------------------------------ several text columns


def test_several_text_columns_are_joined_with_the_separator_token(tmp_path):
    write(tmp_path, "train.csv", "title,description,label\nBig News,the market fell,biz\nMatch day,the team won,sport\n")
    write(tmp_path, "test.csv", "label,description,title\nbiz,shares rose,Markets\n")
    splits = load(tmp_path, text_column=["title", "description"])
    assert splits.test[0].text == "Markets <sep> shares rose"  # by name, whatever the order of the file's columns
    assert pairs(splits) == [("Big News <sep> the market fell", "biz"), ("Match day <sep> the team won", "sport")]
    assert pairs(load(tmp_path, text_column=[0, 1], test_file="train.csv")) == pairs(splits)  # positions too
    vocab = Vocab.fit([ex.text for ex in splits.train + splits.val])
    ids = vocab.encode_many(["Big News <sep> the market fell"])[0]
    assert ids[2] == SEP_ID and ids.count(SEP_ID) == 1
    assert not {"<", "sep", ">"} & set(vocab.tokenizer.get_vocab())  # the separator is no word of the vocabulary


def test_a_text_column_listed_twice_is_refused(tmp_path):
    with pytest.raises(TextclfError, match=r"data.text_column\[0\] and data.text_column\[1\] both name the column 'title'"):
        load(tmp_path, text_column=["title", "title"])


# ------------------------------------------------------------------------- label ids and a names file


@pytest.mark.parametrize(("base", "ids"), [(0, ("1", "0", "2")), (1, ("2", "1", "3"))])
def test_label_ids_become_the_names_of_their_lines(tmp_path, base, ids):
    write(tmp_path, "classes.txt", "sports\nbusiness\nscience\n")
    write(tmp_path, "train.csv", f"text,label\nshares fell,{ids[0]}\nthe team won,{ids[1]}\n")
    write(tmp_path, "test.csv", f"text,label\na new chip,{ids[2]}\n")
    splits = load(tmp_path, label_names="classes.txt", label_id_base=base)
    assert pairs(splits) == [("shares fell", "business"), ("the team won", "sports")]
    assert splits.test[0].label == "science"
    assert splits.label_names == ["sports", "business", "science"]  # reports list classes in id order


def test_a_label_id_without_a_line_is_named(tmp_path):
    write(tmp_path, "classes.txt", "sports\nbusiness\n")
    write(tmp_path, "train.csv", "text,label\nshares fell,2\nthe team won,1\n")
    test = write(tmp_path, "test.csv", "text,label\na new chip,3\n")
    with pytest.raises(TextclfError, match=re.escape(f"{test}:2: label id '3' is not a line of classes.txt (1..2 with data.label_id_base=1).")):
        load(tmp_path, label_names="classes.txt", label_id_base=1)
    (tmp_path / "classes.txt").unlink()
    with pytest.raises(TextclfError, match=r"Table: missing file\(s\) classes.txt in"):
        load(tmp_path, label_names="classes.txt")


# ----------------------------------------------------------------------------------------- encodings


def zh_table(root, encoding, bom=b""):
    rows = "text,label\n" + "".join(f"{text},{label}\n" for text, label in ZH)
    write(root, "train.csv", bom + rows.encode(encoding))
    write(root, "test.csv", bom + f"text,label\n{ZH[0][0]},{ZH[0][1]}\n".encode(encoding))
    return root


def test_gbk_chinese_is_detected_and_logged(tmp_path, caplog):
    zh_table(tmp_path, "gbk")
    with caplog.at_level(logging.INFO, logger="textclf.data"):
        splits = load(tmp_path, charset="auto")
    assert pairs(splits) == sorted(ZH)
    assert "train.csv: read as gb18030 (data.charset=auto)" in caplog.text
    assert pairs(load(tmp_path, charset="gbk")) == sorted(ZH)  # naming it works as well


def test_a_gb18030_file_read_as_utf8_names_the_setting(tmp_path):
    zh_table(tmp_path, "gb18030")
    with pytest.raises(TextclfError, match=r"train.csv: not valid utf-8 text \(line 2, byte 1: [^)]+\)\. "
                       r"It reads as GB18030 \(Chinese; covers GBK and GB2312\): set data.charset=gb18030, or data.charset=auto"):
        load(tmp_path)


@pytest.mark.parametrize("text", ["Ça va bien", "Straße café", "naïve résumé"])
def test_latin1_is_not_guessed(tmp_path, text):
    write(tmp_path, "train.csv", f"text,label\n{text},1\nplain,0\n".encode("latin-1"))
    write(tmp_path, "test.csv", "text,label\nplain,0\n")
    with pytest.raises(TextclfError, match=r"train.csv: data.charset=auto cannot tell the file's encoding: it is not UTF-8 \(line 2, "
                       r".*does not read as GB18030 Chinese\. Set data.charset= to its encoding \(for example data.charset=latin-1"):
        load(tmp_path, charset="auto")
    assert text in [ex.text for ex in load(tmp_path, charset="latin-1").train + load(tmp_path, charset="latin-1").val]
    with pytest.raises(TextclfError, match=r"not valid utf-8 text .*Set data.charset= to the file's real encoding \(for example data.charset=latin-1\)"):
        load(tmp_path)


@pytest.mark.parametrize(("encoding", "bom"), [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf"), ("utf-8", b"")])
def test_unicode_files_are_detected(tmp_path, encoding, bom):
    assert pairs(load(zh_table(tmp_path, encoding, bom), charset="auto")) == sorted(ZH)


# --------------------------------------------------------------- CRLF and a UTF-8 BOM read as if absent

ROWS = [("a fine film", "pos"), ('say "hi", twice', "neg"), ("two\nlines", "pos"), ("", "neg")]


def table_bytes(fmt: str, header: bool) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps({"text": text, "label": label}) + "\n" for text, label in ROWS)
    if fmt == "tsv":  # no quoting in TSV: no tabs or newlines in cells
        body = "".join(f"{text.replace(chr(10), ' ')}\t{label}\n" for text, label in ROWS)
    else:
        body = "".join('"' + text.replace('"', '""') + f'",{label}\n' for text, label in ROWS)
    return ("text" + ("\t" if fmt == "tsv" else ",") + "label\n" if header else "") + body


@pytest.mark.parametrize(("fmt", "header"), [("csv", True), ("csv", False), ("tsv", True), ("tsv", False), ("jsonl", True)])
def test_crlf_and_a_bom_are_read_as_if_absent(tmp_path, fmt, header):
    columns = {} if header else {"header": False, "text_column": 0, "label_column": 1}
    read = []
    for name, (newline, bom) in {"plain": ("\n", ""), "crlf": ("\r\n", ""), "bom": ("\n", "\ufeff"), "both": ("\r\n", "\ufeff")}.items():
        text = bom + table_bytes(fmt, header).replace("\n", newline)
        if fmt != "jsonl":  # the newline inside the quoted cell is the file's own, CRLF too
            assert text.count(newline) == len(ROWS) + header + (fmt == "csv")
        for split in ("train", "test"):
            write(tmp_path / name, f"{split}.{fmt}", text)
        splits = load(tmp_path / name, train_file=f"train.{fmt}", test_file=f"test.{fmt}", **columns)
        read.append([(ex.text, ex.label) for ex in splits.test])
    assert read[0] == read[1] == read[2] == read[3]
    assert read[0][0] == ROWS[0] and {label for _, label in read[0]} == {"pos", "neg"}


def test_a_bom_in_class_txt_is_not_part_of_the_first_name(tmp_path):
    write(tmp_path, "class.txt", "\ufeff体育\r\n财经\r\n")
    for name in ("train.txt", "dev.txt", "test.txt"):
        write(tmp_path, name, "球队赢了\t0\r\n股市涨了\t1\r\n")
    splits = load(tmp_path)
    assert splits.label_names == ["体育", "财经"] and splits.train[0].label == "体育"


# ------------------------------------------------------------------------- settings and the whole path


def test_the_new_settings_have_rules():
    good = OmegaConf.create({"data": {"header": False, "text_column": [0, "title"], "label_column": 0, "label_id_base": 1}})
    assert config_problems(good) == []
    bad = OmegaConf.create({"data": {"header": "no", "text_column": [], "label_column": -1, "label_id_base": 2}})
    assert [line.split(" must")[0] for line in config_problems(bad)] == [
        "data.header", "data.text_column", "data.label_column", "data.label_id_base",
    ]


def test_a_headerless_file_with_two_text_columns_trains_from_the_command_line(tmp_path):
    for name, seed in (("train.csv", 0), ("test.csv", 1)):
        lines = [f"{label},{text},{len(text)} words" for text, label in sentiment_rows(40, seed)]
        write(tmp_path, name, "\r\n".join(lines) + "\r\n")
    cfg = compose_train(["model=textrnn", "model.encoder.cell=rnn", "data=table", f"data.root={tmp_path}", "data.header=false",
                         "data.label_column=0", "data.text_column=[1,2]"])
    data = prepare(build_source(cfg.data), cfg.tokenizer)
    assert data.labels == ["neg", "pos"]
    assert data.splits.train[0].text.endswith(" words") and " <sep> " in data.splits.train[0].text


# ------------------------------------------------------------------ files found by their split's name


def tsv(rows):
    return "text\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows)


def test_split_files_are_found_in_any_format_without_naming_them(tmp_path):
    write(tmp_path, "train.tsv", tsv(sentiment_rows(20, 0)))
    write(tmp_path, "dev.jsonl", "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in sentiment_rows(6, 1)))
    write(tmp_path, "test.tsv", tsv(sentiment_rows(8, 2)))
    splits = Table(root=str(tmp_path)).load()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 6, 8)  # dev.jsonl is validation: nothing held out
    assert "train train.tsv, val dev.jsonl, test test.tsv" in splits.description
    # Named files still win, and without a val.*/dev.* file validation is held out of train.
    (tmp_path / "dev.jsonl").unlink()
    held = Table(root=str(tmp_path), val_fraction=0.25).load()
    assert (len(held.train), len(held.val)) == (15, 5)


def test_two_files_for_one_split_are_refused_naming_both(tmp_path):
    write(tmp_path, "train.csv", "text,label\na,b\n")
    write(tmp_path, "train.tsv", tsv([("a", "b")]))
    write(tmp_path, "test.csv", "text,label\na,b\n")
    with pytest.raises(TextclfError, match=r"holds train.csv and train.tsv.*data.train_file=train.csv"):
        Table(root=str(tmp_path)).load()


def test_a_missing_split_names_the_settings_that_fix_it(tmp_path):
    write(tmp_path, "training.tsv", tsv([("a", "b")]))
    with pytest.raises(TextclfError, match=r"missing file\(s\) train.csv, test.csv.*Or name the files: data.train_file=FILE data.test_file=FILE"):
        Table(root=str(tmp_path)).load()
