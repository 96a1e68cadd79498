"""Training and inference throughput of each encoder at a fixed shape.

    python benchmarks/throughput.py [--batch 128] [--tokens 32] [--dim 300] [--hidden 128] [--steps 30]

Prints examples/second for a training step (forward, backward, clip, Adam) and for inference
(forward under torch.inference_mode) of the full classifier (embedding + encoder + head), on the
device given (default: CPU). The shapes are the issue's fixed benchmark point; vary them with flags.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module

from textclf.data.batching import Batch
from textclf.models.build import build_model

MODELS = ("textrnn", "bilstm", "rcnn")


def make_batch(batch: int, tokens: int, vocab: int, classes: int, device: torch.device) -> Batch:
    generator = torch.Generator().manual_seed(0)
    return Batch(
        tokens=torch.randint(3, vocab, (batch, tokens), generator=generator),
        lengths=torch.full((batch,), tokens, dtype=torch.long),
        labels=torch.randint(0, classes, (batch,), generator=generator),
    ).to(device)


def timed(fn, steps: int, device: torch.device) -> float:
    """Seconds per call, after warm-up calls that are not counted."""
    for _ in range(3):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def measure(name: str, args, device: torch.device) -> tuple[float, float, int]:
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", f"embedding.dim={args.dim}", f"model.encoder.hidden_size={args.hidden}"])
    model = build_model(cfg, vocab_size=args.vocab, num_classes=2).to(device)
    batch = make_batch(args.batch, args.tokens, args.vocab, 2, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step():
        model.train()
        loss = F.cross_entropy(model(batch), batch.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    @torch.inference_mode()
    def infer_step():
        model.eval()
        model(batch)

    train_s = timed(train_step, args.steps, device)
    infer_s = timed(infer_step, args.steps, device)
    params = sum(p.numel() for p in model.parameters())
    return args.batch / train_s, args.batch / infer_s, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__} | {device} | threads {torch.get_num_threads()} | {platform.processor() or platform.machine()}")
    print(f"batch {args.batch}, {args.tokens} tokens, embedding {args.dim}, hidden {args.hidden}, vocab {args.vocab}")
    print("| encoder | parameters | train examples/s | inference examples/s |")
    print("|---|---:|---:|---:|")
    for name in args.models.split(","):
        train_rate, infer_rate, params = measure(name, args, device)
        print(f"| {name} | {params:,} | {train_rate:,.0f} | {infer_rate:,.0f} |")


if __name__ == "__main__":
    main()
