"""What the recurrent cell does as texts grow: accuracy of rnn / gru / lstm against input length,
and the gradient that reaches the first words (the vanishing-gradient picture).

    python benchmarks/cell_vs_length.py [--lengths 10 25 50 100] [--steps 1500] [--out docs/results]

The task is generated, so that only the distance matters: the label is the first word (one of
four class words), and after it come ``length - 1`` words of noise from 10 others. A TextRNN
(model.encoder.cell=rnn|gru|lstm, one direction, classified by its final state, as
`conf/model/textrnn.yaml`; embedding 16, hidden 32) must carry the first word through the whole
noise to answer. It is trained with Adam (lr 0.01, batches of 32 new texts) and gradient clipping
at the trainer's default norm (5.0), the same number of steps for every cell and length, on one
thread. A fourth line, an LSTM whose forget gates start open, shows why the LSTM as PyTorch
initialises it fails here.

Printed: a Markdown table of test accuracy on 1000 new texts (chance is 25 %) and of the mean
gradient norm |dL/de_t| of the loss at the first word's embedding over the one at the last word's
(256 texts), at initialisation and after training. Written into ``--out``: cells.png, accuracy
against length, and |dL/de_t| against t for the longest length.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import torch
from torch import nn

from textclf.core.atomic import atomic_write
from textclf.data.batching import Batch
from textclf.models.classifier import TextClassifier
from textclf.models.embedding import Embedding
from textclf.models.textrnn import TextRNN
from textclf.training.grad_clip import clip_gradients

# The three cells as textclf builds them, and an LSTM whose forget gates start open (bias 3, so
# f ~ 0.95 rather than PyTorch's ~0.5): not a textclf option, it is here to show why the LSTM fails.
CELLS = ("rnn", "gru", "lstm", "lstm, forget bias 3")
COLORS = ("tab:red", "tab:blue", "tab:green", "tab:olive")
CLASSES, NOISE = 4, 10  # class words are ids 1..4, noise words the 10 after them (0 is padding)
EMBED, HIDDEN, BATCH, LR, CLIP = 16, 32, 32, 1e-2, 5.0


def make_batch(n: int, length: int, gen: torch.Generator) -> Batch:
    """n examples: the class word, then noise; every row has the full length (no padding)."""
    labels = torch.randint(0, CLASSES, (n,), generator=gen)
    tokens = torch.randint(1 + CLASSES, 1 + CLASSES + NOISE, (n, length), generator=gen)
    tokens[:, 0] = 1 + labels
    return Batch(tokens=tokens, lengths=torch.full((n,), length), labels=labels)


def make_model(variant: str, seed: int) -> TextClassifier:
    torch.manual_seed(seed)
    embedding = Embedding(1 + CLASSES + NOISE, EMBED)
    encoder = TextRNN(EMBED, HIDDEN, cell=variant.split(",")[0])
    if variant.endswith("forget bias 3"):
        open_forget_gates(encoder, 3.0)
    return TextClassifier(embedding, encoder, CLASSES)


@torch.no_grad()
def open_forget_gates(encoder: TextRNN, bias: float) -> None:
    """Set the LSTM's forget-gate bias (nn.LSTM's gates are stacked i, f, g, o)."""
    for directions in encoder.rnn.layers:
        for lstm in directions:
            size = lstm.hidden_size
            lstm.bias_ih_l0[size : 2 * size] = bias
            lstm.bias_hh_l0[size : 2 * size] = 0.0


def gradient_by_position(model: TextClassifier, batch: Batch) -> torch.Tensor:
    """[T]: mean over the batch of |dL/de_t|, the loss's gradient at each word's embedding."""
    model.zero_grad()
    embedded = model.embedding(batch.tokens)
    embedded.retain_grad()
    logits = model.head(model.encoder(embedded, batch.lengths))
    nn.functional.cross_entropy(logits, batch.labels).backward()
    return embedded.grad.norm(dim=-1).mean(dim=0).detach()


def accuracy(model: TextClassifier, batch: Batch) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(batch).argmax(-1) == batch.labels).float().mean())


def train(model: TextClassifier, length: int, steps: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    for _ in range(steps):
        batch = make_batch(BATCH, length, gen)
        loss = nn.functional.cross_entropy(model(batch), batch.labels)
        optimizer.zero_grad()
        loss.backward()
        clip_gradients(params, CLIP)
        optimizer.step()


def run(cell: str, length: int, steps: int, seed: int) -> dict:
    probe = make_batch(256, length, torch.Generator().manual_seed(10_000 + seed))
    test = make_batch(1000, length, torch.Generator().manual_seed(20_000 + seed))
    model = make_model(cell, seed)
    at_init = gradient_by_position(model, probe)
    start = time.perf_counter()
    train(model, length, steps, seed)
    seconds = time.perf_counter() - start
    trained = gradient_by_position(model, probe)
    return {
        "cell": cell, "length": length, "accuracy": accuracy(model, test), "seconds": seconds,
        "init": at_init, "trained": trained,
    }


def ratio(grad: torch.Tensor) -> float:
    """|dL/de_1| / |dL/de_T|: how much of the last word's gradient reaches the first."""
    return float(grad[0] / grad[-1].clamp_min(1e-30))


