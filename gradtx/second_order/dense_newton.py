r"""Newton's method, damped and regularised, with an explicit Hessian.

The lectures' Newton step minimises the local quadratic model,
:math:`x_{k+1} = x_k - \eta\,H^{-1} \nabla f(x_k)` (:math:`\eta = 1`: Newton; :math:`0 < \eta
< 1`: damped Newton). Here :math:`H` may be replaced by :math:`H + \lambda I` (Levenberg), which
is positive definite once :math:`\lambda > -\lambda_{\min}(H)`, so that the step descends even
where the Hessian is indefinite.

The transforms need the objective (or its Hessian) through keyword-only extra arguments of
``update``: ``value_fn=loss`` (extra keyword arguments whose names appear in ``loss``'s
signature are passed to it; all others are ignored). They work on real parameters. For
problems too large to form the Hessian, see :mod:`gradtx.second_order.hessian_free`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from gradtx.base import ArrayLike, EmptyState, GradientTransformation, chain
from gradtx.linesearch._common import fn_kwargs, objective
from gradtx.numerics import compute_dtype, promote_dtypes
from gradtx.second_order._common import check_newton_args, check_real_params, upcast_tree
from gradtx.transforms._common import requires_params
from gradtx.transforms.scaling import scale

__all__ = ["newton", "scale_by_newton"]


def scale_by_newton(
    hessian_fn: Callable[..., Any] | None = None,
    *,
    damping: ArrayLike = 1.0,
    regularization: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Preconditions the gradient by the inverse (regularised) Hessian: :math:`\eta
    (H + \lambda I)^{-1} g`.

    The parameters are flattened with ``jax.flatten_util.ravel_pytree`` into a vector of
    length :math:`n`; the :math:`n \times n` Hessian is formed and the linear system solved
    densely (:math:`O(n^3)`), so this suits small problems (see :func:`scale_by_newton_cg`
    for large ones). Low-precision parameters are computed in float32. The result is not
    negated: :func:`newton` adds the minus sign.

    Args:
        hessian_fn: ``hessian_fn(params, **kwargs) -> (n, n) array``, the Hessian with respect
            to the flattened parameters (keyword arguments are taken from ``update``'s extra
            arguments by name). ``None``: ``jax.hessian`` of ``value_fn``.
        damping: :math:`\eta \in (0, 1]` (1: the full Newton step).
        regularization: :math:`\lambda \ge 0`, added to the Hessian's diagonal.

    Returns:
        A stateless transformation; ``update`` needs the parameters and, without
        ``hessian_fn``, ``value_fn``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: 2.0 * x[0] ** 2 + 0.5 * x[1] ** 2
        >>> tx = gradtx.scale_by_newton()
        >>> x = jnp.array([1.0, 4.0])
        >>> tx.update(jax.grad(f)(x), tx.init(x), x, value_fn=f)[0]
        Array([1., 4.], dtype=float32)
    """
    fn = "scale_by_newton"
    check_newton_args(fn, damping, regularization)
    if hessian_fn is not None and not callable(hessian_fn):
        raise TypeError(f"{fn}(): hessian_fn must be callable or None, got {hessian_fn!r}.")

    def init_fn(params):
        del params
        return EmptyState()

    def update_fn(updates, state, params=None, *, value_fn=None, **extra_args):
        requires_params(fn, params)
        check_real_params(fn, params)
        # Low-precision parameters: the objective is evaluated on float32 copies.
        flat_params, unravel = ravel_pytree(upcast_tree(params))
        # Mixed-precision leaves are raveled in float32 (ravel_pytree would promote them).
        flat_grad, unravel_grad = ravel_pytree(upcast_tree(updates))
        dtype = compute_dtype(promote_dtypes(flat_params, flat_grad))
        n = flat_params.size
        if hessian_fn is not None:
            hessian = hessian_fn(params, **fn_kwargs(hessian_fn, extra_args))
        else:
            f = objective(fn, value_fn, extra_args)
            hessian = jax.hessian(lambda v: f(unravel(v)))(flat_params.astype(dtype))
        hessian = jnp.asarray(hessian, dtype)
        if hessian.shape != (n, n):
            raise ValueError(
                f"{fn}: the Hessian must be ({n}, {n}) for {n} parameters (flattened with "
                f"jax.flatten_util.ravel_pytree), got shape {hessian.shape}."
            )
        lam = jnp.asarray(regularization, dtype)
        step = jnp.linalg.solve(hessian + lam * jnp.eye(n, dtype=dtype), flat_grad.astype(dtype))
        step = jnp.asarray(damping, dtype) * step
        step = unravel_grad(step.astype(flat_grad.dtype))
        return jax.tree_util.tree_map(
            lambda s, u: s.astype(jnp.result_type(u)), step, updates
        ), state

    return GradientTransformation(init_fn, update_fn)


def newton(
    damping: ArrayLike = 1.0,
    hessian_fn: Callable[..., Any] | None = None,
    regularization: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Newton's method: :math:`x \leftarrow x - \eta (H + \lambda I)^{-1} \nabla f(x)`.

    :func:`scale_by_newton` followed by a minus sign. With ``damping=1`` it reaches the
    minimum of a positive-definite quadratic in one step; ``damping`` :math:`\eta < 1` is the
    lectures' damped Newton method, which on a quadratic shrinks the distance to the minimum
    by :math:`1 - \eta` per step. Pass ``value_fn`` to ``update`` (or use
    :func:`~gradtx.minimize`).

    Args:
        damping: :math:`\eta \in (0, 1]`.
        hessian_fn: see :func:`scale_by_newton`.
        regularization: :math:`\lambda \ge 0`.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: jnp.sum(jnp.array([1.0, 100.0]) * (x - 1.0) ** 2)
        >>> result = gradtx.minimize(f, jnp.zeros(2), gradtx.newton(), max_steps=10, tol=1e-4)
        >>> print(result.params, int(result.num_steps))
        [1. 1.] 1
    """
    return chain(
        scale_by_newton(hessian_fn, damping=damping, regularization=regularization),
        scale(-1.0),
    )
