"""Linear solvers and curvature products over parameter dicts, written to run under vmap.

No data-dependent Python control flow and no host synchronisation: a fixed number of conjugate
gradient iterations, with converged directions frozen by ``torch.where`` rather than by ``break``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import grad

from metarl.core.functional import Params, tree_dot, tree_map


def hessian_vector_product(
    loss: Callable[[Params], Tensor], params: Params, vector: Params
) -> Params:
    """H(params) @ vector for the Hessian of ``loss``: the gradient of <grad loss, vector>.

    The Hessian is never materialised: the cost is about that of two gradient evaluations.
    """
    return grad(lambda p: tree_dot(grad(loss)(p), vector))(params)


def conjugate_gradient(matvec: Callable[[Params], Params], rhs: Params, iterations: int) -> Params:
    """Approximately solve ``A x = rhs`` for symmetric positive-definite ``A`` given by ``matvec``.

    Starts from x = 0 and runs exactly ``iterations`` steps (Hestenes and Stiefel). Once the
    residual has fallen to rounding level relative to ``rhs``, the step sizes become zero, so extra
    iterations leave the solution unchanged instead of dividing rounding noise by rounding noise.
    """
    return conjugate_gradient_with_product(matvec, rhs, iterations)[0]


def conjugate_gradient_with_product(
    matvec: Callable[[Params], Params], rhs: Params, iterations: int
) -> tuple[Params, Params]:
    """:func:`conjugate_gradient`'s solution x and ``A x`` (= rhs - residual), with no extra
    product (TRPO scales its step by x^T A x)."""
    solution = tree_map(torch.zeros_like, rhs)
    residual = dict(rhs)
    direction = dict(rhs)
    residual_sq = tree_dot(residual, residual)
    dtype_eps = torch.finfo(residual_sq.dtype).eps
    floor = residual_sq * dtype_eps**2
    for _ in range(iterations):
        a_direction = matvec(direction)
        curvature = tree_dot(direction, a_direction)
        active = (residual_sq > floor) & (curvature > 0)
        alpha = torch.where(active, residual_sq / torch.where(active, curvature, 1.0), 0.0)
        solution = _axpy(alpha, direction, solution)
        residual = _axpy(-alpha, a_direction, residual)
        new_residual_sq = tree_dot(residual, residual)
        beta = torch.where(active, new_residual_sq / torch.where(active, residual_sq, 1.0), 0.0)
        direction = _axpy(beta, direction, residual)
        residual_sq = new_residual_sq
    product = {name: rhs[name] - residual[name] for name in rhs}
    return solution, product


def _axpy(scale: Tensor, x: Params, y: Params) -> Params:
    """scale * x + y, entrywise over two parameter dicts."""
    return {name: scale * x[name] + y[name] for name in x}
