"""Does per-word salience find the word that decides? Each flat encoder is trained on the tests'
toy task (tests/conftest.py `sentiment_rows`: a few filler words and one opinion word, whose
polarity is the label) and explained on its 60 test texts.

    python benchmarks/salience_toy.py [--seeds 4] [--epochs 20] [--lr 0.01] [--monitor val_loss]

Prints, per encoder and seed, the test accuracy and in how many of the 60 texts the word with the
highest salience is the opinion word (chance: about 1 in 8; texts have 4-13 words). Models are as
in tests/test_explain_flat.py: embedding and hidden size 16, lr 0.01, best.pt chosen on validation
loss (so it is a model trained to confidence; ``--monitor val_acc`` takes the first epoch that gets
every validation text right instead), one thread.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' toy task

from textclf.data.example import Example  # noqa: E402
from textclf.inference.explanation import word_salience  # noqa: E402
from textclf.inference.loader import load_model  # noqa: E402
from textclf.training.trainer import train  # noqa: E402

from conftest import NEGATIVE, POSITIVE, compose_train, sentiment_rows  # noqa: E402

ENCODERS = {
    "textrnn": ["model=textrnn"],
    "bilstm-max": ["model=bilstm", "model.encoder.pooling=max"],
    "bilstm-attention": ["model=bilstm", "model.encoder.pooling=attention"],
    "bilstm-mean": ["model=bilstm", "model.encoder.pooling=mean"],
    "rcnn": ["model=rcnn", "model.encoder.projection_size=16"],
}


def write_table(root: Path) -> None:
    for name, n, seed in (("train.csv", 240, 0), ("test.csv", 60, 1)):
        lines = ["text,label"] + [f"{text},{label}" for text, label in sentiment_rows(n, seed)]
        (root / name).write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--monitor", default="val_loss", help="trainer.monitor: which epoch's weights are best.pt")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    opinion = set(POSITIVE + NEGATIVE)
    test = [Example(text, label) for text, label in sentiment_rows(60, seed=1)]
    print("per seed: test accuracy, and the texts (of 60) whose highest-salience word is the opinion word")
    print(f"{'encoder':<18} {'measure':<10} " + "   ".join(f"{f'seed {s}':<14}" for s in range(args.seeds)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_table(root)
        for name, overrides in ENCODERS.items():
            cells, method = [], ""
            for seed in range(args.seeds):
                cfg = compose_train([
                    "data=table", f"data.root={root}", "embedding.dim=16", "model.encoder.hidden_size=16", *overrides,
                    f"optimizer.lr={args.lr}", "trainer.batch_size=16", f"trainer.max_epochs={args.epochs}", "trainer.patience=null",
                    f"trainer.monitor={args.monitor}", f"seed={seed}", "trainer.num_threads=1", "trainer.progress=false",
                    "trainer.tensorboard=false",
                ])
                results = train(cfg, root / f"{name}_{seed}")
                found = word_salience(load_model(root / f"{name}_{seed}"), test)
                hits = sum(f.words[int(np.argmax(f.weights))] in opinion for f in found)
                method = found[0].method
                cells.append(f"{100 * results['test_acc']:5.1f} %, {hits:2d}/60")
            print(f"{name:<18} {method:<10} " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
