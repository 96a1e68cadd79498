"""trainer.grad_clip_scope: one norm over all gradients, or each weight's gradient on its own."""

import pytest
import torch

from textclf.training.grad_clip import clip_gradients


def with_grads(*grads: torch.Tensor) -> list[torch.nn.Parameter]:
    params = []
    for grad in grads:
        p = torch.nn.Parameter(torch.zeros_like(grad))
        p.grad = grad.clone()
        params.append(p)
    return params


def test_global_scope_scales_all_gradients_together() -> None:
    params = with_grads(torch.full((2, 2), 3.0), torch.full((3,), 0.1))  # norms 6 and ~0.17
    total = torch.cat([p.grad.flatten() for p in params]).norm()
    clip_gradients(params, max_norm=1.0, scope="global")
    assert torch.cat([p.grad.flatten() for p in params]).norm() == pytest.approx(1.0, rel=1e-4)
    # the small gradient shrank too, by the same factor
    assert params[1].grad[0].item() == pytest.approx(0.1 / total.item(), rel=1e-4)


def test_parameter_scope_clips_each_gradient_by_its_own_norm() -> None:
    params = with_grads(torch.full((2, 2), 3.0), torch.full((3,), 0.1))
    clip_gradients(params, max_norm=1.0, scope="parameter")
    assert params[0].grad.norm().item() == pytest.approx(1.0, rel=1e-4)
    assert torch.equal(params[1].grad, torch.full((3,), 0.1))  # below the limit: untouched


def test_spectral_scope_uses_the_largest_singular_value_of_a_matrix() -> None:
    # The identity's Frobenius norm is 2 (4 x 4) but its spectral norm is 1: not clipped at 1.5.
    eye = torch.eye(4)
    # A rank-one matrix has both norms equal (here 4): clipped to spectral norm 1.5.
    rank_one = torch.ones(4, 4)
    vector = torch.full((4,), 2.0)  # a vector by its L2 norm, 4
    params = with_grads(eye, rank_one, vector)
    clip_gradients(params, max_norm=1.5, scope="spectral")
    assert torch.equal(params[0].grad, eye)
    assert torch.linalg.matrix_norm(params[1].grad, ord=2).item() == pytest.approx(1.5, rel=1e-4)
    assert params[2].grad.norm().item() == pytest.approx(1.5, rel=1e-4)
    # under "parameter" the identity would have been clipped (Frobenius 2 > 1.5)
    frobenius = with_grads(eye)
    clip_gradients(frobenius, max_norm=1.5, scope="parameter")
    assert frobenius[0].grad.norm().item() == pytest.approx(1.5, rel=1e-4)


def test_parameters_without_gradients_and_unknown_scopes() -> None:
    params = with_grads(torch.ones(2))
    params.append(torch.nn.Parameter(torch.ones(2)))  # no .grad
    clip_gradients(params, max_norm=0.5, scope="parameter")
    assert params[0].grad.norm().item() == pytest.approx(0.5, rel=1e-4) and params[1].grad is None
    with pytest.raises(ValueError, match="grad_clip_scope"):
        clip_gradients(params, max_norm=1.0, scope="layer")


@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipped, and left alone (factor clamped to 1)
def test_global_scope_gives_pytorchs_gradients_bit_for_bit(max_norm: float) -> None:
    """The global scope is clip_grad_norm_ with foreach: the same numbers as its per-tensor loop."""
    torch.manual_seed(0)
    grads = [torch.randn(7, 5) * 3, torch.randn(5), torch.randn(2, 3, 4) / 7]
    ours, theirs = with_grads(*grads), with_grads(*grads)
    theirs.append(torch.nn.Parameter(torch.ones(2)))  # one without a gradient on both sides
    ours.append(torch.nn.Parameter(torch.ones(2)))
    clip_gradients(ours, max_norm=max_norm, scope="global")
    torch.nn.utils.clip_grad_norm_(theirs, max_norm, foreach=False)
    for mine, reference in zip(ours[:3], theirs[:3]):
        assert torch.equal(mine.grad, reference.grad)
    assert ours[3].grad is None
    if max_norm < 1:  # really clipped, so the comparison above compared scaled gradients
        assert not torch.equal(ours[0].grad, grads[0])


def test_global_scope_without_any_gradient_is_a_no_op() -> None:
    params = [torch.nn.Parameter(torch.ones(3))]
    clip_gradients(params, max_norm=1.0, scope="global")
    assert params[0].grad is None and torch.equal(params[0].detach(), torch.ones(3))


def test_global_scope_with_mixed_dtypes_clips_all_gradients_together() -> None:
    params = with_grads(torch.full((2, 2), 3.0), torch.full((3,), 0.1, dtype=torch.float64))
    clip_gradients(params, max_norm=1.0, scope="global")
    norm = torch.cat([p.grad.flatten().double() for p in params]).norm().item()
    assert norm == pytest.approx(1.0, rel=1e-4)
    assert params[1].grad.dtype == torch.float64


def test_sgd_recipe_updates_like_plain_sgd() -> None:
    """conf/optimizer/sgd.yaml sets foreach: one operation for all weights, the same arithmetic."""
    from hydra.utils import instantiate

    from conftest import compose_train

    cfg = compose_train(["optimizer=sgd"])
    assert cfg.optimizer.foreach is True
    torch.manual_seed(0)
    grads = [torch.randn(6, 4), torch.randn(4)]
    ours, plain = with_grads(*grads), with_grads(*grads)
    instantiate(cfg.optimizer)(params=ours).step()
    torch.optim.SGD(plain, lr=cfg.optimizer.lr, foreach=False).step()
    for mine, reference in zip(ours, plain):
        assert torch.equal(mine, reference) and not torch.equal(mine, torch.zeros_like(mine))
