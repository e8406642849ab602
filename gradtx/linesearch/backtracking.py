r"""The backtracking line search: step sizes with sufficient decrease (the Armijo condition).

Part of the line-search family described in :mod:`gradtx.linesearch` (same extra arguments to
``update``: ``value_fn``, and optionally ``value`` and ``grad``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, GradientTransformation, Updates
from gradtx.linesearch._common import (
    Line,
    SearchResult,
    along,
    cast_like,
    check_count,
    cond_print,
    linesearch_state,
    linesearch_transformation,
)

__all__ = [
    "BacktrackingLinesearchInfo",
    "ScaleByBacktrackingLinesearchState",
    "scale_by_backtracking_linesearch",
]


class BacktrackingLinesearchInfo(NamedTuple):
    """Diagnostics of the last :func:`scale_by_backtracking_linesearch` search.

    Attributes:
        num_linesearch_steps: objective evaluations made.
        decrease_error: how far the last trial missed the Armijo condition (0 when met).
    """

    num_linesearch_steps: jax.Array  # int32
    decrease_error: jax.Array


@linesearch_state
class ScaleByBacktrackingLinesearchState(NamedTuple):
    """State of :func:`scale_by_backtracking_linesearch`.

    Attributes:
        learning_rate: the last step size tried; the next search starts from it.
        value: the objective at the accepted point (``inf`` before the first update).
        grad: the gradient there with ``store_grad=True``, else ``None``.
        info: :class:`BacktrackingLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates | None
    info: BacktrackingLinesearchInfo


def scale_by_backtracking_linesearch(
    max_backtracking_steps: ArrayLike,
    slope_rtol: ArrayLike = 1e-4,
    decrease_factor: ArrayLike = 0.8,
    increase_factor: ArrayLike = 1.5,
    max_learning_rate: ArrayLike = 1.0,
    atol: ArrayLike = 0.0,
    rtol: ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    r"""Backtracking line search for sufficient decrease (the Armijo condition).

    Starting from :math:`t_0 = \min(\gamma\,t_{\mathrm{prev}}, t_{\max})`, tries
    :math:`t_i = t_0 \beta^i` until

    .. math::
        f(x + t u) \le f(x) + c\,t\,\langle \nabla f(x), u\rangle + \epsilon_a
        + \epsilon_r |f(x)|

    and returns :math:`t u`. If no trial passes within ``max_backtracking_steps`` evaluations
    (or the objective is not finite), the update is zero and ``info.decrease_error`` is
    positive. The direction :math:`u` must be a descent direction (e.g. ``scale(-1.0)`` of a
    gradient).

    Args:
        max_backtracking_steps: the most objective evaluations per search (>= 1).
        slope_rtol: :math:`c \in [0, 1)` (0 accepts any decrease).
        decrease_factor: :math:`\beta \in (0, 1)`.
        increase_factor: :math:`\gamma > 0`; the first trial grows the previous step by it
            (1 keeps it, ``inf`` starts every search at ``max_learning_rate``; below 1, as
            Optax allows, each search starts from a smaller step than the last).
        max_learning_rate: :math:`t_{\max} > 0`.
        atol: :math:`\epsilon_a \ge 0`.
        rtol: :math:`\epsilon_r \ge 0`.
        store_grad: also compute and store the gradient at the accepted point (one backward
            pass per search), for :func:`~gradtx.value_and_grad_from_state` and
            :func:`~gradtx.minimize`.
        verbose: print the value, slope, step and decrease error of a failed search (with
            ``jax.debug.print``, so also under jit), as Optax does.

    Returns:
        The transformation; ``update`` takes ``value_fn`` and optionally ``value`` and
        ``grad`` (see :mod:`gradtx.linesearch`). State:
        :class:`ScaleByBacktrackingLinesearchState`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_backtracking_linesearch(20))
        >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
        >>> u, state = tx.update(jax.grad(f)(x), state, x, value_fn=f)
        >>> print(state[1].learning_rate)  # t = 1 fails (f stays 5.0), t = 0.8 passes
        0.8

    References:
        Nocedal and Wright, *Numerical Optimization*, 2nd ed., 2006, Algorithm 3.1.
    """
    fn = "scale_by_backtracking_linesearch"
    check_count(fn, "max_backtracking_steps", max_backtracking_steps)
    _checks.check_range(fn, "slope_rtol", slope_rtol, 0.0, 1.0, high_open=True)
    _checks.check_range(
        fn, "decrease_factor", decrease_factor, 0.0, 1.0, low_open=True, high_open=True
    )
    _checks.check_range(fn, "increase_factor", increase_factor, 0.0, low_open=True)
    _checks.check_range(fn, "max_learning_rate", max_learning_rate, 0.0, low_open=True)
    _checks.non_negative(fn, atol=atol, rtol=rtol)

    def search(line: Line, state: ScaleByBacktrackingLinesearchState) -> SearchResult:
        f, dtype, value0, slope0 = line.f, line.dtype, line.value, line.slope
        c, beta = (jnp.asarray(h, dtype) for h in (slope_rtol, decrease_factor))
        slack = jnp.asarray(atol, dtype) + jnp.asarray(rtol, dtype) * jnp.abs(value0)
        t0 = jnp.asarray(increase_factor, dtype) * state.learning_rate
        t0 = jnp.minimum(t0, jnp.asarray(max_learning_rate, dtype))

        def cond(carry):
            i, _, _, err, _ = carry
            return (err > 0) & (i < max_backtracking_steps)

        def body(carry):
            i, t, _, _, old_grad = carry
            t = jnp.where(i > 0, beta * t, t)
            x = along(line.params, t, line.direction)
            new_grad = old_grad
            if store_grad:
                raw, vjp = jax.vjp(f, x)
                new_value = jnp.asarray(raw, dtype)
            else:
                new_value = jnp.asarray(f(x), dtype)
            err = jnp.maximum(new_value - value0 - c * t * slope0 - slack, 0.0)
            err = jnp.where(jnp.isnan(err), jnp.inf, err)
            if store_grad:
                new_grad = jax.lax.cond(
                    err <= 0,
                    lambda: cast_like(vjp(jnp.ones_like(raw))[0], old_grad),
                    lambda: old_grad,
                )
            return i + 1, t, new_value, err, new_grad

        carry = (jnp.zeros([], jnp.int32), t0, value0, jnp.full([], jnp.inf, dtype), line.grad)
        steps, t, new_value, err, new_grad = jax.lax.while_loop(cond, body, carry)
        ok = err <= 0
        if verbose:
            cond_print(
                ~ok,
                "INFO: gradtx.scale_by_backtracking_linesearch:\n"
                "Backtracking linesearch failed to find a stepsize ensuring sufficient "
                "decrease.\nValue at current params: {value},\n"
                "Slope along update direction: {slope}\nStepsize: {stepsize}\n"
                "Decrease Error: {decrease_error}",
                value=value0,
                slope=slope0,
                stepsize=t,
                decrease_error=err,
            )
            cond_print(jnp.isinf(err), "Using a stepsize of 0 to avoid infinite or nan values.")
        return SearchResult(
            step=jnp.where(ok, t, 0.0),
            learning_rate=t,
            value=jnp.where(ok, new_value, value0),
            grad=new_grad,
            info=BacktrackingLinesearchInfo(steps, err),
        )

    return linesearch_transformation(
        fn, ScaleByBacktrackingLinesearchState, BacktrackingLinesearchInfo, search, store_grad
    )
