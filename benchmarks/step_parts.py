"""Where one training step goes: loading the batch, forward, backward and the optimizer, timed apart.

    python benchmarks/step_parts.py --root DIR [--threads 2] [--steps 300] [--skip 20] [--profile] [KEY=VALUE ...]

Builds the run exactly as ``python -m textclf data=table data.root=DIR model=fasttext baseline=none
KEY=VALUE ...`` would (a streamed table reads its shard cache, as benchmarks/scale.py --keep leaves
it), then times ``--steps`` training steps piece by piece, leaving the first ``--skip`` out, and
prints the milliseconds of each piece per step and the microseconds per row. ``--profile`` adds
torch.profiler's table of the operators that took the most time over 30 further steps.

Used for docs/speed.md's "where a batch-1024 step went": the defaults at
``trainer.batch_size=1024 optimizer.lr=0.05`` against ``experiment=fasttext_large``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from textclf.data.pipeline import build_source, prepare
from textclf.training.distributed import Distributed
from textclf.training.loop import clear_gradients
from textclf.training.setup import setup_training, training_batches

CONF = Path(__file__).resolve().parent.parent / "conf"
PIECES = ("load", "forward", "backward", "optimizer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the table's folder (train.csv, test.csv)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--skip", type=int, default=20, help="first steps left out (allocations, caches)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE, as on textclf's command line")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = ["data=table", f"data.root={args.root}", "model=fasttext", "baseline=none", *args.overrides]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("train", overrides=overrides)
    data = prepare(build_source(cfg.data), cfg.get("tokenizer"))
    device = torch.device("cpu")
    training = setup_training(cfg, data, device, cfg.seed)
    batches = endless(training_batches(cfg, data, training, device, Distributed(False), 0))
    model, step = training.model.train(), make_step(training)
    totals = dict.fromkeys(PIECES, 0.0)
    for index in range(args.steps):
        times = step(batches)
        if index >= args.skip:
            for piece, seconds in zip(PIECES, times):
                totals[piece] += seconds
    counted, rows = args.steps - args.skip, cfg.trainer.batch_size
    parts = " | ".join(f"{piece} {1e3 * totals[piece] / counted:.2f}" for piece in PIECES)
    print(f"{' '.join(args.overrides) or 'defaults'}: batch {rows}, {args.threads} threads: ms a step: {parts} | "
          f"{1e3 * sum(totals.values()) / counted:.2f} ms a step, {1e6 * sum(totals.values()) / counted / rows:.1f} µs a row")
    print(f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable weights; optimizer {type(training.optimizer).__name__}")
    if args.profile:
        from torch.profiler import profile

        with profile() as prof:
            for _ in range(30):
                step(batches)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def endless(batches):
    """The batches of epoch after epoch (each pass moves the iterator to its next epoch's shuffle), so that any --steps fits."""
    while True:
        yield from batches


def make_step(training):
    """One training step as train_one_epoch takes it (no clip, noise or precision: the defaults), timed."""
    model, params = training.model, [p for p in training.model.parameters() if p.requires_grad]

    def step(batches) -> tuple[float, float, float, float]:
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        loss = training.loss(model(batch).float(), batch.labels, training.reduction, batch.weights)
        t2 = time.perf_counter()
        clear_gradients(params)
        loss.backward()
        t3 = time.perf_counter()
        training.optimizer.step()
        t4 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3

    return step


if __name__ == "__main__":
    main()
