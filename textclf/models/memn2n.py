"""MemN2N: Sukhbaatar, Szlam, Weston, Fergus (2015), "End-To-End Memory Networks".

The story is a list of sentences x_1..x_n (oldest first), the question is q. Each sentence is
written to memory twice, once as an input (key) vector m_i and once as an output (value) c_i:

    m_i = sum_j l_j * A x_ij + T_A(i)        c_i = sum_j l_j * C x_ij + T_C(i)        (sec. 4.1)
    u^1 = sum_j l_j * B q_j

with position encoding (PE), l_kj = 2 [(1 - j/J) - (k/d)(1 - 2j/J)], j = 1..J the word position,
k = 1..d the embedding dimension and J the sentence's real length (padding does not count); without
PE, l_j = 1 (bag of words). The factor 2 is not in the paper's printed formula, whose weights lie in
[0, 1] with mean 1/2, but is in the authors' code (MemN2N-babi-matlab: 1 + 4(k - (d+1)/2)(j -
(J+1)/2)/(dJ), the same up to half-position offsets), whose weights are centred on 1 like bag of
words. It matters: at the printed scale bAbI task 16 (induction) stays near 55 % error however the
model is trained, and at this one it is solved (docs/results/babi.md). Temporal encoding (TE) adds a learned row of T_A, T_C in
R^{memory_size x d}, indexed *back in time*: the most recent sentence has i = 0. One hop reads

    p_i = softmax_i(u^T m_i)        (1)       (linear start, LS: p_i = u^T m_i, no softmax)
    o   = sum_i p_i c_i             (2)

and K hops are stacked, u^{k+1} = u^k + o^k, or u^{k+1} = H u^k + o^k with layer-wise tying. The
answer is a_hat = softmax(W u^{K+1}) (3); here W is the classifier's head (a Linear from d to the
classes, outside this module), so this encoder returns u^{K+1} [B, d].

Weight tying (sec. 2.2):
  * ``adjacent``: A^{k+1} = C^k, B = A^1 (and T_A^{k+1} = T_C^k). A^1 = B is the shared `Embedding`
    passed to `forward` (with its dropout); this module owns C^1..C^K, so K + 1 tables in all. The
    paper also ties W^T = C^K; here answers are classes, so ``model.tie_answers=true`` ties them
    through their label's words: the head (models/classifier.py `TiedAnswerHead`) scores class c
    by the mean of C^K's rows for its words, read from `answer_embedding`.
  * ``layerwise`` (RNN-like): A^1 = ... = A^K, C^1 = ... = C^K, plus the d x d map H. A^k is the
    shared embedding and this module owns the one C (and one T_A, one T_C). The paper keeps a
    separate B; by default B is the shared embedding too (one word table for questions and memory
    keys, which is what the rest of the project's encoders learn), ``separate_query_embedding=True``
    gives B its own table as in the paper.
  Two switches of the authors' code that the paper does not use for bAbI: ``hop_map`` puts H
  between the hops with either tying (add_proj; null = with layer-wise tying only), and
  ``nonlinearity="relu"`` rectifies each u^{k+1} (add_nonlin).

Gated hops (``hop_gate``; Liu and Perez 2017, "Gated End-to-End Memory Networks"): a learned gate
decides, per dimension, how much of the state to replace by what the hop read,

    T^k = sigmoid(W_T^k u^k + b_T^k)        u^{k+1} = T^k * o^k + (1 - T^k) * u^k

(with H: (1 - T^k) * H u^k). One gate per hop with adjacent tying, one shared by all hops with
layer-wise tying (its hops share everything else too). ``hop_gate_mode="add"`` gates only what
the hop read and keeps the state whole, u^{k+1} = T^k * o^k + u^k (H u^k): a late hop can then
add little but never erase what an earlier one found (docs/experiments.md: with "replace", bAbI task
16 failed in 4 of 6 seeds, the last hop overwriting the answer an earlier hop had read).

Empty memory slots (``attend_empty_slots``): the authors' code keeps a fixed memory of
memory_size slots and fills the ones a story does not use with the nil word, whose vectors are
zero, so each empty slot has u^T m_i = 0 and still takes part in the softmax. A story of n
memories then shares its attention with memory_size - n slots of score 0: the attention a real
memory gets says how well it matches in absolute terms, not only compared with the other memories,
and attention can go "nowhere" (o shrinks) when nothing matches, which a yes/no question can use.
With ``attend_empty_slots=False`` (default; the paper's equations) the softmax runs over the
story's memories only. The empty slots read zero vectors, so they change p, not what is read,
except with ``empty_slot_value``: in the last hop they then read a learned vector v, o^K += p_empty v.
This too is the authors' code, where the nil word's row of C^K is the one nil row never reset to
zero (C^K is no hop's A); with answers tied to C^K, v can stand for "nothing matched" (counting
"none", lists "nothing").

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
from textclf.models.encoder import MemoryEncoder

TYINGS = ("adjacent", "layerwise")
NONLINEARITIES = ("none", "relu")
GATE_MODES = ("replace", "add")
# PE weights are the paper's l_kj times 2, centred on 1 as in the authors' code (module docstring).
PE_SCALE = 2.0


def position_coefficients(
    ids: torch.Tensor, padding_idx: int = 0, span: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) [..., S] with l_kj = a_j + (k/d) b_j: a_j = 2(1 - j/J), b_j = 2(2j/J - 1), 0 on padding.

    Splitting PE this way turns sum_j l_kj A x_ij into two weighted bags of words,
    sum_j a_j A x_ij + (k/d) sum_j b_j A x_ij, which `F.embedding_bag` computes without ever
    materialising the [..., S, d] word vectors (the bulk of MemN2N's time on CPU otherwise).
    j = 1..J counts the real (non-padding) tokens of each sentence and J is their number, so a
    sentence is encoded the same however much padding follows it. With ``span``, J is that fixed
    number instead (or the sentence's length, if longer), as in the authors' code, where every
    sentence and question is read with J = the longest sentence + 1: a word's weights then depend on
    its position from the start of the sentence only, not on how long the sentence is.
    """
    real = (ids != padding_idx).to(torch.get_default_dtype())
    j = real.cumsum(dim=-1)  # 1-based position among real tokens (exact: small whole numbers)
    J = j[..., -1:].clamp(min=1 if span is None else span)  # the last running count is the number of real tokens
    f = j / J * real  # j/J, 0 on padding
    a = real - f
    b = f - a  # 2j/J - 1 on real tokens, 0 on padding
    return PE_SCALE * a, PE_SCALE * b


