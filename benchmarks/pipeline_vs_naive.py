"""textclf's data pipeline against a naive DataLoader reference, per encoder, in one run.

    python benchmarks/pipeline_vs_naive.py [--root ../shared/data] [--threads N] [--steps 150]
        [--repeats 3] [--models textrnn,bilstm,rcnn,memn2n] [--set +optimizer.fused=true ...]

For each encoder the same model (same config, same initial weights), the same optimizer, loss,
gradient clipping and batch sizes are fed two ways:

* textclf: `prepare` -> `BatchIterator` (length-bucketed batches sliced from pre-padded tensors,
  trimmed to each batch's longest sequence) -> model, as train.py does; inference through
  `textclf.inference.predictor.Predictor`;
* naive: a `torch.utils.data.Dataset` of per-example Python lists, a `DataLoader` whose collate_fn
  pads every batch to the longest sequence of the whole dataset (fixed padding, per-item Python
  work), shuffled batches for training.

Training throughput is `--steps` optimizer steps after a few warm-up steps; inference is one pass
over the test split with the trainer's eval batch size. Each is the best of `--repeats`, textclf and
naive runs alternating so that load on a shared machine hits both alike. Prints examples/second and
the ratio textclf / naive. The text encoders read SST-2 (``ROOT/sst``), MemN2N reads bAbI 1k joint
(``ROOT/babi/en``); without them the script uses a synthetic SST-like corpus and textclf's own
generated bAbI tasks (data=babi_gen), so it runs anywhere (the numbers are then not comparable).
``--set`` adds a Hydra override to every encoder's config (both pipelines), e.g. to try an
optimizer setting.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from textclf.data.batching import Batch, BatchIterator
from textclf.data.memory import memories_and_query
from textclf.data.pipeline import PreparedData, prepare
from textclf.inference.predictor import Predictor, TorchRuntime
from textclf.models.build import build_model, reads_memory

MODELS = ("textrnn", "bilstm", "rcnn", "memn2n")
WARMUP_STEPS = 5


# --- the naive reference --------------------------------------------------------------------------


class NaiveDataset(Dataset):
    """One example = Python lists: (token ids, label) for flat encoders; (memory sentences as id
    lists, query ids, label) for memory encoders."""

    def __init__(self, data: PreparedData, split: str, memory: bool, max_tokens: int, max_memories: int, window: int):
        examples = data.splits.split(split)
        label_index = {label: i for i, label in enumerate(data.labels)}
        self.labels = [label_index[ex.label] for ex in examples]
        texts = data.vocab.encode_many([ex.text for ex in examples])
        if not memory:
            self.items = [ids[:max_tokens] for ids in texts]
            return
        contexts = data.vocab.encode_many([sentence for ex in examples for sentence in ex.context])
        position = 0
        self.items = []
        for ex, ids in zip(examples, texts):
            context = contexts[position : position + len(ex.context)]
            position += len(ex.context)
            self.items.append(memories_and_query(context, ids[:max_tokens], max_memories, window))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i], self.labels[i]


def pad_to(rows: list[list[int]], width: int) -> torch.Tensor:
    out = torch.zeros(len(rows), width, dtype=torch.long)
    for r, ids in enumerate(rows):
        if ids:
            out[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def fixed_padding_collate(dataset: NaiveDataset, memory: bool) -> Callable[[list], Batch]:
    """A collate_fn padding every batch to the longest sequence (and most memories, longest
    sentence, longest query) of the whole dataset, item by item."""
    if not memory:
        longest = max(1, max(len(ids) for ids in dataset.items))

        def collate(items):
            rows = [ids for ids, _ in items]
            return Batch(
                tokens=pad_to(rows, longest),
                lengths=torch.tensor([max(1, len(ids)) for ids in rows]),
                labels=torch.tensor([label for _, label in items]),
            )

        return collate
    most = max(1, max(len(memories) for memories, _ in dataset.items))
    widest = max(1, max((len(s) for memories, _ in dataset.items for s in memories), default=1))
    longest_query = max(1, max(len(query) for _, query in dataset.items))

    def collate(items):
        memory_tensor = torch.zeros(len(items), most, widest, dtype=torch.long)
        for b, ((memories, _), _) in enumerate(items):
            for m, sentence in enumerate(memories):
                memory_tensor[b, m, : len(sentence)] = torch.tensor(sentence, dtype=torch.long)
        query = pad_to([q for (_, q), _ in items], longest_query)
        return Batch(
            tokens=query,
            lengths=torch.tensor([max(1, len(q)) for (_, q), _ in items]),
            labels=torch.tensor([label for _, label in items]),
            memory=memory_tensor,
            memory_lengths=torch.tensor([len(memories) for (memories, _), _ in items]),
            query=query,
        )

    return collate


# --- shared training and inference loops ------------------------------------------------------------


def forever(make: Callable[[], Iterable[Batch]]) -> Iterator[Batch]:
    """Batches across epochs (a new epoch, reshuffled, whenever one runs out)."""
    return itertools.chain.from_iterable(make() for _ in itertools.count())


def train_rate(model, optimizer, batches: Iterator[Batch], cfg: DictConfig, steps: int) -> float:
    """Examples per second over `steps` optimizer steps, after WARMUP_STEPS untimed ones. The step
    is train.py's: forward, loss, zero_grad, backward, clipping, optimizer step."""
    tc = cfg.trainer
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    seen = 0
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            start, seen = time.perf_counter(), 0
        batch = next(batches)
        loss = F.cross_entropy(model(batch), batch.labels, reduction=tc.loss_reduction)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        optimizer.step()
        seen += len(batch)
    return seen / (time.perf_counter() - start)