def table(results: list[dict], lengths: list[int]) -> str:
    by = {(r["cell"], r["length"]): r for r in results}
    head = "| cell | " + " | ".join(f"acc @ {n}" for n in lengths) + " | " + " | ".join(
        f"first/last grad @ {n} (init → trained)" for n in lengths) + " |"
    lines = [head, "|" + " --- |" * (1 + 2 * len(lengths))]
    for cell in CELLS:
        accs = [f"{100 * by[cell, n]['accuracy']:.1f} %" for n in lengths]
        grads = [f"{ratio(by[cell, n]['init']):.1e} → {ratio(by[cell, n]['trained']):.1e}" for n in lengths]
        lines.append(f"| {cell} | " + " | ".join(accs + grads) + " |")
    return "\n".join(lines)


def plot(results: list[dict], lengths: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    longest = max(lengths)
    for cell, color in zip(CELLS, COLORS):
        rows = sorted((r for r in results if r["cell"] == cell), key=lambda r: r["length"])
        left.plot([r["length"] for r in rows], [100 * r["accuracy"] for r in rows], "o-", color=color, label=cell)
        last = next(r for r in rows if r["length"] == longest)
        right.semilogy(last["init"].numpy(), color=color, linestyle=":", label=f"{cell}, at initialisation")
        right.semilogy(last["trained"].numpy(), color=color, label=f"{cell}, trained")
    left.axhline(100 / CLASSES, color="gray", linestyle="--", label="chance")
    left.set(xscale="log", xlabel="text length (words; the label is the first)", ylabel="test accuracy (%)",
             title="Accuracy against length")
    left.set_xticks(lengths, [str(n) for n in lengths])
    left.legend()
    right.set(xlabel="position t of the word", ylabel="|dL/de_t| (mean over 256 texts)",
              title=f"Gradient reaching each word, length {longest}")
    right.legend(fontsize=8)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=110)
    atomic_write(path, lambda fh: fh.write(image.getvalue()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--steps", type=int, default=1500, help="training steps of batch 32, for every cell and length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for cells.png (docs/results shows it in cells.md)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for length in args.lengths:
        for cell in CELLS:
            result = run(cell, length, args.steps, args.seed)
            results.append(result)
            print(f"{cell:>19} length {length:>4}: test accuracy {100 * result['accuracy']:5.1f} %, first/last gradient "
                  f"{ratio(result['init']):.1e} at init, {ratio(result['trained']):.1e} trained ({result['seconds']:.0f} s)", flush=True)
    text = table(results, args.lengths)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        plot(results, args.lengths, args.out / "cells.png")
        print(f"wrote {args.out / 'cells.png'}")


if __name__ == "__main__":
    main()