def position_encoding(ids: torch.Tensor, dim: int, padding_idx: int = 0, span: int | None = None) -> torch.Tensor:
    """l [..., S, dim] for token ids [..., S]: l_kj = 2[(1 - j/J) - (k/d)(1 - 2j/J)], 0 on padding."""
    a, b = position_coefficients(ids, padding_idx, span)
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
    steps_back = torch.arange(1, num_memories + 1, device=memory_lengths.device)
    index = memory_lengths.unsqueeze(1) - steps_back  # n - 1 - t: negative exactly on padding
    if inserted is not None:
        inserted = inserted * (index >= 0)  # only insertions after real memories (bool or counts)
        index = index + inserted.flip(1).cumsum(1).flip(1)  # suffix sums: insertions at s >= t
    # Padding slots stay negative (nothing is inserted after them), so one clamp also sets them to 0.
    return index.clamp(min=0, max=memory_size - 1)


class HopTables(NamedTuple):
    """The weights hop k reads with: input table A^k, output table C^k, and T_A^k, T_C^k (None
    without temporal encoding). A^k and C^k map ids [..., S] -> [..., S, d]."""

    A: nn.Module
    C: nn.Module
    T_A: nn.Parameter | None
    T_C: nn.Parameter | None


class MemN2N(MemoryEncoder):
    """(batch, embedding) -> u^{K+1} [B, d]; with ``return_attention`` also p [B, K, M].

    input_size is d (the shared embedding's dim); vocab_size sizes the tables this module owns.
    """

    def __init__(
        self,
        input_size: int,
        vocab_size: int,
        hops: int = 3,
        memory_size: int = 50,
        tying: str = "adjacent",
        position_encoding: bool = True,
        position_span: int | None = None,
        temporal_encoding: bool = True,
        random_noise: float = 0.1,
        init_std: float = 0.1,
        separate_query_embedding: bool = False,
        attend_empty_slots: bool = False,
        empty_slot_value: bool = False,
        nonlinearity: str = "none",
        hop_map: bool | None = None,
        hop_gate: bool = False,
        hop_gate_mode: str = "replace",
    ) -> None:
        super().__init__()
        if tying not in TYINGS:
            raise ValueError(f"tying must be one of {TYINGS}, got {tying!r}")
        if hops < 1:
            raise ValueError(f"hops must be >= 1, got {hops}")
        if memory_size < 1:
            raise ValueError(f"memory_size must be >= 1, got {memory_size}")
        if position_span is not None and position_span < 1:
            raise ValueError(f"position_span is a sentence length (J of PE) or null, got {position_span}")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        if hop_gate_mode not in GATE_MODES:
            raise ValueError(f"hop_gate_mode must be one of {GATE_MODES}, got {hop_gate_mode!r}")
        if not 0.0 <= random_noise <= 1.0:
            raise ValueError(f"random_noise is a probability, got {random_noise}")
        self.input_size = input_size
        self.output_size = input_size  # d: u^{K+1}
        self.vocab_size = vocab_size
        self.hops = hops
        self.memory_size = memory_size
        self.tying = tying
        self.position_encoding = position_encoding
        self.position_span = position_span
        self.temporal_encoding = temporal_encoding
        self.random_noise = random_noise
        self.init_std = init_std
        self.attend_empty_slots = attend_empty_slots
        self.nonlinearity = nonlinearity
        self.hop_gate_mode = hop_gate_mode
        if empty_slot_value and not attend_empty_slots:
            raise ValueError("empty_slot_value needs attend_empty_slots=true: without it no attention reaches the empty slots")
        # v, read by the empty slots in the last hop (see the module docstring); only created when used,
        # so the weights of models without it are unchanged.
        self.empty_value = self._matrix(input_size) if empty_slot_value else None
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
        # H: the paper has it with layer-wise tying only; the authors' code (add_proj) allows it with
        # either tying, so ``hop_map`` can force it on or off.
        with_map = tying == "layerwise" if hop_map is None else hop_map
        self.H = nn.Linear(input_size, input_size, bias=False) if with_map else None
        if self.H is not None:
            nn.init.normal_(self.H.weight, mean=0.0, std=init_std)
        self.query_vector = self._matrix(input_size)  # u^1 when there is no question
        # Created after everything else, so that the other weights draw the same initial values
        # with and without gates.
        gates = (hops if tying == "adjacent" else 1) if hop_gate else 0
        self.gates = nn.ModuleList(nn.Linear(input_size, input_size) for _ in range(gates)) if gates else None
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
        pairs, hop_slots = self._column_pairs(embedding)
        slot_A, slot_C = hop_slots[k - 1]
        (A, T_A), (C, T_C) = pairs[slot_A], pairs[slot_C]
        return HopTables(A=A, C=C, T_A=T_A, T_C=T_C)

    def query_embedding(self, embedding: nn.Module) -> nn.Module:
        """B: the shared embedding (= A^1), unless ``separate_query_embedding``."""
        return self.B if self.B is not None else embedding

    def answer_embedding(self) -> nn.Embedding:
        """C^K, the table the paper ties to the answer matrix (W^T = C^K); not tied here."""
        return self.C[-1]

    def _column_pairs(self, embedding: nn.Module) -> tuple[list[tuple[nn.Module, nn.Parameter | None]], list[tuple[int, int]]]:
        """The distinct (table, temporal matrix) pairs the hops read, and for each hop the positions
        of its (A^k, T_A^k) and (C^k, T_C^k) among them: the one place the tying is written
        (`hop_tables` reads it; `forward` uses it directly, once per step). Adjacent: pairs (A^1, T_A^1),
        (C^1, T_C^1) .. (C^K, T_C^K), hop k reads pairs k-1 and k, since A^{k+1} = C^k. Layer-wise:
        (A, T_A) and (C, T_C) at every hop."""
        T_C = list(self.T_C) if self.T_C is not None else [None] * len(self.C)
        pairs = [(embedding, self.T_A), *zip(self.C, T_C)]
        if self.tying == "layerwise":
            return pairs, [(0, 1)] * self.hops
        return pairs, [(k, k + 1) for k in range(self.hops)]

    def _matrix_rows(self, tables: list[nn.Module], temporal: list[nn.Parameter] | None) -> torch.Tensor:
        """[rows, n*d]: the n word tables side by side (V rows), with PE the same scaled by k/d
        (V more rows: the b_j part of l_kj), with fused TE the n temporal matrices side by side
        (memory_size rows). A sentence vector of every table at once is then one weighted sum of
        rows of this matrix (see `_bag_terms`)."""
        words = torch.cat([t.weight for t in tables], dim=1) if len(tables) > 1 else tables[0].weight
        blocks = [words]
        if self.position_encoding:
            blocks.append((words.view(words.shape[0], len(tables), self.input_size) * self.pe_scale).view(words.shape))
        if temporal is not None:
            blocks.append(torch.cat(temporal, dim=1) if len(temporal) > 1 else temporal[0])
        return torch.cat(blocks) if len(blocks) > 1 else words

    def _bag_terms(self, ids: torch.Tensor, vocab_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentences ids [R, S] -> (rows [R, P*S] of `_matrix_rows`, weights [R, P*S]): with PE
        word j of a sentence is read twice, from row x_j with weight a_j and from row V + x_j
        (the k/d-scaled copy) with weight b_j, so that sum_j l_kj A x_j is one weighted sum."""
        if not self.position_encoding:
            return ids, (ids != 0).to(torch.get_default_dtype())
        a, b = position_coefficients(ids, span=self.position_span)
        return torch.cat([ids, ids + vocab_rows], dim=1), torch.cat([a, b], dim=1)

    def sentence_vectors(self, ids: torch.Tensor, table: nn.Module) -> torch.Tensor:
        """ids [..., S] -> sum_j l_j * table(x_j) [..., d] (l_j = 1 on real tokens without PE).

        ``table`` is the shared `Embedding` (its dropout applies to the sentence vectors) or an
        nn.Embedding this module owns; either way only its weight matrix is read (so the
        Embedding's word_dropout does not apply to MemN2N). `forward` computes the same vectors
        for all tables, memories and question in one product.
        """
        flat = ids.reshape(-1, ids.shape[-1])
        rows, weights = self._bag_terms(flat, table.weight.shape[0])
        vectors = weighted_bags(rows, weights, self._matrix_rows([table], None))
        return _table_dropout(table, vectors.view(*ids.shape[:-1], self.input_size))

    def initial_query(self, batch: Batch, embedding: nn.Module, batch_size: int) -> torch.Tensor:
        """u^1 [B, d]: the embedded question, or ``query_vector`` for rows without one."""
        query = batch.query
        if query is None or query.shape[-1] == 0:
            return self.query_vector.unsqueeze(0).expand(batch_size, -1)
        return self._with_query_vector(self.sentence_vectors(query, self.query_embedding(embedding)), query)

    def _with_query_vector(self, u: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        has_query = (query != 0).any(dim=-1, keepdim=True)
        return torch.where(has_query, u, self.query_vector)

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
        real = torch.arange(num_memories, device=memory.device) < lengths.unsqueeze(1)  # [B, M]
        padding = ~real
        # Padding slots are read as empty sentences whatever they hold, so their m_i and c_i are
        # exactly 0 (they get no temporal row either): u^T m_i = 0 there, and any attention they
        # get multiplies a zero vector. Only the softmax then needs a mask.
        memory = memory.masked_fill(padding.unsqueeze(-1), 0)

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

        # Small models are bound by the number of operations, not by arithmetic, so every sentence
        # vector the hops read (memories for each distinct (table, temporal matrix) pair, and the
        # question) comes out of one weighted-bag product over one matrix of all tables, with the
        # temporal rows T(i) as one more "word" of each memory. An active embedding dropout must
        # see the word part alone, so it gets the temporal rows added after it instead.
        pairs, hop_slots = self._column_pairs(embedding)
        tables = [table for table, _ in pairs]
        dropout = any(_active_dropout(table) is not None for table in tables)
        fuse_time = time is not None and not dropout
        temporal = [T for _, T in pairs] if time is not None else None
        matrix = self._matrix_rows(tables, temporal if fuse_time else None)
        vocab_rows = tables[0].weight.shape[0]

        query = batch.query
        query_table = self.query_embedding(embedding)
        joint_query = query is not None and query.shape[-1] > 0 and query_table is tables[0]
        sentences = memory
        if joint_query:  # the question rides along as one more memory slot, number M
            sentences = _append_slot(memory, query)
        rows, weights = self._bag_terms(sentences.reshape(-1, sentences.shape[-1]), vocab_rows)
        if fuse_time:
            time_rows = time + vocab_rows * (2 if self.position_encoding else 1)
            time_weights = real.to(weights.dtype)
            if joint_query:  # the question has no time: weight 0
                time_rows, time_weights = F.pad(time_rows, (0, 1)), F.pad(time_weights, (0, 1))
            rows = torch.cat([rows, time_rows.reshape(-1, 1)], dim=1)
            weights = torch.cat([weights, time_weights.reshape(-1, 1)], dim=1)
        vectors = weighted_bags(rows, weights, matrix).view(batch_size, -1, len(tables), self.input_size)
        # split, not slicing: the backward of two slices would fill a zero tensor for each.
        encoded, question = vectors.split([num_memories, vectors.shape[1] - num_memories], dim=1)  # [B, M, n, d]
        if dropout:
            encoded = torch.stack([_table_dropout(t, v) for t, v in zip(tables, encoded.unbind(2))], dim=2)
            if time is not None:
                T_all = torch.cat(temporal, dim=1).to(encoded.dtype)
                encoded = encoded + (F.embedding(time, T_all) * real.unsqueeze(-1)).view_as(encoded)
        # unbind, not indexing: its backward stacks the gradients in one operation instead of
        # filling a zero tensor per slice.
        per_table = encoded.unbind(2)

        if joint_query:
            u = self._with_query_vector(_table_dropout(query_table, question[:, 0, 0]), query)
        else:
            u = self.initial_query(batch, embedding, batch_size)  # u^1 [B, d]
        empty_slots = None
        if self.attend_empty_slots:
            # log(0) = -inf where the memory is full: that column then gets no attention.
            empty_slots = (self.memory_size - lengths).clamp(min=0).to(per_table[0].dtype).log().unsqueeze(1)
        attention = []
        for hop, (slot_A, slot_C) in enumerate(hop_slots, start=1):
            m, c = per_table[slot_A], per_table[slot_C]  # [B, M, d]
            # Elementwise products and sums, not bmm: for these tiny [M, d] x [d, 1] products
            # bmm's forward and backward cost ~2x as much on CPU.
            scores = (m * u.unsqueeze(1)).sum(dim=-1)  # u^T m_i: [B, M]
            if self.linear_start:
                p = scores  # 0 on padding, since m_i = 0 there
            else:
                # A finite fill, not -inf: a story with no memories would otherwise give
                # softmax(-inf, ..., -inf) = NaN. It gets a uniform p over zero vectors instead,
                # so o = 0 (its reported attention is zeroed below).
                scores = scores.masked_fill(padding, torch.finfo(scores.dtype).min)
                if empty_slots is not None:
                    # The empty slots as one more column: memory_size - n slots of score 0 add
                    # (memory_size - n) * e^0 to the softmax's sum, i.e. a column log(memory_size - n).
                    p, p_empty = torch.softmax(torch.cat([scores, empty_slots], dim=1), dim=-1).split([num_memories, 1], dim=1)
                else:
                    p = torch.softmax(scores, dim=-1)
            o = (p.unsqueeze(-1) * c).sum(dim=1)  # sum_i p_i c_i: [B, d]
            if self.empty_value is not None and hop == self.hops and not self.linear_start:
                o = o + p_empty * self.empty_value  # the last hop's empty slots read v
            # The gate reads u^k before H does; a layer-wise model has one gate for all hops.
            gate = torch.sigmoid(self.gates[min(hop, len(self.gates)) - 1](u)) if self.gates is not None else None
            carried = self.H(u) if self.H is not None else u
            if gate is None:
                u = carried + o
            elif self.hop_gate_mode == "add":
                u = o * gate + carried
            else:
                u = o * gate + carried * (1 - gate)
            if self.nonlinearity == "relu":
                u = torch.relu(u)
            attention.append(p)

        if not return_attention:
            return u
        p_all = torch.stack(attention, dim=1).masked_fill(padding.unsqueeze(1), 0.0)  # [B, K, M kept]
        if num_memories != num_in:  # back to input positions; dropped memories get 0
            positions, _ = _recent_positions(lengths_in, num_in, self.memory_size)
            index = positions.unsqueeze(1).expand(-1, self.hops, -1)
            p_all = p_all.new_zeros(batch_size, self.hops, num_in).scatter_add(2, index, p_all)
        return u, p_all


class _WeightedBags(torch.autograd.Function):
    """`F.embedding_bag` forward; backward as one dense product over the rows the batch reads.

    embedding_bag's own backward sorts every (row, weight) entry and accumulates them one at a
    time. Here the entries are scattered into a dense [R, U] bag matrix over the U distinct rows
    the batch uses (bAbI: ~150 of ~350), and the gradient of those rows is one matrix product,
    which also runs on both cores. A training step on bAbI took ~10 % less this way than with
    embedding_bag's backward, and ~15 % less than a dense product over all rows (docs/speed.md).
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor, weights: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rows, weights)
        ctx.num_rows = matrix.shape[0]
        return F.embedding_bag(rows, matrix, per_sample_weights=weights, mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        rows, weights = ctx.saved_tensors
        used = torch.zeros(ctx.num_rows, dtype=torch.bool, device=rows.device)
        used[rows] = True
        local = (used.cumsum(0) - 1)[rows]  # row -> its position among the used rows
        used_rows = used.nonzero().squeeze(1)
        bags = weights.new_zeros(rows.shape[0], used_rows.shape[0]).scatter_add_(1, local, weights)
        grad_matrix = grad.new_zeros(ctx.num_rows, grad.shape[1])
        return None, None, grad_matrix.index_copy_(0, used_rows, bags.T @ grad)


def weighted_bags(rows: torch.Tensor, weights: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """sum_j weights[r, j] * matrix[rows[r, j]] for each r: [R, L] x2, [N, D] -> [R, D]."""
    if weights.dtype != matrix.dtype:
        weights = weights.to(matrix.dtype)
    if matrix.requires_grad and torch.is_grad_enabled():
        return _WeightedBags.apply(rows, weights, matrix)
    return F.embedding_bag(rows, matrix, per_sample_weights=weights, mode="sum")


def _append_slot(memory: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """memory [B, M, S] and query [B, Q] -> [B, M + 1, max(S, Q)], the query as slot M (right-padded)."""
    width = max(memory.shape[2], query.shape[1])
    if memory.shape[2] < width:
        memory = F.pad(memory, (0, width - memory.shape[2]))
    if query.shape[1] < width:
        query = F.pad(query, (0, width - query.shape[1]))
    return torch.cat([memory, query.unsqueeze(1)], dim=1)


def _active_dropout(table: nn.Module) -> nn.Dropout | None:
    """The shared Embedding's dropout when it would change anything, else None."""
    dropout = getattr(table, "dropout", None)
    if isinstance(dropout, nn.Dropout) and dropout.training and dropout.p > 0:
        return dropout
    return None


def _table_dropout(table: nn.Module, vectors: torch.Tensor) -> torch.Tensor:
    dropout = _active_dropout(table)
    return dropout(vectors) if dropout is not None else vectors
