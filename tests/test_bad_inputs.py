"""The catalogue of bad inputs (docs/bad_inputs.md), and the odd inputs that must keep working.

Every bad input ends in one message that names the problem and the fix: `TextclfError` in the
library, ``textclf: error: ...`` and exit status 2 on the command line (Hydra's own config errors:
its message and status 1), never a traceback, and nothing already written is touched. Entries
tested elsewhere are listed in the catalogue with their test; this file has the rest, a handful
of real command-line runs, and a check that every test the catalogue names exists.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from textclf.commands.evaluate import evaluate
from textclf.commands.predict import predict
from textclf.core.errors import MissingDataError, TextclfError, exit_on_user_error, misspelt_key_hint
from textclf.data.babi import parse_babi
from textclf.data.encoding import MemoryLayout, encode_examples
from textclf.data.example import Example
from textclf.data.imdb import IMDB
from textclf.data.mr import MR
from textclf.data.pipeline import build_source, training_texts
from textclf.data.sst import SST
from textclf.data.subj import SUBJ
from textclf.data.table import Table
from textclf.data.vectors import read_vectors
from textclf.data.vocab import Vocab
from textclf.inference.checkpoint import find_checkpoints, load_checkpoint, save_checkpoint
from textclf.inference.loader import load_model
from textclf.training.trainer import train

from conftest import compose_train, sentiment_rows
from test_readers import babi_lines, write

REPO = Path(__file__).resolve().parents[1]
# Labels with spaces, accents and a character outside the Basic Multilingual Plane.
LABELS = {"pos": "très bien", "neg": "ganz schlecht 😞"}


def write_table(folder: Path, name: str, rows: list[tuple[str, str]], delimiter: str = ",") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return folder / name


def fingerprint(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def model_run(tmp_path_factory) -> Path:
    """A tiny trained run (checkpoints, metrics, report) whose labels have spaces and non-ASCII."""
    data = tmp_path_factory.mktemp("odd_labels")
    for name, n, seed in (("train.csv", 80, 0), ("test.csv", 24, 1)):
        write_table(data, name, [(text, LABELS[label]) for text, label in sentiment_rows(n, seed)])
    run_dir = tmp_path_factory.mktemp("model_run")
    train(compose_train([
        "data=table", f"data.root={data}", "model=textrnn", "embedding.dim=8", "model.encoder.hidden_size=8",
        "trainer.max_epochs=2", "trainer.batch_size=16", "optimizer.lr=0.01",
        "trainer.progress=false", "trainer.tensorboard=false",
    ]), run_dir)
    return run_dir


def eval_request(ckpt: Path, **extra):
    return OmegaConf.create({"ckpt_path": str(ckpt), "split": "test", "batch_size": 64, "device": "cpu", "data": None, **extra})


def predict_request(ckpt: Path, source, output, **extra):
    return OmegaConf.create({"ckpt_path": str(ckpt), "input": str(source), "output": str(output), "top_k": 2,
                             "batch_size": 8, "device": "cpu", **extra})


# ------------------------------------------------------------------------------- the command line


def cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` as a user would: no debug variables, so no tracebacks asked for."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "TEXTCLF_DEBUG")}
    return subprocess.run([sys.executable, "-m", module, *args, "hydra.run.dir=cli_run"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_one_message(result: subprocess.CompletedProcess, pattern: str) -> None:
    """Exit status 2, no traceback, and exactly one ``textclf: error:`` line matching ``pattern``."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("textclf: error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert re.search(pattern, errors[0]), errors[0]


