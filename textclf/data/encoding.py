"""From examples to token-id tensors: the `Encoding` a model was trained with.

An `Encoding` is everything that turns text into what a model reads: the fitted vocabulary, the
label list, the training groups (bAbI tasks), ``max_tokens`` (where a flat sequence is cut), the
memory layout for memory encoders (or None), and whether inputs are stories with questions.
Training builds it once (data/pipeline.py, `prepare`) and stores it in every checkpoint; the
loading layer gives it back, so evaluation, prediction, export and explanation encode new input
exactly as training did, without instantiating a dataset reader to learn how.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from textclf.core.errors import TextclfError, positive_int
from textclf.data.batching import EncodedSplit
from textclf.data.example import Example
from textclf.data.memory import memories_and_query, pack_memories
from textclf.data.vocab import SEP, SEP_ID, Vocab

T = TypeVar("T")  # a token: its id or its text


@dataclass(frozen=True)
class MemoryLayout:
    """How examples become memories for memory encoders (see memory.py)."""

    max_memories: int = 50
    window: int = 6


@dataclass
class Encoding:
    vocab: Vocab
    labels: list[str]
    groups: list[str]
    max_tokens: int
    memory: MemoryLayout | None = None  # None: the model reads one flat sequence
    stories: bool = False  # trained on stories + questions (bAbI format), not single texts
    multi_label: bool = False  # labels are sets: gold rows are 0/1 per label, not one class index

    def encode(
        self, examples: Sequence[Example], split_name: str = "data", labelled: bool = True,
        groups: Sequence[str] | None = None,
    ) -> EncodedSplit:
        """``examples`` as tensors; ``groups`` (default: the training groups) index `EncodedSplit.group`."""
        return encode_examples(
            examples, self.vocab, self.labels, self.groups if groups is None else groups, self.max_tokens,
            split_name, self.memory, labelled, self.multi_label,
        )

    def flat_words(self, examples: Sequence[Example]) -> list[list[str]]:
        """The words of each example's flat sequence (`flat_sequence`), position for position with
        the ``tokens`` of `encode` (an empty text: no words, where the tokens hold one padding id)."""
        words = self.vocab.words([ex.text for ex in examples], self.max_tokens)
        rows = []
        for ex, text_words in zip(examples, words):
            context = self.vocab.words(recent_context(ex.context, self.max_tokens, self.memory))
            rows.append(flat_sequence(context, text_words, SEP, self.max_tokens))
        return rows

    def settings(self) -> dict[str, Any]:
        """What a checkpoint stores beside the tokenizer, labels and groups (plain types only)."""
        return settings(self.max_tokens, self.memory, self.stories, self.multi_label)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], settings: dict[str, Any]) -> Encoding:
        """Rebuild from a checkpoint's tokenizer, labels and groups and from `settings()`."""
        memory = settings.get("memory")
        return cls(
            vocab=Vocab.from_json(checkpoint["tokenizer"]),
            labels=list(checkpoint["labels"]),
            groups=list(checkpoint["groups"]),
            max_tokens=int(settings["max_tokens"]),
            memory=None if memory is None else MemoryLayout(**memory),
            stories=bool(settings["stories"]),
            multi_label=bool(settings.get("multi_label", False)),  # absent before multi-label: single-label
        )


def settings(max_tokens: int, memory: MemoryLayout | None, stories: bool, multi_label: bool = False) -> dict[str, Any]:
    """`Encoding.settings` from its parts (also for checkpoints that predate the stored encoding)."""
    return {
        "max_tokens": max_tokens, "memory": None if memory is None else asdict(memory), "stories": stories,
        "multi_label": multi_label,
    }


def flat_sequence(context_ids: list[list[T]], text_ids: list[T], sep_id: T, max_tokens: int) -> list[T]:
    """The token sequence a flat encoder reads: story sentences, ``<sep>``, question (as ids, or as
    words for `Encoding.flat_words`).

    Too long for ``max_tokens``: a story keeps its end (the question and the most recent facts,
    which is where bAbI answers live); a single text keeps its beginning, as is usual for documents.
    """
    if not context_ids:
        return text_ids[:max_tokens]
    sequence = list(itertools.chain(itertools.chain.from_iterable(context_ids), (sep_id,), text_ids))
    return sequence[-max_tokens:]


