"""`python -m textclf hparams_search=NAME`: an Optuna study that textclf drives itself.

Each trial is a normal training run, composed from the command's overrides plus the trial's
settings (Hydra's compose API, as `textclf.train` composes) into a run folder of the study's
folder (``search.dir``: ``0/``, ``1/``, ...). After every epoch the trial reports its validation
figure (``optimized_metric``) to Optuna, which may prune it (median or Hyperband pruner); a
pruned trial keeps its folder, marked ``pruned.json``. The study lives in a storage, by default
``journal.log`` in the study's folder, so running the same command again continues it: trials
that had finished are kept, a trial the stop interrupted continues from its ``last.pt``, and only
the rest of ``search.n_trials`` is run. ``search.n_jobs=N`` runs N trials at a time, each worker a
process of its own taking trials from the shared storage. At the end: summary.csv / summary.md
(one row per trial, pruned ones marked) and the command that trains the best trial's settings.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import shlex
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import optuna
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf
from optuna.trial import Trial, TrialState

from textclf.core.errors import TextclfError
from textclf.core.guards import FolderLock
from textclf.experiments.search_space import SearchSpace
from textclf.reporting.report import write_json
from textclf.reporting.sweep_summary import write_summary
from textclf.training.stopping import monitored_metric
from textclf.training.trainer import StopRun, compose_train_config, train_from_overrides

log = logging.getLogger("textclf.search")

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
RECORD = "search.yaml"  # the overrides a study was started with


def run_search(overrides: list[str]) -> str:
    """Run (or continue) the study ``overrides`` describe; returns the lines to end with: the best
    trial, and the command that trains its settings on their own."""
    cfg = compose_train_config(overrides)
    settings = cfg.search
    folder = Path(str(settings.dir)).expanduser()
    base = [item for item in overrides if not item.startswith(("hydra.", "search."))]
    SearchSpace.parse(settings.params)  # a bad space is refused before anything is written
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # textclf logs each trial itself
    with FolderLock(folder, "the search", "search.dir"), search_log(folder):
        refuse_another_study(folder, base)
        study = open_study(settings, folder)
        interrupted = adopt_interrupted(study, settings)
        ended = len(study.get_trials(deepcopy=False)) - len(interrupted)
        log.info("study %s in %s: %d of %d trials ended, %d to run%s", settings.study_name, folder, ended,
                 settings.n_trials, max(settings.n_trials - ended, 0),
                 f" ({len(interrupted)} continued from where they stopped)" if interrupted else "")
        run_workers(base, settings, cfg.optimized_metric, folder, interrupted)
        frame = write_summary(folder, cfg.optimized_metric)
    return report_best(open_study(settings, folder), chosen_groups(cfg, base), settings, frame is not None)


@contextlib.contextmanager
def search_log(folder: Path) -> Iterator[None]:
    """The search's own lines (trials started, their ends, the best) in search.log in the study's
    folder too, across continuations; each trial's full log is its folder's train.log."""
    handler = logging.FileHandler(folder / "search.log")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def refuse_another_study(folder: Path, base: list[str]) -> None:
    """A study folder holds one study: continuing it with other settings would mix two searches."""
    record = folder / RECORD
    if record.is_file():
        started = list(OmegaConf.load(record).overrides)
        if started != base:
            raise TextclfError(
                f"{folder} holds a study started with other settings ({' '.join(started) or 'none'}) than these "
                f"({' '.join(base) or 'none'}). Continue it with the same command, or start another: search.study_name=NAME "
                "or search.dir=DIR."
            )
    else:
        record.write_text(OmegaConf.to_yaml({"overrides": base}))


def open_study(settings: DictConfig, folder: Path, worker: int = 0) -> optuna.Study:
    """The study, created or loaded, its sampler seeded by ``search.seed``, the trials it already has
    and the ``worker``'s number: a continued study or a second worker starting from the same seed
    would propose the very settings already tried."""
    study = optuna.create_study(
        study_name=settings.study_name, storage=storage(settings, folder), pruner=pruner(settings),
        direction=settings.direction, load_if_exists=True,
    )
    study.sampler = sampler(settings, settings.seed + len(study.get_trials(deepcopy=False)) + 100_003 * worker)
    return study


def storage(settings: DictConfig, folder: Path) -> optuna.storages.BaseStorage:
    """The journal file in the study's folder, or the RDB that ``search.storage`` names (with a
    heartbeat, so that a trial whose process died is failed rather than left running forever)."""
    if settings.storage is None:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    return optuna.storages.RDBStorage(str(settings.storage), heartbeat_interval=60, grace_period=180)


def sampler(settings: DictConfig, seed: int) -> optuna.samplers.BaseSampler:
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner(settings: DictConfig) -> optuna.pruners.BasePruner:
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_epochs)
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def adopt_interrupted(study: optuna.Study, settings: DictConfig) -> list[int]:
    """The trials a stopped search left running, to be continued. Only with the study's own journal:
    this command holds the study's folder, so no other process can be running them. With a shared
    RDB, trials of a dead process are failed by the heartbeat instead."""
    if settings.storage is not None:
        optuna.storages.fail_stale_trials(study)
        return []
    return [trial.number for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]


def run_workers(base: list[str], settings: DictConfig, metric: str, folder: Path, interrupted: list[int]) -> None:
    """One worker here, or ``search.n_jobs`` worker processes sharing the storage; the interrupted
    trials are shared out among them."""
    jobs, plain = settings.n_jobs, OmegaConf.to_container(settings, resolve=True)  # plain: it travels to the workers
    if jobs == 1:
        work(base, plain, metric, folder, interrupted, 0)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch threads or locks inherited
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(work, base, plain, metric, folder, interrupted[i::jobs], i) for i in range(jobs)]
        for future in futures:
            future.result()


def work(base: list[str], plain: dict[str, Any], metric: str, folder: Path, interrupted: list[int], worker: int) -> None:
    """A worker: continue its share of the interrupted trials, then ask for new ones until the study has
    its trials. Asking is serialised by a lock in the study's folder, so that N workers never start
    more trials than are left. ``base``: every trial's overrides; ``plain``: the search settings."""
    if not logging.getLogger().handlers:  # a spawned worker: log as the command does
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = OmegaConf.create(plain)
    study = open_study(settings, folder, worker)
    space = SearchSpace.parse(settings.params)
    for number in interrupted:
        trial = Trial(study, study.get_trials(deepcopy=False)[number]._trial_id)
        run_trial(study, trial, [*base, *space.overrides(trial.params), "trainer.resume=true"], folder, metric)
    while True:
        with FileLock(str(folder / "ask.lock")):
            if len(study.get_trials(deepcopy=False)) >= settings.n_trials:  # failed ones count: they ran
                return
            trial = study.ask(space.distributions)
        if not run_trial(study, trial, [*base, *space.overrides(trial.params)], folder, metric):
            refuse_failing_study(study, folder)


