"""Model layer: shapes, padding invariance, learning, gradient flow, RCNN's context shift, TextCNN's
windows, pooling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from textclf.data.batching import Batch
from textclf.models.bilstm import BiLSTM
from textclf.models.classifier import TextClassifier
from textclf.models.embedding import Embedding
from textclf.models.encoder import Encoder, MemoryEncoder
from textclf.models.fasttext import FastText
from textclf.models.pooling import AttentionPooling, mask_from_lengths, masked_max, masked_mean
from textclf.models.rcnn import TextRCNN, shift_contexts
from textclf.models.textcnn import TextCNN
from textclf.models.textrnn import TextRNN

VOCAB, DIM, CLASSES = 20, 8, 3

ENCODERS = {
    "rnn-lstm": lambda: TextRNN(DIM, 6, cell="lstm"),
    "rnn-gru": lambda: TextRNN(DIM, 6, cell="gru"),
    "rnn-bilstm-2layers": lambda: TextRNN(DIM, 6, cell="lstm", bidirectional=True, num_layers=2, dropout=0.3),
    "rnn-bigru": lambda: TextRNN(DIM, 6, cell="gru", bidirectional=True),
    "rnn-rnn": lambda: TextRNN(DIM, 6, cell="rnn"),
    "bilstm-max": lambda: BiLSTM(DIM, 6, pooling="max"),
    "bilstm-mean": lambda: BiLSTM(DIM, 6, pooling="mean"),
    "bilstm-attention": lambda: BiLSTM(DIM, 6, pooling="attention"),
    "bilstm-last-2layers": lambda: BiLSTM(DIM, 6, num_layers=2, dropout=0.3, pooling="last"),
    "bilstm-rnn-max": lambda: BiLSTM(DIM, 6, pooling="max", cell="rnn"),
    "bilstm-gru-last": lambda: BiLSTM(DIM, 6, pooling="last", cell="gru"),
    "rcnn-lstm": lambda: TextRCNN(DIM, 6, projection_size=10, dropout=0.3),
    "rcnn-gru": lambda: TextRCNN(DIM, 6, projection_size=10, cell="gru"),
    "rcnn-rnn": lambda: TextRCNN(DIM, 6, projection_size=10, cell="rnn"),
    "textcnn": lambda: TextCNN(DIM, widths=(3, 4, 5), filters=4),  # wider than the 1-2 word texts below
    "textcnn-unigram": lambda: TextCNN(DIM, widths=(1, 2), filters=5),
    "fasttext": lambda: FastText(DIM),
}
OUTPUT_SIZES = {
    "rnn-lstm": 6, "rnn-gru": 6, "rnn-bilstm-2layers": 12, "rnn-bigru": 12, "rnn-rnn": 6,
    "bilstm-max": 12, "bilstm-mean": 12, "bilstm-attention": 12, "bilstm-last-2layers": 12,
    "bilstm-rnn-max": 12, "bilstm-gru-last": 12, "rcnn-lstm": 10, "rcnn-gru": 10, "rcnn-rnn": 10,
    "textcnn": 12, "textcnn-unigram": 10, "fasttext": DIM,
}  # fmt: skip


def make_model(name: str, dropout: float = 0.2) -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(Embedding(VOCAB, DIM, dropout=dropout), ENCODERS[name](), CLASSES, dropout=dropout)


def random_batch(lengths: list[int], max_len: int, pad_id: int = 0, seed: int = 1) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.full((len(lengths), max_len), pad_id, dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, :n] = torch.randint(1, VOCAB, (n,), generator=gen)
    labels = torch.zeros(len(lengths), dtype=torch.long)
    return Batch(tokens=tokens, lengths=torch.tensor(lengths), labels=labels)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_shapes(name: str) -> None:
    model = make_model(name)
    assert model.encoder.output_size == OUTPUT_SIZES[name]
    batch = random_batch([5, 1, 3, 4], max_len=7)
    features = model.encoder(model.embedding(batch.tokens), batch.lengths)
    assert features.shape == (4, OUTPUT_SIZES[name])
    assert model(batch).shape == (4, CLASSES)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_padding_invariance(name: str) -> None:
    """Same sequences padded to T=5 with zeros and to T=12 with junk ids: same logits (eval mode)."""
    model = make_model(name).eval()
    short = random_batch([5, 1, 3, 4, 2], max_len=5)
    long_tokens = torch.randint(1, VOCAB, (5, 12))  # junk everywhere, real tokens copied in below
    mask = mask_from_lengths(short.lengths, 5)
    long_tokens[:, :5] = torch.where(mask, short.tokens, long_tokens[:, :5])
    long = Batch(tokens=long_tokens, lengths=short.lengths, labels=short.labels)
    with torch.no_grad():
        torch.testing.assert_close(model(short), model(long), atol=1e-5, rtol=1e-5)
        # Batch composition must not matter either: each row alone gives its own row's logits.
        rows = [Batch(short.tokens[i : i + 1], short.lengths[i : i + 1], short.labels[:1]) for i in range(5)]
        alone = torch.cat([model(row) for row in rows])
        torch.testing.assert_close(model(short), alone, atol=1e-5, rtol=1e-5)


def separable_problem(n: int = 48, max_len: int = 8) -> Batch:
    """Class k draws its tokens from its own third of the vocabulary."""
    gen = torch.Generator().manual_seed(2)
    labels = torch.arange(n) % CLASSES
    lengths = torch.randint(1, max_len + 1, (n,), generator=gen)
    band = (VOCAB - 1) // CLASSES
    tokens = 1 + labels[:, None] * band + torch.randint(0, band, (n, max_len), generator=gen)
    tokens = tokens.masked_fill(~mask_from_lengths(lengths, max_len), 0)
    return Batch(tokens=tokens, lengths=lengths, labels=labels)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_learns_separable_problem(name: str) -> None:
    model = make_model(name, dropout=0.1).train()
    batch = separable_problem()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(25):
        loss = nn.functional.cross_entropy(model(batch), batch.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("name", list(ENCODERS))
def test_gradients_reach_embedding(name: str) -> None:
    model = make_model(name)
    batch = random_batch([5, 2, 3], max_len=6)
    model(batch).sum().backward()
    grad = model.embedding.weight.grad
    used = batch.tokens[mask_from_lengths(batch.lengths, 6)].unique()
    assert grad[used].abs().sum(dim=1).gt(0).all()
    assert grad[0].abs().sum() == 0  # the padding row never learns


def test_bad_cell_and_pooling_are_rejected() -> None:
    with pytest.raises(ValueError, match="'gru'.*'lstm'"):
        TextRNN(DIM, cell="elman")
    with pytest.raises(ValueError, match="'gru'.*'lstm'.*'rnn'"):
        TextRCNN(DIM, cell="elman")
    with pytest.raises(ValueError, match="'gru'.*'lstm'.*'rnn'"):
        BiLSTM(DIM, cell="elman")
    with pytest.raises(ValueError, match="max"):
        BiLSTM(DIM, pooling="min")


# --- TextRCNN: c_l(w_i) sees only words before i, c_r(w_i) only words after i -------------------


def test_shift_contexts_is_a_shift() -> None:
    B, T, H = 3, 6, 4
    lengths = torch.tensor([6, 2, 4])
    fwd = torch.randn(B, T, H, requires_grad=True)
    bwd = torch.randn(B, T, H, requires_grad=True)
    left, right = torch.randn(H), torch.randn(H)
    c_l, c_r = shift_contexts(fwd, bwd, lengths, left, right)
    assert torch.equal(c_l[:, 1:], fwd[:, :-1])
    assert torch.equal(c_l[:, 0], left.expand(B, H))
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(c_r[b, : n - 1], bwd[b, 1:n])
        assert torch.equal(c_r[b, n - 1], right)
    # Position 0's left context depends on no forward output at all (no later word's left
    # context leaks in), and each row's last right context on no backward output.
    (grad_fwd,) = torch.autograd.grad(c_l[:, 0].sum(), fwd, allow_unused=True, materialize_grads=True)
    assert grad_fwd.abs().sum() == 0
    last = c_r[torch.arange(B), lengths - 1]
    (grad_bwd,) = torch.autograd.grad(last.sum(), bwd, allow_unused=True, materialize_grads=True)
    assert grad_bwd.abs().sum() == 0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rcnn_contexts_see_only_their_side(cell: str) -> None:
    """Changing word j changes c_l only after j, c_r only before j, and e(w) only at j."""
    torch.manual_seed(0)
    H, T = 5, 7
    rcnn = TextRCNN(DIM, H, projection_size=9, cell=cell).eval()
    with torch.no_grad():  # non-zero shared ends so the test also covers them
        rcnn.left_first.normal_()
        rcnn.right_last.normal_()
    lengths = torch.tensor([7, 5])
    x = torch.randn(2, T, DIM)
    base = rcnn.word_representations(x, lengths)
    for j in range(5):
        x2 = x.clone()
        x2[:, j] += 1.0
        delta = (rcnn.word_representations(x2, lengths) - base)[:, :5]  # real positions of both rows
        c_l, e, c_r = (part.abs().amax(dim=(0, 2)) > 1e-6 for part in delta.split([H, DIM, H], dim=-1))
        positions = torch.arange(5)
        assert torch.equal(c_l, positions > j)
        assert torch.equal(e, positions == j)
        assert torch.equal(c_r, positions < j)
    # Ends are the shared parameters c_l(w_1), c_r(w_n) ...
    torch.testing.assert_close(base[:, 0, :H], rcnn.left_first.expand(2, H))
    torch.testing.assert_close(base[0, 6, H + DIM :], rcnn.right_last)
    torch.testing.assert_close(base[1, 4, H + DIM :], rcnn.right_last)
    # ... and the recurrence starts from them: c_l(w_2) = f(W c_l(w_1) + W e(w_1)), eq. (1).
    with torch.no_grad():
        rcnn.left_first.add_(1.0)
        rcnn.right_last.add_(1.0)
    c_l, _, c_r = (rcnn.word_representations(x, lengths) - base).split([H, DIM, H], dim=-1)
    assert (c_l[:, 1:5].abs().amax(dim=2) > 1e-6).all()
    assert (c_r[:, :4].abs().amax(dim=2) > 1e-6).all()


# --- pooling helpers -------------------------------------------------------------------------------


def padded_with(value: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    lengths = torch.tensor([4, 1, 2])
    mask = mask_from_lengths(lengths, 6)
    x = torch.randn(3, 6, 5)
    return x.masked_fill(~mask[..., None], value), x, mask


def test_mask_from_lengths() -> None:
    expected = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask_from_lengths(torch.tensor([3, 1, 4]), 4), expected)


@pytest.mark.parametrize("value", [1e30, -1e30, float("inf"), float("nan")])
def test_masked_pooling_ignores_padding(value: float) -> None:
    x, clean, mask = padded_with(value)
    for b, n in enumerate([4, 1, 2]):
        torch.testing.assert_close(masked_max(x, mask)[b], clean[b, :n].amax(dim=0))
        torch.testing.assert_close(masked_mean(x, mask)[b], clean[b, :n].mean(dim=0))
    attention = AttentionPooling(5, 7)
    pooled, weights = attention(x, mask, return_weights=True)
    assert torch.isfinite(pooled).all()
    assert torch.equal(weights[~mask], torch.zeros(int((~mask).sum())))
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    for b, n in enumerate([4, 1, 2]):  # the same as attending over the real steps alone
        alone = attention(clean[b : b + 1, :n], torch.ones(1, n, dtype=torch.bool))
        torch.testing.assert_close(pooled[b], alone[0])


# --- embedding ----------------------------------------------------------------------------------------


def test_embedding_init_and_load_vectors() -> None:
    emb = Embedding(VOCAB, DIM, dropout=0.0)
    assert emb.dim == DIM and emb(torch.tensor([[0, 3]])).shape == (1, 2, DIM)
    assert emb.weight[0].abs().sum() == 0
    assert 0.05 < emb.weight[1:].std().item() < 0.2
    before = emb.weight.detach().clone()
    vectors = torch.randn(VOCAB, DIM)
    found = torch.zeros(VOCAB, dtype=torch.bool)
    found[[0, 2, 5]] = True
    assert emb.load_vectors(vectors, found) == 2  # the padding row is never overwritten
    assert torch.equal(emb.weight[[2, 5]], vectors[[2, 5]])
    assert torch.equal(emb.weight[~found], before[~found])
    assert emb.weight[0].abs().sum() == 0 and emb.weight.requires_grad
    with pytest.raises(ValueError, match="shape"):
        emb.load_vectors(torch.randn(VOCAB, DIM + 1), found)


def test_frozen_embedding_stays_frozen() -> None:
    emb = Embedding(VOCAB, DIM, freeze=True, dropout=0.0)
    assert not emb.weight.requires_grad
    emb.load_vectors(torch.randn(VOCAB, DIM), torch.ones(VOCAB, dtype=torch.bool))
    assert not emb.weight.requires_grad
    assert not any(p.requires_grad for p in emb.parameters())


# --- memory-encoder dispatch ----------------------------------------------------------------------


class FakeMemoryEncoder(MemoryEncoder):
    """Stands in for MemN2N: embeds the query and the memories itself."""

    output_size = DIM

    def forward(self, batch: Batch, embedding: Embedding) -> torch.Tensor:
        self.seen = batch
        memories = embedding(batch.memory).sum(dim=2)  # [B, M, d]
        return embedding(batch.query).sum(dim=1) + memories.sum(dim=1)


def test_memory_encoders_get_batch_and_embedding() -> None:
    torch.manual_seed(0)
    model = TextClassifier(Embedding(VOCAB, DIM, dropout=0.0), FakeMemoryEncoder(), CLASSES)
    batch = random_batch([3, 2], max_len=4)
    batch.memory = torch.randint(0, VOCAB, (2, 3, 4))
    batch.memory_lengths = torch.tensor([3, 2])
    batch.query = torch.randint(1, VOCAB, (2, 3))
    logits = model(batch)
    assert logits.shape == (2, CLASSES) and model.encoder.seen is batch
    logits.sum().backward()
    assert model.embedding.weight.grad[batch.query.unique()].abs().sum() > 0


def test_every_registered_encoder_says_what_it_reads():
    """Flat vs memory is asked of the encoder class: data preparation and loading build on it."""
    from textclf.models.registry import ENCODERS

    assert all(issubclass(cls, Encoder) for cls in ENCODERS.values())
    assert {name for name, cls in ENCODERS.items() if cls.reads_memory} == {"memn2n"}
    assert ENCODERS["memn2n"](input_size=DIM, vocab_size=VOCAB).answer_embedding() is not None
    assert ENCODERS["bilstm"](input_size=DIM, hidden_size=4).answer_embedding() is None


def test_word_dropout_hides_real_tokens_only_in_training():
    torch.manual_seed(0)
    emb = Embedding(10, 4, word_dropout=1.0, dropout=0.0)
    ids = torch.tensor([[5, 6, 0]])
    emb.train()
    assert torch.equal(emb(ids)[0, :2], emb.table.weight[[1, 1]])  # every real token -> <unk>
    assert torch.equal(emb(ids)[0, 2], torch.zeros(4))  # padding stays padding
    emb.eval()
    assert torch.equal(emb(ids)[0, :2], emb.table.weight[[5, 6]])


# --- TextCNN: a wide convolution over each text alone, whatever its batch's padding ------------------


def test_textcnn_is_kim_s_wide_convolution_of_each_text_alone() -> None:
    """Each row's features are those of the text on its own, padded with h-1 zero vectors on both
    sides (Kim's code): max over all of its windows, then ReLU; windows in the batch's padding never count."""
    torch.manual_seed(0)
    cnn = TextCNN(DIM, widths=(2, 5), filters=3).eval()
    lengths = torch.tensor([6, 1, 3])
    x = torch.randn(3, 6, DIM) + 10.0  # large junk at padded steps: it must never reach a window
    with torch.no_grad():
        got = cnn(x, lengths)
        for row, n in enumerate(lengths.tolist()):
            text = x[row : row + 1, :n].transpose(1, 2)  # [1, E, n]
            expected = [
                torch.relu(conv(nn.functional.pad(text, (w - 1, w - 1))).amax(dim=2)) for w, conv in zip((2, 5), cnn.convs)
            ]
            torch.testing.assert_close(got[row], torch.cat(expected, dim=1)[0])


def test_textcnn_refuses_no_widths() -> None:
    with pytest.raises(ValueError, match="widths"):
        TextCNN(DIM, widths=[])
    with pytest.raises(ValueError, match="widths"):
        TextCNN(DIM, widths=[3, 0])