@pytest.mark.slow
def test_cli_unknown_data_name_lists_the_options(tmp_path):
    result = cli("textclf", "data=sst", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Could not find 'data/sst'" in result.stderr
    assert re.search(r"Available options in 'data':(\s+\w+)*\s+sst2\s", result.stderr)  # the fix is in the list


@pytest.mark.slow
def test_cli_misspelt_override_gets_a_did_you_mean_hint(model_run, tmp_path):
    result = cli("textclf.evaluate", f"ckpt_path={model_run / 'best.pt'}", "batch_sise=4", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Could not override 'batch_sise'" in result.stderr  # Hydra's own message first
    assert "textclf: hint: there is no setting batch_sise; did you mean batch_size=4?" in result.stderr


@pytest.mark.slow
def test_cli_evaluate_zero_batch_size(model_run, tmp_path):
    result = cli("textclf.evaluate", f"ckpt_path={model_run / 'best.pt'}", "batch_size=0", cwd=tmp_path)
    assert_one_message(result, r"batch_size must be a positive integer, got 0")


@pytest.mark.slow
def test_cli_truncated_checkpoint(model_run, tmp_path):
    data = (model_run / "best.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    result = cli("textclf.evaluate", f"ckpt_path={tmp_path / 'cut.pt'}", cwd=tmp_path)
    assert_one_message(result, r"cut\.pt is not a readable checkpoint \(truncated or corrupt.*last\.pt beside it\) or retrain")


@pytest.mark.slow
def test_cli_predict_given_a_list_of_checkpoints(model_run, tmp_path):
    result = cli("textclf.predict", f"ckpt_path=[{model_run / 'best.pt'},{model_run / 'last.pt'}]", "input=-", cwd=tmp_path)
    assert_one_message(result, r"ckpt_path must be one checkpoint file here, got \[.*Only textclf\.evaluate takes a list")


@pytest.mark.slow
def test_cli_predict_empty_input(model_run, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = cli("textclf.predict", f"ckpt_path={model_run / 'best.pt'}", f"input={tmp_path / 'empty.txt'}", cwd=tmp_path)
    assert_one_message(result, r"empty\.txt: no input to predict \(the input is empty\)\. Give one text per line\.")


@pytest.mark.slow
def test_cli_non_utf8_predict_input_leaves_the_run_folder_untouched(model_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(model_run, run)
    (run / "predictions.jsonl").write_text('{"text": "an earlier prediction"}\n')  # output of an earlier call
    before = fingerprint(run)
    (tmp_path / "latin1.txt").write_bytes("a lovely film\nun café très bon\n".encode("latin-1"))
    result = cli("textclf.predict", f"ckpt_path={run / 'best.pt'}", f"input={tmp_path / 'latin1.txt'}",
                 f"output={run / 'predictions.jsonl'}", cwd=tmp_path)
    assert_one_message(result, r"latin1\.txt: not valid UTF-8 text \(line 2, byte 7: invalid continuation byte\); convert it to UTF-8")
    assert fingerprint(run) == before  # best.pt, last.pt, report/ and the earlier predictions alike


# ------------------------------------------------------------------------------ data: folders, files


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda root: MR(root=root), r"MR: data folder .*nowhere does not exist.*rt-polarity\.neg"),
        (lambda root: SUBJ(root=root), r"SUBJ: data folder .*nowhere does not exist.*subj\.subjective"),
        (lambda root: Table(root=root), r"Table: data folder .*nowhere does not exist.*train\.csv, test\.csv"),
        (lambda root: IMDB(root=root), r"IMDB: no reviews in train/neg, train/pos, test/neg, test/pos under .*nowhere"),
    ],
    ids=["mr", "subj", "table", "imdb"],
)
def test_missing_data_folder(tmp_path, make, pattern):
    with pytest.raises(MissingDataError, match=pattern + r".*data\.root=DIR"):
        make(str(tmp_path / "nowhere")).load()


def test_evaluate_says_how_to_point_it_at_the_data(model_run, tmp_path):
    # On the checkpoint's own dataset the override needs a +; after data=NAME it does not.
    with pytest.raises(MissingDataError, match=r"data folder .*moved does not exist.*write it \+data\.root=DIR"):
        evaluate(eval_request(model_run / "best.pt", data={"root": str(tmp_path / "moved")}), tmp_path / "eval")
    chosen = {"_target_": "textclf.data.table.Table", "root": str(tmp_path / "moved")}
    with pytest.raises(MissingDataError) as info:
        evaluate(eval_request(model_run / "best.pt", data=chosen), tmp_path / "eval")
    assert "+data.root" not in str(info.value)


def test_tsv_with_the_wrong_columns(tmp_path):
    write(tmp_path, "train.tsv", "review\tstars\ngood\t5\n")
    write(tmp_path, "test.tsv", "review\tstars\nbad\t1\n")
    with pytest.raises(TextclfError, match=r"train\.tsv: no column 'text', 'label'\. Columns found: review, stars; "
                                           r"expected: text, label\. Set data\.text_column=NAME and data\.label_column=NAME"):
        Table(root=str(tmp_path), train_file="train.tsv", test_file="test.tsv").load()


@pytest.mark.parametrize(
    ("files", "pattern"),
    [
        ({"class.txt": "体育\n体育\n"}, r"class\.txt: a class name appears twice"),
        ({"dev.txt": "\n\n"}, r"dev\.txt: no examples; expected 'text<TAB>label-id' lines"),
    ],
    ids=["duplicate-class", "empty-split"],
)
def test_class_folder_malformed(tmp_path, files, pattern):  # other class-folder errors: test_chinese.py
    layout = {"class.txt": "体育\n财经\n", "train.txt": "比赛\t0\n", "dev.txt": "股票\t1\n", "test.txt": "球\t0\n", **files}
    for name, text in layout.items():
        write(tmp_path, name, text)
    with pytest.raises(TextclfError, match=pattern):
        Table(root=str(tmp_path)).load()


@pytest.mark.parametrize(("reader", "where"), [("babi", "line 1, byte 23"), ("class-folder", "line 1, byte 4"), ("imdb", "line 1, byte 6")])
def test_non_utf8_bytes_name_the_file_and_line(tmp_path, reader, where):
    latin1 = "caf\xe9".encode("latin-1")
    if reader == "babi":
        path = write(tmp_path, "qa1_x_train.txt", b"1 Mary went to the " + latin1 + b".\n2 Where is Mary?\tcafe\t1\n")
        load = lambda: parse_babi(path, "qa1")  # noqa: E731
    elif reader == "class-folder":
        for name in ("class.txt", "dev.txt", "test.txt"):
            write(tmp_path, name, "a\tb\n" if name == "class.txt" else "x\t0\n")
        path = write(tmp_path, "train.txt", latin1 + b"\t0\n")
        load = lambda: Table(root=str(tmp_path)).load()  # noqa: E731
    else:
        for split in ("train", "test"):
            for sub in ("pos", "neg"):
                write(tmp_path, f"{split}/{sub}/0_1.txt", "fine")
        path = write(tmp_path, "train/pos/1_9.txt", b"a " + latin1 + b" review")
        load = lambda: IMDB(root=str(tmp_path)).load()  # noqa: E731
    with pytest.raises(TextclfError, match=re.escape(str(path)) + rf": not valid (utf-8|UTF-8) text \({where}: invalid"):
        load()


def test_val_fraction_out_of_range(tmp_path):
    write(tmp_path, "train.csv", "text,label\na,1\nb,0\n")
    write(tmp_path, "test.csv", "text,label\na,1\n")
    with pytest.raises(TextclfError, match=r"data\.val_fraction must be between 0 and 1 \(exclusive\), got 0"):
        Table(root=str(tmp_path), val_fraction=0).load()


@pytest.mark.parametrize(
    ("max_tokens", "memory", "pattern"),
    [
        (0, None, r"data\.max_tokens must be a positive integer, got 0"),
        ("abc", None, r"data\.max_tokens must be a positive integer, got 'abc'"),
        (64, MemoryLayout(max_memories=0, window=6), r"data\.max_memories must be a positive integer, got 0"),
        (64, MemoryLayout(max_memories=50, window=-1), r"data\.memory_window must be a positive integer, got -1"),
    ],
)
def test_length_limits_below_one(max_tokens, memory, pattern):
    examples = [Example("where is mary ?", "kitchen", ("mary went to the kitchen .",))]
    vocab = Vocab.fit(training_texts(examples))
    with pytest.raises(TextclfError, match=pattern):
        encode_examples(examples, vocab, ["kitchen"], [], max_tokens, memory=memory)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"_target_": "textclf.data.table.Table", "root": "x", "colum": "text"},
         r"cannot set up data textclf\.data\.table\.Table: .*unexpected keyword argument 'colum'\. Check the data\.\* settings"),
        ({"_target_": "textclf.data.nope.Table", "root": "x"},
         r"cannot set up data textclf\.data\.nope\.Table: .*No module named 'textclf\.data\.nope'"),
    ],
    ids=["unknown-key", "bad-target"],
)
def test_data_config_the_dataset_does_not_take(data, pattern):
    with pytest.raises(TextclfError, match=pattern):
        build_source(OmegaConf.create(data))


