"""MemN2N (Sukhbaatar et al. 2015): shapes, PE, TE, masking, tying, LS, memory cap, RN, learning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from textclf.data.batching import Batch
from textclf.models.classifier import TextClassifier
from textclf.models.embedding import Embedding
from textclf.models.memn2n import MemN2N, position_encoding, recent_memories, temporal_index

VOCAB, DIM = 12, 4


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: intra-op threads only add contention on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def story_batch(
    lengths: list[int], M: int = 4, S: int = 5, Q: int = 3, empty_query: tuple[int, ...] = (), seed: int = 0
) -> Batch:
    """Random right-padded story batch: sentence lengths vary in 1..S, rows m >= lengths[b] zero."""
    gen = torch.Generator().manual_seed(seed)
    B = len(lengths)
    memory = torch.zeros(B, M, S, dtype=torch.long)
    for b, n in enumerate(lengths):
        for m in range(n):
            words = int(torch.randint(1, S + 1, (1,), generator=gen))
            memory[b, m, :words] = torch.randint(1, VOCAB, (words,), generator=gen)
    query = torch.zeros(B, Q, dtype=torch.long)
    query[:, :2] = torch.randint(1, VOCAB, (B, 2), generator=gen)
    query[list(empty_query)] = 0
    tokens = torch.ones(B, 1, dtype=torch.long)
    return Batch(
        tokens=tokens,
        lengths=torch.ones(B, dtype=torch.long),
        labels=torch.zeros(B, dtype=torch.long),
        memory=memory,
        memory_lengths=torch.tensor(lengths),
        query=query,
    )


def make(seed: int = 0, **kwargs) -> tuple[MemN2N, Embedding]:
    torch.manual_seed(seed)
    kwargs.setdefault("random_noise", 0.0)
    model = MemN2N(DIM, VOCAB, **kwargs)
    embedding = Embedding(VOCAB, DIM, dropout=0.0)
    model.eval()
    return model, embedding


# --- shapes and the query ---------------------------------------------------------------------------


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_shapes_with_empty_story_and_empty_query(tying: str) -> None:
    model, emb = make(tying=tying, hops=2)
    assert model.output_size == DIM and model.reads_memory and model.linear_start is False
    batch = story_batch([2, 0, 4], M=4, S=5, Q=3, empty_query=(2,))
    u, p = model(batch, emb, return_attention=True)
    assert u.shape == (3, DIM) and p.shape == (3, 2, 4)
    assert torch.isfinite(u).all() and torch.isfinite(p).all()
    assert torch.equal(model(batch, emb), u)
    # An empty story reads nothing: o = 0 at every hop, so u^{K+1} = u^1 (adjacent) / H^K u^1.
    u1 = model.initial_query(batch, emb, 3)
    expected = u1[1] if tying == "adjacent" else model.H(model.H(u1[1]))
    assert torch.allclose(u[1], expected)
    # Row 2 has no question: u^1 is query_vector; rows with a question are not.
    assert torch.equal(u1[2], model.query_vector)
    assert not torch.equal(u1[0], model.query_vector)
    # batch.query = None: every row uses query_vector.
    batch.query = None
    assert torch.equal(model.initial_query(batch, emb, 3), model.query_vector.expand(3, -1))


def test_inside_classifier_and_rejects_bad_settings() -> None:
    torch.manual_seed(0)
    clf = TextClassifier(Embedding(VOCAB, DIM, dropout=0.0), MemN2N(DIM, VOCAB, hops=2), num_classes=5)
    assert clf(story_batch([1, 3])).shape == (2, 5)
    with pytest.raises(ValueError, match="tying"):
        MemN2N(DIM, VOCAB, tying="rnn")
    with pytest.raises(ValueError, match="hops"):
        MemN2N(DIM, VOCAB, hops=0)


# --- position encoding ------------------------------------------------------------------------------


def test_position_encoding_matches_the_formula_by_hand() -> None:
    # J = 3 real words then padding, d = 4: l_kj = 2[(1 - j/J) - (k/d)(1 - 2j/J)] (x 2: authors' scale).
    l = position_encoding(torch.tensor([[5, 7, 2, 0, 0]]), 4)[0]
    by_hand = 2 * torch.tensor(
        [
            [2 / 3 - (1 / 4) * (1 / 3), 2 / 3 - (2 / 4) * (1 / 3), 2 / 3 - (3 / 4) * (1 / 3), 2 / 3 - (4 / 4) * (1 / 3)],
            [1 / 3 + (1 / 4) * (1 / 3), 1 / 3 + (2 / 4) * (1 / 3), 1 / 3 + (3 / 4) * (1 / 3), 1 / 3 + (4 / 4) * (1 / 3)],
            [0 + 1 / 4, 0 + 2 / 4, 0 + 3 / 4, 0 + 4 / 4],
            [0, 0, 0, 0],
            [0, 0, 0, 0],
        ]
    )  # fmt: skip
    assert torch.allclose(l, by_hand)
    # Padding does not change l: J is the real length, not S.
    assert torch.allclose(position_encoding(torch.tensor([[5, 7, 2]]), 4)[0], by_hand[:3])


def test_position_span_fixes_J_for_every_sentence() -> None:
    # span 6: a 3-word sentence is read with J = 6, so word j gets the weights a J = 6 sentence gives
    # its j-th word, whatever follows; a sentence longer than the span keeps its own length.
    short = position_encoding(torch.tensor([[5, 7, 2, 0]]), 4, span=6)[0]
    six = position_encoding(torch.tensor([[5, 7, 2, 9, 9, 9]]), 4)[0]
    assert torch.allclose(short[:3], six[:3])
    assert torch.equal(short[3], torch.zeros(4))
    long = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    assert torch.allclose(position_encoding(long, 4, span=6), position_encoding(long, 4))


def test_model_reads_sentences_with_its_position_span() -> None:
    model, emb = make(position_span=6)
    ids = torch.tensor([[3, 4, 5, 0]])
    by_hand = (position_encoding(ids, DIM, span=6) * emb.weight[ids]).sum(dim=1)
    assert torch.allclose(model.sentence_vectors(ids, emb), by_hand, atol=1e-6)
    plain, _ = make(position_span=None)
    assert not torch.allclose(plain.sentence_vectors(ids, emb), by_hand, atol=1e-3)
    with pytest.raises(ValueError, match="position_span"):
        MemN2N(DIM, VOCAB, position_span=0)


@pytest.mark.parametrize("pe", [True, False])
def test_word_order_matters_with_pe_only(pe: bool) -> None:
    model, emb = make(position_encoding=pe)
    ids = torch.tensor([[3, 4, 5, 0]])
    swapped = torch.tensor([[4, 3, 5, 0]])
    for table in (emb, model.C[0]):
        same = torch.allclose(model.sentence_vectors(ids, table), model.sentence_vectors(swapped, table))
        assert same != pe


# --- temporal encoding and masking -----------------------------------------------------------------


def test_temporal_index_counts_back_in_time() -> None:
    lengths = torch.tensor([3, 1, 0])
    assert temporal_index(lengths, 4, 50).tolist() == [[2, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    # One empty memory after each real one: the most recent moves to 1, the oldest to 5.
    ones = torch.ones(3, 4, dtype=torch.long)
    assert temporal_index(lengths, 4, 50, ones).tolist() == [[5, 3, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert temporal_index(lengths, 4, 4, ones)[0].tolist() == [3, 3, 1, 0]  # clamped to memory_size - 1


def test_temporal_rows_used_and_unused() -> None:
    model, emb = make(hops=1, memory_size=6)
    batch = story_batch([2, 3])
    u = model(batch, emb)
    with torch.no_grad():
        model.T_A[5] += 10.0  # rows 3..5 are never used by stories of <= 3 memories
        model.T_C[0][4] -= 3.0
    assert torch.equal(model(batch, emb), u)
    with torch.no_grad():
        model.T_A[2] += 10.0  # the oldest memory of the 3-memory story only
    changed = model(batch, emb)
    assert torch.equal(changed[0], u[0]) and not torch.allclose(changed[1], u[1])


def test_most_recent_memory_has_index_zero() -> None:
    model, emb = make(hops=1, memory_size=6)
    batch = story_batch([2, 4, 1])
    u1 = model.initial_query(batch, emb, 3)
    with torch.no_grad():  # make T_A(0) dominate every score: attention goes to the newest memory
        model.T_A[0] = 100.0 * u1.mean(0) / u1.mean(0).norm() ** 2
    _, p = model(batch, emb, return_attention=True)
    assert p[:, 0].argmax(dim=1).tolist() == [1, 3, 0]


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_padding_memories_get_no_attention(tying: str) -> None:
    model, emb = make(tying=tying, hops=3)
    batch = story_batch([2, 0, 4, 1])
    _, p = model(batch, emb, return_attention=True)
    real = torch.arange(4) < batch.memory_lengths.unsqueeze(1)
    assert (p.masked_select(~real.unsqueeze(1)) == 0).all()
    sums = p.sum(dim=-1)
    assert torch.allclose(sums[[0, 2, 3]], torch.ones(3, 3)) and (sums[1] == 0).all()
    # Whatever sits in the padding rows (here: garbage tokens) cannot change the result.
    noisy = story_batch([2, 0, 4, 1])
    noisy.memory[0, 2:] = 7
    noisy.memory[1] = 5
    assert torch.allclose(model(noisy, emb), model(batch, emb))


# --- tying --------------------------------------------------------------------------------------------


def test_adjacent_tying_shares_the_same_tensors() -> None:
    K = 3
    model, emb = make(hops=K, memory_size=7)
    first = model.hop_tables(1, emb)
    assert first.A is emb and first.A.weight is emb.table.weight and model.query_embedding(emb) is emb
    for k in range(1, K):
        this, nxt = model.hop_tables(k, emb), model.hop_tables(k + 1, emb)
        assert nxt.A is this.C and nxt.A.weight.data_ptr() == this.C.weight.data_ptr()
        assert nxt.T_A is this.T_C
    assert model.answer_embedding() is model.hop_tables(K, emb).C
    own = sum(p.numel() for p in model.parameters())
    assert own == K * VOCAB * DIM + (K + 1) * 7 * DIM + DIM  # C^1..C^K, T_A^1 + T_C^1..K, query_vector
    no_te = MemN2N(DIM, VOCAB, hops=K, temporal_encoding=False)
    assert sum(p.numel() for p in no_te.parameters()) == K * VOCAB * DIM + DIM


def test_layerwise_tying_has_one_c_and_h() -> None:
    model, emb = make(tying="layerwise", hops=3, memory_size=7)
    tables = [model.hop_tables(k, emb) for k in (1, 2, 3)]
    assert all(t.A is emb and t.C is model.C[0] and t.T_C is tables[0].T_C for t in tables)
    assert len(model.C) == 1 and model.H is not None and model.H.bias is None
    assert model.answer_embedding() is model.C[0]
    own = sum(p.numel() for p in model.parameters())
    assert own == VOCAB * DIM + 2 * 7 * DIM + DIM * DIM + DIM
    separate, emb2 = make(tying="layerwise", separate_query_embedding=True)
    assert separate.query_embedding(emb2) is separate.B and separate.B is not emb2


def test_gradient_step_moves_the_shared_tensors_consistently() -> None:
    model, emb = make(hops=2)
    model.train()
    batch = story_batch([3, 4, 2])
    params = list(model.parameters()) + list(emb.parameters())
    before = {id(p): p.detach().clone() for p in params}
    opt = torch.optim.SGD(params, lr=0.5)
    model(batch, emb).pow(2).sum().backward()
    assert emb.weight.grad[batch.memory.unique()[1:]].abs().sum() > 0  # A^1 = B gets gradient
    assert emb.weight.grad[0].abs().sum() == 0
    opt.step()
    # One step changed every table, and the tied views still share storage.
    for table in (emb.table, model.C[0], model.C[1]):
        assert not torch.equal(table.weight, before[id(table.weight)])
    assert model.hop_tables(2, emb).A.weight.data_ptr() == model.C[0].weight.data_ptr()
    assert torch.equal(model.hop_tables(2, emb).A.weight, model.C[0].weight)


# --- linear start, memory cap, random noise, no NaN ------------------------------------------------


def test_linear_start_removes_the_softmax() -> None:
    model, emb = make(hops=2)
    batch = story_batch([3, 4, 0])
    u_soft, p_soft = model(batch, emb, return_attention=True)
    model.linear_start = True
    u_lin, p_lin = model(batch, emb, return_attention=True)
    # Hop 1 sees the same u^1 either way: its p is then exactly the raw scores u^T m_i.
    tables = model.hop_tables(1, emb)
    time = temporal_index(batch.memory_lengths, 4, model.memory_size)
    m = model.sentence_vectors(batch.memory, tables.A) + tables.T_A[time]
    scores = torch.einsum("bmd,bd->bm", m, model.initial_query(batch, emb, 3))
    real = torch.arange(4) < batch.memory_lengths.unsqueeze(1)
    assert torch.allclose(p_lin[:, 0], scores * real)
    assert not torch.allclose(p_lin.sum(-1)[:2], torch.ones(2, 2))
    assert not torch.allclose(u_lin, u_soft)
    model.linear_start = False
    u_back, p_back = model(batch, emb, return_attention=True)
    assert torch.equal(u_back, u_soft) and torch.equal(p_back, p_soft)


def test_memory_cap_keeps_the_most_recent() -> None:
    OLD, NEW = 10, 11
    memory = torch.zeros(2, 60, 2, dtype=torch.long)
    memory[:, :, 0] = 3
    memory[0, 0, 1], memory[0, 59, 1] = OLD, NEW  # row 0: 60 memories
    memory[1, 20:] = 0
    memory[1, 0, 1], memory[1, 19, 1] = OLD, NEW  # row 1: 20 memories, all kept
    lengths = torch.tensor([60, 20])
    kept, kept_lengths = recent_memories(memory, lengths, 50)
    assert kept.shape == (2, 50, 2) and kept_lengths.tolist() == [50, 20]
    assert kept[0, 49, 1] == NEW and not (kept[0] == OLD).any()
    assert torch.equal(kept[0], memory[0, 10:])
    assert kept[1, 0, 1] == OLD and kept[1, 19, 1] == NEW and (kept[1, 20:] == 0).all()
    # Through forward: attention is reported at input positions, 0 on the 10 dropped memories.
    model, emb = make(hops=1, memory_size=50)
    batch = Batch(memory[:, :, :1], torch.ones(2), torch.zeros(2), memory, lengths, torch.tensor([[4], [4]]))
    _, p = model(batch, emb, return_attention=True)
    assert p.shape == (2, 1, 60) and (p[0, 0, :10] == 0).all() and (p[0, 0, 10:] > 0).all()
    assert torch.allclose(p.sum(-1), torch.ones(2, 1)) and (p[1, 0, 20:] == 0).all()
    assert recent_memories(memory[:, :30], lengths.clamp(max=30), 50)[0] is not None


def test_random_noise_only_in_training() -> None:
    batch = story_batch([3, 4, 1])
    noisy, emb = make(random_noise=1.0)
    clean, _ = make(random_noise=0.0)
    noisy.eval()
    assert torch.equal(noisy(batch, emb), noisy(batch, emb))
    assert torch.equal(noisy(batch, emb), clean(batch, emb))
    noisy.train()
    clean.train()
    # p = 1: every index shifts deterministically (i -> 2 i + 1), so outputs differ from p = 0.
    assert not torch.allclose(noisy(batch, emb), clean(batch, emb))
    some, _ = make(random_noise=0.5)
    some.train()
    torch.manual_seed(1)
    outputs = {tuple(some(batch, emb).flatten().tolist()) for _ in range(8)}
    assert len(outputs) > 1


@pytest.mark.parametrize("linear", [False, True])
def test_empty_story_gives_no_nan_and_gradients(linear: bool) -> None:
    torch.manual_seed(0)
    clf = TextClassifier(Embedding(VOCAB, DIM, dropout=0.0), MemN2N(DIM, VOCAB, hops=2), num_classes=3)
    clf.encoder.linear_start = linear
    batch = story_batch([0, 3])
    logits = clf(batch)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    grads = [p.grad for p in clf.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    assert clf.embedding.weight.grad[batch.memory[1].unique()[1:]].abs().sum() > 0
    # No memories at all (M = 0) works too.
    batch.memory, batch.memory_lengths = batch.memory[:, :0], torch.zeros(2, dtype=torch.long)
    assert torch.isfinite(clf(batch)).all()


# --- learning ------------------------------------------------------------------------------------------


def last_word_task(n: int, seed: int) -> Batch:
    """Answer = the last word of the most recent memory. Words 1..8, up to 4 memories of 1..3 words."""
    gen = torch.Generator().manual_seed(seed)
    M, S = 4, 3
    lengths = torch.randint(1, M + 1, (n,), generator=gen)
    words = torch.randint(1, 3 + 1, (n, M), generator=gen)
    memory = torch.randint(1, 9, (n, M, S), generator=gen)
    memory = memory * (torch.arange(S) < words.unsqueeze(-1))  # right-pad the sentences
    memory = memory * (torch.arange(M) < lengths.unsqueeze(1)).unsqueeze(-1)  # and the story
    newest = memory[torch.arange(n), lengths - 1]  # [n, S]
    labels = newest.gather(1, (words[torch.arange(n), lengths - 1] - 1).unsqueeze(1)).squeeze(1) - 1
    query = torch.full((n, 1), 9)
    return Batch(memory[:, :, 0], lengths, labels, memory, lengths, query)


def test_learns_the_last_word_of_the_newest_memory() -> None:
    torch.manual_seed(0)
    clf = TextClassifier(Embedding(10, 16, dropout=0.0), MemN2N(16, 10, hops=2, memory_size=8, random_noise=0.1), 8)
    train, test = last_word_task(256, seed=0), last_word_task(256, seed=1)
    opt = torch.optim.Adam(clf.parameters(), lr=0.02)
    clf.train()
    for _ in range(200):
        rows = torch.randint(0, 256, (32,))
        fields = ("tokens", "lengths", "labels", "memory", "memory_lengths", "query")
        part = Batch(*(getattr(train, name)[rows] for name in fields))
        loss = torch.nn.functional.cross_entropy(clf(part), part.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    clf.eval()
    with torch.no_grad():
        accuracy = (clf(test).argmax(-1) == test.labels).float().mean().item()
    assert accuracy > 0.8, accuracy  # chance is 1/8


def test_linear_start_travels_with_the_weights():
    from textclf.models.memn2n import MemN2N

    model = MemN2N(input_size=8, vocab_size=12, hops=2)
    model.linear_start = True
    state = model.state_dict()
    fresh = MemN2N(input_size=8, vocab_size=12, hops=2)
    assert fresh.linear_start is False
    fresh.load_state_dict(state)
    assert fresh.linear_start is True


def test_tied_answers_score_labels_with_the_last_output_table():
    from textclf.models.build import build_model
    from textclf.models.classifier import TiedAnswerHead

    from conftest import compose_train

    cfg = compose_train(["model=memn2n", "model.tie_answers=true", "embedding.dim=8"])
    model = build_model(cfg, vocab_size=12, num_classes=3, label_tokens=[[5], [6], [7, 8]])
    assert isinstance(model.head, TiedAnswerHead) and model.head.table is model.encoder.answer_embedding()
    features = torch.randn(2, 8)
    C_K = model.encoder.answer_embedding().weight
    expected = torch.stack([features @ C_K[5], features @ C_K[6], features @ (C_K[7] + C_K[8]) / 2], dim=1)
    assert torch.allclose(model.head(features), expected, atol=1e-6)
    assert not any("head" in name for name, _ in model.named_parameters()), "no separate answer matrix"


# --- attention over the empty memory slots -----------------------------------------------------------


def test_empty_slots_attend_like_nil_sentences_in_a_full_memory() -> None:
    # The authors' code fills the unused slots of its fixed memory with nil sentences (zero vectors).
    # Without temporal encoding such a sentence is all padding tokens, so a full memory of 6 slots,
    # counted as 6 memories, must give exactly what attend_empty_slots gives for the real ones.
    M = 6
    batch = story_batch([2, 4, 0, 6], M=M)
    with_slots, emb = make(memory_size=M, temporal_encoding=False, attend_empty_slots=True)
    plain, _ = make(memory_size=M, temporal_encoding=False, attend_empty_slots=False)
    full = dataclasses.replace(batch, memory_lengths=torch.full((4,), M))
    u, p = with_slots(batch, emb, return_attention=True)
    u_full, p_full = plain(full, emb, return_attention=True)
    assert torch.allclose(u, u_full, atol=1e-6)
    real = torch.arange(M) < batch.memory_lengths.unsqueeze(1)  # [B, M]
    assert torch.allclose(p, p_full * real.unsqueeze(1), atol=1e-6)
    # Some attention went to the empty slots in the short stories, none in the full one.
    mass = p.sum(dim=-1)  # [B, K]
    assert (mass[0] < 0.99).all() and torch.allclose(mass[3], torch.ones(3))
    assert torch.equal(mass[2], torch.zeros(3))  # an empty story attends to nothing: o = 0
    # The plain softmax gives the real memories all the attention.
    _, p_plain = plain(batch, emb, return_attention=True)
    assert torch.allclose(p_plain.sum(dim=-1)[[0, 1, 3]], torch.ones(3, 3))


def test_empty_slots_play_no_part_under_linear_start() -> None:
    batch = story_batch([2, 4])
    with_slots, emb = make(attend_empty_slots=True)
    plain, _ = make(attend_empty_slots=False)
    with_slots.linear_start = plain.linear_start = True
    assert torch.equal(with_slots(batch, emb), plain(batch, emb))


def test_empty_slot_value_is_read_by_the_last_hop_only() -> None:
    batch = story_batch([2, 4, 0])
    with_value, emb = make(attend_empty_slots=True, empty_slot_value=True)
    without, _ = make(attend_empty_slots=True)
    without.load_state_dict({k: v for k, v in with_value.state_dict().items() if k != "empty_value"})
    u, p = with_value(batch, emb, return_attention=True)
    u_without, p_without = without(batch, emb, return_attention=True)
    # Hops 1..K-1 are the same, so p is too; the last hop adds p_empty^K v to u^{K+1}.
    assert torch.allclose(p, p_without)
    p_empty = 1.0 - p[:, -1].sum(dim=-1, keepdim=True)  # [B, 1]
    assert torch.allclose(u, u_without + p_empty * with_value.empty_value, atol=1e-6)
    assert torch.allclose(u[2], u_without[2] + with_value.empty_value, atol=1e-6)  # an empty story reads v alone
    with pytest.raises(ValueError, match="needs attend_empty_slots"):
        MemN2N(DIM, VOCAB, empty_slot_value=True)


# --- hop map H and the nonlinearity (the authors' add_proj and add_nonlin) ----------------------------


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_hop_map_is_the_paper_default_and_can_be_forced(tying: str) -> None:
    default, _ = make(tying=tying)
    assert (default.H is not None) == (tying == "layerwise")
    assert make(tying=tying, hop_map=True)[0].H is not None
    assert make(tying=tying, hop_map=False)[0].H is None


def test_hop_map_multiplies_the_state_carried_to_the_next_hop() -> None:
    batch = story_batch([3, 1, 4])
    plain, emb = make(hops=1)
    mapped, _ = make(hops=1, hop_map=True)
    mapped.load_state_dict({**plain.state_dict(), "H.weight": torch.eye(DIM)}, strict=True)
    u_plain = plain(batch, emb)
    assert torch.allclose(mapped(batch, emb), u_plain, atol=1e-6)  # H = I: u^2 = u^1 + o^1
    with torch.no_grad():
        mapped.H.weight.zero_()
    u_first = plain.initial_query(batch, emb, 3)
    assert torch.allclose(mapped(batch, emb), u_plain - u_first, atol=1e-6)  # H = 0: u^2 = o^1


def test_relu_applies_to_every_hop_state() -> None:
    batch = story_batch([3, 2, 4])
    plain, emb = make(hops=1)
    relu, _ = make(hops=1, nonlinearity="relu")
    relu.load_state_dict(plain.state_dict())
    assert torch.allclose(relu(batch, emb), torch.relu(plain(batch, emb)))
    # With more hops the later attention sees the rectified state, so the models part ways.
    deep_plain, emb3 = make(hops=3)
    deep_relu, _ = make(hops=3, nonlinearity="relu")
    deep_relu.load_state_dict(deep_plain.state_dict())
    _, p_plain = deep_plain(batch, emb3, return_attention=True)
    _, p_relu = deep_relu(batch, emb3, return_attention=True)
    assert torch.allclose(p_plain[:, 0], p_relu[:, 0]) and not torch.allclose(p_plain[:, 1:], p_relu[:, 1:])
    with pytest.raises(ValueError, match="nonlinearity"):
        MemN2N(DIM, VOCAB, nonlinearity="tanh")


# --- gated hops (Liu and Perez 2017) --------------------------------------------------------------------


@pytest.mark.parametrize(("tying", "gates"), [("adjacent", 3), ("layerwise", 1)])
def test_gates_are_one_per_hop_or_shared_like_the_tables(tying: str, gates: int) -> None:
    model, _ = make(tying=tying, hop_gate=True)
    assert len(model.gates) == gates
    assert make(tying=tying)[0].gates is None


@pytest.mark.parametrize("hop_map", [False, True])
def test_a_gate_replaces_the_state_by_what_the_hop_read_or_keeps_it(hop_map: bool) -> None:
    batch = story_batch([3, 1, 4])
    plain, emb = make(hops=1, hop_map=hop_map)
    gated, _ = make(hops=1, hop_map=hop_map, hop_gate=True)
    weights = {**plain.state_dict(), "gates.0.weight": torch.zeros(DIM, DIM)}
    u_first = plain.initial_query(batch, emb, 3)
    carried = plain.H(u_first) if hop_map else u_first
    o = plain(batch, emb) - carried  # the plain model returns carried + o
    for bias, expected in ((30.0, o), (-30.0, carried), (0.0, 0.5 * (o + carried))):  # T = 1, 0, 1/2
        gated.load_state_dict({**weights, "gates.0.bias": torch.full((DIM,), bias)})
        assert torch.allclose(gated(batch, emb), expected, atol=1e-5)
    adding, _ = make(hops=1, hop_map=hop_map, hop_gate=True, hop_gate_mode="add")
    for bias, expected in ((30.0, o + carried), (-30.0, carried), (0.0, 0.5 * o + carried)):  # the state stays whole
        adding.load_state_dict({**weights, "gates.0.bias": torch.full((DIM,), bias)})
        assert torch.allclose(adding(batch, emb), expected, atol=1e-5)
    with pytest.raises(ValueError, match="hop_gate_mode"):
        MemN2N(DIM, VOCAB, hop_gate=True, hop_gate_mode="mix")
