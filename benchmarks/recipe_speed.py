"""Wall time of a whole training run on a 10,000-row table, per model, beside its baseline.

    python benchmarks/recipe_speed.py [--rows 10000] [--models default fasttext textcnn] [--threads 2]

Writes a table of short texts (the topic task of benchmarks/baseline_scale.py: 4 classes, Zipf
filler words) and a test file of a tenth of the rows, then runs `python -m textclf data=table ...`
once per model in a subprocess (``default``: no model=, what a user gets) and prints the command's
wall time (start-up, data, baseline, training, report), results.json's train_seconds, epochs, test
accuracy and the baseline's accuracy and seconds. The times are for this machine's cores; run it on
an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from baseline_scale import write  # noqa: E402  (the same generated table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--models", nargs="+", default=["default", "fasttext", "textcnn"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "table"
        data.mkdir()
        write(data, args.rows)
        print(f"{args.rows} training rows, {max(1000, args.rows // 10)} test rows; trainer.num_threads={args.threads}")
        print("model | wall s | train_seconds | epochs | test acc % | baseline % | baseline s")
        for model in args.models:
            run = Path(tmp) / f"run_{model}"
            command = [
                sys.executable, "-m", "textclf", "data=table", f"data.root={data}", f"hydra.run.dir={run}",
                f"trainer.num_threads={args.threads}", "trainer.progress=false", "trainer.tensorboard=false",
            ] + ([] if model == "default" else [f"model={model}"])
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            wall = time.perf_counter() - started
            r = json.loads((run / "results.json").read_text())
            print(
                f"{model} ({r['model']}) | {wall:.1f} | {r['train_seconds']:.1f} | {r['epochs']} | {100 * r['test_acc']:.2f} | "
                f"{100 * r['baseline_test_acc']:.2f} | {r['baseline_seconds']:.1f}"
            )


if __name__ == "__main__":
    main()
