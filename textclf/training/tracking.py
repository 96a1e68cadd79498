"""Experiment tracking beside each run's own files: ``logger=mlflow`` (conf/logger/).

A run always keeps metrics.csv, results.json and, with trainer.tensorboard, TensorBoard events in
its folder; a tracker sends the same to a store that gathers many runs. `MlflowTracker` logs the
resolved config as params, each epoch's metrics.csv row at its epoch, the results as the run's
final metrics, and best.pt, metrics.csv, results.json and report/ as artifacts; a run that fails
or is stopped is marked so. It talks to MLflow through `MlflowClient` with an explicit run id,
not through mlflow's module-level "active run", so the folds of a cross-validation or the trials
of a search each get a run of their own, in one process or several.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from textclf.core.errors import TextclfError, first_line

DEFAULT_STORE = "mlruns/mlflow.db"  # under the directory textclf runs from: one store for all its runs
PARAM_CHARS = 6000  # MLflow's limit on a param's value


class Tracker:
    """``logger=none``: nothing beyond the run's own files."""

    def epoch(self, row: dict[str, Any]) -> None:
        pass

    def finish(self, results: dict[str, Any], run_dir: Path) -> None:
        pass

    def fail(self, stopped: bool) -> None:
        pass


def open_tracker(cfg: DictConfig, run_dir: Path, main: bool) -> Tracker:
    """The tracker ``cfg.logger`` asks for (rank 0 only: the other ranks' runs are the same run)."""
    if not main or cfg.logger.kind == "none":
        return Tracker()
    return MlflowTracker(cfg, run_dir)


def tracking_uri(setting: str | None) -> str:
    """logger.tracking_uri, else $MLFLOW_TRACKING_URI, else a SQLite store under the working directory."""
    if setting:
        return setting
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    path = Path(DEFAULT_STORE).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class MlflowTracker(Tracker):
    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        try:
            from mlflow.entities import Param
            from mlflow.tracking import MlflowClient
        except ImportError as err:
            raise TextclfError(f"logger=mlflow needs MLflow ({first_line(err)}): pip install -e '.[track]'") from None
        settings = cfg.logger
        self.client = MlflowClient(tracking_uri(settings.tracking_uri))
        try:
            experiment = self.experiment_id(settings.experiment)
            self.run_id = self.client.create_run(
                experiment, run_name=run_name(run_dir), tags={"textclf.run_dir": str(Path(run_dir).absolute())},
            ).info.run_id
        except Exception as err:  # MLflow's errors (a store it cannot open, a server that does not answer) share no base
            raise TextclfError(f"logger=mlflow: cannot log to {self.client.tracking_uri} ({first_line(err)}). Check "
                               "logger.tracking_uri or MLFLOW_TRACKING_URI, or train without it (logger=none).") from None
        params = [Param(key, str(value)[:PARAM_CHARS]) for key, value in flat(cfg)]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location(self.client.tracking_uri, name))
        except Exception:  # another job created it in the meantime
            return self.client.get_experiment_by_name(name).experiment_id

    def epoch(self, row: dict[str, Any]) -> None:
        self.log_metrics(row, step=int(row["epoch"]))

    def finish(self, results: dict[str, Any], run_dir: Path) -> None:
        self.log_metrics(results, step=0)
        for name in ("best.pt", "metrics.csv", "results.json", "folds.md"):
            if (run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        if (run_dir / "report").is_dir():
            self.client.log_artifacts(self.run_id, str(run_dir / "report"), "report")
        self.client.set_terminated(self.run_id, "FINISHED")

    def fail(self, stopped: bool) -> None:
        self.client.set_terminated(self.run_id, "KILLED" if stopped else "FAILED")

    def log_metrics(self, values: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items() if key != "epoch" and is_number(value)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def flat(cfg: DictConfig) -> list[tuple[str, Any]]:
    """Every setting of the resolved config as (dotted key, value), Hydra's own node left out."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    found: list[tuple[str, Any]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if prefix or key != "hydra":
                    walk(value, f"{prefix}{key}.")
        else:
            found.append((prefix[:-1], node))

    walk(plain, "")
    return found


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment's files go: beside a SQLite store (``artifacts/`` next to the .db),
    not in ./mlruns of whatever directory the first run happened to start from; other stores
    (a server, a database) decide for themselves (None)."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///") :]).parent / "artifacts" / experiment).absolute().as_uri()


def run_name(run_dir: Path) -> str:
    """The run folder as the user knows it: relative to the working directory where it lies below it."""
    path = Path(run_dir).absolute()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
