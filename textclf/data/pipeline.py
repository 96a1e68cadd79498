"""From examples to tensors: fit the vocabulary on train, encode every split once.

Training calls `prepare` (fits vocabulary and label list); evaluation and prediction call
`encode_examples` with the vocabulary and labels stored in a checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from textclf.data.batching import EncodedSplit, flat_sequence, pad_rows
from textclf.data.example import DataSource, Example, Splits
from textclf.data.memory import memories_and_query, pack_memories
from textclf.data.vocab import SEP_ID, Vocab
from textclf.errors import TextclfError, positive_int

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryLayout:
    """How examples become memories for memory encoders (see memory.py)."""

    max_memories: int = 50
    window: int = 6


@dataclass
class PreparedData:
    splits: Splits
    vocab: Vocab
    labels: list[str]
    groups: list[str]
    encoded: dict[str, EncodedSplit]


def training_texts(examples: Sequence[Example]) -> list[str]:
    """Every string the vocabulary should learn from: texts and their story sentences."""
    texts = [ex.text for ex in examples]
    texts.extend(sentence for ex in examples for sentence in ex.context)
    return texts


def group_names(examples: Sequence[Example]) -> list[str]:
    """Group names in natural order (qa2 before qa10)."""
    names = {ex.group for ex in examples if ex.group is not None}

    def natural(name: str):
        digits = "".join(ch for ch in name if ch.isdigit())
        return (name.rstrip("0123456789"), int(digits) if digits else -1, name)

    return sorted(names, key=natural)


def check_limits(max_tokens: int, memory: MemoryLayout | None) -> None:
    """Reject length limits below 1: Python's slicing would read 0 as "no limit" for stories
    (``ids[-0:]`` is everything) and as "nothing" for texts, both silently."""
    limits = {"data.max_tokens": max_tokens}
    if memory is not None:
        limits.update({"data.max_memories": memory.max_memories, "data.memory_window": memory.window})
    for key, value in limits.items():
        positive_int(value, key)


def recent_context(context: tuple[str, ...], max_tokens: int, memory: MemoryLayout | None) -> tuple[str, ...]:
    """The story sentences an encoder can still see: a flat sequence keeps its last ``max_tokens``
    tokens, and a sentence has at least one (only a punctuation-only sentence under
    tokenizer.drop_punctuation has none, which could leave a story of more than ``max_tokens``
    sentences a few tokens short); memories keep the last ``max_memories`` sentences. Encoding
    only these keeps a story of 10 000 sentences as cheap as one of a few hundred."""
    keep = max(max_tokens, memory.max_memories if memory is not None else 0)
    return context[-keep:]


def encode_examples(
    examples: Sequence[Example],
    vocab: Vocab,
    labels: Sequence[str],
    groups: Sequence[str],
    max_tokens: int,
    split_name: str = "data",
    memory: MemoryLayout | None = None,
    labelled: bool = True,
) -> EncodedSplit:
    """Encode examples into one pre-padded tensor set; fail clearly on labels the model lacks.
    ``labelled=False`` (new text to predict): labels are ignored and set to 0."""
    if not examples:
        raise TextclfError(f"the {split_name} split has no examples; check the data files.")
    check_limits(max_tokens, memory)
    label_index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({ex.label for ex in examples} - label_index.keys()) if labelled else []
    if unknown:
        shown = ", ".join(repr(x) for x in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise TextclfError(
            f"the {split_name} split has label(s) {shown} that the model was not trained on "
            f"(it knows {len(labels)}: {', '.join(map(repr, labels[:10]))}{' ...' if len(labels) > 10 else ''}). "
            "Evaluate on data with the same label set, or retrain with these labels in train."
        )
    text_ids = vocab.encode_many([ex.text for ex in examples])
    contexts = [recent_context(ex.context, max_tokens, memory) for ex in examples]
    sentence_ids = iter(vocab.encode_many([sentence for context in contexts for sentence in context]))
    rows, memory_rows, queries = [], [], []
    for context, ids in zip(contexts, text_ids):
        context_ids = [next(sentence_ids) for _ in context]
        rows.append(flat_sequence(context_ids, ids, SEP_ID, max_tokens))
        if memory is not None:
            memories, query = memories_and_query(context_ids, ids[:max_tokens], memory.max_memories, memory.window)
            memory_rows.append(memories)
            queries.append(query)
    tokens, lengths = pad_rows(rows)
    group_index = {name: i for i, name in enumerate(groups)}
    group = None
    if group_index:
        group = torch.tensor([group_index.get(ex.group, -1) for ex in examples], dtype=torch.long)
    encoded = EncodedSplit(
        tokens=tokens,
        lengths=lengths,
        labels=torch.tensor([label_index[ex.label] if labelled else 0 for ex in examples], dtype=torch.long),
        group=group,
    )
    if memory is not None:
        encoded.memory, encoded.memory_lengths, encoded.memory_widths = pack_memories(memory_rows)
        encoded.query, _ = pad_rows(queries)  # an empty query is one padding token: all zero
        encoded.query_lengths = torch.tensor([len(q) for q in queries], dtype=torch.long)
    return encoded


def build_source(data_cfg: DictConfig) -> DataSource:
    """The dataset object a ``data`` config describes. A key the dataset does not take (e.g.
    ``+data.colum=x``) or a bad ``_target_`` fails inside Hydra's instantiate, which would print
    Hydra's wrapper message; the constructor's own error is the useful part."""
    try:
        return instantiate(data_cfg)
    except InstantiationException as err:
        message = " ".join(line.strip() for line in str(err.__cause__ or err).strip().splitlines())
        if not message.endswith((".", "?")):
            message += "."
        raise TextclfError(
            f"cannot set up data {data_cfg.get('_target_', '?')}: {message} Check the data.* settings against "
            "conf/data/<name>.yaml (a key added with + must be one the dataset takes)."
        ) from None


def load_source(source: DataSource) -> Splits:
    """Download first if the config asks for it (data.download=true), then read."""
    source.fetch()
    return source.load()


def memory_layout(source: DataSource) -> MemoryLayout:
    return MemoryLayout(max_memories=source.max_memories, window=source.memory_window)


def prepare(
    source: DataSource,
    lowercase: bool = True,
    min_freq: int = 1,
    max_size: int | None = None,
    cjk_chars: bool = False,
    drop_punctuation: bool = False,
    with_memory: bool = False,
) -> PreparedData:
    """Read the dataset, fit vocabulary and labels on train, encode train/val/test (with memory
    tensors too when the encoder reads memories)."""
    splits = load_source(source)
    for name in ("train", "val", "test"):
        if not splits.split(name):
            raise TextclfError(f"{splits.description or type(source).__name__}: the {name} split is empty; check the data files.")
    texts = training_texts(splits.train)
    if with_memory:
        # The answer words too: MemN2N's tied answer layer (W^T = C^K) scores a class through its
        # label's word vectors, and bAbI answers such as yes, no, two or "n,w" never occur in a
        # story or question, so without this they would all be <unk> and indistinguishable.
        texts += [example.label for example in splits.train]
    vocab = Vocab.fit(texts, lowercase, min_freq, max_size, cjk_chars, drop_punctuation)
    labels = splits.labels()
    if with_memory:
        vocab.add_answer_tokens(labels)  # after the words, so every word keeps its id
    groups = group_names(splits.train + splits.test)
    encoded = {
        name: encode_examples(
            splits.split(name), vocab, labels, groups, source.max_tokens, name,
            memory=memory_layout(source) if with_memory else None,
        )
        for name in ("train", "val", "test")
    }
    log.info(
        "data: %s | train %d, val %d, test %d | vocab %d | %d labels | max tokens %d",
        splits.description, len(splits.train), len(splits.val), len(splits.test),
        len(vocab), len(labels), int(encoded["train"].lengths.max()),
    )
    return PreparedData(splits=splits, vocab=vocab, labels=labels, groups=groups, encoded=encoded)
