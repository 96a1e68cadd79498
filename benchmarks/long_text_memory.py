"""Peak memory of a training run with and without one 10 MB single-line text.

    python benchmarks/long_text_memory.py [--model bilstm] [--mb 10]

Writes two small CSV tables (400 short training rows; the second adds one row whose text is
``--mb`` megabytes of space-separated words on one line) under a temporary folder, trains one epoch
on each in a subprocess and prints each run's peak resident memory (ru_maxrss of the child) and the
difference. The long text is cut to `data.max_tokens` tokens before it is tokenized
(textclf/data/vocab.py, `head`); without that cut the difference was about 1.2 GB.
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import tempfile
from pathlib import Path

POSITIVE, NEGATIVE, FILLER = ["good", "great", "fine", "lovely"], ["bad", "awful", "dull", "boring"], ["the", "film", "was"]


def short_rows(n: int, rng: random.Random) -> list[tuple[str, str]]:
    rows = []
    for i in range(n):
        words = POSITIVE if i % 2 else NEGATIVE
        rows.append((" ".join(rng.choice(words + FILLER) for _ in range(8)), "pos" if i % 2 else "neg"))
    return rows


def write_table(folder: Path, long_text: str | None, rng: random.Random) -> None:
    folder.mkdir(parents=True)
    train = short_rows(400, rng) + ([(long_text, "pos")] if long_text else [])
    for name, rows in (("train.csv", train), ("test.csv", short_rows(100, rng))):
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(rows)


# Runs the training in a fresh wrapper process per measurement, so each peak is that run's own
# (ru_maxrss of RUSAGE_CHILDREN is the largest child a process ever had).
WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode:
    sys.exit(done.stderr[-3000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mb(root: Path, model: str, run_dir: Path) -> float:
    """Peak resident memory of one training run on the table in ``root``, in MB."""
    command = [sys.executable, "-m", "textclf", f"model={model}", "data=table", f"data.root={root}", "trainer.max_epochs=1",
               "trainer.progress=false", "trainer.tensorboard=false", "trainer.num_threads=1", f"hydra.run.dir={run_dir}"]
    done = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the training run failed:\n{done.stderr}")
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bilstm")
    parser.add_argument("--mb", type=float, default=10.0)
    args = parser.parse_args()
    rng = random.Random(0)
    long_text = " ".join(f"w{rng.randrange(200_000)}" for _ in range(int(args.mb * 140_000)))[: int(args.mb * 1_000_000)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_table(tmp / "short", None, rng)
        write_table(tmp / "long", long_text, rng)
        short = peak_rss_mb(tmp / "short", args.model, tmp / "run_short")
        long = peak_rss_mb(tmp / "long", args.model, tmp / "run_long")
    print(f"model {args.model}: peak RSS {short:.0f} MB without the long text, {long:.0f} MB with one {args.mb:g} MB text: +{long - short:.0f} MB")


if __name__ == "__main__":
    main()