def pad_rows(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ragged id lists into a 0-padded [N, T] tensor and their lengths (an empty row counts as
    length 1 of padding, since packed RNNs reject zero lengths and an empty text is valid input).

    One flat array and one masked assignment rather than a tensor per row: prediction encodes
    every input chunk this way, and the per-row version cost ~4 us a row (10k rows: ~40 ms).
    """
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = max(1, int(counts.max(initial=0)))
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(counts.sum()))
    padded = np.zeros((len(rows), width), dtype=np.int64)
    padded[np.arange(width) < counts[:, None]] = flat  # row-major order: each row's ids, left-aligned
    return torch.from_numpy(padded), torch.from_numpy(np.maximum(counts, 1))


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


def check_known_labels(examples: Sequence[Example], labels: Sequence[str], split_name: str) -> None:
    unknown = sorted({label for ex in examples for label in ex.labels} - set(labels))
    if unknown:
        shown = ", ".join(repr(x) for x in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise TextclfError(
            f"the {split_name} split has label(s) {shown} that the model was not trained on "
            f"(it knows {len(labels)}: {', '.join(map(repr, labels[:10]))}{' ...' if len(labels) > 10 else ''}). "
            "Evaluate on data with the same label set, or retrain with these labels in train."
        )


def label_tensor(examples: Sequence[Example], labels: Sequence[str], labelled: bool, multi_label: bool) -> torch.Tensor:
    """Gold labels as the model's loss reads them: class indices [N] (long), or for multi-label
    data 0/1 per label [N, C] (float, as binary cross-entropy takes it). Unlabelled: all 0."""
    label_index = {label: i for i, label in enumerate(labels)}
    if not multi_label:
        if labelled and any(isinstance(ex.label, tuple) for ex in examples):
            raise TextclfError(
                "this model was trained single-label (one class per text), but the data is read as label sets "
                "(task=multi_label); read it as one label per text (task=single_label), or train a multi-label model."
            )
        return torch.tensor([label_index[ex.label] if labelled else 0 for ex in examples], dtype=torch.long)
    targets = torch.zeros((len(examples), len(labels)), dtype=torch.float32)
    if labelled:
        for row, ex in enumerate(examples):
            targets[row, [label_index[label] for label in ex.labels]] = 1.0
    return targets


def row_weights(examples: Sequence[Example]) -> torch.Tensor | None:
    """[N] the examples' weights, or None when all are 1 (no data.weight_column): the loss and the
    metrics then skip weighting altogether."""
    weights = [ex.weight for ex in examples]
    return None if all(w == 1.0 for w in weights) else torch.tensor(weights, dtype=torch.float32)


def encode_examples(
    examples: Sequence[Example],
    vocab: Vocab,
    labels: Sequence[str],
    groups: Sequence[str],
    max_tokens: int,
    split_name: str = "data",
    memory: MemoryLayout | None = None,
    labelled: bool = True,
    multi_label: bool = False,
) -> EncodedSplit:
    """Encode examples into one pre-padded tensor set; fail clearly on labels the model lacks.
    ``labelled=False`` (new text to predict): labels are ignored and set to 0."""
    if not examples:
        raise TextclfError(f"the {split_name} split has no examples; check the data files.")
    check_limits(max_tokens, memory)
    if labelled:
        check_known_labels(examples, labels, split_name)
    text_ids = vocab.encode_many([ex.text for ex in examples], max_tokens)  # all that flat and memory encoders read of it
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
        labels=label_tensor(examples, labels, labelled, multi_label),
        group=group,
        weights=row_weights(examples) if labelled else None,
    )
    if memory is not None:
        encoded.memory, encoded.memory_lengths, encoded.memory_widths = pack_memories(memory_rows)
        encoded.query, _ = pad_rows(queries)  # an empty query is one padding token: all zero
        encoded.query_lengths = torch.tensor([len(q) for q in queries], dtype=torch.long)
    return encoded
