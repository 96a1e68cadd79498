"""MemN2N: Sukhbaatar, Szlam, Weston, Fergus (2015), "End-To-End Memory Networks".

The story is a list of sentences x_1..x_n (oldest first), the question is q. Each sentence is
written to memory twice, once as an input (key) vector m_i and once as an output (value) c_i:

    m_i = sum_j l_j * A x_ij + T_A(i)        c_i = sum_j l_j * C x_ij + T_C(i)        (sec. 4.1)
    u^1 = sum_j l_j * B q_j

with position encoding (PE), l_kj = (1 - j/J) - (k/d)(1 - 2j/J), j = 1..J the word position,
k = 1..d the embedding dimension and J the sentence's real length (padding does not count); without
PE, l_j = 1 (bag of words). Temporal encoding (TE) adds a learned row of T_A, T_C in
R^{memory_size x d}, indexed *back in time*: the most recent sentence has i = 0. One hop reads

    p_i = softmax_i(u^T m_i)        (1)       (linear start, LS: p_i = u^T m_i, no softmax)
    o   = sum_i p_i c_i             (2)

and K hops are stacked, u^{k+1} = u^k + o^k, or u^{k+1} = H u^k + o^k with layer-wise tying. The
answer is a_hat = softmax(W u^{K+1}) (3); here W is the classifier's head (a Linear from d to the
classes, outside this module), so this encoder returns u^{K+1} [B, d].

Weight tying (sec. 2.2):
  * ``adjacent``: A^{k+1} = C^k, B = A^1 (and T_A^{k+1} = T_C^k). A^1 = B is the shared `Embedding`
    passed to `forward` (with its dropout); this module owns C^1..C^K, so K + 1 tables in all. The
    paper also ties W^T = C^K; answers here are classes, not words, so nothing is tied to the head:
    `answer_embedding` exposes C^K for a caller that wants to.
  * ``layerwise`` (RNN-like): A^1 = ... = A^K, C^1 = ... = C^K, plus the d x d map H. A^k is the
    shared embedding and this module owns the one C (and one T_A, one T_C). The paper keeps a
    separate B; by default B is the shared embedding too (one word table for questions and memory
    keys, which is what the rest of the project's encoders learn), ``separate_query_embedding=True``
    gives B its own table as in the paper.

Training tricks (sec. 4.2): *linear start* is the plain bool attribute `linear_start` (a trainer
sets it for the first epochs, then clears it); *random noise* (RN) adds empty memories to stories
at training time (``random_noise`` = probability, see `temporal_index`), which regularises T_A.

Input: ``batch.memory`` [B, M, S] sentence token ids (oldest first, right-padded, 0 = padding,
rows m >= memory_lengths[b] all zero), ``batch.memory_lengths`` [B] (0 allowed: an empty story gives
o = 0), ``batch.query`` [B, Q] (an all-zero row, or no query at all, means "no question": u^1 is then
the learned ``query_vector``, for plain single-text classification).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from textclf.data.batching import Batch

TYINGS = ("adjacent", "layerwise")
DENSE_BAG_VOCAB = 4096  # up to this vocabulary size, sentences are encoded as dense bag matrices


def position_coefficients(ids: torch.Tensor, padding_idx: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) [..., S] with l_kj = a_j + (k/d) b_j: a_j = 1 - j/J, b_j = 2j/J - 1, 0 on padding.

    Splitting PE this way turns sum_j l_kj A x_ij into two weighted bags of words,
    sum_j a_j A x_ij + (k/d) sum_j b_j A x_ij, which `F.embedding_bag` computes without ever
    materialising the [..., S, d] word vectors (the bulk of MemN2N's time on CPU otherwise).
    j = 1..J counts the real (non-padding) tokens of each sentence and J is their number, so a
    sentence is encoded the same however much padding follows it.
    """
    real = ids != padding_idx
    dtype = torch.get_default_dtype()
    j = real.cumsum(dim=-1).to(dtype)  # 1-based position among real tokens
    J = real.sum(dim=-1, keepdim=True).clamp(min=1).to(dtype)
    a = (1 - j / J) * real
    b = (2 * j / J - 1) * real
    return a, b


