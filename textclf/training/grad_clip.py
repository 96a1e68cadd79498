"""Gradient-norm clipping: `trainer.grad_clip=MAX` with `trainer.grad_clip_scope`.

* ``global`` (default): one norm over all gradients together, scaled down as a whole when it is
  above MAX: `torch.nn.utils.clip_grad_norm_(..., foreach=True)` itself. (A hand-written copy of its
  `_foreach` operations saved ~30 us of a ~2-3 ms MemN2N step, ~1 % of a whole run, with the
  same gradients bit for bit: not worth private torch calls; docs/speed.md.)
* ``parameter``: each parameter's gradient is clipped on its own, by its Frobenius (L2) norm.
* ``spectral``: each parameter's gradient on its own, a matrix by its spectral norm (largest
  singular value), a vector by its L2 norm. This is what MemN2N's authors' code does
  (MemN2N-babi-matlab, `Weight.update`: MATLAB's ``norm`` of a matrix is its 2-norm), and it clips
  far less often than ``global``: measured on the bAbI 1k joint recipe just after linear start, the
  global norm was above 40 in ~2/3 of the steps, the largest per-matrix spectral norm in ~1/7.

Clipping per parameter keeps one large gradient (say, the answer table's) from shrinking the
step of every other table, which a global norm does.

Sparse gradients (model.sparse, training/sparse.py) are coalesced first (one value row per table row
read, duplicates summed) and clipped through their values: the zero rows they leave out add nothing
to a Frobenius norm, nor to a spectral one, so every scope clips them as it clips the dense gradient.
"""

from __future__ import annotations

import torch

SCOPES = ("global", "parameter", "spectral")


def clip_gradients(params: list[torch.nn.Parameter], max_norm: float, scope: str = "global") -> None:
    """Clip the gradients of ``params`` in place to norm ``max_norm`` under ``scope`` (see module)."""
    if scope not in SCOPES:
        raise ValueError(f"grad_clip_scope must be one of {SCOPES}, got {scope!r}")
    if scope == "global" and not any(p.grad is not None and p.grad.is_sparse for p in params):
        torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
        return
    grads = gradient_values(params)
    if scope == "global":  # torch's clip takes no sparse .grad: the same arithmetic on the values
        total = torch.nn.utils.get_total_norm(grads, foreach=True)
        scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for grad in grads:
            grad.mul_(scale)
        return
    if not grads:
        return
    # One synchronisation for all Frobenius norms. A spectral norm is at most the Frobenius norm, so
    # only gradients above max_norm by the latter need their (costlier) spectral norm at all.
    norms = torch.stack([torch.linalg.vector_norm(grad) for grad in grads]).tolist()
    for grad, norm in zip(grads, norms):
        if norm <= max_norm:
            continue
        if scope == "spectral" and grad.dim() == 2:
            norm = torch.linalg.matrix_norm(grad.float(), ord=2).item()
            if norm <= max_norm:
                continue
        grad.mul_(max_norm / (norm + 1e-6))


def gradient_values(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    """Each gradient as a dense tensor that shares its storage: a dense gradient itself, a sparse one
    (coalesced in place of the uncoalesced one) its [rows read, ...] values."""
    grads = []
    for param in params:
        if param.grad is None:
            continue
        if param.grad.is_sparse:
            param.grad = param.grad.coalesce()
            grads.append(param.grad.values())  # a view: scaling it scales the gradient
        else:
            grads.append(param.grad)
    return grads
