"""How long per-word salience takes, per measure: what `textclf.explain` (and a server showing
explanations) pays on top of a prediction.

    python benchmarks/salience_speed.py [--texts 32] [--tokens 20] [--threads 1] [--repeats 5]

Models have the project's default sizes (conf/model/*.yaml: hidden 128, RCNN projection 256;
embedding 128) with random weights, which cost the same as trained ones; texts are ``--tokens``
random word ids each. Prints, per encoder, milliseconds per text for a plain forward pass and for
`token_salience` (attention and max share: one pass over the word states; occlusion: one forward
pass per word), best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_module

from textclf.data.batching import Batch
from textclf.models.build import build_model
from textclf.models.salience import method_for, token_salience

ENCODERS = {
    "textrnn": ["model=textrnn"],
    "bilstm-max": ["model=bilstm", "model.encoder.pooling=max"],
    "bilstm-attention": ["model=bilstm", "model.encoder.pooling=attention"],
    "bilstm-mean": ["model=bilstm", "model.encoder.pooling=mean"],
    "rcnn": ["model=rcnn"],
}
VOCAB = 20_000


def best_ms(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokens = torch.randint(3, VOCAB, (args.texts, args.tokens))
    batch = Batch(tokens=tokens, lengths=torch.full((args.texts,), args.tokens), labels=torch.zeros(args.texts, dtype=torch.long))
    print(f"{args.texts} texts of {args.tokens} tokens, {args.threads} thread(s), torch {torch.__version__}; ms per text")
    print(f"{'encoder':<18} {'measure':<10} {'forward':>8} {'salience':>9}")
    for name, overrides in ENCODERS.items():
        with initialize_config_module("textclf.conf", version_base="1.3"):
            cfg = compose("train", overrides=["~recipe", "embedding=random", *overrides])
        model = build_model(cfg, VOCAB, 2).eval()
        with torch.inference_mode():
            forward = best_ms(lambda: model(batch), args.repeats)
        salience = best_ms(lambda: token_salience(model, batch), args.repeats)
        print(f"{name:<18} {method_for(model):<10} {forward / args.texts:8.2f} {salience / args.texts:9.2f}")


if __name__ == "__main__":
    main()
