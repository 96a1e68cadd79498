"""int8 against float32 on trained checkpoints: test accuracy, model size and end-to-end speed.

    python benchmarks/int8.py RUN [RUN ...] [--batches 1,128] [--threads 1,2] [--sentences 4000]

Each RUN is a training run folder (or checkpoint). For each: its test split (read from the data
its config names, so TEXTCLF_DATA_DIR or data.root must reach it) scored by `textclf.Classifier`
with runtime=torch and runtime=onnx-int8 (accuracy, and the share of test rows decided alike), the
size of the float32 and int8 ONNX graphs, and sentences/second end to end (raw text -> tokenizer ->
tensors -> probabilities, `Classifier.predict_proba` on the test sentences repeated to
``--sentences``) for each runtime (torch, onnx, onnx-int8) at each batch size and thread count.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from textclf.data.pipeline import build_source, load_source
from textclf.inference.classifier import Classifier
from textclf.inference.exporting import export_model
from textclf.inference.loader import load_model
from textclf.inference.quantize import quantize_int8


def test_split(run: str):
    loaded = load_model(run)
    examples = load_source(build_source(loaded.config.data, loaded.encoding.multi_label)).test
    return loaded, examples


def inputs_of(examples) -> list:
    from textclf.inference.records import Story

    return [Story(list(ex.context), ex.text) if ex.context else ex.text for ex in examples]


def speed(run: str, runtime: str, batch: int, threads: int, texts: list) -> float:
    torch.set_num_threads(threads)
    clf = Classifier.load(run, runtime=runtime, batch_size=batch, threads=threads)
    clf.predict_proba(texts[: max(batch, 64)])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(texts), batch):  # a client's requests of `batch` texts each
        clf.predict_proba(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--batches", default="1,128")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--sentences", type=int, default=4000)
    parser.add_argument("--no-speed", action="store_true", help="accuracy and size only")
    args = parser.parse_args()
    batches, threads = [int(b) for b in args.batches.split(",")], [int(t) for t in args.threads.split(",")]
    print("| run | model | fp32 acc | int8 acc | decided alike | ONNX fp32 / int8 MB |")
    print("|---|---|---:|---:|---:|---:|")
    speeds = []
    for run in args.runs:
        loaded, examples = test_split(run)
        texts = inputs_of(examples)
        gold = np.array([loaded.labels.index(ex.label) for ex in examples])
        decided = {rt: Classifier.load(run, runtime=rt, threads=2).predict_proba(texts).argmax(axis=1) for rt in ("torch", "onnx-int8")}
        fp32, _, _ = export_model(loaded.model, len(loaded.encoding.vocab), "onnx")
        size = f"{len(fp32) / 1e6:.1f} / {len(quantize_int8(fp32)) / 1e6:.1f}"
        print(f"| {Path(run).name} | {loaded.config.model.name} | {100 * (decided['torch'] == gold).mean():.1f} | "
              f"{100 * (decided['onnx-int8'] == gold).mean():.1f} | {100 * (decided['torch'] == decided['onnx-int8']).mean():.1f} % | {size} |")
        repeated = (texts * (args.sentences // len(texts) + 1))[: args.sentences]
        for t in threads if not args.no_speed else ():
            for b in batches:
                speeds.append((Path(run).name, t, b, *(speed(run, rt, b, t, repeated) for rt in ("torch", "onnx", "onnx-int8"))))
    if not speeds:
        return
    print("\n| run | threads | batch | torch /s | onnx /s | onnx-int8 /s | int8 vs torch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, t, b, pt, ox, q8 in speeds:
        print(f"| {name} | {t} | {b} | {pt:,.0f} | {ox:,.0f} | {q8:,.0f} | {q8 / pt:.1f}x |")


if __name__ == "__main__":
    main()
