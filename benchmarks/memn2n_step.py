"""Where one MemN2N training step's time goes, on real bAbI 1k joint batches.

    python benchmarks/memn2n_step.py [--root ../shared/data/babi/en] [--threads 1] [--epochs 2]
        [--softmax] [--profile] [override ...]

Builds the `experiment=babi1k_memn2n_joint` model and data, then runs train.py's step (forward,
loss, zero_grad, backward, clipping, SGD) over whole epochs of the real batch stream, timing each
part of the step separately; the last epoch is reported (the first pays one-off costs). Linear
start is on, as in the recipe's first epochs; ``--softmax`` measures the later epochs instead.
``--profile`` adds a torch.profiler table of the operators (self CPU time) over 100 steps. Extra
arguments are Hydra overrides (e.g. ``trainer.batch_size=64``).
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from textclf.data.batching import BatchIterator
from textclf.data.pipeline import prepare
from textclf.models.build import build_model
from textclf.training.grad_clip import clip_gradients
from textclf.training.loop import clear_gradients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "babi" / "en"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--softmax", action="store_true", help="time the model after linear start")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=babi1k_memn2n_joint", f"data.root={args.root}", *args.overrides])
    tc = cfg.trainer
    data = prepare(instantiate(cfg.data), cfg.tokenizer, with_memory=True)
    torch.manual_seed(0)
    model = build_model(cfg, len(data.vocab), len(data.labels), data.vocab.encode_many(data.labels))
    model.encoder.linear_start = not args.softmax
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = instantiate(cfg.optimizer)(params=params)
    batches = BatchIterator(data.encoded["train"], tc.batch_size, shuffle=True, seed=0)
    clip = functools.partial(clip_gradients, max_norm=tc.grad_clip, scope=tc.grad_clip_scope)  # as train.py
    model.train()

    clock = time.perf_counter
    parts: dict[str, float] = defaultdict(float)
    for _ in range(args.epochs):
        parts.clear()
        steps, stream, start = 0, iter(batches), clock()
        while True:
            t0 = clock()
            batch = next(stream, None)
            if batch is None:
                break
            t1 = clock()
            logits = model(batch)
            t2 = clock()
            loss = F.cross_entropy(logits, batch.labels, reduction=tc.loss_reduction)
            t3 = clock()
            clear_gradients(params)
            t4 = clock()
            loss.backward()
            t5 = clock()
            clip(params)
            t6 = clock()
            optimizer.step()
            t7 = clock()
            for name, seconds in (("batch", t1 - t0), ("forward", t2 - t1), ("loss", t3 - t2), ("zero_grad", t4 - t3),
                                  ("backward", t5 - t4), ("clip", t6 - t5), ("step", t7 - t6)):
                parts[name] += seconds
            steps += 1
        wall = clock() - start
    examples = len(data.encoded["train"])
    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} | {'softmax' if args.softmax else 'linear start'}")
    print(f"last epoch: {wall:.2f} s, {steps} steps, {wall / steps * 1e3:.2f} ms/step, {examples / wall:,.0f} examples/s")
    for name, seconds in parts.items():
        print(f"  {name:10s} {seconds / steps * 1e6:7.0f} us/step  {seconds / wall:6.1%}")
    if args.profile:
        from torch.profiler import profile

        stream = iter(batches)
        with profile() as prof:
            for _ in range(100):
                batch = next(stream)
                loss = F.cross_entropy(model(batch), batch.labels, reduction=tc.loss_reduction)
                clear_gradients(params)
                loss.backward()
                clip(params)
                optimizer.step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
