r"""Exact line search (bracketing, then golden-section search) and steepest descent.

The lectures' "steepest descent" is gradient descent whose step size minimises the objective
along the negative gradient, :math:`t_k = \arg\min_{t \ge 0} f(x_k - t \nabla f(x_k))`. On a
quadratic, successive gradients are then orthogonal (the "zig-zag" track, each step tangent
to a level set) and the error in the :math:`A`-norm shrinks by at most
:math:`((\kappa - 1) / (\kappa + 1))^2` per step, :math:`\kappa` the condition number.

Same extra arguments to ``update`` as the other line searches (see :mod:`gradtx.linesearch`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, GradientTransformation, Updates, chain
from gradtx.linesearch._common import (
    Line,
    SearchResult,
    along,
    cast_like,
    check_count,
    linesearch_state,
    linesearch_transformation,
    value_and_grad_at,
)
from gradtx.transforms.scaling import scale

__all__ = [
    "ExactLinesearchInfo",
    "ScaleByExactLinesearchState",
    "scale_by_exact_linesearch",
    "steepest_descent",
]

_PHI = (1 + math.sqrt(5)) / 2  # the golden ratio
_R = 1 / _PHI  # 0.618...: the golden section keeps this fraction of the interval


class ExactLinesearchInfo(NamedTuple):
    """Diagnostics of the last :func:`scale_by_exact_linesearch` search.

    Attributes:
        num_linesearch_steps: objective evaluations made (bracketing and golden section).
        interval_width: the width of the final interval around the minimiser.
    """

    num_linesearch_steps: jax.Array  # int32
    interval_width: jax.Array


@linesearch_state
class ScaleByExactLinesearchState(NamedTuple):
    """State of :func:`scale_by_exact_linesearch`.

    Attributes:
        learning_rate: the step size found; the next search starts from it.
        value: the objective at the accepted point (``inf`` before the first update).
        grad: the gradient there with ``store_grad=True``, else ``None``.
        info: :class:`ExactLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates | None
    info: ExactLinesearchInfo


class _Bracket(NamedTuple):
    count: jax.Array
    a: jax.Array
    b: jax.Array
    c: jax.Array
    fa: jax.Array
    fb: jax.Array
    fc: jax.Array


class _Golden(NamedTuple):
    count: jax.Array
    lo: jax.Array
    hi: jax.Array
    x1: jax.Array
    f1: jax.Array
    x2: jax.Array
    f2: jax.Array


def scale_by_exact_linesearch(
    tol: ArrayLike = 1e-5,
    max_linesearch_steps: ArrayLike = 60,
    max_bracket_steps: ArrayLike = 30,
    store_grad: bool = False,
) -> GradientTransformation:
    r"""Minimises :math:`\phi(t) = f(x + t u)` over :math:`t \ge 0` and returns :math:`t u`.

    1. Bracketing (the lectures' "line search (bracketing)"): from :math:`a = 0` and the
       previous step :math:`b` (1 at first), step outwards, :math:`c = b + \varphi (b - a)`
       with :math:`\varphi` the golden ratio, while :math:`\phi` keeps decreasing; or, if
       :math:`\phi(b) \ge \phi(0)`, pull :math:`b` in by :math:`1/\varphi^2` until it is
       below :math:`\phi(0)`. This gives :math:`a < b < c` with :math:`\phi(b)` below both
       ends, and :math:`b` at the golden point of :math:`[a, c]`.
    2. Golden-section search on :math:`[a, c]`: each step drops the outer 38.2% of the
       interval on the side of the larger of two interior values, one new evaluation per step,
       until the width is below ``tol`` times the step (or ``max_linesearch_steps``).

    The result is the best point found; if none is below :math:`\phi(0)` (not a descent
    direction), the update is zero. :math:`\phi` is assumed unimodal on the bracket. The step
    is found to a relative precision of about :math:`\sqrt{\varepsilon}` at best (near a
    minimum, values differ only at second order): about 3e-4 in float32, 1e-8 in float64.

    Args:
        tol: relative width of the final interval (> 0).
        max_linesearch_steps: the most golden-section evaluations (>= 1).
        max_bracket_steps: the most bracketing evaluations (>= 1); if the bracket is still
            open then, the search continues on the last interval.
        store_grad: also compute and store the gradient at the accepted point, for
            :func:`~gradtx.value_and_grad_from_state` and :func:`~gradtx.minimize`.

    Returns:
        The transformation; ``update`` takes ``value_fn`` and optionally ``value``. State:
        :class:`ScaleByExactLinesearchState`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: 0.5 * (x[0] ** 2 + 10 * x[1] ** 2)
        >>> tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_exact_linesearch())
        >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
        >>> u, state = tx.update(jax.grad(f)(x), state, x, value_fn=f)
        >>> print(f"{state[1].learning_rate:.4f}")  # (g.g) / (g.A g) = 101 / 1001
        0.1009
    """
    fn = "scale_by_exact_linesearch"
    _checks.check_range(fn, "tol", tol, 0.0, low_open=True)
    check_count(fn, "max_linesearch_steps", max_linesearch_steps)
    check_count(fn, "max_bracket_steps", max_bracket_steps)

    def search(line: Line, state: ScaleByExactLinesearchState) -> SearchResult:
        f, params, updates, dtype = line.f, line.params, line.direction, line.dtype
        value0, grad0 = line.value, line.grad

        def phi(t):
            v = jnp.asarray(f(along(params, t, updates)), dtype)
            return jnp.where(jnp.isnan(v), jnp.inf, v)

        zero, one = jnp.zeros([], dtype), jnp.ones([], dtype)
        b = jnp.where(state.learning_rate > 0, state.learning_rate, one)
        fb = phi(b)
        expand = fb < value0
        # Second point: c = b + phi * b when phi(b) < phi(0); otherwise b shrinks to b / phi^2.
        t = jnp.where(expand, b * (1 + _PHI), b * _R**2)
        ft = phi(t)
        bracket = _Bracket(
            jnp.full([], 2, jnp.int32),
            zero,
            jnp.where(expand, b, t),
            jnp.where(expand, t, b),
            value0,
            jnp.where(expand, fb, ft),
            jnp.where(expand, ft, fb),
        )

        def bracket_cond(s):
            still_open = jnp.where(expand, s.fc < s.fb, s.fb >= s.fa)
            return still_open & (s.count < max_bracket_steps)

        def bracket_body(s):
            t = jnp.where(expand, s.c + _PHI * (s.c - s.b), s.b * _R**2)
            ft = phi(t)
            grown = _Bracket(s.count + 1, s.b, s.c, t, s.fb, s.fc, ft)
            shrunk = _Bracket(s.count + 1, s.a, t, s.b, s.fa, ft, s.fb)
            return _tree.where(expand, grown, shrunk)

        s = jax.lax.while_loop(bracket_cond, bracket_body, bracket)
        x2 = s.a + _R * (s.c - s.a)
        golden = _Golden(s.count + 1, s.a, s.c, s.b, s.fb, x2, phi(x2))
        rtol = jnp.asarray(tol, dtype)

        def golden_cond(g):
            wide = g.hi - g.lo > rtol * 0.5 * (g.x1 + g.x2)
            return wide & (g.count - s.count < max_linesearch_steps)

        def golden_body(g):
            left = g.f1 < g.f2  # the minimum is in [lo, x2]
            lo = jnp.where(left, g.lo, g.x1)
            hi = jnp.where(left, g.x2, g.hi)
            t = jnp.where(left, hi - _R * (hi - lo), lo + _R * (hi - lo))
            ft = phi(t)
            return _Golden(
                g.count + 1,
                lo,
                hi,
                jnp.where(left, t, g.x2),
                jnp.where(left, ft, g.f2),
                jnp.where(left, g.x1, t),
                jnp.where(left, g.f1, ft),
            )

        g = jax.lax.while_loop(golden_cond, golden_body, golden)
        t = jnp.where(g.f1 <= g.f2, g.x1, g.x2)
        ft = jnp.minimum(g.f1, g.f2)
        moved = ft < value0
        t, ft = jnp.where(moved, t, 0.0), jnp.where(moved, ft, value0)
        new_grad = grad0
        if store_grad:
            x = along(params, t, updates)
            new_grad = jax.lax.cond(
                moved, lambda: cast_like(value_and_grad_at(f, x, dtype)[1], grad0), lambda: grad0
            )
        return SearchResult(
            step=t,
            learning_rate=t,
            value=ft,
            grad=new_grad,
            info=ExactLinesearchInfo(g.count, g.hi - g.lo),
        )

    return linesearch_transformation(
        fn, ScaleByExactLinesearchState, ExactLinesearchInfo, search, store_grad
    )


def steepest_descent(
    tol: ArrayLike = 1e-5,
    max_linesearch_steps: ArrayLike = 60,
    max_bracket_steps: ArrayLike = 30,
    store_grad: bool = True,
) -> GradientTransformation:
    r"""Gradient descent with exact line search: :math:`x_{k+1} = x_k - t_k \nabla f(x_k)`.

    :math:`t_k` minimises :math:`f` along the negative gradient (see
    :func:`scale_by_exact_linesearch`), the lectures' :math:`B_k^{-1} = I` with an exact
    :math:`\eta_k`. It needs ``value_fn`` in ``update``, or use :func:`~gradtx.minimize`.

    Args:
        tol: relative precision of the step size (> 0).
        max_linesearch_steps: the most golden-section evaluations per step.
        max_bracket_steps: the most bracketing evaluations per step.
        store_grad: store the gradient at the new point so the next step can reuse it.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: 0.5 * (x[0] ** 2 + 4 * x[1] ** 2)
        >>> result = gradtx.minimize(f, jnp.array([4.0, 1.0]), gradtx.steepest_descent(),
        ...                          max_steps=100, tol=1e-5)
        >>> print(result.reason, int(result.num_steps))
        converged: the gradient norm is at most tol 26
    """
    return chain(
        scale(-1.0),
        scale_by_exact_linesearch(tol, max_linesearch_steps, max_bracket_steps, store_grad),
    )
