"""The streaming data path (data/streaming.py): a table read in passes into a cache of held-out rows,
a sample, a vocabulary and token shards, trained from without holding its rows in memory."""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from textclf.core.config_history import current_data_args
from textclf.core.errors import TextclfError
from textclf.data.pipeline import prepare
from textclf.data.streaming import CACHE, streamed_split, streamed_tokens
from textclf.data.table import Table
from textclf.inference.checkpoint import load_checkpoint
from textclf.training.resume import refuse_other_streaming
from textclf.training.trainer import train

from conftest import QUIET, compose_train, sentiment_rows


def write_table(folder: Path, train_rows: int, test_rows: int = 200) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, count, seed in (("train", train_rows, 0), ("test", test_rows, 1)):
        with open(folder / f"{name}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(sentiment_rows(count, seed))
    return folder


class CountingTable(Table):
    """A table that counts the rows it reads from its files: how a test sees that a cache was used."""

    read_rows: int = 0

    def stream(self, path):
        for example in super().stream(path):
            CountingTable.read_rows += 1
            yield example


def test_the_split_holds_out_a_seeded_bounded_share_and_keeps_every_other_row_for_training(tmp_path):
    root = write_table(tmp_path / "data", 2000)
    everything = Table(root=str(root), streaming=False, val_file="train.csv").load().val  # the training file, read whole
    split = streamed_split(Table(root=str(root), streaming=True))
    splits = split.splits(Table(root=str(root), streaming=True))
    kept = list(split.training_rows(Table(root=str(root), streaming=True)))
    assert len(kept) == split.rows and len(kept) + len(splits.val) == len(everything) == 2000
    assert 150 <= len(splits.val) <= 250  # val_fraction 0.1, one draw a row
    assert sorted(ex.text for ex in kept + splits.val) == sorted(ex.text for ex in everything)
    assert split.label_counts == {label: sum(ex.label == label for ex in kept) for label in ("neg", "pos")}
    assert splits.train == kept  # under SAMPLE_ROWS rows: the sample is every training row, in file order
    capped = streamed_split(Table(root=str(root), streaming=True, val_max_rows=50))
    assert 25 <= len(capped.splits(Table(root=str(root), streaming=True)).val) <= 80  # about val_max_rows, not a tenth
    other_seed = Table(root=str(root), streaming=True, seed=1)
    assert streamed_split(other_seed).splits(other_seed).val != splits.val


def test_the_sample_is_drawn_from_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr("textclf.data.streaming.SAMPLE_ROWS", 100)
    root = write_table(tmp_path / "data", 3000)
    table = Table(root=str(root), streaming=True)
    split = streamed_split(table)
    sample = split.splits(table).train
    position = {ex.text: i for i, ex in enumerate(split.training_rows(table))}
    rows = sorted(position[ex.text] for ex in sample)
    assert len(sample) == 100 and rows[-1] > 2000 and rows[0] < 1000  # not the first 100 rows: reservoir sampling


def test_the_cache_is_read_again_and_built_afresh_when_the_file_or_a_setting_changes(tmp_path):
    root = write_table(tmp_path / "data", 500)

    def tokens(table: Table, **tokenizer):
        split = streamed_split(table)
        return split, streamed_tokens(split, table, tokenizer, None, ["neg", "pos"])

    CountingTable.read_rows = 0
    split, (vocab, shards) = tokens(CountingTable(root=str(root), streaming=True))
    assert CountingTable.read_rows == 3 * 500  # three passes: split, vocabulary, shards
    again, (vocab_again, shards_again) = tokens(CountingTable(root=str(root), streaming=True))
    assert CountingTable.read_rows == 3 * 500 and again == split  # nothing read: all from the cache
    assert vocab_again.to_json() == vocab.to_json() and (shards_again.labels == shards.labels).all()
    tokens(CountingTable(root=str(root), streaming=True), lowercase=False)  # another tokenizer: the same split, new shards
    assert CountingTable.read_rows == 5 * 500 and len(list(split.folder.glob("tokens-*/meta.json"))) == 2
    tokens(CountingTable(root=str(root), streaming=True, seed=3))  # another hold-out: a split of its own
    assert CountingTable.read_rows == 8 * 500
    with open(root / "train.csv", "a") as fh:  # the file changed
        fh.write("a new good row,pos\n")
    changed, (_, grown) = tokens(CountingTable(root=str(root), streaming=True))
    assert CountingTable.read_rows == 8 * 500 + 3 * 501 and changed.folder != split.folder
    assert len(grown) + len(changed.splits(Table(root=str(root), streaming=True)).val) == 501


def test_an_interrupted_build_is_built_again(tmp_path):
    root = write_table(tmp_path / "data", 300)
    table = Table(root=str(root), streaming=True)
    split = streamed_split(table)
    (split.folder / "meta.json").unlink()  # killed before its last file
    stale = split.folder.parent / f"{split.folder.name}.building-999999"  # a partial folder of a process killed mid-build
    stale.mkdir()
    (stale / "tokens.bin").write_bytes(b"\0" * 1024)
    rebuilt = streamed_split(table)
    assert rebuilt == split and (split.folder / "meta.json").is_file()
    assert not list(split.folder.parent.glob("*.building-*"))  # cleared: it would otherwise hold its disk for good


def test_a_file_that_changes_between_the_passes_is_refused_before_validation_rows_reach_training(tmp_path):
    root = write_table(tmp_path / "data", 300)
    table = Table(root=str(root), streaming=True)
    split = streamed_split(table)  # pass 1: rows held out by their place in the file
    with open(root / "train.csv", "a") as fh:
        fh.write("a new good row,pos\n")
    with pytest.raises(TextclfError, match=r"train.csv changed while it was being streamed.*Run again"):
        streamed_tokens(split, table, {}, None, ["neg", "pos"])
    assert not [path for path in split.folder.glob("tokens-*") if path.is_dir()]  # no shards of the changed file, whole or half


def test_the_cached_split_follows_the_label_names_file(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    rows = sentiment_rows(300, 0)
    for name, part in (("train", rows), ("test", rows[:50])):
        with open(root / f"{name}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([["text", "label"], *[[text, ["neg", "pos"].index(label)] for text, label in part]])

    def val_rows(names: str) -> list[tuple[str, str]]:
        (root / "classes.txt").write_text(names)
        table = Table(root=str(root), streaming=True, label_names="classes.txt")
        return [(ex.text, ex.label) for ex in streamed_split(table).splits(table).val]

    before, after = val_rows("neg\npos\n"), val_rows("pos\nneg\n")  # the ids now mean the other class
    assert before and after == [(text, {"neg": "pos", "pos": "neg"}[label]) for text, label in before]


def test_a_run_resumes_only_on_its_table_read_the_same_way(tmp_path):
    root, run = write_table(tmp_path / "data", 300), tmp_path / "run"
    common = [*QUIET, "data=table", f"data.root={root}", "model=fasttext", "embedding.dim=8", "model/ngrams=none", "trainer.resume=true"]
    train(compose_train([*common, "data.streaming=auto", "data.streaming_above_mb=0", "trainer.max_epochs=1"]), run)
    assert load_checkpoint(run / "last.pt")["data_source"]["args"]["streaming"] is True  # what auto chose, for evaluate and resume
    with pytest.raises(TextclfError, match=r"trained on the table streamed, and this command reads it into memory.*data.streaming=true"):
        train(compose_train([*common, "data.streaming=false", "trainer.max_epochs=2"]), run)
    train(compose_train([*common, "data.streaming=true", "trainer.max_epochs=2"]), run)
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2  # resumed: epoch 2 after epoch 1


def test_a_checkpoint_from_before_streaming_reads_its_table_into_memory_again():
    assert current_data_args("table", {"root": "x"})["streaming"] is False  # evaluate: as it was trained
    assert current_data_args("table", {"streaming": True})["streaming"] is True
    assert "streaming" not in current_data_args("sst2", {})
    old, ckpt = {"name": "table", "args": {}}, Path("old/last.pt")
    refuse_other_streaming(ckpt, old, {"name": "table", "args": {"streaming": False}})
    with pytest.raises(TextclfError, match=r"read into memory, and this command streams it.*Resume with data.streaming=false"):
        refuse_other_streaming(ckpt, old, {"name": "table", "args": {"streaming": True}})
    refuse_other_streaming(ckpt, {"name": "table", "args": {"streaming": "auto"}}, {"name": "table", "args": {"streaming": True}})


def test_a_cache_that_cannot_be_written_says_where_and_what_to_do(tmp_path):
    root = write_table(tmp_path / "data", 300)
    (root / CACHE).write_text("a file where the cache folder goes")
    with pytest.raises(TextclfError, match=r"cannot write the streamed table's cache in .*textclf-shards.*Free space there or make it writable"):
        streamed_split(Table(root=str(root), streaming=True))


def test_auto_streams_a_large_file_and_reads_a_small_one_into_memory(tmp_path):
    root = write_table(tmp_path / "data", 300)
    size = (root / "train.csv").stat().st_size / 2**20
    assert Table(root=str(root), streaming="auto", streaming_above_mb=size / 2).streams()
    assert not Table(root=str(root), streaming="auto", streaming_above_mb=size * 2).streams()
    assert not Table(root=str(root), streaming=False, streaming_above_mb=0).streams()
    assert not list(root.glob(f"{CACHE}/*"))  # deciding reads nothing


def test_what_a_streamed_table_cannot_do_is_refused_by_name_or_read_into_memory_with_auto(tmp_path, caplog):
    root = write_table(tmp_path / "data", 300)
    with pytest.raises(TextclfError, match=r"data.streaming=true cannot stream this table with task=multi_label and data.weight_column.*"
                                           r"set data.streaming=false"):
        Table(root=str(root), streaming=True, multi_label=True, weight_column="w").streams()
    assert not Table(root=str(root), streaming="auto", streaming_above_mb=0, weight_column="w").streams()
    assert "is read into memory: data.weight_column cannot stream" in caplog.text
    with pytest.raises(TextclfError, match=r"a memory encoder \(model=memn2n\) reads stories.*data.streaming=false"):
        prepare(Table(root=str(root), streaming=True), with_memory=True)


def test_a_streamed_table_refuses_the_balanced_sampler_and_language_model_pretraining(tmp_path):
    root = write_table(tmp_path / "data", 300)
    common = [*QUIET, "data=table", f"data.root={root}", "data.streaming=true", "model=fasttext", "embedding.dim=8", "baseline=none"]
    with pytest.raises(TextclfError, match=r"task.sampler=balanced draws rows from anywhere.*task.class_weights=balanced instead"):
        train(compose_train([*common, "task.sampler=balanced"]), tmp_path / "balanced")
    with pytest.raises(TextclfError, match=r"pretrain=lm reads the training texts in memory.*data.streaming=false"):
        train(compose_train([*common, "model=bilstm", "model.encoder.hidden_size=8", "pretrain=lm"]), tmp_path / "lm")


def test_prepared_streamed_data_holds_all_training_rows_in_shards_and_a_sample_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr("textclf.data.streaming.SAMPLE_ROWS", 50)
    root = write_table(tmp_path / "data", 400)
    data = prepare(Table(root=str(root), streaming=True))
    assert data.train_rows == len(data.shards) == len(data.train_labels) > 300
    assert len(data.splits.train) == len(data.encoded["train"]) == 50
    rows = streamed_split(Table(root=str(root))).training_rows(Table(root=str(root)))
    assert data.train_labels.tolist() == [data.labels.index(ex.label) for ex in rows]
    assert data.labels == ["neg", "pos"] and "streamed" in data.splits.description


@pytest.mark.slow
def test_a_streamed_run_learns_as_the_in_memory_run_does_and_evaluates_its_own_validation_rows(tmp_path, caplog):
    root = write_table(tmp_path / "data", 3000, 500)
    common = [*QUIET, "data=table", f"data.root={root}", "model=fasttext", "embedding.dim=16", "model/ngrams=none", "trainer.max_epochs=3"]
    caplog.set_level(logging.INFO, logger="textclf.train")
    streamed = train(compose_train([*common, "data.streaming=true"]), tmp_path / "streamed")
    assert "experiment=fasttext_large (batches of 1024" in caplog.text  # the faster recipe, named where it pays
    in_memory = train(compose_train([*common, "data.streaming=false"]), tmp_path / "in_memory")
    assert streamed["test_acc"] > 0.9 and abs(streamed["test_acc"] - in_memory["test_acc"]) < 0.05
    assert streamed["baseline_test_acc"] > 0.9  # fitted on the sample
    from textclf.commands.evaluate import evaluate

    cfg = compose_eval(tmp_path / "streamed" / "best.pt")
    assert evaluate(cfg, tmp_path / "eval")["acc"] == pytest.approx(streamed["val_acc"])
    evaluate(compose_eval(tmp_path / "streamed" / "best.pt", "train"), tmp_path / "eval_train")
    assert "split=train scores the 2," in caplog.text  # the sample, said so: not every training row


def compose_eval(ckpt: Path, split: str = "val"):
    from hydra import compose, initialize_config_module

    with initialize_config_module("textclf.conf", version_base="1.3"):
        return compose("eval", overrides=[f"ckpt_path={ckpt}", f"split={split}"])


CAPPED = textwrap.dedent('''
    import resource, sys
    import textclf.data.streaming as streaming
    from textclf.training.trainer import train_from_overrides

    streaming.SAMPLE_ROWS = 1000  # a table a test can afford is then many times the sample held in memory
    in_use = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmData"))
    cap = in_use + int(sys.argv[3]) * 2**20  # the process as it is now, imports and all, and this much more
    resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    try:
        results = train_from_overrides(["data=table", f"data.root={sys.argv[1]}", f"data.streaming={sys.argv[2]}", "data.val_max_rows=500",
                                        "model=fasttext", "model/ngrams=none", "embedding.dim=16", "trainer.batch_size=256",
                                        "trainer.max_epochs=1", "trainer.num_threads=1", "trainer.progress=false",
                                        "trainer.tensorboard=false", "baseline=none"], sys.argv[4])
        print("trained", results["test_acc"])
    except MemoryError:
        print("out of memory")
''')


@pytest.mark.slow
def test_a_table_too_large_for_the_memory_cap_still_trains_when_streamed(tmp_path):
    """Under a cap on the process's memory (RLIMIT_DATA), 40,000 rows of 150 words: read into memory
    they pass the cap; streamed they train."""
    words = [f"w{i}" for i in range(3000)]
    root = tmp_path / "big"
    root.mkdir()
    rng = random.Random(0)
    for name, count in (("train", 40_000), ("test", 300)):
        with open(root / f"{name}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            for _ in range(count):
                label = rng.choice(["pos", "neg"])
                row = rng.choices(words, k=150)
                row[rng.randrange(150)] = "good" if label == "pos" else "bad"
                writer.writerow([" ".join(row), label])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def run(streaming: str) -> str:
        done = subprocess.run([sys.executable, "-c", CAPPED, str(root), streaming, "550", str(tmp_path / f"run_{streaming}")],
                              capture_output=True, text=True, env=env, timeout=600)
        return done.stdout + done.stderr

    streamed = run("true")
    assert "trained" in streamed, streamed[-2000:]
    in_memory = run("false")
    # Python's MemoryError, torch's allocator or the tokenizer's (Rust aborts the process): each says so.
    assert "trained" not in in_memory and re.search(r"out of memory|Cannot allocate memory|memory allocation of \d+ bytes failed", in_memory), in_memory[-2000:]
    assert json.loads((tmp_path / "run_true" / "results.json").read_text())["test_acc"] > 0.9


@pytest.mark.slow
def test_torchrun_ranks_train_one_run_from_their_own_shards(tmp_path):
    """Two processes build the cache once between them (the file lock) and each trains from its own
    blocks of the shards, taking equal steps (a rank left waiting would hang the run)."""
    root = write_table(tmp_path / "data", 1500, 300)
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "textclf", "trainer=ddp", "data=table", f"data.root={root}", "data.streaming=true", "embedding.dim=16", "model=fasttext",
        "model/ngrams=none", "trainer.max_epochs=6", "trainer.batch_size=16", "trainer.progress=false", "trainer.num_threads=1",
        f"hydra.run.dir={run_dir}",
    ]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2 and results["test_acc"] > 0.85 and "streamed" in results["data"]
    assert len(list((root / CACHE).glob("*/meta.json"))) == 1 and len(list((root / CACHE).glob("*/tokens-*/meta.json"))) == 1


def test_a_split_that_holds_out_no_row_says_how_to_get_validation_rows(tmp_path):
    root = write_table(tmp_path / "data", 50)
    with pytest.raises(TextclfError, match=r"train.csv: no row was held out for validation \(data.val_fraction=0.0001\); raise data.val_fraction "
                                           r"or give a validation file \(data.val_file=FILE\)"):
        streamed_split(Table(root=str(root), streaming=True, val_fraction=0.0001))
    assert [path.suffix for path in (root / CACHE).iterdir()] == [".lock"]  # nothing half-made is left behind


def test_a_streamed_table_with_one_class_is_refused_before_it_is_tokenized(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "train.csv").write_text("text,label\n" + "".join(f"text number {i},pos\n" for i in range(200)))
    (root / "test.csv").write_text("text,label\nanother,pos\n")
    with pytest.raises(TextclfError, match=r"every training example has the label 'pos', so there is nothing to tell apart"):
        prepare(Table(root=str(root), streaming=True))
    assert not list((root / CACHE).glob("*/tokens-*"))  # the vocabulary and shard passes never ran
