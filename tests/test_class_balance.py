"""Imbalanced classes: task.class_weights in the loss and task.sampler=balanced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from textclf.core.errors import TextclfError
from textclf.data.batching import BatchIterator, EncodedSplit
from textclf.models.task import Task
from textclf.training.balance import class_weights, sample_weights
from textclf.training.trainer import train

from conftest import compose_train


def skewed_targets() -> torch.Tensor:
    return torch.tensor([0] * 90 + [1] * 10 + [2] * 20)


def test_balanced_weights_are_scikit_learns():
    y = skewed_targets()
    weights = class_weights("balanced", y, ["a", "b", "c"], Task())
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y.numpy())
    assert np.allclose(weights.numpy(), expected)
    assert weights[1] > weights[2] > weights[0]  # the rarest class weighs most


def test_class_weights_change_the_loss_as_specified():
    gen = torch.Generator().manual_seed(0)
    logits, y = torch.randn(120, 3, generator=gen), skewed_targets()
    weight = torch.tensor([0.5, 3.0, 1.5])
    nll = -logits.log_softmax(dim=1)[torch.arange(len(y)), y]
    task = Task()
    assert torch.isclose(task.loss(logits, y, "mean", weight), (weight[y] * nll).sum() / weight[y].sum())
    assert torch.isclose(task.loss(logits, y, "sum", weight), (weight[y] * nll).sum())
    assert not torch.isclose(task.loss(logits, y, "mean", weight), task.loss(logits, y, "mean"))


def test_multi_label_balanced_weights_are_pos_weights():
    targets = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 0], [0, 1]], dtype=torch.float32)
    task = Task(multi_label=True)
    pos_weight = class_weights("balanced", targets, ["a", "b"], task)
    assert pos_weight.tolist() == [4.0, 1.5]  # negatives / positives
    logits = torch.zeros(5, 2)
    manual = -(pos_weight * targets * torch.log(torch.sigmoid(logits)) + (1 - targets) * torch.log(1 - torch.sigmoid(logits)))
    assert torch.isclose(task.loss(logits, targets, "mean", pos_weight), manual.sum(dim=1).mean())
    assert torch.isclose(task.loss(logits, targets, "sum", pos_weight), manual.sum())


def test_class_weights_of_the_wrong_length_are_refused():
    with pytest.raises(TextclfError, match=r"task.class_weights has 2 weight\(s\) but the data has 3 classes \(a, b, c\)"):
        class_weights([1.0, 2.0], skewed_targets(), ["a", "b", "c"], Task())


def test_the_balanced_sampler_evens_classes_and_still_batches_by_length():
    n = 2000
    labels = torch.tensor([1 if i % 10 == 0 else 0 for i in range(n)])  # 10 % positives
    lengths = torch.randint(1, 60, (n,), generator=torch.Generator().manual_seed(1))
    split = EncodedSplit(tokens=torch.ones(n, 60, dtype=torch.long), lengths=lengths, labels=labels)
    weights = sample_weights(labels, Task())
    batches = list(BatchIterator(split, 32, shuffle=True, seed=0, sample_weights=weights))
    drawn = torch.cat([b.labels for b in batches])
    assert len(drawn) == n and 0.45 < drawn.float().mean() < 0.55
    spread = np.mean([int(b.lengths.max() - b.lengths.min()) for b in batches])
    unsorted = np.mean([int(b.lengths.max() - b.lengths.min()) for b in BatchIterator(split, 32, shuffle=True, seed=0, pool_batches=1)])
    assert spread < unsorted / 4  # pools are still sorted by length


def test_training_with_weights_and_balanced_sampler(table_dir, tmp_path):
    overrides = [
        "data=table", f"data.root={table_dir}", "embedding.dim=16", "model=textrnn", "model.encoder.hidden_size=16",
        "trainer.max_epochs=2", "trainer.progress=false", "trainer.tensorboard=false", "trainer.num_threads=1",
    ]
    plain = train(compose_train(overrides), tmp_path / "plain")
    weighted = train(compose_train([*overrides, "task.class_weights=[1.0,5.0]", "task.sampler=balanced"]), tmp_path / "w")
    assert weighted["val_loss"] != plain["val_loss"]
    with pytest.raises(TextclfError, match="class_weights has 3 weight"):
        train(compose_train([*overrides, "task.class_weights=[1,2,3]"]), tmp_path / "bad")


@pytest.mark.parametrize("override", ["task.class_weights=heavy", "task.class_weights=[1,-1]", "task.sampler=oversample"])
def test_bad_weight_or_sampler_settings_are_refused_by_name(override):
    from textclf.core.config_rules import check_config

    key = override.split("=")[0]
    with pytest.raises(TextclfError, match=f"{key} must be"):
        check_config(compose_train([override]))