def refuse_failing_study(study: optuna.Study, folder: Path, first: int = 3) -> None:
    """Stop a study whose first trials all failed: a wrong data folder or setting fails every trial
    alike, and the search would otherwise spend its whole budget saying so."""
    trials = study.get_trials(deepcopy=False)
    if len(trials) >= first and all(trial.state == TrialState.FAIL for trial in trials):
        error = (folder / str(trials[-1].number) / "failed.json").read_text()
        raise TextclfError(
            f"the search stops: its first {len(trials)} trials failed, the last with: {json.loads(error)['error'].rstrip('.')}. "
            f"Fix that, then search again in a new study (delete {folder}, or give search.study_name=NEW)."
        )


def run_trial(study: optuna.Study, trial: Trial, overrides: list[str], folder: Path, metric: str) -> bool:
    """Train one trial into ``folder/<number>`` and tell Optuna how it ended; False if it failed."""
    run_dir = folder / str(trial.number)
    run_dir.mkdir(parents=True, exist_ok=True)  # its marker files go here even if the run fails before it starts
    reporter = EpochReporter(trial, metric)
    log.info("trial %d: %s", trial.number, " ".join(f"{k}={v}" for k, v in trial.params.items()))
    try:
        results = train_from_overrides(overrides, run_dir, on_epoch=reporter)
    except optuna.TrialPruned:
        write_json(run_dir / "pruned.json", {"epoch": reporter.epoch, reporter.metric: reporter.value})
        study.tell(trial, state=TrialState.PRUNED)
        log.info("trial %d pruned after epoch %d (%s %.4f)", trial.number, reporter.epoch, reporter.metric, reporter.value)
        return True
    except TextclfError as err:  # these settings cannot train (a bad combination): the study goes on
        write_json(run_dir / "failed.json", {"error": str(err), "overrides": overrides})
        study.tell(trial, state=TrialState.FAIL)
        log.error("trial %d failed: %s", trial.number, err)
        return False
    value = results[reporter.metric or monitored_metric(metric, "val_micro_f1" in results)]
    study.tell(trial, value)
    log.info("trial %d: %s %.4f", trial.number, reporter.metric or metric, value)
    return True