@torch.inference_mode()
def naive_predict(model, loader: DataLoader) -> torch.Tensor:
    model.eval()
    return torch.cat([model(batch).softmax(dim=-1) for batch in loader])


def timed_rate(fn: Callable[[], object], examples: int) -> float:
    start = time.perf_counter()
    fn()
    return examples / (time.perf_counter() - start)


# --- data ---------------------------------------------------------------------------------------------


def synthetic_sst(folder: Path, seed: int = 0) -> Path:
    """SST-2-format files with made-up sentences (Zipf-like word use, SST-like lengths)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(8000)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    for split, n in (("train", 6920), ("dev", 872), ("test", 1821)):
        lines = []
        for _ in range(n):
            length = min(56, max(2, int(rng.gauss(19, 9))))
            lines.append(f"{rng.randint(0, 1)} " + " ".join(rng.choices(words, weights, k=length)))
        (folder / f"stsa.binary.{split}").write_text("\n".join(lines) + "\n")
    return folder


def config_for(name: str, root: Path, scratch: Path, extra: list[str]) -> tuple[DictConfig, str]:
    if name == "memn2n":
        babi = root / "babi" / "en"
        if (babi / "qa1_single-supporting-fact_train.txt").is_file():
            overrides, source = ["experiment=babi1k_memn2n_joint", f"data.root={babi}"], f"bAbI 1k joint ({babi})"
        else:
            overrides = ["experiment=babi1k_memn2n_joint", "data=babi_gen", f"data.root={scratch / 'babi_gen'}"]
            source = "generated bAbI (data=babi_gen; no real bAbI under --root)"
    else:
        sst = root / "sst"
        if not (sst / "stsa.binary.train").is_file():
            sst = scratch / "sst"
            if not sst.is_dir():
                sst.mkdir()
                synthetic_sst(sst)
            source = "synthetic SST-like corpus (no SST under --root)"
        else:
            source = f"SST-2 ({sst})"
        overrides = ["data=sst2", f"model={name}", f"data.root={sst}"]
    with initialize_config_module("textclf.conf", version_base="1.3"):
        return compose("train", overrides=[*overrides, *extra]), source


# --- one encoder ---------------------------------------------------------------------------------------


def measure(name: str, root: Path, scratch: Path, args) -> dict:
    cfg, source = config_for(name, root, scratch, args.set)
    tc = cfg.trainer
    memory = reads_memory(cfg)
    data_source = instantiate(cfg.data)
    data = prepare(data_source, cfg.tokenizer, with_memory=memory)
    layout = (data_source.max_tokens, data_source.max_memories, data_source.memory_window)
    naive_train = NaiveDataset(data, "train", memory, *layout)
    naive_test = NaiveDataset(data, "test", memory, *layout)

    def fresh_model():
        torch.manual_seed(0)  # the same initial weights for both pipelines
        model = build_model(cfg, len(data.vocab), len(data.labels), data.vocab.encode_many(data.labels))
        optimizer = instantiate(cfg.optimizer)(params=[p for p in model.parameters() if p.requires_grad])
        return model, optimizer

    ours_model, ours_opt = fresh_model()
    naive_model, naive_opt = fresh_model()
    ours_batches = forever(lambda: BatchIterator(data.encoded["train"], tc.batch_size, shuffle=True, seed=0))
    loader = DataLoader(naive_train, tc.batch_size, shuffle=True, collate_fn=fixed_padding_collate(naive_train, memory))
    naive_batches = forever(lambda: loader)
    test_split = data.encoded["test"]
    test_loader = DataLoader(naive_test, tc.eval_batch_size, collate_fn=fixed_padding_collate(naive_test, memory))
    n_test = len(test_split)

    rates: dict[str, list[float]] = {"train": [], "naive_train": [], "infer": [], "naive_infer": []}
    for _ in range(args.repeats):
        rates["train"].append(train_rate(ours_model, ours_opt, ours_batches, cfg, args.steps))
        rates["naive_train"].append(train_rate(naive_model, naive_opt, naive_batches, cfg, args.steps))
        predictor = Predictor(TorchRuntime(ours_model), batch_size=tc.eval_batch_size)
        rates["infer"].append(timed_rate(lambda: predictor.proba(test_split), n_test))
        rates["naive_infer"].append(timed_rate(lambda: naive_predict(naive_model, test_loader), n_test))
    best = {key: max(values) for key, values in rates.items()}
    best.update(source=source, batch=tc.batch_size, eval_batch=tc.eval_batch_size)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                        help="folder with sst/ and babi/en (default: ../shared/data beside the checkout)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=150, help="timed training steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--set", action="append", default=[], metavar="OVERRIDE",
                        help="Hydra override for every encoder, e.g. +optimizer.fused=true (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} | threads {torch.get_num_threads()} | {platform.processor() or platform.machine()}")
    print(f"training: {args.steps} steps after {WARMUP_STEPS} warm-up; inference: the test split; best of {args.repeats}")
    if args.set:
        print(f"overrides: {' '.join(args.set)}")
    print("| encoder | data | batch | train ex/s textclf | naive | ratio | inference ex/s textclf | naive | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            r = measure(name, Path(args.root), Path(scratch), args)
            print(
                f"| {name} | {r['source']} | {r['batch']} / {r['eval_batch']} "
                f"| {r['train']:,.0f} | {r['naive_train']:,.0f} | {r['train'] / r['naive_train']:.1f}x "
                f"| {r['infer']:,.0f} | {r['naive_infer']:,.0f} | {r['infer'] / r['naive_infer']:.1f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
