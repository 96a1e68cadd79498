"""Wall time of one MemN2N training run on bAbI 1k, joint over the 20 tasks.

    python benchmarks/memn2n_babi.py [--root ../shared/data/babi/en] [--threads 2] [override ...]

Trains `experiment=babi1k_memn2n_joint` once (60 epochs, as the paper) in a temporary folder and
prints wall time, training examples per second and the test result. Extra arguments are Hydra
overrides (e.g. trainer.max_epochs=10 for a quick look).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

from textclf.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "babi" / "en"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=babi1k_memn2n_joint", f"data.root={args.root}", f"trainer.num_threads={args.threads}",
            "trainer.progress=false", "trainer.tensorboard=false", *args.overrides,
        ])
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        results = train(cfg, run_dir)
        wall = time.perf_counter() - start
    n_train = 18000 if cfg.data.tasks == "all" else None
    print(f"torch {torch.__version__} | threads {args.threads} | epochs {results['epochs']}")
    print(f"wall time (data, training, evaluation): {wall:.1f} s | training loop: {results['train_seconds']:.1f} s")
    if n_train:
        print(f"training examples/s: {n_train * results['epochs'] / results['train_seconds']:,.0f}")
    print(f"test accuracy {results['test_acc']:.4f} | mean error {results.get('mean_error')} % | failed tasks {len(results.get('failed_tasks', []))}")


if __name__ == "__main__":
    main()
