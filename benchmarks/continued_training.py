"""What continued training (init_from) keeps of the old task, with and without old examples replayed.

    python benchmarks/continued_training.py --data DIR [--out DIR] [--replay 0.2] [--model fasttext]

``--data``: the folder holding trec/ and subj/ (as TEXTCLF_DATA_DIR). Trains ``--model`` on TREC
(6 question types), then continues it on SUBJ (subjective / objective, 2 new labels) three ways:
from scratch on SUBJ alone; from the TREC model on SUBJ alone; from the TREC model on SUBJ plus a
``--replay`` share of TREC's training rows (a table written into ``--out``; validation and test stay
SUBJ's). Prints each model's SUBJ and TREC test accuracy. One training thread; a minute or two.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_module

import textclf
from textclf.commands.evaluate import evaluate
from textclf.core.errors import TextclfError
from textclf.data.pipeline import build_source, load_source

QUIET = ["trainer.num_threads=1", "trainer.progress=false", "trainer.tensorboard=false"]


def write_table(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def replay_table(data: Path, folder: Path, share: float, seed: int = 0) -> Path:
    """SUBJ's splits, with ``share`` of TREC's training rows added to SUBJ's training rows."""
    with initialize_config_module("textclf.conf", version_base="1.3"):
        subj = load_source(build_source(compose("train", overrides=["data=subj", f"data.root={data / 'subj'}"]).data))
        trec = load_source(build_source(compose("train", overrides=["data=trec", f"data.root={data / 'trec'}"]).data))
    old = [(ex.text, ex.label) for ex in trec.train]
    random.Random(seed).shuffle(old)
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "train.csv", [(ex.text, ex.label) for ex in subj.train] + old[: round(share * len(old))])
    write_table(folder / "val.csv", [(ex.text, ex.label) for ex in subj.val])
    write_table(folder / "test.csv", [(ex.text, ex.label) for ex in subj.test])
    return folder


def test_accuracy(run: Path, data: str, root: Path, out: Path) -> float | None:
    """The run's model on ``data``'s test split; None when the model lacks that data's labels."""
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("eval", overrides=[f"ckpt_path={run}", f"data={data}", f"data.root={root}", "device=cpu"])
    try:
        return evaluate(cfg, out)["acc"]
    except TextclfError:  # e.g. the TREC model on SUBJ: it has no subjective/objective class
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--replay", type=float, default=0.2)
    parser.add_argument("--model", default="fasttext")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="continued-"))
    trec, subj = ["data=trec", f"data.root={args.data / 'trec'}"], ["data=subj", f"data.root={args.data / 'subj'}"]
    model = [f"model={args.model}", *QUIET]
    textclf.train([*trec, *model], run_dir=str(out / "trec"))
    textclf.train([*subj, *model], run_dir=str(out / "subj"))
    textclf.train([*subj, *QUIET, f"init_from={out / 'trec'}"], run_dir=str(out / "subj_from_trec"))
    mixed = replay_table(args.data, out / "replay_data", args.replay)
    textclf.train(["data=table", f"data.root={mixed}", *QUIET, f"init_from={out / 'trec'}"], run_dir=str(out / "replay_from_trec"))
    print(f"\n{'model':<44} {'SUBJ test':>10} {'TREC test':>10}")
    for name, label in (("trec", "TREC alone"), ("subj", "SUBJ alone, from scratch"), ("subj_from_trec", "TREC, then SUBJ (init_from)"),
                        ("replay_from_trec", f"TREC, then SUBJ + {args.replay:.0%} of TREC's rows")):
        scores = [test_accuracy(out / name, data, args.data / data, out / "eval" / name / data) for data in ("subj", "trec")]
        print(f"{label:<44} " + " ".join(f"{100 * score:>9.1f}%" if score is not None else f"{'-':>10}" for score in scores))
    print(f"runs in {out}")


if __name__ == "__main__":
    main()