def position_encoding(ids: torch.Tensor, dim: int, padding_idx: int = 0) -> torch.Tensor:
    """l [..., S, dim] for token ids [..., S]: l_kj = (1 - j/J) - (k/d)(1 - 2j/J), 0 on padding."""
    a, b = position_coefficients(ids, padding_idx)
    k = torch.arange(1, dim + 1, device=ids.device, dtype=a.dtype)  # [d], 1-based
    return a.unsqueeze(-1) + (k / dim) * b.unsqueeze(-1)


def _recent_positions(
    memory_lengths: torch.Tensor, num_memories: int, memory_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input positions [B, memory_size] of each row's memory_size most recent memories (oldest
    first) and whether each slot is real [B, memory_size]; invalid slots point at a valid index."""
    lengths = memory_lengths.clamp(min=0, max=num_memories)
    start = (lengths - memory_size).clamp(min=0)  # [B]
    slot = torch.arange(memory_size, device=lengths.device)
    positions = (start.unsqueeze(1) + slot).clamp(max=num_memories - 1)
    real = slot.unsqueeze(0) < lengths.clamp(max=memory_size).unsqueeze(1)
    return positions, real


def recent_memories(
    memory: torch.Tensor, memory_lengths: torch.Tensor, memory_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep each row's ``memory_size`` most recent real memories: memory [B, M, S], lengths [B] ->
    (memory [B, min(M, memory_size), S], lengths clamped to memory_size); still oldest first and
    right-padded. Rows with at most memory_size memories are unchanged."""
    num_memories = memory.shape[1]
    if num_memories <= memory_size:
        return memory, memory_lengths
    positions, real = _recent_positions(memory_lengths, num_memories, memory_size)
    index = positions.unsqueeze(-1).expand(-1, -1, memory.shape[2])
    kept = memory.gather(1, index).masked_fill(~real.unsqueeze(-1), 0)
    return kept, memory_lengths.clamp(max=memory_size)


def temporal_index(
    memory_lengths: torch.Tensor,
    num_memories: int,
    memory_size: int,
    inserted: torch.Tensor | None = None,
) -> torch.Tensor:
    """Row of T_A / T_C for each memory slot: [B, M] long, counting back in time.

    A real memory at position t (0 = oldest) of a story of n memories gets i = n - 1 - t, so the
    most recent one is 0. ``inserted`` [B, M] (0/1 or counts) is the number of empty memories
    inserted right after each memory (between it and the next more recent one, or after the last):
    every memory older than an insertion moves back in time by it, i.e.
    i_t = n - 1 - t + sum_{s >= t, s < n} inserted_s. Indices are clamped to memory_size - 1;
    padding slots get 0 (they are masked out of the attention anyway).
    """
    positions = torch.arange(num_memories, device=memory_lengths.device)
    real = positions.unsqueeze(0) < memory_lengths.unsqueeze(1)  # [B, M]
    index = memory_lengths.unsqueeze(1) - 1 - positions.unsqueeze(0)
    if inserted is not None:
        inserted = inserted.to(index.dtype) * real
        index = index + inserted.flip(1).cumsum(1).flip(1)  # suffix sums: insertions at s >= t
    return index.clamp(max=memory_size - 1).masked_fill(~real, 0)


class HopTables(NamedTuple):
    """The weights hop k reads with: input table A^k, output table C^k, and T_A^k, T_C^k (None
    without temporal encoding). A^k and C^k map ids [..., S] -> [..., S, d]."""

    A: nn.Module
    C: nn.Module
    T_A: nn.Parameter | None
    T_C: nn.Parameter | None


