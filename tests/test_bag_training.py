"""Training a mean of word vectors as bags (TextClassifier.trains_as_bags): the same numbers, fewer tensors."""

from __future__ import annotations

import pytest
import torch

from textclf.data.batching import Batch
from textclf.models.build import build_model
from textclf.models.classifier import TextClassifier

from conftest import compose_train, fill_ngram_table, tiny_fasttext

VOCAB, CLASSES = 40, 3


def fasttext(*extra: str) -> TextClassifier:
    torch.manual_seed(0)
    model = build_model(tiny_fasttext(*extra), VOCAB, CLASSES)
    fill_ngram_table(model)
    return model.train()


def batch() -> Batch:
    """Right-padded texts of 1 to 6 words: a one-word text has no bigram, padding must count for
    nothing, and a text's own "<pad>" word (id 0 within its length, as the tokenizer gives it) counts
    as the zero vector it looks up."""
    lengths = torch.tensor([1, 6, 3, 2, 5])
    tokens = torch.randint(2, VOCAB, (5, 6), generator=torch.Generator().manual_seed(2))
    tokens[torch.arange(6) >= lengths.unsqueeze(1)] = 0
    tokens[1, 2] = 0
    return Batch(tokens=tokens, lengths=lengths, labels=torch.tensor([0, 1, 2, 1, 0]))


def step_by_step(model: TextClassifier, b: Batch) -> torch.Tensor:
    """The logits as the per-step path computes them: look up every word, average the real ones."""
    words = model.encoder(model.embedding(b.tokens), b.lengths)
    return model.head(torch.cat([words, model.ngrams(b.tokens, b.lengths)], dim=-1))


def logits_and_grads(model: TextClassifier, forward, b: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)  # word dropout draws the same tokens on both paths
    logits = forward(b)
    torch.nn.functional.cross_entropy(logits, b.labels).backward()
    grads = {name: p.grad.to_dense() for name, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


@pytest.mark.parametrize("extra", [[], ["embedding.word_dropout=0.3"], ["model.sparse=true"]])
def test_bags_give_the_step_by_step_logits_and_gradients(extra):
    model = fasttext("embedding.dropout=0", *extra)
    if extra == ["model.sparse=true"]:
        model.embedding.table.sparse = model.ngrams.sparse = True  # as training/sparse.py sets them
    assert model.trains_as_bags()
    b = batch()
    bag_logits, bag_grads = logits_and_grads(model, model, b)
    ref_logits, ref_grads = logits_and_grads(model, lambda x: step_by_step(model, x), b)
    torch.testing.assert_close(bag_logits, ref_logits)
    assert bag_grads.keys() == ref_grads.keys() == {name for name, _ in model.named_parameters()}
    for name in ref_grads:
        torch.testing.assert_close(bag_grads[name], ref_grads[name], msg=name)
    assert bag_grads["embedding.table.weight"][0].abs().sum() == 0  # the padding row learns nothing


@pytest.mark.parametrize("extra", [["embedding.dropout=0.5"], ["embedding.dropout=0", "model.ngrams.dropout=0.2"]])
def test_dropped_vector_components_keep_the_step_by_step_path(extra):
    model = fasttext(*extra)
    assert not model.trains_as_bags()
    with pytest.raises(ValueError, match="dropout must be 0"):
        model.embedding.bag_mean(batch().tokens, batch().lengths) if model.embedding.drops_vectors else model.ngrams.bag(batch().tokens, batch().lengths)


def test_evaluation_and_other_encoders_keep_the_step_by_step_path():
    assert not fasttext("embedding.dropout=0").eval().trains_as_bags()
    cfg = compose_train(["model=bilstm", "embedding.dim=8", "embedding.dropout=0", "data=table", "data.root=unused"])
    assert not build_model(cfg, VOCAB, CLASSES).train().trains_as_bags()


def test_the_large_table_recipe_trains_fasttext_as_bags_in_large_batches():
    cfg = compose_train(["experiment=fasttext_large", "data=table", "data.root=unused"])
    assert cfg.model.name == "fasttext" and cfg.trainer.batch_size == 1024
    assert build_model(cfg, VOCAB, CLASSES).train().trains_as_bags()