# ------------------------------------------------------------------------------- pretrained vectors


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("cut.npz", b"PK\x03\x04 cut off", r"cut\.npz: not a readable vectors file \(BadZipFile"),
        ("cut.txt.gz", gzip.compress("".join(f"w{i} {i} 1 2\n" for i in range(2000)).encode())[:3000],
         r"cut\.txt\.gz: not a readable vectors file \(EOFError: Compressed file ended"),
        ("empty.txt", b"", r"empty\.txt: the file holds no vectors\. Expected one 'word v1 \.\.\. v3' line"),
        ("nan.txt", b"good 1 two 3\n", r"nan\.txt:1: a value is not a number"),
    ],
)
def test_unreadable_vectors_file(tmp_path, name, content, pattern):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(TextclfError, match=pattern):
        read_vectors(tmp_path / name, Vocab.fit(["the good film"]), 3)


def test_npz_vectors_without_the_expected_arrays(tmp_path):
    np.savez(tmp_path / "v.npz", matrix=np.zeros((2, 3)))
    with pytest.raises(TextclfError, match=r"v\.npz: an \.npz of vectors needs arrays 'vectors' \[N, d\] and 'words' \[N\]; it has \['matrix'\]"):
        read_vectors(tmp_path / "v.npz", Vocab.fit(["the good film"]), 3)


