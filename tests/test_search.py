"""`python -m textclf hparams_search=NAME`: an Optuna study driven by textclf (experiments/search.py),
with pruning, a journal that outlives a killed search, and parallel trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from textclf.core.errors import TextclfError
from textclf.experiments.search import refuse_another_study
from textclf.experiments.search_space import SearchSpace, as_override

# A small study on generated stories: fastText trains a trial in about a second on one thread.
TINY = ["hparams_search=fasttext", "data=babi_gen", "data.root=babi_gen", "data.n_train=60", "data.n_test=30",
        "data.tasks=[1,6]", "trainer.progress=false", "trainer.tensorboard=false", "trainer.num_threads=1",
        "search.startup_trials=2", "search.warmup_epochs=0", "search.dir=study"]


def search(*args, cwd: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "textclf", *TINY, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def trials(folder: Path) -> list[optuna.trial.FrozenTrial]:
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    return optuna.load_study(study_name="fasttext", storage=storage).get_trials(deepcopy=False)


def finished(folder: Path) -> dict[int, float]:
    """Trial folders whose run ended (results.json, or pruned.json), with the file's time."""
    ends = {}
    for run in folder.iterdir():
        for name in ("results.json", "pruned.json"):
            if run.name.isdigit() and (run / name).is_file():
                ends[int(run.name)] = (run / name).stat().st_mtime_ns
    return ends


def test_the_space_reads_hydra_sweep_syntax():
    space = SearchSpace.parse({"optimizer.lr": "tag(log, interval(0.001, 0.1))", "embedding.dim": "choice(32, 64)",
                               "model.encoder.hidden_size": "range(16, 64, 16)", "trainer.patience": "int(interval(1, 5))",
                               "trainer.max_epochs": 7})
    assert space.distributions == {
        "optimizer.lr": FloatDistribution(0.001, 0.1, log=True),
        "embedding.dim": CategoricalDistribution([32, 64]),
        "model.encoder.hidden_size": IntDistribution(16, 48, step=16),
        "trainer.patience": IntDistribution(1, 5),
    }
    assert space.fixed == {"trainer.max_epochs": 7}
    assert space.overrides({"optimizer.lr": 0.0123, "embedding.dim": 64}) == ["trainer.max_epochs=7", "optimizer.lr=0.0123", "embedding.dim=64"]


@pytest.mark.parametrize("value", [0.1, 3, True, None, "word", "a b", "x=y", "[1,2]"])
def test_an_override_reads_back_as_the_value_it_was_made_from(value):
    parsed = OverridesParser.create().parse_override(f"key={as_override(value)}").value()
    assert parsed == value


@pytest.mark.parametrize("spec, message", [
    ("tag(log, interval(0, 1))", "a log interval needs a low end > 0"),
    ("choice(1,", "cannot read 'choice\\(1,'"),
])
def test_a_bad_space_is_refused_by_key(spec, message):
    with pytest.raises(TextclfError, match=f"search.params.optimizer.lr: {message}"):
        SearchSpace.parse({"optimizer.lr": spec})
    with pytest.raises(TextclfError, match="gives no setting to search"):
        SearchSpace.parse({"trainer.max_epochs": 3})


def test_a_study_folder_holds_one_study(tmp_path):
    refuse_another_study(tmp_path, ["data=trec"])
    refuse_another_study(tmp_path, ["data=trec"])  # the same settings: continued
    with pytest.raises(TextclfError, match=r"holds a study started with other settings \(data=trec\) than these \(data=sst2\)"):
        refuse_another_study(tmp_path, ["data=sst2"])


def test_old_sweeper_settings_name_their_new_key(capsys):
    from textclf.commands.search import main

    with pytest.raises(SystemExit) as stop:
        main(["hparams_search=fasttext", "hydra.sweeper.n_trials=3"])
    assert stop.value.code == 2
    assert "hydra.sweeper.n_trials is a setting of Hydra's Optuna sweeper; textclf runs searches itself: set search.n_trials" in capsys.readouterr().err


@pytest.mark.slow
def test_a_search_whose_trials_all_fail_stops_with_their_reason(tmp_path):
    command = [sys.executable, "-m", "textclf", "hparams_search=fasttext", "data=sst2", "data.root=nowhere", "search.n_trials=10", "search.dir=study"]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    output = proc.stderr
    assert proc.returncode == 2
    assert "the search stops: its first 3 trials failed, the last with: SST-2 (sentence level): data folder" in output
    assert sorted(p.name for p in (tmp_path / "study").glob("[0-9]*")) == ["0", "1", "2"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_search_continues_where_it_stopped(tmp_path):
    """SIGKILL mid-trial, then the same command: the study ends with its eight trials, some pruned,
    no finished trial trained again, and the interrupted one continued from its last.pt."""
    study = tmp_path / "study"
    proc = search("search.n_trials=8", "trainer.max_epochs=6", cwd=tmp_path, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        done = finished(study) if study.is_dir() else {}
        running = [run for run in study.glob("[0-9]*") if int(run.name) not in done and (run / "last.pt").is_file()] if done else []
        if len(done) >= 3 and running:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the search ended before it could be killed:\n" + proc.stdout.read()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = finished(study)
    interrupted = [t.number for t in trials(study) if t.state == TrialState.RUNNING]
    assert len(before) < 8

    again = search("search.n_trials=8", "trainer.max_epochs=6", cwd=tmp_path)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output[-3000:]
    states = [t.state for t in trials(study)]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 8 and len(states) == 8
    rates = [t.params["optimizer.lr"] for t in trials(study)]
    assert len(set(rates)) == 8  # the continued sampler does not propose the settings tried before the kill again
    assert states.count(TrialState.PRUNED) >= 1
    after = finished(study)
    assert all(after[number] == mtime for number, mtime in before.items())  # nothing finished was run again
    for number in interrupted:  # continued in its own folder, each epoch trained once
        epochs = pd.read_csv(study / str(number) / "metrics.csv")["epoch"].tolist()
        assert epochs == list(range(1, len(epochs) + 1))
        assert "continued" in output or "resuming from" in (study / str(number) / "train.log").read_text()
    summary = pd.read_csv(study / "summary.csv")
    assert len(summary) == 8 and summary["status"].str.startswith("pruned").sum() == states.count(TrialState.PRUNED)
    assert "train it again: python -m textclf model=fasttext data=babi_gen" in output
    search_log = (study / "search.log").read_text()
    assert search_log.count("trials ended") == 2 and search_log.count(": optimizer.lr=") >= 8  # both runs' lines, every trial


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_parallel_workers_run_exactly_the_trials_asked_for(tmp_path):
    proc = search("search.n_trials=5", "search.n_jobs=2", "trainer.max_epochs=2", cwd=tmp_path)
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output[-3000:]
    states = [t.state for t in trials(tmp_path / "study")]
    assert len(states) == 5 and all(state in (TrialState.COMPLETE, TrialState.PRUNED) for state in states)
    assert len({t.params["optimizer.lr"] for t in trials(tmp_path / "study")}) == 5  # the workers' samplers differ
    assert sorted(int(p.name) for p in (tmp_path / "study").glob("[0-9]*")) == [0, 1, 2, 3, 4]
