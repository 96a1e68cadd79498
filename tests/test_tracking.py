"""logger=mlflow: each run in a real MLflow store (SQLite), read back through MLflow's own client."""

from __future__ import annotations

import pytest

from textclf.core.errors import TextclfError
from textclf.training.trainer import train

from conftest import compose_train

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

TINY = ["data=babi_gen", "data.n_train=60", "data.n_test=30", "data.tasks=[1,6]", "model=fasttext", "embedding.dim=16",
        "trainer.max_epochs=2", "trainer.patience=null", "trainer.progress=false", "trainer.tensorboard=false", "logger=mlflow"]


@pytest.mark.slow
def test_a_run_logs_its_config_epochs_results_and_files(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose_train([*TINY, f"data.root={tmp_path / 'data'}", f"logger.tracking_uri={store}", "logger.experiment=tests"])
    results = train(cfg, tmp_path / "run")
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name.endswith("run")
    assert run.data.params["model.name"] == "fasttext" and run.data.params["trainer.max_epochs"] == "2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")][:2] == [1, 2]  # every epoch, at its epoch
    assert run.data.metrics["test_acc"] == pytest.approx(results["test_acc"])
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id)} | {f.path for f in client.list_artifacts(run.info.run_id, "report")}
    assert {"best.pt", "metrics.csv", "results.json", "report/classification_report.txt"} <= artifacts
    assert list((tmp_path / "artifacts" / "tests").rglob("best.pt"))  # beside the store, not in the working directory


@pytest.mark.slow
def test_a_failed_run_is_marked_failed(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose_train([*TINY, f"data.root={tmp_path / 'data'}", f"logger.tracking_uri={store}", "optimizer.lr=1e30"])
    with pytest.raises(TextclfError, match="training loss became"):
        train(cfg, tmp_path / "run")
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("textclf").experiment_id])
    assert run.info.status == "FAILED"


def test_an_unreachable_store_is_one_message(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries would take minutes
    cfg = compose_train([*TINY, f"data.root={tmp_path / 'data'}", "logger.tracking_uri=http://127.0.0.1:9"])
    with pytest.raises(TextclfError, match="logger=mlflow: cannot log to http://127.0.0.1:9 .* Check logger.tracking_uri or MLFLOW_TRACKING_URI"):
        train(cfg, tmp_path / "run")


@pytest.mark.slow
def test_without_a_uri_runs_go_to_a_store_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    train(compose_train([*TINY, "data.root=data", "trainer.max_epochs=1"]), tmp_path / "outputs" / "run")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("textclf").experiment_id])
    assert run.info.run_name == "outputs/run" and run.data.tags["textclf.run_dir"] == str(tmp_path / "outputs" / "run")