# ------------------------------------------------------------------------------------- checkpoints


def resave(model_run: Path, path: Path, **changes) -> Path:
    """A copy of the run's best.pt with some entries replaced, written the way training writes."""
    payload = {k: v for k, v in load_checkpoint(model_run / "best.pt").items()
               if k not in ("format", "format_version", "textclf_version")}
    save_checkpoint(path, {**payload, **changes})
    return path


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"is empty \(0 bytes\): the write that made it never finished"),
        (b"this is not a checkpoint\n", r"is not a readable checkpoint \(truncated or corrupt"),
    ],
    ids=["empty", "text"],
)
def test_checkpoint_file_that_is_not_one(tmp_path, content, pattern):
    (tmp_path / "best.pt").write_bytes(content)
    with pytest.raises(TextclfError, match=pattern):
        load_checkpoint(tmp_path / "best.pt")


def test_checkpoint_with_another_vocabulary_size(model_run, tmp_path):
    other = Vocab.fit(["a tokenizer from another run with other words"])
    path = resave(model_run, tmp_path / "mixed.pt", tokenizer=other.to_json())
    with pytest.raises(TextclfError, match=r"mixed\.pt: the weights do not fit the model its config describes "
                                           r"\(size mismatch for .*\)\. The file was edited or mixes two runs"):
        load_model(path)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"config": "model: {name: textrnn}\n"}, r"lacks model\.encoder\._target_, embedding\._target_, data\._target_"),
        ({"config": "model: [unclosed\n"}, r"the training config stored in the checkpoint is not valid YAML"),
        ({"labels": "pos,neg"}, r"is damaged: labels is a str \(.*labels: list"),
    ],
    ids=["config-lacks-model", "config-not-yaml", "labels-not-a-list"],
)
def test_checkpoint_with_damaged_contents(model_run, tmp_path, changes, pattern):
    path = resave(model_run, tmp_path / "damaged.pt", **changes)
    with pytest.raises(TextclfError, match=pattern):
        load_model(path)


# -------------------------------------------------------------------------------- evaluate, predict


def test_evaluation_label_training_never_saw_leaves_the_run_untouched(model_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(model_run, run)
    before = fingerprint(run)
    data = tmp_path / "new_data"
    write_table(data, "train.csv", [("good film", LABELS["pos"]), ("bad film", LABELS["neg"])])
    write_table(data, "test.csv", [("a film", "neutre"), ("good", LABELS["pos"])])
    # Writing into the run's own report folder is the worst case: a failed evaluation must not
    # have replaced any of the report files already there.
    with pytest.raises(TextclfError, match=r"the test split has label\(s\) 'neutre' that the model was not trained on "
                                           r"\(it knows 2: 'ganz schlecht 😞', 'très bien'\)\. Evaluate on data with the same label set"):
        evaluate(eval_request(run / "best.pt", data={"root": str(data)}), run / "report")
    assert fingerprint(run) == before


def test_evaluate_unknown_split(model_run, tmp_path):
    with pytest.raises(TextclfError, match=r"split must be one of train, val, test, got 'dev'"):
        evaluate(eval_request(model_run / "best.pt", split="dev"), tmp_path)


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        ({"top_k": 0}, r"top_k must be a positive integer, got 0"),
        ({"batch_size": -1}, r"batch_size must be a positive integer, got -1"),
        ({"batch_size": "abc"}, r"batch_size must be a positive integer, got 'abc'"),
    ],
)
def test_predict_settings_below_one(model_run, tmp_path, extra, pattern):
    (tmp_path / "in.txt").write_text("good\n")
    with pytest.raises(TextclfError, match=pattern):
        predict(predict_request(model_run / "best.pt", tmp_path / "in.txt", tmp_path / "out.jsonl", **extra), tmp_path)


