r"""Hessian-free Newton: the Newton step by conjugate gradients on Hessian-vector products.

The Newton step :math:`(H + \lambda I)^{-1} \nabla f(x)` of :mod:`gradtx.second_order.dense_newton`
without forming :math:`H`: each conjugate-gradient iteration costs one :func:`~gradtx.hvp`.
The transforms need the objective through ``update``'s keyword-only extra argument
``value_fn=loss``, and work on real parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, EmptyState, GradientTransformation, chain
from gradtx.linesearch._common import cast_like, objective
from gradtx.numerics import upcast
from gradtx.second_order._common import check_newton_args, check_real_params, upcast_tree
from gradtx.second_order.curvature import hvp
from gradtx.transforms._common import requires_params
from gradtx.transforms.scaling import scale

__all__ = ["newton_cg", "scale_by_newton_cg"]


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
    check_newton_args(fn, damping, regularization)
    _checks.non_negative(fn, tol=tol)
    _checks.check_range(fn, "maxiter", maxiter, 1.0)

    def init_fn(params):
        del params
        return EmptyState()

    def update_fn(updates, state, params=None, *, value_fn=None, **extra_args):
        requires_params(fn, params)
        check_real_params(fn, params)
        f = objective(fn, value_fn, extra_args)
        # CG, and the objective for the Hessian-vector products, run in at least float32.
        b = cast_like(jax.tree_util.tree_map(upcast, updates), (params32 := upcast_tree(params)))
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
