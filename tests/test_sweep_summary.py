"""The multirun summary from job folders (no training needed: the folders are written here)."""

from __future__ import annotations

import json

import pandas as pd

from textclf.reporting.sweep_summary import write_summary


def job(sweep, number, overrides, results=None, failed=None):
    folder = sweep / str(number)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    if failed is not None:
        (folder / "failed.json").write_text(json.dumps({"error": failed}))


def test_rows_sorted_by_metric_with_failed_and_unfinished_jobs(tmp_path):
    job(tmp_path, 0, ["model=textrnn"], {"val_acc": 0.7, "test_acc": 0.69})
    job(tmp_path, 1, ["model=bilstm"], {"val_acc": 0.8, "test_acc": 0.78})
    job(tmp_path, 2, ["model=rcnn"], failed="data: missing file")
    job(tmp_path, 10, ["model=memn2n"])
    frame = write_summary(tmp_path, "val_acc")
    assert list(frame["job"]) == [1, 0, 2, 10]
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("job")
    assert summary.loc[2, "status"] == "failed: data: missing file"
    assert summary.loc[10, "status"].startswith("did not finish")
    assert "model=bilstm" in (tmp_path / "summary.md").read_text()


def test_loss_metrics_sort_ascending(tmp_path):
    job(tmp_path, 0, ["a=1"], {"val_loss": 0.9})
    job(tmp_path, 1, ["a=2"], {"val_loss": 0.3})
    assert list(write_summary(tmp_path, "val_loss")["job"]) == [1, 0]


def test_one_task_per_job_gives_a_combined_babi_table(tmp_path):
    for number, (task, error) in enumerate([("1", 0.0), ("2", 12.5), ("3", 30.0)]):
        job(tmp_path, number, [f"data.tasks={task}"], {"val_acc": 1 - error / 100, "per_task": {task: error}})
    write_summary(tmp_path, "val_acc")
    table = pd.read_csv(tmp_path / "per_task_errors.csv")
    assert list(table["task"]) == [1, 2, 3] and list(table["error_%"]) == [0.0, 12.5, 30.0]
    markdown = (tmp_path / "per_task_errors.md").read_text()
    assert "| 2 | two-supporting-facts | 12.5 |  | yes |" in markdown  # no joint-model paper figure
    assert "**14.2**" in markdown and "**2 failed**" in markdown
