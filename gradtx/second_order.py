r"""Newton's method, damped and regularised, with an explicit Hessian or conjugate gradients.

The lectures' Newton step minimises the local quadratic model,
:math:`x_{k+1} = x_k - \eta\,H^{-1} \nabla f(x_k)` (:math:`\eta = 1`: Newton; :math:`0 < \eta
< 1`: damped Newton). Here :math:`H` may be replaced by :math:`H + \lambda I` (Levenberg), which
is positive definite once :math:`\lambda > -\lambda_{\min}(H)`, so that the step descends even
where the Hessian is indefinite.

The transforms need the objective (or its Hessian) through keyword-only extra arguments of
``update``: ``value_fn=loss`` (extra keyword arguments whose names appear in ``loss``'s
signature are passed to it; all others are ignored). They work on real parameters.

This module also re-exports the curvature tools of :mod:`gradtx.curvature` (``hvp``, Hessian
eigenvalues, stable learning rates, sharpness and ``sam``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from gradtx import _checks
from gradtx import tree as _tree
from gradtx.base import ArrayLike, EmptyState, GradientTransformation, Params, chain
from gradtx.linesearch import cast_like, fn_kwargs, objective
from gradtx.numerics import compute_dtype, upcast
from gradtx.transforms._common import requires_params
from gradtx.transforms.scaling import scale

__all__ = ["hvp", "newton", "newton_cg", "scale_by_newton", "scale_by_newton_cg"]


def hvp(fun: Callable[[Params], Any], params: Params, v: Params) -> Params:
    r"""The Hessian-vector product :math:`\nabla^2 f(x)\, v` on pytrees, without the Hessian.

    Forward-over-reverse differentiation: the directional derivative of :math:`\nabla f`
    along :math:`v` (``jax.jvp`` of ``jax.grad``), at the cost of about two gradients.

    Args:
        fun: a scalar function of the parameters.
        params: the point :math:`x`.
        v: a tree with the structure of ``params``.

    Returns:
        :math:`H v`, shaped like ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: x[0] ** 2 * x[1]
        >>> gradtx.hvp(f, jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]))  # H = [[4, 2], [2, 0]]
        Array([4., 2.], dtype=float32)
    """
    return jax.jvp(jax.grad(fun), (params,), (cast_like(v, params),))[1]


def _upcast(params: Params) -> Params:
    return jax.tree_util.tree_map(upcast, params)


def _real_params(fn: str, params: Params) -> None:
    for leaf in jax.tree_util.tree_leaves(params):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.complexfloating):
            raise TypeError(
                f"{fn}: Newton's method here works on real parameters, got a "
                f"{jnp.result_type(leaf)} leaf; split complex parameters into real and "
                "imaginary parts."
            )


def _check_newton_args(fn: str, damping: Any, regularization: Any) -> None:
    _checks.check_range(fn, "damping", damping, 0.0, 1.0, low_open=True)
    _checks.non_negative(fn, regularization=regularization)


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
    _check_newton_args(fn, damping, regularization)
    if hessian_fn is not None and not callable(hessian_fn):
        raise TypeError(f"{fn}(): hessian_fn must be callable or None, got {hessian_fn!r}.")

    def init_fn(params):
        del params
        return EmptyState()

    def update_fn(updates, state, params=None, *, value_fn=None, **extra_args):
        requires_params(fn, params)
        _real_params(fn, params)
        # Low-precision parameters: the objective is evaluated on float32 copies.
        flat_params, unravel = ravel_pytree(_upcast(params))
        flat_grad, unravel_grad = ravel_pytree(updates)
        dtype = compute_dtype(jnp.result_type(flat_params, flat_grad))
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
        return unravel_grad(step.astype(flat_grad.dtype)), state

    return GradientTransformation(init_fn, update_fn)


def scale_by_newton_cg(
    *,
    damping: ArrayLike = 1.0,
    regularization: ArrayLike = 0.0,
    tol: ArrayLike = 1e-5,
    maxiter: ArrayLike | None = None,
) -> GradientTransformation:
    r"""Hessian-free Newton: solves :math:`(H + \lambda I) p = g` by conjugate gradients.

    Each CG iteration costs one Hessian-vector product (:func:`hvp`), so the Hessian is never
    formed. CG stops when the residual is at most ``tol`` times :math:`\|g\|`, after
    ``maxiter`` iterations, or at the first direction of non-positive curvature (then it
    returns the iterate so far, or :math:`g` itself if that happens at the first iteration:
    the truncated Newton method of Nocedal and Wright, Algorithm 7.1). Returns
    :math:`\eta\,p`, not negated (see :func:`newton_cg`).

    Args:
        damping: :math:`\eta \in (0, 1]`.
        regularization: :math:`\lambda \ge 0`.
        tol: relative residual tolerance of CG (>= 0).
        maxiter: the most CG iterations (``None``: 10 times the number of parameters, as
            ``scipy.sparse.linalg.cg``; exact arithmetic would need at most the number of
            parameters, but rounding slows CG down on ill-conditioned systems).

    Returns:
        A stateless transformation; ``update`` needs the parameters and ``value_fn``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: 2.0 * x[0] ** 2 + 0.5 * x[1] ** 2
        >>> tx = gradtx.scale_by_newton_cg()
        >>> x = jnp.array([1.0, 4.0])
        >>> tx.update(jax.grad(f)(x), tx.init(x), x, value_fn=f)[0]
        Array([1., 4.], dtype=float32)
    """
    fn = "scale_by_newton_cg"
    _check_newton_args(fn, damping, regularization)
    _checks.non_negative(fn, tol=tol)
    _checks.check_range(fn, "maxiter", maxiter, 1.0)

    def init_fn(params):
        del params
        return EmptyState()

    def update_fn(updates, state, params=None, *, value_fn=None, **extra_args):
        requires_params(fn, params)
        _real_params(fn, params)
        f = objective(fn, value_fn, extra_args)
        # CG, and the objective for the Hessian-vector products, run in at least float32.
        b = cast_like(jax.tree_util.tree_map(upcast, updates), (params32 := _upcast(params)))
        n = sum(jnp.size(x) for x in jax.tree_util.tree_leaves(params))
        limit = 10 * n if maxiter is None else maxiter
        dtype = jnp.result_type(_tree.norm(b))
        lam, eta = jnp.asarray(regularization, dtype), jnp.asarray(damping, dtype)

        def matvec(v):
            return _tree.add_scale(hvp(f, params32, v), lam, v)

        target = jnp.asarray(tol, dtype) * _tree.norm(b)

        def cond(c):
            k, _, _, _, rr, stop = c
            return ~stop & (k < limit) & (jnp.sqrt(rr) > target)

        def body(c):
            k, x, r, p, rr, _ = c
            ap = matvec(p)
            curvature = _tree.vdot(p, ap)
            negative = curvature <= 0
            alpha = rr / jnp.where(negative, 1.0, curvature)
            new_x = _tree.add_scale(x, alpha, p)
            new_r = _tree.add_scale(r, -alpha, ap)
            new_rr = _tree.norm(new_r, squared=True)
            new_p = _tree.add_scale(new_r, new_rr / rr, p)
            fallback = _tree.where(k == 0, b, x)  # steepest descent if H is not PD along g
            out = (k + 1, new_x, new_r, new_p, new_rr, jnp.array(False))
            stopped = (k + 1, fallback, r, p, rr, jnp.array(True))
            return _tree.where(negative, stopped, out)

        zero = _tree.zeros_like(b)
        rr = _tree.norm(b, squared=True)
        carry = (jnp.zeros([], jnp.int32), zero, b, b, rr, jnp.array(False))
        x = jax.lax.while_loop(cond, body, carry)[1]
        step = jax.tree_util.tree_map(lambda s: eta * s, x)
        return cast_like(step, updates), state

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


def newton_cg(
    damping: ArrayLike = 1.0,
    regularization: ArrayLike = 0.0,
    tol: ArrayLike = 1e-5,
    maxiter: ArrayLike | None = None,
) -> GradientTransformation:
    r"""Hessian-free Newton: :func:`scale_by_newton_cg` followed by a minus sign.

    Args:
        damping: :math:`\eta \in (0, 1]`.
        regularization: :math:`\lambda \ge 0`.
        tol: relative residual tolerance of the inner conjugate gradients.
        maxiter: the most CG iterations per step (``None``: 10 times the number of
            parameters).

    Returns:
        The optimizer; ``update`` needs ``value_fn``.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: jnp.sum(jnp.array([1.0, 100.0]) * (x - 1.0) ** 2)
        >>> result = gradtx.minimize(f, jnp.zeros(2), gradtx.newton_cg(), max_steps=10, tol=1e-4)
        >>> print(result.params, int(result.num_steps))  # CG in float32 leaves 2e-6 after step 1
        [1. 1.] 2
    """
    return chain(
        scale_by_newton_cg(
            damping=damping, regularization=regularization, tol=tol, maxiter=maxiter
        ),
        scale(-1.0),
    )


# The curvature tools live in gradtx.curvature (which imports hvp from here); re-exported so
# that ``from gradtx.second_order import *`` (and so ``gradtx.<name>``) reaches them.
from gradtx import curvature as _curvature  # noqa: E402
from gradtx.curvature import *  # noqa: E402, F403

__all__ += _curvature.__all__
