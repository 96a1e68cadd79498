"""Wall time of one MemN2N training run on bAbI 1k, joint over the 20 tasks.

    python benchmarks/memn2n_babi.py [--root ../shared/data/babi/en] [--threads 2] [--epochs N]
        [--experiment babi1k_memn2n_fast] [override ...]

Trains `experiment=babi1k_memn2n_joint` (or ``--experiment``) once, 100 epochs, in a temporary folder and
prints the wall time, where it went (data preparation, training epochs, validation, the rest:
checkpoints, logging, the final test evaluation and report) and training examples per second.
``--epochs`` shortens the run for a quick look; a full run's time is then *not* the printed one
(the first epoch carries one-off costs). Extra arguments are Hydra overrides.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

import textclf.training.trainer as train_module

# Seconds spent in the trainer's phases; filled by `timed` wrappers around its functions.
PHASES: dict[str, float] = {}
TRAIN_EXAMPLES = [0]


def timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[name] = PHASES.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def count_examples(fn):
    @functools.wraps(fn)
    def wrapper(model, batches, *args, **kwargs):
        TRAIN_EXAMPLES[0] += len(batches.split)
        return fn(model, batches, *args, **kwargs)

    return wrapper


def instrument() -> None:
    """Time the trainer's phases from outside (train.py stays as it is): the names are looked up in
    the module at call time, so replacing them here is enough. A phase whose function has been
    renamed is simply not reported."""
    for name, phase in (("prepare", "data preparation"), ("train_one_epoch", "training epochs"), ("evaluate_split", "evaluation")):
        fn = getattr(train_module, name, None)
        if fn is not None:
            if name == "train_one_epoch":
                fn = count_examples(fn)
            setattr(train_module, name, timed(phase, fn))


def op_reference_us(calls: int = 20_000) -> float:
    """Microseconds per call of one tiny torch operator (a [32, 50] add), best of 3.

    A MemN2N step is ~150 such calls, so the run's time follows this number, and the same code's
    wall time has varied by 1.7x between windows on the same machine class (docs/speed.md).
    Printed before and after the run so that two runs can be compared for the window they ran in."""
    a, b = torch.randn(32, 50), torch.randn(32, 50)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            torch.add(a, b)
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "babi" / "en"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--epochs", type=int, default=None, help="trainer.max_epochs (default: the recipe's)")
    parser.add_argument("--experiment", default="babi1k_memn2n_joint", help="babi1k_memn2n_fast: the same at batch 64")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = [
        f"experiment={args.experiment}", f"data.root={args.root}", f"trainer.num_threads={args.threads}",
        "trainer.progress=false", "trainer.tensorboard=false", *args.overrides,
    ]
    if args.epochs is not None:
        overrides.append(f"trainer.max_epochs={args.epochs}")
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    instrument()
    torch.set_num_threads(args.threads)
    reference_before = op_reference_us()
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        results = train_module.train(cfg, run_dir)
        wall = time.perf_counter() - start
    reference_after = op_reference_us()
    print(f"torch {torch.__version__} | threads {args.threads} | epochs {results['epochs']}")
    print(f"machine window: {reference_before:.2f} us per tiny operator before the run, {reference_after:.2f} us after")
    print(f"wall time: {wall:.1f} s | training loop (epochs, validation, checkpoints): {results['train_seconds']:.1f} s")
    if PHASES:
        rest = wall - sum(PHASES.values())
        parts = [f"{name} {seconds:.1f} s" for name, seconds in PHASES.items()]
        print("  " + " | ".join(parts) + f" | rest {rest:.1f} s")
    epochs_seconds = PHASES.get("training epochs")
    if epochs_seconds:
        print(f"training examples/s: {TRAIN_EXAMPLES[0] / epochs_seconds:,.0f} ({TRAIN_EXAMPLES[0]:,} examples)")
    print(
        f"test accuracy {results['test_acc']:.4f} | mean error {results.get('mean_error')} % "
        f"| failed tasks {len(results.get('failed_tasks', []))}"
    )


if __name__ == "__main__":
    main()