class Pruned(StopRun, optuna.TrialPruned):
    """A trial stopped by the pruner: Optuna's signal, and to the trainer a run stopped on purpose."""


class EpochReporter:
    """The per-epoch callback of a trial's run: reports the validation figure to Optuna and stops the
    run (by raising `optuna.TrialPruned`) when the pruner says so."""

    def __init__(self, trial: Trial, metric: str) -> None:
        self.trial, self.requested = trial, metric
        self.metric, self.epoch, self.value = "", 0, float("nan")

    def __call__(self, row: dict[str, Any]) -> None:
        # On multi-label data val_acc stands for val_micro_f1, as for early stopping.
        self.metric = monitored_metric(self.requested, "val_micro_f1" in row)
        if self.metric not in row:
            raise TextclfError(f"optimized_metric={self.requested} is not a validation figure of each epoch; "
                               f"choose one of {sorted(k for k in row if k.startswith('val_'))}.")
        self.epoch, self.value = int(row["epoch"]), float(row[self.metric])
        self.trial.report(self.value, self.epoch)
        if self.trial.should_prune():
            raise Pruned(f"pruned after epoch {self.epoch}")


def chosen_groups(cfg: DictConfig, base: list[str]) -> list[str]:
    """``base`` without ``hparams_search=NAME`` but with the groups NAME's file chose (its data and
    model), so that the best trial's command trains the same thing without searching."""
    named = {item.split("=", 1)[0] for item in base}
    choices = cfg.hydra.runtime.choices
    chosen = [f"{group}={choices[group]}" for group in ("data", "model") if group not in named and choices.get(group)]
    return chosen + [item for item in base if not item.startswith("hparams_search=")]


def report_best(study: optuna.Study, base: list[str], settings: DictConfig, summarised: bool) -> str:
    """Log the best trial; the lines that name it and the command that trains its settings on their
    own (``base``: the study's overrides without the search, `chosen_groups`)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise TextclfError(f"no trial of study {settings.study_name} completed: see the trials' train.log under {settings.dir}.")
    best = study.best_trial
    space = SearchSpace.parse(settings.params)
    command = " ".join(shlex.quote(item) for item in ["python", "-m", "textclf", *base, *space.overrides(best.params)])
    pruned = len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
    log.info("best trial %d of %d (%d pruned): value %.4f | run folder %s", best.number, len(complete) + pruned, pruned,
             best.value, Path(str(settings.dir)) / str(best.number))
    summary = f" (summary: {settings.dir}/summary.md)" if summarised else ""
    return f"best trial {best.number}: {best.value:.4f}{summary}\ntrain it again: {command}\n"
