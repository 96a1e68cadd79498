"""Every encoder (and the n-gram branch) on every kind of data: a few optimizer steps through the real pipeline."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from textclf.data.batching import BatchIterator
from textclf.data.pipeline import prepare
from textclf.models.build import build_model, reads_memory

from conftest import compose_train, small_model
from test_configs import options


@pytest.mark.parametrize("model", [*options("model"), "bilstm+ngrams"])  # + a flat model with the n-gram branch
@pytest.mark.parametrize("kind", ["babi", "single_text"])
def test_encoder_trains_on_data_kind(model, kind, babi_dir, table_dir):
    data = ["data=babi_gen", f"data.root={babi_dir}", "data.tasks=[1,6]", "data.n_train=60", "data.n_test=30"]
    if kind == "single_text":
        data = ["data=table", f"data.root={table_dir}"]
    cfg = compose_train([*small_model(model), *data])
    torch.manual_seed(0)
    prepared = prepare(instantiate(cfg.data), cfg.tokenizer, with_memory=reads_memory(cfg))
    net = build_model(cfg, len(prepared.vocab), len(prepared.labels), prepared.vocab.label_ids(prepared.labels))
    net.eval()  # dropout off: the loss must fall because of learning, not noise
    # fastText is linear in means of word vectors: it needs larger steps (its own default rate is 0.1).
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05 if model == "fasttext" else 0.01)
    batch = next(iter(BatchIterator(prepared.encoded["train"], batch_size=32, shuffle=True)))
    if kind == "babi":
        assert (batch.tokens == 2).any(), "flat bAbI sequences carry the <sep> token"
    if reads_memory(cfg):
        assert batch.memory is not None and batch.memory.shape[0] == len(batch)
        assert (batch.query.sum(dim=1) > 0).all() == (kind == "babi"), "questions, or a learned query"
    losses = []
    for _ in range(40):
        logits = net(batch)
        assert logits.shape == (len(batch), len(prepared.labels))
        loss = F.cross_entropy(logits, batch.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0]