def test_predict_folder_for_input_or_output(model_run, tmp_path):
    (tmp_path / "in.txt").write_text("good\n")
    with pytest.raises(TextclfError, match=r"input file .* is a folder\. Pass input=FILE"):
        predict(predict_request(model_run / "best.pt", tmp_path, tmp_path / "out.jsonl"), tmp_path)
    with pytest.raises(TextclfError, match=r"output .* is a folder; pass output=FILE"):
        predict(predict_request(model_run / "best.pt", tmp_path / "in.txt", tmp_path), tmp_path)


def test_missing_mandatory_value(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.delenv("TEXTCLF_DEBUG", raising=False)
    command = exit_on_user_error(evaluate)  # what `python -m textclf.evaluate` runs, minus Hydra
    with pytest.raises(SystemExit) as info:
        command(eval_request(tmp_path / "best.pt", ckpt_path="???"), tmp_path)
    assert info.value.code == 2
    assert capsys.readouterr().err == "textclf: error: ckpt_path has no value; pass ckpt_path=VALUE on the command line.\n"


def test_debug_flag_keeps_the_traceback(monkeypatch, capsys):
    @exit_on_user_error
    def command():
        raise TextclfError("the problem. The fix.")

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.delenv("TEXTCLF_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        command()
    assert info.value.code == 2 and capsys.readouterr().err == "textclf: error: the problem. The fix.\n"
    monkeypatch.setenv("TEXTCLF_DEBUG", "1")
    with pytest.raises(TextclfError):  # re-raised as is: Python prints the traceback
        command()


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["trainer.max_epoch=3"], "did you mean trainer.max_epochs=3?"),
        (["data=sst2", "data.varient=fine"], "did you mean data.variant=fine?"),
        (["modle=rcnn"], "did you mean model=rcnn?"),
        # the n-gram branch's settings before the branch is chosen: how to choose it, not a near key
        (["model=bilstm", "model.ngrams.dim=64"], "model.ngrams has settings only once chosen: add model/ngrams=bigrams|none (conf/model/ngrams/) beside model.ngrams.dim=64."),
        (["model=nope"], None),  # Hydra already lists the options
        (["trainer.max_epochs=3"], None),  # nothing wrong
    ],
)
def test_misspelt_key_hint(args, hint):
    found = misspelt_key_hint("train", args)
    assert (found is None) if hint is None else (hint in found)


def test_a_key_added_with_plus_must_be_one_something_reads(table_dir):
    from textclf.core.config_rules import check_config

    from conftest import compose_train

    base = ["data=table", f"data.root={table_dir}", "model=bilstm"]
    with pytest.raises(TextclfError, match=r"trainer.max_epoch is not a setting textclf reads; did you mean trainer.max_epochs\?"):
        check_config(compose_train([*base, "+trainer.max_epoch=1"]))
    with pytest.raises(TextclfError, match=r"^colour is not a setting textclf reads\. Remove it"):
        check_config(compose_train([*base, "+colour=red"]))
    check_config(compose_train([*base, "+scheduler.milestones=[5,10]", "scheduler=step"]))  # a constructor's own argument: its call decides


# ------------------------------------------------------------------------------ odd but valid input


def test_empty_text_in_table_and_blank_lines_in_sst(tmp_path):
    write(tmp_path / "table", "train.csv", 'text,label\n"",a\nsome words,b\nmore,a\n')
    write(tmp_path / "table", "test.csv", 'text,label\n"",b\n')
    splits = Table(root=str(tmp_path / "table"), val_fraction=0.4).load()
    assert splits.test == [Example(text="", label="b")]
    vocab = Vocab.fit(training_texts(splits.train))
    encoded = encode_examples(splits.test, vocab, ["a", "b"], [], max_tokens=16)
    assert encoded.lengths.tolist() == [1] and encoded.tokens.tolist() == [[0]]  # one padding token
    for split in ("train", "dev", "test"):
        write(tmp_path / "sst", f"stsa.binary.{split}", "\n1 a fine film .\n\n   \n0 dull .\n")
    assert [ex.label for ex in SST(root=str(tmp_path / "sst")).load().test] == ["positive", "negative"]


