"""End-to-end inference speed: raw strings -> tokenizer -> tensors -> model -> probabilities.

    python benchmarks/inference_e2e.py [--model bilstm|textrnn,bilstm,rcnn,memn2n] [--runtime torch|onnx|onnx-int8|torch,onnx-int8]
        [--tokens 32] [--sentences 20000] [--chunk 512] [--batch 512] [--threads 2] [--workers 1]
        [--root ../shared/data] [--real]

The path is `python -m textclf.predict`'s, without the file reading and JSON writing: the input
is cut into chunks of ``--chunk`` texts (predict: its batch_size), each chunk is encoded by
`encode_examples` (the HF tokenizer's `encode_batch`, then padding into tensors) and scored by
the `Predictor` (inference_mode, softmax) in batches of ``--batch``, ``--workers`` batches at a
time (each on one intra-op thread; 1 = every operation on ``--threads`` threads). ``--runtime onnx``
scores through `runtime=onnx`'s `OnnxRuntime` instead (the model exported to ONNX in memory, run by
onnxruntime on ``--threads`` intra-op threads, the same length-sorted batches; ``--workers`` is
torch's only); ``--runtime onnx-int8`` quantizes that graph's weights to int8 first. Several models and runtimes (comma-separated) are measured one after another. The model has the project's default config for ``--model`` (BiLSTM:
embedding 128, hidden 128, max pooling) with random weights, which cost the same as trained ones.
The vocabulary is fitted on SST-2's training sentences (``ROOT/sst``) or, without them, on
made-up words. Texts are ``--tokens`` words drawn from that vocabulary, so each is exactly that
many tokens; ``--real`` scores SST-2's test sentences instead (natural lengths). Prints
sentences/second end to end and the share of encoding and of the model; best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

from textclf.data.encoding import MemoryLayout, encode_examples
from textclf.data.example import Example
from textclf.data.sst import LABEL_NAMES, read_sst
from textclf.data.vocab import Vocab
from textclf.inference.onnx_runtime import OnnxRuntime
from textclf.inference.predictor import Predictor, TorchRuntime
from textclf.models.build import build_model, reads_memory
from textclf.models.task import Task


def vocabulary_and_texts(root: Path, tokens: int, count: int, real: bool, seed: int = 0) -> tuple[Vocab, list[str], str]:
    rng = random.Random(seed)
    sst = root / "sst"
    if (sst / "stsa.binary.train").is_file():
        train = [ex.text for ex in read_sst(sst / "stsa.binary.train", LABEL_NAMES["binary"])]
        source = f"SST-2 vocabulary ({sst})"
    else:
        if real:
            raise SystemExit(f"--real needs SST-2 under {sst}")
        words = [f"w{i}" for i in range(15000)]
        train = [" ".join(rng.choices(words, k=20)) for _ in range(7000)]
        source = "made-up vocabulary (no SST-2 under --root)"
    vocab = Vocab.fit(train)
    if real:
        texts = [ex.text for ex in read_sst(sst / "stsa.binary.test", LABEL_NAMES["binary"])]
        texts = (texts * (count // len(texts) + 1))[:count]
        return vocab, texts, source + ", SST-2 test sentences"
    # Letters and digits only (no punctuation, no <pad>-style specials): each word is one token,
    # so every text is exactly `tokens` tokens.
    words = [w for w in vocab.tokenizer.get_vocab() if w.isalnum()]
    return vocab, [" ".join(rng.choices(words, k=tokens)) for _ in range(count)], source + f", {tokens}-word texts"


def run(score, vocab: Vocab, texts: list[str], labels: list[str], chunk: int, max_tokens: int, memory) -> tuple[float, float]:
    """(seconds encoding, seconds in ``score``) for all texts, chunk by chunk as predict does."""
    encoding = scoring = 0.0
    for start in range(0, len(texts), chunk):
        t0 = time.perf_counter()
        examples = [Example(text=text, label="") for text in texts[start : start + chunk]]
        encoded = encode_examples(examples, vocab, labels, [], max_tokens, "input", memory, labelled=False)
        t1 = time.perf_counter()
        score(encoded)
        scoring += time.perf_counter() - t1
        encoding += t1 - t0
    return encoding, scoring


def scorer(runtime: str, model, vocab_size: int, args):
    """encoded split -> probabilities, by the runtime named."""
    if runtime.startswith("onnx"):  # onnx-int8: the graph's weights quantized (inference/quantize.py)
        return Predictor(OnnxRuntime(model, vocab_size, args.threads, Task() if runtime == "onnx-int8" else None), batch_size=args.batch).proba
    return Predictor(TorchRuntime(model), batch_size=args.batch, workers=args.workers).proba


def measure(name: str, runtime: str, vocab: Vocab, texts: list[str], source: str, args) -> None:
    labels = list(LABEL_NAMES["binary"])
    extra = ["model.tie_answers=false"] if name == "memn2n" else []  # random weights: no answer words to tie to
    with initialize_config_module("textclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", *extra, *args.overrides])
    torch.manual_seed(0)
    model = build_model(cfg, len(vocab), len(labels)).eval()
    memory = MemoryLayout() if reads_memory(cfg) else None  # MemN2N on single texts: windows of 6 tokens as memories
    max_tokens = 128  # SST's limit (conf/data/sst2.yaml); longer than every text here
    score = scorer(runtime, model, len(vocab), args)
    settings = (args.chunk, max_tokens, memory)
    run(score, vocab, texts[: args.chunk * 2], labels, *settings)  # warm-up: primitives, caches
    best = None
    for _ in range(args.repeats):
        encoding, scoring = run(score, vocab, texts, labels, *settings)
        if best is None or encoding + scoring < sum(best):
            best = (encoding, scoring)
    encoding, scoring = best
    total = encoding + scoring
    print(f"{name} ({cfg.embedding.dim}-d embedding, hidden {cfg.model.encoder.get('hidden_size', '-')}) | runtime {runtime} | "
          f"{len(texts):,} texts, {source} | chunks of {args.chunk}, batches of {args.batch} | best of {args.repeats}")
    print(f"  end to end: {len(texts) / total:,.0f} sentences/s ({total:.2f} s) | "
          f"encoding {encoding / total:.0%} ({len(texts) / encoding:,.0f}/s) | model {scoring / total:.0%} ({len(texts) / scoring:,.0f}/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--model", default="bilstm", help="one or several of textrnn,bilstm,rcnn,memn2n")
    parser.add_argument("--runtime", default="torch", help="torch, onnx, onnx-int8, or several: torch,onnx-int8")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--sentences", type=int, default=20000)
    parser.add_argument("--chunk", type=int, default=512, help="texts encoded at a time (predict's batch_size)")
    parser.add_argument("--batch", type=int, default=512, help="rows per model batch")
    parser.add_argument("--workers", type=int, default=1, help="batches scored at once, one intra-op thread each")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="SST-2 test sentences instead of fixed-length texts")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the model, e.g. embedding.dim=300")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vocab, texts, source = vocabulary_and_texts(Path(args.root), args.tokens, args.sentences, args.real)
    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} | workers {args.workers} | {platform.processor() or platform.machine()} | "
          f"load average {os.getloadavg()[0]:.1f}")
    for name in args.model.split(","):
        for runtime in args.runtime.split(","):
            measure(name, runtime, vocab, texts, source, args)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")

if __name__ == "__main__":
    main()
