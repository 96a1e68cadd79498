"""Dataset readers: tiny fixtures written here, plus size checks against the real datasets where
TEXTCLF_DATA_DIR names them (as every command reads it)."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from textclf.core.errors import TextclfError
from textclf.data.babi import TASK_NAMES, Babi, parse_babi, parse_tasks
from textclf.data.files import stratified_split
from textclf.data.mr import MR
from textclf.data.sst import SST
from textclf.data.subj import SUBJ
from textclf.data.table import Table
from textclf.data.trec import TREC

SHARED = Path(os.environ.get("TEXTCLF_DATA_DIR", "data")).expanduser()


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def babi_lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


# Two stories, three questions; the second question's answer has a comma, as in task 19.
STORY = babi_lines(
    "1 Mary moved to the bathroom.",
    "2 John went to the hallway.",
    "3 Where is Mary? \tbathroom\t1",
    "4 Daniel went back to the hallway.",
    "5 Where is Daniel? \thallway\t4 2",
    "1 The office is east of the hallway.",
    "2 How do you go from the hallway to the office?\te,n\t1",
)


def babi_task(n_stories: int, offset: int = 0) -> str:
    """``n_stories`` stories of one statement and one question each, answers numbered."""
    lines = []
    for i in range(n_stories):
        lines += [f"1 Person{i + offset} went to room{i + offset}.", f"2 Where is Person{i + offset}?\troom{i + offset}\t1"]
    return babi_lines(*lines)


def babi_folder(root: Path, tasks: list[int], n_train: int = 10, n_test: int = 4) -> Path:
    for task in tasks:
        write(root, f"qa{task}_task-{task}_train.txt", babi_task(n_train, offset=100 * task))
        write(root, f"qa{task}_task-{task}_test.txt", babi_task(n_test, offset=100 * task + 50))
    return root


# ---------------------------------------------------------------------------------------------- bAbI


def test_parse_babi_context_supporting_and_groups(tmp_path):
    examples = parse_babi(write(tmp_path, "qa1_x_train.txt", STORY), "qa1")
    assert [ex.text for ex in examples] == ["Where is Mary?", "Where is Daniel?", "How do you go from the hallway to the office?"]
    assert [ex.label for ex in examples] == ["bathroom", "hallway", "e,n"]
    assert examples[0].context == ("Mary moved to the bathroom.", "John went to the hallway.")
    # questions are not context: the second question sees the three statements so far
    assert examples[1].context == (
        "Mary moved to the bathroom.",
        "John went to the hallway.",
        "Daniel went back to the hallway.",
    )
    assert examples[1].supporting == (2, 1)  # IDs 4 and 2 are context indices 2 and 1
    assert examples[2].context == ("The office is east of the hallway.",)  # a new story resets the context
    assert examples[2].supporting == (0,)
    assert {ex.group for ex in examples} == {"qa1"}


def test_parse_babi_supporting_field_is_optional(tmp_path):
    path = write(tmp_path, "gen.txt", babi_lines("1 A is here.", "2 Where is A?\there", "3 Where is A?\there\t"))
    assert [ex.supporting for ex in parse_babi(path, "gen")] == [(), ()]


def test_babi_load_splits_each_task(tmp_path):
    root = babi_folder(tmp_path, [1, 2])
    splits = Babi(root=str(root), tasks=[1, 2]).load()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 2, 8)
    for group in ("qa1", "qa2"):  # each task keeps its own 10% validation share
        assert sum(ex.group == group for ex in splits.val) == 1
        assert sum(ex.group == group for ex in splits.test) == 4
    assert splits.label_names is None
    assert "tasks 1,2" in splits.description


def test_babi_val_split_is_seeded_and_disjoint(tmp_path):
    root = babi_folder(tmp_path, [1], n_train=40)
    first = Babi(root=str(root), tasks=1, seed=3).load()
    again = Babi(root=str(root), tasks=1, seed=3).load()
    other = Babi(root=str(root), tasks=1, seed=4).load()
    assert first.val == again.val and first.train == again.train
    assert first.val != other.val
    assert not set(first.val) & set(first.train)
    assert len(first.val) == 4 and len(first.train) == 36


@pytest.mark.parametrize(
    ("value", "expected"),
    [("all", list(range(1, 21))), (3, [3]), ([2, 1, 2], [2, 1]), ("1,2,4", [1, 2, 4]), ("[5, 6]", [5, 6])],
)
def test_babi_task_values(value, expected):
    assert parse_tasks(value) == expected


@pytest.mark.parametrize("value", [0, 21, "abc", [1, 25], "1.5", 2.5, True, None, []])
def test_babi_bad_tasks(value):
    with pytest.raises(TextclfError, match=r"bAbI: .*data\.tasks"):
        parse_tasks(value)


def test_babi_missing_folder(tmp_path):
    with pytest.raises(TextclfError, match=r"bAbI: data folder .*nowhere does not exist.*qa1_single-supporting-fact_train\.txt.*data\.root"):
        Babi(root=str(tmp_path / "nowhere")).load()


def test_babi_missing_train_file_names_task_and_suggests_task_list(tmp_path):
    root = babi_folder(tmp_path, [1, 2, 3, 4])
    (root / "qa3_task-3_train.txt").unlink()
    with pytest.raises(TextclfError) as info:
        Babi(root=str(root), tasks=[1, 2, 3, 4]).load()
    message = str(info.value)
    assert "task 3 (three-supporting-facts): qa3_three-supporting-facts_train.txt" in message
    assert "data.tasks=[1,2,4]" in message
    assert str(root) in message


def test_babi_all_tasks_lists_every_missing_task(tmp_path):
    root = babi_folder(tmp_path, [1, 2])
    with pytest.raises(TextclfError, match=r"task 20 \(agents-motivations\).*data\.tasks=\[1,2\]"):
        Babi(root=str(root)).load()


def test_babi_task_names_are_the_official_twenty():
    assert sorted(TASK_NAMES) == list(range(1, 21))
    assert TASK_NAMES[1] == "single-supporting-fact" and TASK_NAMES[20] == "agents-motivations"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (babi_lines("1 A is here.", "2 Where is A?"), r":2: this question has no tab-separated answer"),
        (babi_lines("1 A is here.", "x Where is A?\there\t1"), r":2: expected 'ID text' with a positive integer ID, got 'x'"),
        (babi_lines("1 A is here.", "3 Where is A?\there\t1"), r":2: ID 3 does not follow ID 1 on line 1"),
        (babi_lines("2 A is here.", "3 Where is A?\there\t2"), r":1: the first line must have ID 1"),
        (babi_lines("1 A is here.", "2 Where is A?\there\t5"), r":2: supporting fact ID 5 does not point to an earlier statement"),
        (babi_lines("1 Where is A?\there\t1"), r":1: supporting fact ID 1 does not point to an earlier statement"),
        (babi_lines("1 A is here.", "2 Where is A?\there\tone"), r":2: supporting fact ID 'one' is not an integer"),
        (babi_lines("1 A is here.", "2 Where is A?\t\t1"), r":2: empty answer"),
        (babi_lines("1 A is here.", "2 Where is A?\there\t1\textra"), r":2: 4 tab-separated fields"),
        (babi_lines("1 A is here.", "2 B is there."), r":2: this story ends with a statement"),
        (babi_lines("1 A is here.", "2 Where?\there\t1", "3 B left.", "1 C is here.", "2 Where?\tx\t1"), r":3: this story ends with a statement"),
        (babi_lines("1"), r":1: ID 1 has no text after it"),
        ("", r": the file is empty"),
        ("\n\n", r": the file is empty"),
    ],
)
def test_babi_malformed(tmp_path, text, pattern):
    path = write(tmp_path, "qa1_bad_train.txt", text)
    with pytest.raises(TextclfError, match=re.escape(str(path)) + pattern):
        parse_babi(path, "qa1")


def test_babi_malformed_line_surfaces_from_load(tmp_path):
    root = babi_folder(tmp_path, [1])
    write(root, "qa1_task-1_test.txt", babi_lines("1 A is here.", "2 Where is A?"))
    with pytest.raises(TextclfError, match=r"qa1_task-1_test\.txt:2: this question has no tab-separated answer"):
        Babi(root=str(root), tasks=1).load()


# ----------------------------------------------------------------------------------------------- SST


def sst_folder(root: Path, prefix: str, train: str, dev: str, test: str) -> Path:
    for split, text in (("train", train), ("dev", dev), ("test", test)):
        write(root, f"{prefix}.{split}", text)
    return root


def test_sst_binary(tmp_path):
    root = sst_folder(tmp_path, "stsa.binary", "1 a fine film .\n0 a dull one .\n1 great\n", "0 bad .\n", "1 good .\n")
    splits = SST(root=str(root)).load()
    assert [ex.label for ex in splits.train] == ["positive", "negative", "positive"]
    assert splits.train[0].text == "a fine film ."
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3, 1, 1)
    assert splits.label_names == ["negative", "positive"]
    assert "SST-2" in splits.description


def test_sst_fine_label_order(tmp_path):
    root = sst_folder(tmp_path, "stsa.fine", "4 wow\n0 awful\n2 ok\n", "3 nice\n", "1 meh\n")
    splits = SST(root=str(root), variant="fine").load()
    assert splits.labels() == ["very negative", "negative", "neutral", "positive", "very positive"]
    assert [ex.label for ex in splits.train] == ["very positive", "very negative", "neutral"]
    assert splits.val[0].label == "positive" and splits.test[0].label == "negative"


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("great movie .", r":2: expected '<label> <sentence>' with a label from 0 to 1 .*got 'great'"),
        ("2 too high .", r":2: expected '<label> <sentence>' with a label from 0 to 1 \(0=negative, 1=positive\), got '2'"),
        ("-1 negative .", r":2: expected '<label> <sentence>'.*got '-1'"),
        ("1", r":2: label 1 has no sentence after it"),
    ],
)
def test_sst_malformed(tmp_path, line, pattern):
    root = sst_folder(tmp_path, "stsa.binary", f"1 fine .\n{line}\n", "0 x\n", "1 y\n")
    with pytest.raises(TextclfError, match=re.escape(str(root / "stsa.binary.train")) + pattern):
        SST(root=str(root)).load()


def test_sst_empty_file(tmp_path):
    root = sst_folder(tmp_path, "stsa.binary", "1 fine .\n", "", "1 y\n")
    with pytest.raises(TextclfError, match=r"stsa\.binary\.dev: the file is empty"):
        SST(root=str(root)).load()


def test_sst_missing_files_and_variant(tmp_path):
    write(tmp_path, "stsa.binary.train", "1 x\n")
    with pytest.raises(TextclfError, match=r"SST-2.*missing file\(s\) stsa\.binary\.dev, stsa\.binary\.test in .*data\.root"):
        SST(root=str(tmp_path)).load()
    with pytest.raises(TextclfError, match=r"SST-5.*stsa\.fine\.train"):
        SST(root=str(tmp_path), variant="fine").load()
    with pytest.raises(TextclfError, match=r"unknown variant 'sst2'.*data\.variant=binary"):
        SST(root=str(tmp_path), variant="sst2").load()


# -------------------------------------------------------------------------------------- MR and SUBJ


def sentences(label: str, n: int) -> bytes:
    """``n`` Latin-1 lines with a trailing space, as in the Cornell files (0xe9 is 'é')."""
    return b"".join(f"{label} caf\xe9 number {i} . \n".encode("latin-1") for i in range(n))


@pytest.mark.parametrize(
    ("cls", "files", "labels"),
    [
        (MR, ("rt-polarity.neg", "rt-polarity.pos"), ["negative", "positive"]),
        (SUBJ, ("subj.subjective", "subj.objective"), ["subjective", "objective"]),
    ],
)
def test_two_file_readers_split_80_10_10(tmp_path, cls, files, labels):
    for name, label in zip(files, labels):
        write(tmp_path, name, sentences(label, 20))
    splits = cls(root=str(tmp_path)).load()
    assert splits.label_names == labels
    texts = {ex.text for ex in splits.train + splits.val + splits.test}
    assert f"{labels[0]} café number 0 ." in texts  # Latin-1 decoded, stripped
    for part, size in ((splits.train, 16), (splits.val, 2), (splits.test, 2)):
        assert Counter(ex.label for ex in part) == {labels[0]: size, labels[1]: size}  # stratified
    everything = splits.train + splits.val + splits.test
    assert len(set(everything)) == 40  # disjoint and complete
    again = cls(root=str(tmp_path)).load()
    other = cls(root=str(tmp_path), seed=1).load()
    assert (again.val, again.test) == (splits.val, splits.test)
    assert (other.val, other.test) != (splits.val, splits.test)
    assert "seed 0" in splits.description


def test_mr_val_fraction_sets_the_val_share(tmp_path):
    write(tmp_path, "rt-polarity.neg", sentences("n", 20))
    write(tmp_path, "rt-polarity.pos", sentences("p", 20))
    splits = MR(root=str(tmp_path), val_fraction=0.2).load()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (28, 8, 4)
    with pytest.raises(TextclfError, match=r"leaves no training data"):
        MR(root=str(tmp_path), val_fraction=0.9).load()


def test_mr_and_subj_missing_and_empty(tmp_path):
    write(tmp_path, "rt-polarity.pos", sentences("p", 3))
    with pytest.raises(TextclfError, match=r"MR: missing file\(s\) rt-polarity\.neg in .*Expected: rt-polarity\.neg, rt-polarity\.pos"):
        MR(root=str(tmp_path)).load()
    write(tmp_path, "rt-polarity.neg", b"")
    with pytest.raises(TextclfError, match=r"rt-polarity\.neg: the file is empty"):
        MR(root=str(tmp_path)).load()
    with pytest.raises(TextclfError, match=r"SUBJ: missing file\(s\) subj\.subjective, subj\.objective"):
        SUBJ(root=str(tmp_path)).load()


def test_stratified_split_keeps_order_and_share():
    items = list(range(30))
    labels = ["a"] * 20 + ["b"] * 10
    train, val, test = stratified_split(items, labels, 0.1, 0.1, seed=0)
    assert val == sorted(val) and test == sorted(test) and train == sorted(train)
    assert sorted(train + val + test) == items
    assert Counter(labels[i] for i in val) == {"a": 2, "b": 1}


# ---------------------------------------------------------------------------------------------- TREC

TREC_TRAIN = "".join(
    f"{tag} Question number {i} ?\n"
    for i, tag in enumerate(["DESC:manner", "ENTY:cremat", "HUM:ind", "LOC:city", "NUM:date", "ABBR:exp"] * 5)
)


def test_trec_coarse_and_fine(tmp_path):
    write(tmp_path, "TREC.train", TREC_TRAIN)
    write(tmp_path, "TREC.test", b"HUM:ind Who is Bj\xf6rk ?\nNUM:count How many ?\n")  # Latin-1 byte
    splits = TREC(root=str(tmp_path)).load()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (27, 3, 2)
    assert splits.label_names == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert splits.test[0] == splits.test[0].__class__(text="Who is Björk ?", label="HUM")
    assert not set(splits.train) & set(splits.val)
    assert TREC(root=str(tmp_path)).load().val == splits.val
    fine = TREC(root=str(tmp_path), fine=True).load()
    assert fine.test[1].label == "NUM:count"
    assert "NUM:count" in fine.label_names and "DESC:manner" in fine.label_names


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("DESC How ?", r":2: expected 'COARSE:fine question'.*got 'DESC' as the label"),
        ("WHAT:x Who ?", r":2: unknown coarse class 'WHAT'; expected one of ABBR, DESC, ENTY, HUM, LOC, NUM"),
        ("HUM:ind", r":2: label HUM:ind has no question after it"),
    ],
)
def test_trec_malformed(tmp_path, line, pattern):
    write(tmp_path, "TREC.train", TREC_TRAIN)
    path = write(tmp_path, "TREC.test", f"HUM:ind Who ?\n{line}\n")
    with pytest.raises(TextclfError, match=re.escape(str(path)) + pattern):
        TREC(root=str(tmp_path)).load()


def test_trec_missing(tmp_path):
    with pytest.raises(TextclfError, match=r"TREC: data folder .* does not exist.*TREC\.train, TREC\.test"):
        TREC(root=str(tmp_path / "trec")).load()


# --------------------------------------------------------------------------------------------- Table


def test_table_csv_with_held_out_val(tmp_path):
    rows = ["text,label,id", '"hello, world",1,a', ",0,b"] + [f"row {i},{i % 2},c" for i in range(18)]
    write(tmp_path, "train.csv", "\n".join(rows) + "\n")
    write(tmp_path, "test.csv", 'id,label,text\nz, 1 ,"two\nlines"\n')
    splits = Table(root=str(tmp_path)).load()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 2, 1)
    everything = splits.train + splits.val
    assert any(ex.text == "hello, world" and ex.label == "1" for ex in everything)  # quoted comma
    assert {ex.label for ex in everything} == {"0", "1"}
    assert any(ex.text == "" for ex in everything)  # empty text is allowed
    assert splits.test[0].text == "two\nlines" and splits.test[0].label == "1"  # label stripped
    assert splits.labels() == ["0", "1"]
    again = Table(root=str(tmp_path)).load()
    assert again.val == splits.val and not set(splits.val) & set(splits.train)


def test_table_tsv_val_file_and_context(tmp_path):
    write(tmp_path, "train.tsv", 'sentence\tclass\tstory\nsay "hi\tgreet\tMary went home. | John left.\n')
    write(tmp_path, "dev.tsv", "sentence\tclass\tstory\nbye\tleave\t\n")
    write(tmp_path, "test.tsv", "sentence\tclass\tstory\nyo\tgreet\tA.\n")
    table = Table(
        root=str(tmp_path), train_file="train.tsv", val_file="dev.tsv", test_file="test.tsv",
        text_column="sentence", label_column="class", context_column="story",
    )
    splits = table.load()
    assert splits.train[0].text == 'say "hi'  # TSV quotes are plain text
    assert splits.train[0].context == ("Mary went home.", "John left.")
    assert splits.val[0].context == () and splits.test[0].context == ("A.",)


def test_table_jsonl(tmp_path):
    lines = [
        json.dumps({"text": "a", "label": 1, "story": ["x.", "y."]}),
        "",
        json.dumps({"text": "b", "label": "neg", "story": "p. | q."}),
    ]
    write(tmp_path, "train.jsonl", "\n".join(lines) + "\n")
    write(tmp_path, "test.jsonl", json.dumps({"text": "c", "label": 2.5, "story": []}) + "\n")
    splits = Table(
        root=str(tmp_path), train_file="train.jsonl", test_file="test.jsonl", context_column="story", val_fraction=0.5
    ).load()
    everything = sorted(splits.train + splits.val, key=lambda ex: ex.text)
    assert [(ex.label, ex.context) for ex in everything] == [("1", ("x.", "y.")), ("neg", ("p.", "q."))]
    assert splits.test[0].label == "2.5" and splits.test[0].context == ()


def test_table_missing_column_names_found_and_override(tmp_path):
    write(tmp_path, "train.csv", "sentence,label\nhi,1\n")
    write(tmp_path, "test.csv", "sentence,label\nhi,1\n")
    with pytest.raises(
        TextclfError,
        match=r"train\.csv: no column 'text'\. Columns found: sentence, label; expected: text, label\. Set data\.text_column=NAME",
    ):
        Table(root=str(tmp_path)).load()


def test_table_jsonl_missing_key_names_line(tmp_path):
    write(tmp_path, "train.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "y": 1}\n')
    write(tmp_path, "test.jsonl", '{"text": "a", "label": "x"}\n')
    with pytest.raises(TextclfError, match=r"train\.jsonl:2: no column 'label'\. Columns found: text, y.*data\.label_column=NAME"):
        Table(root=str(tmp_path), train_file="train.jsonl", test_file="test.jsonl").load()


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("train.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", label: 1}\n', r"train\.jsonl:2: invalid JSON"),
        ("train.jsonl", '{"text": "a", "label": "x"}\n["b", 1]\n', r"train\.jsonl:2: expected a JSON object"),
        ("train.jsonl", "", r"train\.jsonl: the file is empty"),
        ("train.csv", "", r"train\.csv: the file is empty\. Expected a header line"),
        ("train.csv", "text,label\n", r"train\.csv: has a header but no rows"),
        ("train.csv", "text,label\na,1\nb,c,1\n", r"train\.csv:3: 3 fields but the header has 2 \(quote fields"),
        ("train.csv", "text,label\na,\n", r"train\.csv:2: the label in column 'label' is empty, not a class.*data.missing_labels=drop"),
        ("train.csv", b"text,label\ncaf\xe9,1\n", r"train\.csv: not valid utf-8 text"),
        ("train.jsonl", '{"text": ["a"], "label": "x"}\n', r"train\.jsonl:1: column 'text' holds a list"),
    ],
)
def test_table_malformed(tmp_path, name, content, pattern):
    write(tmp_path, name, content)
    test_name = "test" + Path(name).suffix
    write(tmp_path, test_name, "text,label\na,1\n" if name.endswith(".csv") else '{"text": "a", "label": "x"}\n')
    with pytest.raises(TextclfError, match=pattern):
        Table(root=str(tmp_path), train_file=name, test_file=test_name).load()


def test_table_unsupported_extension_and_missing_file(tmp_path):
    with pytest.raises(TextclfError, match=r"Table: cannot read train\.parquet: unsupported extension '\.parquet'.*\.csv, \.tsv or \.jsonl"):
        Table(root=str(tmp_path), train_file="train.parquet").load()
    write(tmp_path, "train.csv", "text,label\na,1\n")
    with pytest.raises(TextclfError, match=r"Table: missing file\(s\) test\.csv in .*data\.root"):
        Table(root=str(tmp_path)).load()


def test_table_reads_a_utf8_bom_header(tmp_path):
    write(tmp_path, "train.csv", "\ufefftext,label\na,1\nb,2\n")
    write(tmp_path, "test.csv", "text,label\na,1\n")
    assert len(Table(root=str(tmp_path)).load().test) == 1


# ------------------------------------------------------------------------------ real data (optional)


def real(folder: str):
    return pytest.mark.skipif(not (SHARED / folder).is_dir(), reason=f"{SHARED / folder} not present")


@real("babi/en")
def test_real_babi_en():
    one = Babi(root=str(SHARED / "babi/en"), tasks=1).load()
    assert (len(one.train), len(one.val), len(one.test)) == (900, 100, 1000)
    every = Babi(root=str(SHARED / "babi/en")).load()
    assert (len(every.train), len(every.val), len(every.test)) == (18000, 2000, 20000)
    assert {ex.group for ex in every.test} == {f"qa{n}" for n in range(1, 21)}
    assert all(i < len(ex.context) for ex in every.train for i in ex.supporting)


@real("babi/en-10k")
def test_real_babi_en_10k_reports_missing_qa3():
    root = SHARED / "babi/en-10k"
    if (root / "qa3_three-supporting-facts_train.txt").is_file():
        pytest.skip("qa3 train file has been added")
    with pytest.raises(TextclfError, match=r"task 3 \(three-supporting-facts\): qa3_three-supporting-facts_train\.txt.*data\.tasks=\[1,2,4,5,"):
        Babi(root=str(root)).load()
    one = Babi(root=str(root), tasks=[1]).load()
    assert (len(one.train), len(one.val), len(one.test)) == (9000, 1000, 1000)


@real("sst")
def test_real_sst():
    binary = SST(root=str(SHARED / "sst")).load()
    assert (len(binary.train), len(binary.val), len(binary.test)) == (6920, 872, 1821)
    assert Counter(ex.label for ex in binary.train) == {"negative": 3310, "positive": 3610}
    fine = SST(root=str(SHARED / "sst"), variant="fine").load()
    assert (len(fine.train), len(fine.val), len(fine.test)) == (8544, 1101, 2210)
    assert Counter(ex.label for ex in fine.test)["very positive"] == 399


@real("mr")
def test_real_mr():
    splits = MR(root=str(SHARED / "mr")).load()
    everything = splits.train + splits.val + splits.test
    assert len(everything) == 10662
    assert Counter(ex.label for ex in everything) == {"negative": 5331, "positive": 5331}
    assert (len(splits.val), len(splits.test)) == (1066, 1066)


@real("subj")
def test_real_subj():
    splits = SUBJ(root=str(SHARED / "subj")).load()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (8000, 1000, 1000)
    assert Counter(ex.label for ex in splits.test) == {"subjective": 500, "objective": 500}


@real("trec")
def test_real_trec():
    splits = TREC(root=str(SHARED / "trec")).load()
    assert len(splits.train) + len(splits.val) == 5452 and len(splits.test) == 500
    assert Counter(ex.label for ex in splits.train + splits.val) == {
        "ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896,
    }
    assert Counter(ex.label for ex in splits.test)["NUM"] == 113


def test_babi_1k_folder_is_marked_comparable_to_the_paper(tmp_path):
    from textclf.data.babi import Babi

    story = "1 Mary went to the kitchen.\n2 Where is Mary? \tkitchen\t1\n"
    for folder in ("en", "en-10k"):
        (tmp_path / folder).mkdir()
        for split in ("train", "test"):
            (tmp_path / folder / f"qa1_single-supporting-fact_{split}.txt").write_text(story * 10)
    assert Babi(root=str(tmp_path / "en"), tasks=1).load().reference == "babi1k"
    assert Babi(root=str(tmp_path / "en-10k"), tasks=1).load().reference is None


def test_missing_labels_are_refused_or_dropped_and_counted(tmp_path, caplog):
    rows = ["text,label", "good one,pos", "bad one,neg", "what,NA", "who,null", "how,NaN", "why,None", "where,", "fine,pos"]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("text,label\nok,pos\nno,neg\n")
    (tmp_path / "train.jsonl").write_text("")  # not read: train_file names the CSV
    with pytest.raises(TextclfError, match=r"train\.csv:4: the label in column 'label' is the missing value 'NA', not a class.*data.missing_labels=drop"):
        Table(root=str(tmp_path), train_file="train.csv", test_file="test.csv", val_fraction=0.2).load()
    with caplog.at_level("WARNING"):
        splits = Table(root=str(tmp_path), train_file="train.csv", test_file="test.csv", val_fraction=0.2, missing_labels="drop").load()
    assert sorted(ex.text for ex in splits.train + splits.val) == ["bad one", "fine", "good one"]
    assert splits.labels() == ["neg", "pos"]
    assert "dropped 5 of 8 rows whose label is missing" in caplog.text
    (tmp_path / "tags.jsonl").write_text('{"text": "a", "label": ["x"]}\n{"text": "b", "label": null}\n{"text": "c", "label": []}\n')
    with pytest.raises(TextclfError, match=r"tags\.jsonl:2: the label .* is empty, not a class"):
        Table(root=str(tmp_path), train_file="tags.jsonl", test_file="tags.jsonl", multi_label=True).load()
