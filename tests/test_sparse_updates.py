"""model.sparse: the word and n-gram tables get sparse gradients, and the optimizer follows (training/sparse.py)."""

from __future__ import annotations

import io

import pytest
import torch

from textclf.core.errors import TextclfError
from textclf.data.batching import Batch
from textclf.models.build import build_model
from textclf.training.grad_clip import clip_gradients
from textclf.training.sparse import SparseDenseAdam, make_optimizer, refuse_combinations
from textclf.training.trainer import train

from conftest import SMALL_NGRAMS, compose_train, fill_ngram_table, tiny_fasttext

VOCAB, CLASSES = 40, 3


def batches(steps: int, seed: int = 0) -> list[Batch]:
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        lengths = torch.randint(1, 7, (5,), generator=generator)
        tokens = torch.randint(2, VOCAB, (5, 6), generator=generator)
        tokens[torch.arange(6) >= lengths.unsqueeze(1)] = 0  # right padding
        out.append(Batch(tokens=tokens, lengths=lengths, labels=torch.randint(0, CLASSES, (5,), generator=generator)))
    return out


def trained(cfg, steps: int, clip: float | None = None) -> tuple[list[float], torch.nn.Module, torch.optim.Optimizer]:
    """Losses of ``steps`` steps on fixed batches, from the same initial weights whatever the config."""
    torch.manual_seed(0)
    model = build_model(cfg, VOCAB, CLASSES)
    fill_ngram_table(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(cfg, model, trainable)
    model.eval()  # no dropout: both paths must see the same numbers
    losses = []
    for batch in batches(steps):
        for param in trainable:
            param.grad = None
        loss = torch.nn.functional.cross_entropy(model(batch), batch.labels)
        loss.backward()
        if clip is not None:
            clip_gradients(trainable, clip)
        optimizer.step()
        losses.append(loss.item())
    return losses, model, optimizer


@pytest.mark.parametrize("clip", [None, 0.05])  # 0.05: every step clipped, through the sparse gradients' values
def test_sgd_takes_the_same_steps_with_sparse_and_dense_gradients(clip):
    dense, dense_model, _ = trained(tiny_fasttext("optimizer=sgd", "optimizer.lr=0.5"), 8, clip)
    sparse, sparse_model, _ = trained(tiny_fasttext("optimizer=sgd", "optimizer.lr=0.5", "++model.sparse=true"), 8, clip)
    assert sparse_model.embedding.table.weight.grad.is_sparse and sparse_model.ngrams.table.grad.is_sparse
    assert not dense_model.ngrams.table.grad.is_sparse
    assert sparse == pytest.approx(dense, rel=1e-5)
    assert dense[-1] < dense[0]  # it learned something, so the equality is not of two idle runs
    for mine, theirs in zip(sparse_model.state_dict().values(), dense_model.state_dict().values()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_adam_splits_into_sparse_adam_for_the_tables_and_adam_for_the_rest():
    losses, model, optimizer = trained(tiny_fasttext("optimizer.lr=0.05", "++model.sparse=true"), 10)
    assert isinstance(optimizer, SparseDenseAdam)
    assert {id(p) for p in optimizer.sparse.param_groups[0]["params"]} == {id(model.embedding.table.weight), id(model.ngrams.table)}
    assert {id(p) for p in optimizer.dense.param_groups[0]["params"]} == {id(p) for p in model.head.parameters()}
    assert losses[-1] < losses[0]


def test_lazy_adam_leaves_rows_no_batch_read_where_they_were():
    cfg = tiny_fasttext("optimizer.lr=0.05", "++model.sparse=true")
    torch.manual_seed(0)
    model = build_model(cfg, VOCAB + 10, CLASSES)  # ids VOCAB.. never occur in the batches
    before = model.embedding.table.weight.detach().clone()
    optimizer = make_optimizer(cfg, model, [p for p in model.parameters() if p.requires_grad])
    for batch in batches(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(batch), batch.labels).backward()
        optimizer.step()
    after = model.embedding.table.weight.detach()
    assert torch.equal(after[VOCAB:], before[VOCAB:])  # never read, never moved
    assert not torch.equal(after[2:VOCAB], before[2:VOCAB])


def test_a_scheduler_and_linear_start_reach_both_halves_and_resume_restores_them():
    cfg = tiny_fasttext("optimizer.lr=0.05", "++model.sparse=true")
    _, model, optimizer = trained(cfg, 4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert optimizer.sparse.param_groups[0]["lr"] == optimizer.dense.param_groups[0]["lr"] == pytest.approx(0.025)
    # Through a file, as last.pt: the state loads with weights_only=True (and shares no tensor with the live one).
    saved = io.BytesIO()
    torch.save(optimizer.state_dict(), saved)
    state = torch.load(io.BytesIO(saved.getvalue()), weights_only=True)
    # A fresh optimizer over a fresh copy of the weights takes the saved state, moments and rates alike.
    copy = build_model(cfg, VOCAB, CLASSES)
    copy.load_state_dict(model.state_dict())
    restored = make_optimizer(cfg, copy, [p for p in copy.parameters() if p.requires_grad])
    restored.load_state_dict(state)
    assert restored.param_groups[0]["lr"] == pytest.approx(0.025)
    restored.param_groups[1]["lr"] = 0.01  # the groups are the inner optimizers' own, after a load too
    assert restored.dense.param_groups[0]["lr"] == 0.01
    restored.param_groups[1]["lr"] = 0.025
    moments = optimizer.sparse.state[model.ngrams.table]["exp_avg"]
    torch.testing.assert_close(restored.sparse.state[copy.ngrams.table]["exp_avg"], moments)
    # Both take the same next step.
    for net, opt in ((model, optimizer), (copy, restored)):
        batch = batches(1, seed=7)[0]
        opt.zero_grad()
        net.eval()
        torch.nn.functional.cross_entropy(net(batch), batch.labels).backward()
        opt.step()
    for mine, theirs in zip(copy.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(mine, theirs)
    with pytest.raises(TextclfError, match="model.sparse=false"):
        restored.load_state_dict(torch.optim.Adam(model.parameters()).state_dict())


@pytest.mark.parametrize("scope", ["parameter", "spectral"])
def test_clipping_a_sparse_gradient_by_itself_clips_it_as_the_dense_one(scope):
    weight = torch.nn.Parameter(torch.randn(20, 4))
    ids = torch.tensor([[1, 3, 3, 7]])
    grads = []
    for sparse in (False, True):
        weight.grad = None
        (torch.nn.functional.embedding(ids, weight, sparse=sparse) * torch.arange(4.0)).sum().mul(3).backward()
        clip_gradients([weight], max_norm=1.0, scope=scope)
        grads.append(weight.grad.to_dense() if sparse else weight.grad)
    torch.testing.assert_close(grads[1], grads[0])
    assert grads[0].norm() < 3 * torch.arange(4.0).norm()  # it was clipped


@pytest.mark.parametrize(("extra", "says"), [
    (["trainer.grad_noise=0.01"], "trainer.grad_noise=0"),
    (["trainer=ddp"], "one process"),
    (["optimizer.weight_decay=0.01"], "optimizer.weight_decay=0"),
    (["++optimizer.amsgrad=true"], "amsgrad"),
    (["optimizer._target_=torch.optim.AdamW"], "optimizer=adam or optimizer=sgd"),
    (["optimizer=sgd", "++optimizer.fused=true"], "optimizer.fused=false"),
])
def test_settings_that_need_dense_gradients_are_refused_with_what_to_change(extra, says):
    cfg = tiny_fasttext("++model.sparse=true", *extra)
    with pytest.raises(TextclfError, match="model.sparse=false") as refused:
        refuse_combinations(cfg)
    assert says in str(refused.value)
    refuse_combinations(tiny_fasttext("++model.sparse=false", *extra))  # dense gradients: each of them is fine


def test_a_memory_model_is_refused_before_any_data_is_read(tmp_path):
    cfg = compose_train(["model=memn2n", "data=babi", f"data.root={tmp_path / 'nowhere'}", "++model.sparse=true"])
    with pytest.raises(TextclfError, match="tables of its own. Set model.sparse=false"):
        train(cfg, tmp_path / "run")


def test_a_sparse_run_trains_resumes_and_exports_as_a_dense_one(table_dir, tmp_path):
    """End to end: a sparse run's last.pt resumes (the mixed optimizer's state comes back), and its
    best.pt loads into a model that looks rows up densely, as export and inference do."""
    from textclf.inference.checkpoint import load_checkpoint
    from textclf.inference.loader import load_model

    def cfg(*extra):
        return compose_train(["model=fasttext", "embedding.dim=8", *SMALL_NGRAMS, "data=table", f"data.root={table_dir}",
                              "++model.sparse=true", "trainer.progress=false", "trainer.tensorboard=false",
                              "trainer.patience=null", "trainer.num_threads=1", "baseline=none", *extra])

    whole = train(cfg("trainer.max_epochs=3", "trainer.deterministic=true"), tmp_path / "whole")
    train(cfg("trainer.max_epochs=2", "trainer.deterministic=true"), tmp_path / "part")
    assert set(load_checkpoint(tmp_path / "part" / "last.pt")["optimizer"]) == {"sparse", "dense"}
    resumed = train(cfg("trainer.max_epochs=3", "trainer.deterministic=true", f"ckpt_path={tmp_path / 'part' / 'last.pt'}"),
                    tmp_path / "resumed")
    assert resumed["val_loss"] == pytest.approx(whole["val_loss"], rel=1e-6)
    loaded = load_model(tmp_path / "whole" / "best.pt")
    assert loaded.model.ngrams.sparse is False and loaded.model.embedding.table.sparse is False
    # A dense run's checkpoint does not resume as a sparse one: the optimizer states differ.
    train(cfg("trainer.max_epochs=1", "++model.sparse=false"), tmp_path / "dense")
    with pytest.raises(TextclfError, match="other model settings"):
        train(cfg("trainer.max_epochs=2", f"ckpt_path={tmp_path / 'dense' / 'last.pt'}"), tmp_path / "mixed")
