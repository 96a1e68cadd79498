"""Multi-label classification: label sets read from tables and bAbI task 8, sigmoid outputs with
per-label thresholds, multi-label metrics, and evaluate / predict / export on such a model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from textclf.commands.evaluate import evaluate
from textclf.commands.predict import predict
from textclf.core.errors import TextclfError
from textclf.data.babi import Babi
from textclf.data.example import Example
from textclf.data.generated import GeneratedBabi
from textclf.data.table import Table
from textclf.inference.checkpoint import load_checkpoint
from textclf.inference.loader import load_members, load_model
from textclf.models.task import Task, tune_thresholds
from textclf.training.trainer import train

from conftest import compose_train

TAGS = ["finance", "food", "sports", "weather"]


def tags_config(tags_dir, *extra):
    return compose_train([
        "data=table", f"data.root={tags_dir}", "data.train_file=train.jsonl", "task=multi_label",
        "embedding.dim=16", "model=bilstm", "model.encoder.hidden_size=16", "trainer.max_epochs=8",
        "trainer.batch_size=16", "optimizer.lr=0.01", "trainer.progress=false", "trainer.tensorboard=false",
        "trainer.num_threads=1", *extra,
    ])


# Its own run, not conftest's shared tiny one: a model that has learned the tags, thresholds tuned.
@pytest.fixture(scope="module")
def tags_run(tags_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tags_run")
    return run_dir, train(tags_config(tags_dir, "task.threshold=tuned"), run_dir)


def test_a_multi_label_model_learns_a_tag_set(tags_run):
    run_dir, results = tags_run
    assert results["test_micro_f1"] >= 0.9
    assert 0 <= results["test_hamming_loss"] < 0.05 and results["test_acc"] > 0.7  # acc: exact sets
    assert sorted(results["thresholds"]) != [0.5] * 4  # tuned on validation ...
    assert load_checkpoint(run_dir / "best.pt")["thresholds"] == list(results["thresholds"].values())  # ... and stored
    report = (run_dir / "report" / "classification_report.txt").read_text()
    assert all(tag in report for tag in TAGS) and "micro avg" in report
    assert (run_dir / "report" / "label_scores.png").stat().st_size > 0
    assert not (run_dir / "report" / "confusion_matrix.png").exists()
    rows = (run_dir / "report" / "predictions.csv").read_text().splitlines()
    assert any("(none)" in row for row in rows[1:])  # texts without a topic have the empty set


def test_evaluate_and_predict_use_the_stored_thresholds(tags_run, tmp_path):
    run_dir, results = tags_run
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("eval", overrides=[f"ckpt_path={run_dir}", "device=cpu", "split=test"])
    scored = evaluate(cfg, tmp_path / "eval")
    assert scored["micro_f1"] == pytest.approx(results["test_micro_f1"])
    texts = ["the team scored a goal while the stock market fell", "a film and a story", "pizza in the rain"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    request = OmegaConf.create({"ckpt_path": str(run_dir), "input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out.jsonl"),
                                "top_k": 2, "batch_size": 2, "device": "cpu"})
    assert predict(request, tmp_path) == 3
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["labels"] for row in rows[:2]] == [["finance", "sports"], []]
    assert {"food", "weather"} <= set(rows[2]["labels"])
    assert all(sorted(row["probabilities"]) == TAGS for row in rows)
    thresholds = results["thresholds"]
    for row in rows:  # a label is in the set exactly when its probability reaches its threshold
        assert row["labels"] == [t for t in TAGS if row["probabilities"][t] >= thresholds[t] - 1e-6]


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_the_python_api_gives_label_sets_and_the_predict_commands_probabilities(tags_run, tmp_path, runtime):
    from textclf import Classifier

    run_dir, results = tags_run
    texts = ["the team scored a goal while the stock market fell", "a film and a story"]
    clf = Classifier.load(run_dir, runtime=runtime)
    assert clf.multi_label and clf.labels == TAGS and clf.metadata()["multi_label"]
    assert clf.predict(texts) == [["finance", "sports"], []]
    prob = clf.predict_proba(texts)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    request = OmegaConf.create({"ckpt_path": str(run_dir), "input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out.jsonl"),
                                "top_k": 1, "batch_size": 8, "device": "cpu"})
    predict(request, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert np.allclose(prob, [[row["probabilities"][t] for t in TAGS] for row in rows], atol=1e-5)  # sigmoids, not a softmax
    assert clf.example_records([Example(texts[0], "")], top_k=1)[0]["labels"] == ["finance", "sports"]


def test_export_describes_sigmoid_outputs_and_ensembles_are_refused(tags_run, tmp_path):
    from textclf.commands.export import describe
    from textclf.models.exportable import exportable

    run_dir, results = tags_run
    loaded = load_model(run_dir)
    metadata = describe("torchscript", exportable(loaded.model), loaded)
    assert metadata["multi_label"] is True and "sigmoid" in metadata["output"]
    assert metadata["thresholds"] == list(results["thresholds"].values())
    with pytest.raises(TextclfError, match="multi-label model, and averaging"):
        load_members([str(run_dir / "best.pt")] * 2, "cpu")


def test_label_cells_split_into_sets(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,sports|finance\nb,\nc, food | food |\n")
    (tmp_path / "test.jsonl").write_text('{"text": "d", "label": ["x", "y"]}\n{"text": "e", "label": []}\n')
    splits = Table(root=str(tmp_path), test_file="test.jsonl", multi_label=True, val_fraction=0.34).load()
    assert splits.multi_label
    assert sorted(ex.label for ex in splits.train + splits.val) == [(), ("finance", "sports"), ("food",)]
    assert [ex.label for ex in splits.test] == [("x", "y"), ()]
    semicolons = Table(root=str(tmp_path), test_file="test.jsonl", multi_label=True, label_separator=";").read(tmp_path / "train.csv")
    assert semicolons[0].label == ("sports|finance",)


def test_a_file_whose_label_cell_is_empty_everywhere_is_refused(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,\nb,\n")
    with pytest.raises(TextclfError, match="the label column 'label' is empty in every row"):
        Table(root=str(tmp_path), multi_label=True).read(tmp_path / "train.csv")


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1", "high"])
def test_a_threshold_outside_zero_to_one_is_refused(tags_dir, tmp_path, value):
    with pytest.raises(TextclfError, match="task.threshold must be a number > 0 and < 1, or tuned, got"):
        train(tags_config(tags_dir, f"task.threshold={value}"), tmp_path)


def test_babi_task_8_answers_are_label_sets(tmp_path):
    source = GeneratedBabi(root=str(tmp_path), tasks=[8], n_train=120, n_test=40, multi_label=True)
    splits = source.load()
    labels = [ex.label for ex in splits.train]
    assert splits.multi_label and all(isinstance(label, tuple) for label in labels)
    assert () in labels and any(len(label) > 1 for label in labels)  # "nothing" and "a,b"
    assert all(label == tuple(sorted(label)) for label in labels)
    with pytest.raises(TextclfError, match="task\\(s\\) 19 \\(path-finding\\) answer with ordered paths"):
        Babi(root=str(tmp_path), tasks=[8, 19], multi_label=True).load()


def test_babi_task_8_trains_multi_label_with_memn2n(tmp_path):
    cfg = compose_train([
        "model=memn2n", "data=babi_gen", f"data.root={tmp_path / 'data'}", "data.tasks=[8]", "data.n_train=200",
        "data.n_test=50", "task=multi_label", "embedding.dim=16", "trainer.max_epochs=2",
        "trainer.progress=false", "trainer.tensorboard=false", "trainer.num_threads=1",
    ])
    results = train(cfg, tmp_path / "run")
    assert set(results["per_task"]) == {"8"} and "test_micro_f1" in results
    gold = (tmp_path / "run" / "report" / "predictions.csv").read_text()
    assert "(none)" in gold  # "nothing" is the empty set


def test_tuned_thresholds_separate_the_scores():
    prob = np.array([[0.9, 0.2], [0.35, 0.1], [0.3, 0.6], [0.1, 0.05]])
    gold = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    first, second = tune_thresholds(prob, gold)
    assert 0.3 < first <= 0.35  # just below the lowest positive, above the highest negative
    assert second == 0.5  # never gold: kept at the default
    decided = Task(True, (first, second)).decide(prob)
    assert decided[:, 0].tolist() == [1, 1, 0, 0]


def as_saved_before_the_task_group(payload) -> None:
    """The layout of checkpoints written before conf/task/ and data.charset: the task's settings under
    data.multi_label and trainer.*, the charset under data.encoding, and no thresholds in last.pt."""
    cfg = OmegaConf.create(payload["config"])
    task = cfg.pop("task")
    cfg.data.multi_label = task.multi_label
    cfg.data.encoding = cfg.data.pop("charset")
    cfg.trainer.threshold, cfg.trainer.class_weights, cfg.trainer.sampler = task.threshold, task.class_weights, task.sampler
    payload["config"] = OmegaConf.to_yaml(cfg)
    args = payload["data_source"]["args"]
    args["encoding"] = args.pop("charset")
    args["multi_label"] = True


def test_a_checkpoint_with_the_old_key_names_evaluates_and_resumes_as_before(tags_run, tmp_path):
    from textclf.training.resume import load_resume_checkpoint

    run_dir, results = tags_run
    old = tmp_path / "old"
    old.mkdir()
    for name in ("best.pt", "last.pt"):
        payload = load_checkpoint(run_dir / name)
        as_saved_before_the_task_group(payload)
        torch.save(payload, old / name)
    loaded = load_model(old / "best.pt")
    assert loaded.encoding.multi_label and loaded.config.data.charset == "utf-8" and loaded.config.task.threshold == "tuned"
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("eval", overrides=[f"ckpt_path={old / 'best.pt'}", "device=cpu", "split=test"])
    assert evaluate(cfg, tmp_path / "eval")["micro_f1"] == pytest.approx(results["test_micro_f1"])
    current = load_checkpoint(run_dir / "last.pt")
    # Resuming compares the stored config with today's command: the moved keys are read where they are now.
    assert load_resume_checkpoint(old / "last.pt", current["config"], current["tokenizer"])["epoch"] == current["epoch"]
    single = OmegaConf.create(current["config"])
    single.task.multi_label = False
    with pytest.raises(TextclfError, match="other task.multi_label settings"):
        load_resume_checkpoint(old / "last.pt", OmegaConf.to_yaml(single), current["tokenizer"])


def test_multi_label_is_refused_for_data_with_one_label_per_text(tmp_path):
    with pytest.raises(TextclfError, match="task=multi_label: SST data has one label per text"):
        train(compose_train(["data=sst2", "task=multi_label", f"data.root={tmp_path}"]), tmp_path / "run")


def test_old_checkpoints_load_as_single_label(tiny_run, tmp_path):
    checkpoint = load_checkpoint(tiny_run("textrnn") / "best.pt")  # a single-label model (conftest.py)
    del checkpoint["encoding"]["multi_label"]  # as written before multi-label existed
    import torch

    torch.save(checkpoint, tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    assert not loaded.encoding.multi_label and loaded.task == Task()


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_multi_label(tags_dir, tmp_path):
    import subprocess
    import sys

    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "textclf", "trainer=ddp",
        "data=table", f"data.root={tags_dir}", "data.train_file=train.jsonl", "task=multi_label", "embedding.dim=16",
        "model=bilstm", "model.encoder.hidden_size=16", "trainer.max_epochs=8", "trainer.batch_size=16", "optimizer.lr=0.01",
        "trainer.progress=false", "trainer.num_threads=1", "task.threshold=tuned", f"hydra.run.dir={tmp_path / 'run'}",
    ]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["world_size"] == 2 and results["test_micro_f1"] >= 0.9


def test_training_data_without_any_label_is_refused():
    from textclf.data.checks import check_training_data
    from textclf.data.encoding import encode_examples
    from textclf.data.vocab import Vocab

    examples = [Example("a text", ()), Example("another", ())]
    encoded = encode_examples(examples, Vocab.fit(["a text another"]), ["x"], [], 16, multi_label=True)
    with pytest.raises(TextclfError, match="no training example has a label"):
        check_training_data(examples, ["x"], encoded, "DATA")


def test_a_single_label_model_refuses_data_read_as_label_sets():
    from textclf.data.encoding import encode_examples
    from textclf.data.vocab import Vocab

    examples = [Example("a text", ("x",))]
    with pytest.raises(TextclfError, match=r"trained single-label .* read it as one label per text \(task=single_label\)"):
        encode_examples(examples, Vocab.fit(["a text"]), ["x"], [], 16)


@pytest.mark.slow
def test_the_server_and_its_page_show_label_sets(tags_run, tmp_path):
    import re
    import shutil
    import signal
    import subprocess

    import httpx

    from textclf.serving.process import start_server

    pytest.importorskip("fastapi")
    run_dir, _ = tags_run
    proc, url = start_server(run_dir / "best.pt", tmp_path / "serve", {}, timeout=60, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        text = "the team scored a goal while the stock market fell"
        answer = httpx.post(f"{url}/predict", json={"texts": [text]}).json()["predictions"][0]
        assert answer["labels"] == ["finance", "sports"] and sorted(answer["probabilities"]) == TAGS
        if shutil.which("chromium"):  # the page renders the set (marked) and every label's bar
            dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'browser'}",
                                  "--virtual-time-budget=10000", "--dump-dom", f"{url}/?text={text.replace(' ', '+')}"],
                                 capture_output=True, text=True, timeout=90).stdout
            names = re.findall(r'<span class="name">([^<]*)</span>', dom)
            assert sorted(name for name in names if name.startswith("\u2713 ")) == ["\u2713 finance", "\u2713 sports"], dom[-2000:]
            assert len(names) == len(TAGS)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_training_accuracy_decides_at_the_thresholds_validation_uses():
    import torch

    logits = torch.logit(torch.tensor([[0.4, 0.1]]))  # label 0 at p = 0.4, label 1 at p = 0.1
    gold = torch.tensor([[1.0, 0.0]])
    assert not Task(multi_label=True).hits(logits, gold).item()  # 0.4 < 0.5: label 0 is missed
    assert Task(multi_label=True, thresholds=(0.3, 0.3)).hits(logits, gold).item()  # task.threshold=0.3: the set is right
    assert Task(multi_label=True, thresholds=(0.3, 0.3)).decide(torch.sigmoid(logits).numpy()).tolist() == [[1, 0]]