class MemN2N(nn.Module):
    """(batch, embedding) -> u^{K+1} [B, d]; with ``return_attention`` also p [B, K, M].

    input_size is d (the shared embedding's dim); vocab_size sizes the tables this module owns.
    """

    reads_memory = True

    def __init__(
        self,
        input_size: int,
        vocab_size: int,
        hops: int = 3,
        memory_size: int = 50,
        tying: str = "adjacent",
        position_encoding: bool = True,
        temporal_encoding: bool = True,
        random_noise: float = 0.1,
        init_std: float = 0.1,
        separate_query_embedding: bool = False,
    ) -> None:
        super().__init__()
        if tying not in TYINGS:
            raise ValueError(f"tying must be one of {TYINGS}, got {tying!r}")
        if hops < 1:
            raise ValueError(f"hops must be >= 1, got {hops}")
        if memory_size < 1:
            raise ValueError(f"memory_size must be >= 1, got {memory_size}")
        if not 0.0 <= random_noise <= 1.0:
            raise ValueError(f"random_noise is a probability, got {random_noise}")
        self.input_size = input_size
        self.output_size = input_size  # d: u^{K+1}
        self.vocab_size = vocab_size
        self.hops = hops
        self.memory_size = memory_size
        self.tying = tying
        self.position_encoding = position_encoding
        self.temporal_encoding = temporal_encoding
        self.random_noise = random_noise
        self.init_std = init_std
        self.linear_start = False  # LS: flipped by the trainer

        # Adjacent: C^1..C^K (A^{k+1} = C^k). Layer-wise: the one C shared by all hops.
        owned = hops if tying == "adjacent" else 1
        self.C = nn.ModuleList(self._table() for _ in range(owned))
        self.B = self._table() if separate_query_embedding else None
        if temporal_encoding:
            # T_A is T_A^1 (adjacent) or the one T_A (layer-wise); every other T_A^k is a T_C.
            self.T_A = self._matrix(memory_size, input_size)
            self.T_C = nn.ParameterList(self._matrix(memory_size, input_size) for _ in range(owned))
        else:
            self.T_A = None
            self.T_C = None
        self.H = nn.Linear(input_size, input_size, bias=False) if tying == "layerwise" else None
        if self.H is not None:
            nn.init.normal_(self.H.weight, mean=0.0, std=init_std)
        self.query_vector = self._matrix(input_size)  # u^1 when there is no question
        # k/d for k = 1..d, the embedding-dimension part of PE; a buffer so it moves with the model.
        self.register_buffer("pe_scale", torch.arange(1, input_size + 1) / input_size, persistent=False)

    def get_extra_state(self) -> dict:
        # Saved with the weights (state_dict), so a checkpoint taken during linear start is
        # evaluated later in the same mode it was validated in.
        return {"linear_start": bool(self.linear_start)}

    def set_extra_state(self, state: dict) -> None:
        self.linear_start = bool(state.get("linear_start", False))

    def _table(self) -> nn.Embedding:
        table = nn.Embedding(self.vocab_size, self.input_size, padding_idx=0)
        nn.init.normal_(table.weight, mean=0.0, std=self.init_std)
        with torch.no_grad():
            table.weight[0].zero_()
        return table

    def _matrix(self, *shape: int) -> nn.Parameter:
        return nn.Parameter(torch.randn(*shape) * self.init_std)

    def hop_tables(self, k: int, embedding: nn.Module) -> HopTables:
        """A^k, C^k, T_A^k, T_C^k for hop k = 1..K, following the tying scheme."""
        if not 1 <= k <= self.hops:
            raise ValueError(f"hop k must be in 1..{self.hops}, got {k}")
        if self.tying == "layerwise":
            T_C = self.T_C[0] if self.T_C is not None else None
            return HopTables(A=embedding, C=self.C[0], T_A=self.T_A, T_C=T_C)
        A = embedding if k == 1 else self.C[k - 2]
        if self.T_C is None:
            return HopTables(A=A, C=self.C[k - 1], T_A=None, T_C=None)
        T_A = self.T_A if k == 1 else self.T_C[k - 2]
        return HopTables(A=A, C=self.C[k - 1], T_A=T_A, T_C=self.T_C[k - 1])

    def query_embedding(self, embedding: nn.Module) -> nn.Module:
        """B: the shared embedding (= A^1), unless ``separate_query_embedding``."""
        return self.B if self.B is not None else embedding

    def answer_embedding(self) -> nn.Embedding:
        """C^K, the table the paper ties to the answer matrix (W^T = C^K); not tied here."""
        return self.C[-1]

    def bags(self, ids: torch.Tensor) -> torch.Tensor:
        """The sentences ids [..., S] as weighted bags of words, ready to multiply with any table.

        Small vocabularies (bAbI: ~150 words): a dense [P, N, V] matrix of per-word weight sums,
        P = 2 with PE (the a and b coefficients) else 1, so a table's sentence vectors are one
        matrix product, bags @ weight, in both directions of autograd. Built once per forward and
        shared by all K+1 tables; a training step (B=32, M=50, S=12, d=50, one thread) took
        14.3 ms this way against 28.7 ms looking up [N, S, d] word vectors per table.
        Large vocabularies (SST: ~15k words): the same weights as [P, N, S], applied to looked-up
        word vectors, since a dense [N, V] would be too big.
        """
        weights = position_coefficients(ids) if self.position_encoding else ((ids != 0).to(torch.get_default_dtype()),)
        flat = ids.reshape(-1, ids.shape[-1])
        coefficients = torch.stack([w.reshape(flat.shape) for w in weights])  # [P, N, S]
        if self.vocab_size > DENSE_BAG_VOCAB:
            return coefficients
        index = flat.unsqueeze(0).expand_as(coefficients)
        return coefficients.new_zeros(len(weights), flat.shape[0], self.vocab_size).scatter_add_(2, index, coefficients)

    def sentence_vectors(self, ids: torch.Tensor, table: nn.Module, bags: torch.Tensor | None = None) -> torch.Tensor:
        """ids [..., S] -> sum_j l_j * table(x_j) [..., d] (l_j = 1 on real tokens without PE).

        ``table`` is the shared `Embedding` (its dropout applies to the sentence vectors) or an
        nn.Embedding this module owns; either way only its weight matrix is read (so the
        Embedding's word_dropout does not apply to MemN2N). ``bags``: `bags(ids)`, if computed.
        """
        return self.sentence_vectors_many(ids, [table], bags)[0]

    def sentence_vectors_many(
        self, ids: torch.Tensor, tables: list[nn.Module], bags: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """`sentence_vectors` for several tables at once: their weights side by side make one
        [V, n*d] matrix, so each forward (and backward) is one matrix product for all K+1 tables
        rather than one per table; small models are bound by the number of operations."""
        bags = self.bags(ids) if bags is None else bags
        matrix = torch.cat([table.weight for table in tables], dim=1) if len(tables) > 1 else tables[0].weight
        if bags.shape[-1] == self.vocab_size and self.vocab_size <= DENSE_BAG_VOCAB:
            parts = bags.to(matrix.dtype) @ matrix  # [P, N, n*d]
        else:
            words = F.embedding(ids.reshape(-1, ids.shape[-1]), matrix)  # [N, S, n*d]
            parts = torch.einsum("pns,nsd->pnd", bags.to(matrix.dtype), words)
        # unbind, not indexing: its backward stacks the gradients instead of filling a zero
        # tensor per slice, which showed up as the largest single cost of a training step.
        parts = [part.view(*ids.shape[:-1], len(tables), self.input_size) for part in parts.unbind(0)]
        vectors = parts[0]
        if len(parts) == 2:  # PE: l_kj = a_j + (k/d) b_j, the same k/d for every table
            vectors = vectors + self.pe_scale.to(matrix.dtype) * parts[1]
        out = []
        for table, v in zip(tables, vectors.unbind(-2)):
            dropout = getattr(table, "dropout", None)
            out.append(dropout(v) if isinstance(dropout, nn.Dropout) else v)
        return out

    def initial_query(self, batch: Batch, embedding: nn.Module, batch_size: int) -> torch.Tensor:
        """u^1 [B, d]: the embedded question, or ``query_vector`` for rows without one."""
        query_vector = self.query_vector.unsqueeze(0).expand(batch_size, -1)
        query = batch.query
        if query is None or query.shape[-1] == 0:
            return query_vector
        u = self.sentence_vectors(query, self.query_embedding(embedding))
        has_query = (query != 0).any(dim=-1, keepdim=True)
        return torch.where(has_query, u, query_vector.to(u.dtype))

    def forward(
        self, batch: Batch, embedding: nn.Module, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """u^{K+1} [B, d], or (u^{K+1}, p [B, K, M]) with p over ``batch.memory`` in input order
        (0 on padding and on memories beyond the memory_size most recent)."""
        if batch.memory is None:
            raise ValueError("MemN2N reads batch.memory ([B, M, S] story sentences), but it is None")
        memory_in = batch.memory
        batch_size, num_in = memory_in.shape[:2]
        lengths_in = batch.memory_lengths
        if lengths_in is None:  # right-padded: count the non-empty sentences
            lengths_in = (memory_in != 0).any(dim=-1).sum(dim=-1)
        lengths_in = lengths_in.to(memory_in.device).clamp(min=0, max=num_in)
        memory, lengths = recent_memories(memory_in, lengths_in, self.memory_size)
        num_memories = memory.shape[1]
        real = torch.arange(num_memories, device=memory.device).unsqueeze(0) < lengths.unsqueeze(1)

        time = None
        if self.temporal_encoding:
            inserted = None
            if self.training and self.random_noise > 0:
                # RN: an empty memory is inserted right after each real memory with probability
                # random_noise. We only shift the time indices (every memory older than an
                # insertion moves back by one) and do not give the empty memories attention slots
                # of their own (they would have m = T_A(i), c = T_C(i)): the point of RN, keeping
                # T_A from fitting exact positions of the training stories, comes from the shift;
                # extra slots would cost memory, make attention no longer line up with the input
                # memories, and let empty memories take attention mass the model never sees at
                # test time.
                draw = torch.rand(batch_size, num_memories, device=memory.device)
                inserted = draw < self.random_noise
            time = temporal_index(lengths, num_memories, self.memory_size, inserted)

        # Each distinct table reads the memories once per forward, all in one product, and each
        # distinct (table, temporal matrix) pair is added once: with adjacent tying m^{k+1} = c^k,
        # with layer-wise tying m and c are the same at every hop.
        hop_tables = [self.hop_tables(k, embedding) for k in range(1, self.hops + 1)]
        tables = list({id(t): t for hop in hop_tables for t in (hop.A, hop.C)}.values())
        vectors_of = dict(zip(map(id, tables), self.sentence_vectors_many(memory, tables)))
        cache: dict[tuple[int, int], torch.Tensor] = {}

        def encode(table: nn.Module, T: nn.Parameter | None) -> torch.Tensor:
            key = (id(table), id(T))
            if key not in cache:
                vectors = vectors_of[id(table)]  # [B, M, d]
                if T is not None:
                    vectors = vectors + T[time].to(vectors.dtype)
                cache[key] = vectors
            return cache[key]

        u = self.initial_query(batch, embedding, batch_size)  # u^1 [B, d]
        attention = []
        for A, C, T_A, T_C in hop_tables:
            m = encode(A, T_A)  # [B, M, d]
            c = encode(C, T_C)
            scores = torch.bmm(m, u.unsqueeze(-1)).squeeze(-1)  # u^T m_i: [B, M]
            if self.linear_start:
                p = scores.masked_fill(~real, 0.0)
            else:
                # A finite fill, not -inf: a story with no memories would otherwise give
                # softmax(-inf, ..., -inf) = NaN; its p is zeroed instead, so o = 0.
                fill = torch.finfo(scores.dtype).min
                p = torch.softmax(scores.masked_fill(~real, fill), dim=-1).masked_fill(~real, 0.0)
            o = torch.bmm(p.unsqueeze(1), c).squeeze(1)  # sum_i p_i c_i: [B, d]
            u = (self.H(u) if self.H is not None else u) + o
            attention.append(p)

        if not return_attention:
            return u
        p_all = torch.stack(attention, dim=1)  # [B, K, M kept]
        if num_memories != num_in:  # back to input positions; dropped memories get 0
            positions, _ = _recent_positions(lengths_in, num_in, self.memory_size)
            index = positions.unsqueeze(1).expand(-1, self.hops, -1)
            p_all = p_all.new_zeros(batch_size, self.hops, num_in).scatter_add(2, index, p_all)
        return u, p_all
