"""How training's cost grows with the table: textclf beside fastText on the same generated files.

    python benchmarks/scale.py [--rows 100000 1000000] [--models fasttext bilstm] [--bilstm-max 100000]
        [--threads 2] [--epochs 1] [--streaming auto|true|false] [--keep DIR] [--set KEY=VALUE ...]

For each ``--rows`` size, writes a table of short texts (benchmarks/baseline_scale.py's generator:
4 topics among 2 000 Zipf-distributed filler words, 5-13 words a row; test a tenth of train, at
least 1 000 and at most 100 000 rows) and trains, each in a process of its own so that its peak memory is its own:
``python -m textclf data=table model=M trainer.max_epochs=EPOCHS baseline=none`` for each
``--models`` entry (BiLSTM only up to ``--bilstm-max`` rows), and fastText's
``train_supervised`` (dim 100, the same epochs, ``--threads`` threads) on the same rows. Prints per
run: the seconds until the data is read and encoded (textclf: from the process's start, imports included,
to its "data:" log line), the
seconds of one epoch, training tokens per second, the wall time of the whole process, and its peak
resident memory; then the time per row relative to the smallest size. ``--streaming`` is passed on
as ``data.streaming`` (true: the token-shard path of textclf/data/streaming.py at every size).
``--keep DIR`` writes the tables into DIR/<rows>/ and keeps them (a second run then reads a
streamed table's cache), instead of a temporary folder. ``--set`` adds overrides to every textclf
run (e.g. ``--set trainer.batch_size=1024 optimizer.lr=0.05``), shown in the trainer's name.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from baseline_scale import rows  # benchmarks/baseline_scale.py, beside this file

FASTTEXT = """
import json, sys, time
import fasttext
started = time.perf_counter()
model = fasttext.train_supervised(input=sys.argv[1], epoch=int(sys.argv[2]), thread=int(sys.argv[3]), dim=100, verbose=0)
seconds = time.perf_counter() - started
result = model.test(sys.argv[4])
print(json.dumps({"seconds": seconds, "test_acc": result[1]}))
"""


def write_tables(folder: Path, n: int) -> tuple[int, int]:
    """train.csv / test.csv for textclf and train.txt / test.txt (``__label__x text``) for fastText;
    returns (training rows, training tokens)."""
    tokens = 0
    for name, count, seed in (("train", n, 0), ("test", min(100_000, max(1000, n // 10)), 1)):
        data = rows(count, seed)
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(data)
        with open(folder / f"{name}.txt", "w", encoding="utf-8") as fh:
            fh.writelines(f"__label__{label} {text}\n" for text, label in data)
        if name == "train":
            tokens = sum(len(text.split()) for text, _ in data)
    return n, tokens


def log_time(line: str) -> datetime:
    return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")


def timed(command: list[str], folder: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``command`` under GNU time; (its result, its peak resident memory in MB)."""
    report = folder / "time.txt"
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(report), *command], check=True, capture_output=True, text=True)
    return result, int(report.read_text().split()[-1]) / 1024


def textclf_run(folder: Path, model: str, args) -> dict:
    run = folder / f"run_{model}"
    shutil.rmtree(run, ignore_errors=True)  # a kept folder's earlier run: its train.log would be appended to
    command = [sys.executable, "-m", "textclf", "data=table", f"data.root={folder}", f"model={model}", f"trainer.max_epochs={args.epochs}",
               f"trainer.num_threads={args.threads}", "trainer.progress=false", "trainer.tensorboard=false", "baseline=none",
               f"data.streaming={args.streaming}", "trainer.overwrite=true", *args.set,
               f"hydra.run.dir={run}"]
    started, first = time.perf_counter(), datetime.now()  # the log's clock: local time
    _, peak = timed(command, folder)
    wall = time.perf_counter() - started
    lines = (run / "train.log").read_text().splitlines()
    data_line = next(log_time(line) for line in lines if "][textclf.data.pipeline][INFO] - data:" in line)
    epochs = [float(m.group(1)) for line in lines if (m := re.search(r"- epoch \d+ \|.*\| ([0-9.]+)s", line))]
    results = json.loads((run / "results.json").read_text())
    return {"prepare_s": (data_line - first).total_seconds(), "epoch_s": epochs[0], "wall_s": wall, "test_acc": results["test_acc"], "peak_mb": peak}


def fasttext_run(folder: Path, args) -> dict:
    started = time.perf_counter()
    out, peak = timed([sys.executable, "-c", FASTTEXT, str(folder / "train.txt"), str(args.epochs), str(args.threads), str(folder / "test.txt")], folder)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return {"prepare_s": float("nan"), "epoch_s": found["seconds"] / args.epochs, "wall_s": time.perf_counter() - started,
            "test_acc": found["test_acc"], "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=["fasttext", "bilstm"])
    parser.add_argument("--bilstm-max", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--streaming", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--set", nargs="*", default=[])
    args = parser.parse_args()
    print("| rows | trainer | prepare s | epoch s | tokens/s (epoch) | wall s | peak RSS MB | test acc |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    per_row: dict[str, list[tuple[int, float]]] = {}
    for n in args.rows:
        with tempfile.TemporaryDirectory(prefix="textclf-scale-") as tmp:
            folder = Path(tmp) if args.keep is None else args.keep / str(n)
            folder.mkdir(parents=True, exist_ok=True)
            if (folder / "train.txt").is_file():  # kept from an earlier run: the same generator and seeds
                tokens = sum(len(line.split()) - 1 for line in open(folder / "train.txt", encoding="utf-8"))
            else:
                _, tokens = write_tables(folder, n)
            runs = [(" ".join([f"textclf model={m}", *args.set]), lambda m=m: textclf_run(folder, m, args))
                    for m in args.models if m != "bilstm" or n <= args.bilstm_max]
            runs.append(("fastText train_supervised", lambda: fasttext_run(folder, args)))
            for name, go in runs:
                result = go()
                per_row.setdefault(name, []).append((n, result["wall_s"] / n))
                print(f"| {n:,} | {name} | {result['prepare_s']:.1f} | {result['epoch_s']:.1f} | {tokens / result['epoch_s']:,.0f} | "
                      f"{result['wall_s']:.1f} | {result['peak_mb']:,.0f} | {100 * result['test_acc']:.1f} |", flush=True)
    print("\nwall time per row, relative to the smallest size:")
    for name, points in per_row.items():
        base = points[0][1]
        print(f"  {name}: " + ", ".join(f"{n:,} rows {cost / base:.2f}x" for n, cost in points))


if __name__ == "__main__":
    main()