@pytest.mark.parametrize("delimiter", [",", "\t"], ids=["csv", "tsv"])
def test_million_character_text_is_read_and_truncated(tmp_path, delimiter):
    huge = ("lovely film " * 90_000)[:1_000_000]
    suffix = ".csv" if delimiter == "," else ".tsv"
    write_table(tmp_path, "train" + suffix, [(huge, "a"), ("dull", "b"), ("fine", "a")], delimiter)
    write_table(tmp_path, "test" + suffix, [(huge, "a")], delimiter)
    splits = Table(root=str(tmp_path), train_file="train" + suffix, test_file="test" + suffix).load()
    assert len(splits.test[0].text) == 1_000_000
    vocab = Vocab.fit(["lovely film dull fine"])
    encoded = encode_examples(splits.test, vocab, ["a", "b"], [], max_tokens=32)
    assert tuple(encoded.tokens.shape) == (1, 32) and encoded.lengths.tolist() == [32]  # the cap, not 166 667 tokens


def test_ten_thousand_sentence_story_is_capped(tmp_path):
    lines, story_id, questions = [], 0, 0
    for i in range(1, 10_001):
        story_id += 1
        lines.append(f"{story_id} Person{i % 7} went to room{i}.")
        if i % 1000 == 0:  # a question after every 1000th sentence, the last one ending the story
            story_id += 1
            questions += 1
            lines.append(f"{story_id} Where is Person{i % 7}?\troom{i}\t{story_id - 1}")
    examples = parse_babi(write(tmp_path, "qa1_long_train.txt", babi_lines(*lines)), "qa1")
    assert len(examples) == questions == 10 and len(examples[-1].context) == 10_000
    vocab = Vocab.fit(training_texts(examples[:1]))
    encoded_strings = []
    real_encode = vocab.encode_many
    vocab.encode_many = lambda texts, max_tokens=None: encoded_strings.append(len(texts)) or real_encode(texts, max_tokens)
    labels = sorted({ex.label for ex in examples})
    encoded = encode_examples(examples, vocab, labels, [], max_tokens=64, memory=MemoryLayout(max_memories=50, window=6))
    assert encoded.memory.shape[:2] == (10, 50) and encoded.memory_lengths.tolist() == [50] * 10
    assert encoded.tokens.shape[1] <= 64
    last_statement = vocab.encode_many([examples[-1].context[-1]])[0]
    assert encoded.memory[-1, -1, : len(last_statement)].tolist() == last_statement  # the most recent one kept
    assert sum(encoded_strings[:2]) <= 10 + 10 * 64  # questions + at most 64 recent sentences each, not 55 000


