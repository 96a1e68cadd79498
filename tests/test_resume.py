"""Resuming after `kill -9`: the resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from textclf.core.errors import TextclfError
from textclf.inference.checkpoint import load_checkpoint
from textclf.training.trainer import train

from conftest import compose_train

EPOCHS = 20


def command(babi_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    # Dropout and word dropout are on (the defaults), so the random streams must be restored too.
    return [
        sys.executable, "-m", "textclf", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]",
        "embedding.dim=16", "model=bilstm", "model.encoder.hidden_size=16", "trainer.batch_size=8",
        f"trainer.max_epochs={EPOCHS}", "trainer.patience=null", "trainer.deterministic=true",
        "trainer.num_threads=1", "trainer.progress=false", "trainer.tensorboard=false",
        f"hydra.run.dir={run_dir}", "trainer.resume=true", *extra,
    ]


def finished_epochs(run_dir: Path) -> int:
    try:
        return len((run_dir / "metrics.csv").read_text().strip().splitlines()) - 1
    except FileNotFoundError:
        return 0


def run_to_end(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_uninterrupted_result(babi_dir, tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    run_to_end(command(babi_dir, reference), tmp_path)

    proc = subprocess.Popen(command(babi_dir, interrupted), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while finished_epochs(interrupted) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # wherever it is: mid-step, mid-validation or mid-checkpoint
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed; raise EPOCHS"
    killed_at = load_checkpoint(interrupted / "last.pt")["epoch"]
    assert 2 <= killed_at < EPOCHS  # the kill may land between the epoch-3 metrics row and its last.pt
    assert not (interrupted / "results.json").exists()

    run_to_end(command(babi_dir, interrupted), tmp_path)  # the very same command
    assert f"resuming from {interrupted / 'last.pt'} after epoch {killed_at}" in (interrupted / "train.log").read_text()

    want = json.loads((reference / "results.json").read_text())
    got = json.loads((interrupted / "results.json").read_text())
    for key in ("val_acc", "val_loss", "test_acc", "test_loss", "epochs", "best_epoch", "per_task"):
        assert got[key] == want[key], key
    columns = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    history_want = pd.read_csv(reference / "metrics.csv")[columns]
    history_got = pd.read_csv(interrupted / "metrics.csv")[columns]
    pd.testing.assert_frame_equal(history_got, history_want)  # every epoch once, same numbers


def tiny(table_dir, *extra):
    return compose_train([
        "data=table", f"data.root={table_dir}", "embedding.dim=16", "model=bilstm", "model.encoder.hidden_size=16",
        "trainer.progress=false", "trainer.tensorboard=false", "trainer.patience=null", *extra,
    ])


@pytest.mark.slow  # trains several runs: the full suite's
def test_ckpt_path_continues_another_folder_and_may_extend_training(table_dir, tmp_path):
    first = train(tiny(table_dir, "trainer.max_epochs=2"), tmp_path / "first")
    assert first["epochs"] == 2
    more = train(tiny(table_dir, "trainer.max_epochs=4", f"ckpt_path={tmp_path / 'first' / 'last.pt'}"), tmp_path / "more")
    assert more["epochs"] == 4
    assert list(pd.read_csv(tmp_path / "more" / "metrics.csv")["epoch"]) == [1, 2, 3, 4]
    assert list(pd.read_csv(tmp_path / "first" / "metrics.csv")["epoch"]) == [1, 2]  # the source run is left alone
    assert load_checkpoint(tmp_path / "more" / "last.pt")["epoch"] == 4


@pytest.mark.slow  # trains several runs: the full suite's
def test_resume_refuses_a_checkpoint_of_another_model(table_dir, tmp_path):
    train(tiny(table_dir, "trainer.max_epochs=1"), tmp_path / "first")
    last = tmp_path / "first" / "last.pt"
    with pytest.raises(TextclfError, match="other embedding settings.*only trainer"):
        train(tiny(table_dir, "embedding.dim=8", f"ckpt_path={last}"), tmp_path / "other")
    with pytest.raises(TextclfError, match="weights only.*cannot resume"):
        train(tiny(table_dir, f"ckpt_path={tmp_path / 'first' / 'best.pt'}"), tmp_path / "other")
    with pytest.raises(TextclfError, match="no such checkpoint"):
        train(tiny(table_dir, f"ckpt_path={tmp_path / 'nowhere.pt'}"), tmp_path / "other")


def test_a_checkpoint_saved_before_sgd_asked_for_foreach_still_resumes(table_dir, tmp_path):
    """foreach picks how SGD computes the same update, so it may differ; the learning rate may not."""
    from omegaconf import OmegaConf

    from textclf.inference.checkpoint import save_checkpoint

    train(tiny(table_dir, "optimizer=sgd", "trainer.max_epochs=1"), tmp_path / "first")
    last = tmp_path / "first" / "last.pt"
    checkpoint = load_checkpoint(last)
    stored = OmegaConf.create(checkpoint["config"])
    assert stored.optimizer.foreach is True
    del stored.optimizer["foreach"]  # as written by the code before the key existed
    checkpoint["config"] = OmegaConf.to_yaml(stored)  # checkpoints keep their config as YAML text
    save_checkpoint(last, checkpoint)
    more = train(tiny(table_dir, "optimizer=sgd", "trainer.max_epochs=2", f"ckpt_path={last}"), tmp_path / "more")
    assert more["epochs"] == 2
    with pytest.raises(TextclfError, match="other optimizer settings"):
        train(tiny(table_dir, "optimizer=sgd", "optimizer.lr=0.5", "trainer.max_epochs=2", f"ckpt_path={last}"), tmp_path / "lr")


def test_resume_without_a_checkpoint_starts_from_scratch(table_dir, tmp_path):
    results = train(tiny(table_dir, "trainer.max_epochs=1", "trainer.resume=true"), tmp_path)
    assert results["epochs"] == 1


@pytest.mark.slow  # trains several runs: the full suite's
@pytest.mark.parametrize("cap", [1, 3])
def test_memn2n_linear_start_carries_over_a_resume(babi_dir, tmp_path, cap):
    # A run stopped after epoch 2 comes back linear (cap 3) or not (cap 1) as it was, and switches
    # at the same epoch as the run never stopped; a lost state would re-enter linear start, or
    # reset the early-stopping record on the switch, and change the history.
    def memn2n(*extra):
        return compose_train([
            "model=memn2n", "data=babi", f"data.root={babi_dir}", "data.tasks=[1,6]", "embedding.dim=16",
            "model.linear_start_patience=10", f"model.linear_start_max_epochs={cap}", "trainer.patience=null",
            "trainer.progress=false", "trainer.tensorboard=false", *extra,
        ])

    whole = train(memn2n("trainer.max_epochs=5"), tmp_path / "whole")
    train(memn2n("trainer.max_epochs=2"), tmp_path / "part")
    resumed = train(memn2n("trainer.max_epochs=5", f"ckpt_path={tmp_path / 'part' / 'last.pt'}"), tmp_path / "resumed")
    columns = ["epoch", "linear_start", "train_loss", "val_loss", "val_acc"]
    history = pd.read_csv(tmp_path / "resumed" / "metrics.csv")[columns]
    pd.testing.assert_frame_equal(history, pd.read_csv(tmp_path / "whole" / "metrics.csv")[columns])
    assert list(history["linear_start"]) == [1] * cap + [0] * (5 - cap)
    assert resumed["test_loss"] == whole["test_loss"]


def test_an_early_stopped_run_can_be_extended_with_more_patience(table_dir, tmp_path):
    stopped = train(tiny(table_dir, "optimizer.lr=1e-30", "trainer.max_epochs=10", "trainer.patience=1"), tmp_path / "a")
    assert stopped["epochs"] == 2  # lr 1e-30 (too small to move a float32 weight): nothing improves after epoch 1
    more = train(tiny(table_dir, "trainer.max_epochs=4", "optimizer.lr=1e-30", f"ckpt_path={tmp_path / 'a' / 'last.pt'}"), tmp_path / "b")
    assert more["epochs"] == 4  # patience is now null (tiny's default): the early stop no longer holds


def test_a_kill_between_last_and_best_checkpoint_is_repaired(table_dir, tmp_path):
    from textclf.inference.checkpoint import save_checkpoint

    train(tiny(table_dir, "trainer.max_epochs=1"), tmp_path / "one")
    run = tmp_path / "run"
    train(tiny(table_dir, "trainer.max_epochs=2"), run)
    last = load_checkpoint(run / "last.pt")
    last["training_state"]["early_stopping"]["best_epoch"] = 2  # epoch 2 improved ...
    save_checkpoint(run / "last.pt", last)
    (run / "best.pt").write_bytes((tmp_path / "one" / "best.pt").read_bytes())  # ... but its best.pt was never written
    results = train(tiny(table_dir, "trainer.max_epochs=2", "trainer.resume=true"), run)
    assert load_checkpoint(run / "best.pt")["epoch"] == 2
    assert results["best_epoch"] == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.slow
def test_a_signal_ends_the_run_cleanly_and_it_resumes(babi_dir, tmp_path, signum):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(command(babi_dir, run_dir), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while finished_epochs(run_dir) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, output[-3000:]  # non-zero: the run did not finish
    stopped_at = load_checkpoint(run_dir / "last.pt")["epoch"]  # a whole, loadable checkpoint
    assert 1 <= stopped_at < EPOCHS
    name = signal.Signals(signum).name
    assert f"training stopped by {name}; {run_dir / 'last.pt'} holds epoch {stopped_at}" in output
    assert f"trainer.resume=true hydra.run.dir={run_dir}" in output
    assert "Traceback" not in output
    assert not (run_dir / ".textclf-run.pid").exists()  # the folder was released

    run_to_end(command(babi_dir, run_dir), tmp_path)  # the command already has trainer.resume=true
    assert json.loads((run_dir / "results.json").read_text())["epochs"] == EPOCHS


def test_keys_added_since_a_run_was_saved_compare_as_the_value_it_used():
    from omegaconf import OmegaConf

    from textclf.training.resume import _comparable

    old = OmegaConf.create({"tokenizer": {"lowercase": True}, "model": {"encoder": {"hidden_size": 8}}})
    new = OmegaConf.create({"tokenizer": {"lowercase": True, "kind": "word"}, "model": {"encoder": {"hidden_size": 8, "cell": "lstm"}}})
    assert _comparable(old, "tokenizer") == _comparable(new, "tokenizer") and _comparable(old, "model") == _comparable(new, "model")
    new.tokenizer.kind, new.model.encoder.cell = "bpe", "gru"
    assert _comparable(old, "tokenizer") != _comparable(new, "tokenizer") and _comparable(old, "model") != _comparable(new, "model")


def test_a_signal_during_a_checkpoint_write_waits_for_the_write():
    from textclf.training.signals import Interrupted, held, stop_on_signals

    written = []
    with pytest.raises(Interrupted, match="SIGTERM"), stop_on_signals():
        with held():
            os.kill(os.getpid(), signal.SIGTERM)  # arrives here, in the middle of the "write"
            written.append("checkpoint")  # still runs: the signal is held back
        written.append("next epoch")  # never runs: the held signal is raised as the block ends
    assert written == ["checkpoint"]


@pytest.mark.slow  # trains several runs: the full suite's
def test_resume_on_changed_data_is_refused_naming_the_file(table_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.csv", "test.csv"):
        (data / name).write_bytes((table_dir / name).read_bytes())
    run = tmp_path / "run"
    train(tiny(data, "trainer.max_epochs=1"), run)
    rows = (data / "train.csv").read_text().splitlines()
    swapped = [rows[0]] + [line.replace(",pos", ",NEG").replace(",neg", ",pos").replace(",NEG", ",neg") for line in rows[1:]]
    (data / "train.csv").write_text("\n".join(swapped) + "\n")  # the same words, other labels: the same vocabulary
    with pytest.raises(TextclfError, match=r"differ from those .*last.pt was trained on: train.csv \(changed\).*trainer.allow_changed_data=true"):
        train(tiny(data, "trainer.max_epochs=2", "trainer.resume=true"), run)
    assert train(tiny(data, "trainer.max_epochs=2", "trainer.resume=true", "trainer.allow_changed_data=true"), run)["epochs"] == 2
