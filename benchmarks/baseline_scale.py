"""What the baseline beside every run costs on a large table (training/baseline.py).

    python benchmarks/baseline_scale.py [--rows 1000000] [--limits 200000 1000000]

Generates a table of short texts (``--rows`` training rows, a tenth of that for test; 4 classes,
each decided by topic words among 2 000 filler words drawn from a Zipf law), reads and encodes it
once as training does (`prepare`), then fits the baseline once per ``--limits`` value of
baseline.max_train_rows, printing the seconds, the rows fitted, the test accuracy and the process's
peak resident memory after each. Fitting is single-threaded (saga), so the number is what a run
adds on any machine with one free core.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from textclf.data.pipeline import prepare
from textclf.data.table import Table
from textclf.training.baseline import fit_baseline

TOPICS = {
    "sports": ["goal", "match", "team", "coach", "league", "score"],
    "finance": ["stock", "market", "bank", "price", "shares", "rate"],
    "weather": ["rain", "storm", "sunny", "wind", "snow", "cloud"],
    "food": ["pizza", "bread", "soup", "cheese", "salad", "cake"],
}


def rows(n: int, seed: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(2000)]
    ranks = np.minimum(rng.zipf(1.3, size=(n, 12)), 2000) - 1
    labels = rng.choice(list(TOPICS), size=n)
    pyrng = random.Random(seed)
    out = []
    for label, row in zip(labels, ranks):
        words = [filler[r] for r in row[: pyrng.randint(5, 12)]]
        words.insert(pyrng.randrange(len(words) + 1), pyrng.choice(TOPICS[label]))
        if pyrng.random() < 0.2:  # some noise: a word of another topic
            words.append(pyrng.choice(TOPICS[pyrng.choice(list(TOPICS))]))
        out.append((" ".join(words), str(label)))
    return out


def write(folder: Path, n: int) -> None:
    for name, count, seed in (("train.csv", n, 0), ("test.csv", max(1000, n // 10), 1)):
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(rows(count, seed))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--limits", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write(folder, args.rows)
        print(f"table: {args.rows} training rows written in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        data = prepare(Table(root=str(folder)))
        print(f"read and encoded as training does: {time.perf_counter() - started:.1f} s, peak RSS {peak_mb():.0f} MB")
        for limit in args.limits:
            settings = OmegaConf.create({"kind": "tfidf", "strengths": [0.25, 1, 4, 16, 64], "max_iter": 100, "max_train_rows": limit})
            started = time.perf_counter()
            result = fit_baseline(data, settings, chars=False, lowercase=True, balanced=False, seed=0)
            print(
                f"max_train_rows={limit}: fitted on {result['baseline_train_rows']} rows, {time.perf_counter() - started:.1f} s, "
                f"C={result['baseline_C']:g}, test acc {100 * result['baseline_test_acc']:.2f} %, peak RSS {peak_mb():.0f} MB"
            )


if __name__ == "__main__":
    main()