def test_labels_with_spaces_and_non_ascii_round_trip(model_run, tmp_path):
    labels = sorted(LABELS.values())
    assert load_checkpoint(model_run / "best.pt")["labels"] == labels
    report = (model_run / "report" / "classification_report.txt").read_text(encoding="utf-8")
    assert all(label in report for label in labels)
    with open(model_run / "report" / "predictions.csv", encoding="utf-8", newline="") as fh:
        assert {row["gold"] for row in csv.DictReader(fh)} == set(labels)
    huge = "lovely " * 150_000
    (tmp_path / "in.txt").write_text(f"\nthe film was superb\n{huge}\n", encoding="utf-8")
    count = predict(predict_request(model_run / "best.pt", tmp_path / "in.txt", tmp_path / "out.jsonl"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert count == 3 and [row["text"] for row in rows] == ["", "the film was superb", huge]  # empty and huge lines too
    assert all(row["label"] in labels and {t["label"] for t in row["top_k"]} == set(labels) for row in rows)


# ------------------------------------------------------------------------------------ the catalogue


def test_every_catalogue_entry_names_a_test_that_exists():
    text = (REPO / "docs" / "bad_inputs.md").read_text(encoding="utf-8")
    bad_rows = re.findall(r"^\| B\d+ \|.*$", text, flags=re.M)
    valid_rows = re.findall(r"^\| V\d+ \|.*$", text, flags=re.M)
    assert len(bad_rows) >= 25 and len(valid_rows) >= 4
    for row in bad_rows + valid_rows:
        references = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)", row)
        assert references, f"no test named in: {row}"
        for path, name in references:
            assert re.search(rf"^def {name}\(", (REPO / path).read_text(encoding="utf-8"), flags=re.M), f"{path}::{name}"


def test_sweep_folders_list_their_runs_in_job_order_and_say_what_they_leave_out(tmp_path, caplog):
    for job in ("2", "10", "1", "3"):
        (tmp_path / job).mkdir()
        if job != "3":  # job 3 failed: no best.pt
            (tmp_path / job / "best.pt").write_bytes(b"")
    (tmp_path / ".hydra").mkdir()
    with caplog.at_level("WARNING", logger="textclf.inference.checkpoint"):
        found = find_checkpoints(tmp_path)
    assert [path.parent.name for path in found] == ["1", "2", "10"]
    assert "left out: 3" in caplog.text and ".hydra" not in caplog.text


def test_a_folder_without_checkpoints_or_a_pattern_without_matches_says_so(tmp_path):
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(TextclfError, match="no best.pt in it or in its subfolders"):
        find_checkpoints(tmp_path)
    with pytest.raises(TextclfError, match="matches no folder or .pt file"):
        find_checkpoints(tmp_path / "nothing*")
    with pytest.raises(TextclfError, match="matches 1 folder"):
        find_checkpoints(tmp_path / "empty_*")
    with pytest.raises(TextclfError, match="ckpt_path is empty"):
        find_checkpoints("")
    (tmp_path / "empty_run" / "last.pt").write_bytes(b"")
    with pytest.raises(TextclfError, match="It has a last.pt"):
        find_checkpoints(tmp_path / "empty_run")


def test_patterns_take_folders_and_pt_files_and_leave_out_failed_runs(tmp_path, caplog):
    for job in ("0", "1", "2"):
        (tmp_path / job).mkdir()
        if job != "1":
            (tmp_path / job / "best.pt").write_bytes(b"")
    (tmp_path / "0.log").write_text("a log beside the run folders\n")
    with caplog.at_level("WARNING", logger="textclf.inference.checkpoint"):
        found = find_checkpoints(tmp_path / "*")
    assert found == [tmp_path / "0" / "best.pt", tmp_path / "2" / "best.pt"]  # not the log, not the failed job
    assert "left out: 1" in caplog.text


def test_a_path_that_exists_is_not_read_as_a_pattern(tmp_path):
    run = tmp_path / "run[1]"
    run.mkdir()
    (run / "best.pt").write_bytes(b"")
    assert find_checkpoints(run) == [run / "best.pt"]
    assert find_checkpoints(run / "best.pt") == [run / "best.pt"]


def test_an_unfinished_restarts_run_is_not_averaged(tmp_path):
    for restart in (0, 1):
        (tmp_path / f"restart_{restart}").mkdir()
        (tmp_path / f"restart_{restart}" / "best.pt").write_bytes(b"")
    with pytest.raises(TextclfError, match="trainer.restarts run that has not finished"):
        find_checkpoints(tmp_path)
    (tmp_path / "best.pt").write_bytes(b"")  # finished: the chosen restart, copied up
    assert find_checkpoints(tmp_path) == [tmp_path / "best.pt"]


def test_a_write_the_disk_refuses_is_one_message_and_damages_nothing(tmp_path, capsys):
    import errno

    from textclf.core.atomic import atomic_write

    target = tmp_path / "results.json"
    target.write_text("the earlier run's\n")

    def full_disk(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(SystemExit) as refused:
        exit_on_user_error(atomic_write)(target, full_disk)
    message = capsys.readouterr().err
    assert refused.value.code == 2 and message.startswith(f"textclf: error: cannot write {target} (No space left on device); the disk is full")
    assert target.read_text() == "the earlier run's\n" and [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's /sys, a file system that takes no new files")
def test_an_output_where_nothing_can_be_written_is_one_message(model_run, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a fine film\n")
    cfg = OmegaConf.create({"ckpt_path": str(model_run), "input": str(tmp_path / "in.txt"), "output": "/sys/kernel/predictions.jsonl",
                            "top_k": 1, "batch_size": 4, "device": "cpu"})
    with pytest.raises(SystemExit):
        exit_on_user_error(predict)(cfg, tmp_path / "run")
    assert "cannot write /sys/kernel/predictions.jsonl (" in capsys.readouterr().err
