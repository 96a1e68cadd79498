"""What a memory encoder (MemN2N) reads: a list of memory sentences and a query.

- A story + question (bAbI): the story sentences are the memories, oldest first, capped to the
  ``max_memories`` most recent (the paper's 50); the question is the query.
- A single text (SST, MR, tables): there is no question and often one sentence, so the text is cut
  into consecutive windows of ``window`` tokens, which become the memories (first words first,
  capped to the first ``max_memories`` windows, as flat encoders keep a document's start), and the
  query is empty: the model then uses a learned query vector ("what is the sentiment here?").
  Sentence splitting was the alternative, but SST and MR items are single sentences, which would
  leave one memory and nothing for attention to choose between.
"""

from __future__ import annotations

import numpy as np
import torch


def memories_and_query(
    context_ids: list[list[int]], text_ids: list[int], max_memories: int, window: int
) -> tuple[list[list[int]], list[int]]:
    if context_ids:
        return context_ids[-max_memories:], text_ids
    windows = [text_ids[start : start + window] for start in range(0, len(text_ids), window)]
    return windows[:max_memories], []


def pack_memories(rows: list[list[list[int]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ragged memories -> (memory [N, M, S] int32, memory_lengths [N], memory_widths [N]).

    Stored as int32 (half of int64: the 10k bAbI set holds ~180k stories of up to 50 sentences);
    batches widen their slice to int64. ``memory_widths`` is each example's longest sentence, so
    a batch can be trimmed to the longest sentence it actually contains.
    """
    n = len(rows)
    lengths = np.array([len(memories) for memories in rows], dtype=np.int64)
    widths = np.array([max((len(s) for s in memories), default=0) for memories in rows], dtype=np.int64)
    memory = np.zeros((n, max(1, int(lengths.max(initial=0))), max(1, int(widths.max(initial=0)))), dtype=np.int32)
    for i, memories in enumerate(rows):
        for j, sentence in enumerate(memories):
            memory[i, j, : len(sentence)] = sentence
    return torch.from_numpy(memory), torch.from_numpy(lengths), torch.from_numpy(widths)
