r"""The zoom line search: step sizes satisfying the strong Wolfe conditions.

Part of the line-search family described in :mod:`gradtx.linesearch` (same extra arguments to
``update``: ``value_fn``, and optionally ``value`` and ``grad``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
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
    slope,
)

__all__ = [
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "scale_by_zoom_linesearch",
]


class ZoomLinesearchInfo(NamedTuple):
    """Diagnostics of the last :func:`scale_by_zoom_linesearch` search.

    Attributes:
        num_linesearch_steps: objective (and gradient) evaluations made.
        decrease_error: how far the accepted step misses the sufficient-decrease condition.
        curvature_error: how far it misses the curvature condition (0 when met; positive after
            a search that ran out of steps or reached ``max_learning_rate``).
    """

    num_linesearch_steps: jax.Array  # int32
    decrease_error: jax.Array
    curvature_error: jax.Array


@linesearch_state
class ScaleByZoomLinesearchState(NamedTuple):
    """State of :func:`scale_by_zoom_linesearch`.

    Attributes:
        learning_rate: the accepted step size.
        value: the objective at the accepted point (``inf`` before the first update).
        grad: the gradient at the accepted point.
        info: :class:`ZoomLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates
    info: ZoomLinesearchInfo


class _Point(NamedTuple):
    t: jax.Array
    value: jax.Array
    slope: jax.Array


class _ZoomCarry(NamedTuple):
    count: jax.Array
    phase: jax.Array  # 0: bracketing, 1: zooming, 2: done
    stop: jax.Array  # why the search ended early: 0 no reason, 1 t_max reached, 2 narrow
    trial: jax.Array  # the next bracketing trial
    lo: _Point  # the best point with sufficient decrease so far (t = 0 at first)
    lo_grad: Any
    hi: _Point  # the other end of the zoom interval
    ref: _Point  # the previous end replaced, the third point of the cubic interpolation


_BRACKET, _ZOOM, _DONE = 0, 1, 2
_AT_MAX, _NARROW = 1, 2

# The messages ``verbose=True`` prints when a search fails (Optax's wording, so that code
# matching on them keeps working).
FLAG_INTERVAL_NOT_FOUND = (
    "No interval satisfying curvature condition. "
    "Consider increasing maximal possible stepsize of the linesearch."
)
FLAG_INTERVAL_TOO_SMALL = "Length of searched interval has been reduced below threshold."
FLAG_CURVATURE_COND_NOT_SATISFIED = (
    "Returning stepsize with sufficient decrease but curvature condition not satisfied."
)
FLAG_NO_STEPSIZE_FOUND = "Linesearch failed, no stepsize satisfying sufficient decrease found."
FLAG_NOT_A_DESCENT_DIRECTION = (
    "The linesearch failed because the provided direction is not a descent direction. "
)


def _interpolate(lo: _Point, hi: _Point, ref: _Point) -> jax.Array:
    """The next zoom trial: Optax's (and SciPy's) safeguarded interpolation.

    The cubic through ``lo`` (value and slope), ``hi`` and ``ref`` (values) if its minimiser
    lies in the middle 60% of the interval; else the quadratic through ``lo`` (value and
    slope) and ``hi`` (value) if its minimiser lies in the middle 80%; else bisection (Nocedal
    and Wright, section 3.5). On the first zoom ``ref`` is ``lo``: the cubic is undefined (a
    NaN, never in the interval) and the quadratic is used.
    """
    a, b = jnp.minimum(lo.t, hi.t), jnp.maximum(lo.t, hi.t)
    delta = b - a
    # The cubic p(t) = A (t - a)^3 + B (t - a)^2 + C (t - a) + D with p'(lo) = lo.slope.
    c = lo.slope
    db, dc = hi.t - lo.t, ref.t - lo.t
    denom = (db * dc) ** 2 * (db - dc)
    coeffs = jnp.dot(
        jnp.stack([jnp.stack([dc**2, -(db**2)]), jnp.stack([-(dc**3), db**3])]),
        jnp.stack([hi.value - lo.value - c * db, ref.value - lo.value - c * dc]),
        precision=jax.lax.Precision.HIGHEST,
    )
    big_a, big_b = coeffs[0] / denom, coeffs[1] / denom
    cubic = lo.t + (-big_b + jnp.sqrt(big_b * big_b - 3.0 * big_a * c)) / (3.0 * big_a)
    use_cubic = (cubic > a + 0.2 * delta) & (cubic < b - 0.2 * delta)
    curvature = (hi.value - lo.value - c * db) / (db**2)
    quad = lo.t - c / (2.0 * curvature)
    use_quad = ~use_cubic & (quad > a + 0.1 * delta) & (quad < b - 0.1 * delta)
    return jnp.where(use_cubic, cubic, jnp.where(use_quad, quad, (lo.t + hi.t) / 2.0))


def _report_failure(out: _ZoomCarry, slope0: jax.Array, curvature_err: jax.Array) -> None:
    """Prints (``jax.debug.print``) why a zoom search ended without a Wolfe step."""
    moved = out.lo.t > 0
    descent = slope0 < 0
    failed = ~moved | (curvature_err > 0)
    cond_print(failed & ~moved, FLAG_NO_STEPSIZE_FOUND)
    cond_print(
        failed & ~descent,
        FLAG_NOT_A_DESCENT_DIRECTION + "The slope (={slope}) at stepsize=0 should be negative.",
        slope=slope0,
    )
    cond_print(
        failed & descent & ~moved & (out.stop == 0),
        "Consider augmenting the maximal number of linesearch iterations.",
    )
    cond_print(failed & (out.stop == _AT_MAX), FLAG_INTERVAL_NOT_FOUND)
    cond_print(failed & (out.stop == _NARROW), FLAG_INTERVAL_TOO_SMALL)
    cond_print(failed & moved, FLAG_CURVATURE_COND_NOT_SATISFIED)


def scale_by_zoom_linesearch(
    max_linesearch_steps: ArrayLike,
    max_learning_rate: ArrayLike | None = None,
    tol: ArrayLike = 0.0,
    increase_factor: ArrayLike = 2.0,
    slope_rtol: ArrayLike = 1e-4,
    curv_rtol: ArrayLike = 0.9,
    approx_dec_rtol: ArrayLike | None = 1e-6,
    stepsize_precision: ArrayLike = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformation:
    r"""Line search for the strong Wolfe conditions (bracketing, then zoom).

    Finds :math:`t` with sufficient decrease and small curvature,

    .. math::
        f(x + t u) \le f(x) + c_1 t\,\langle \nabla f(x), u\rangle + \epsilon, \qquad
        |\langle \nabla f(x + t u), u\rangle| \le c_2 |\langle \nabla f(x), u\rangle|
        + \epsilon,

    by Nocedal and Wright's Algorithms 3.5 and 3.6: trial steps grow by ``increase_factor``
    until they bracket an acceptable step, then the bracket shrinks by Optax's (and SciPy's)
    safeguarded interpolation: a cubic through the two ends and the end last replaced, else a
    quadratic, else bisection, so that the steps are Optax's. Every trial evaluates the
    objective and its gradient, so the gradient at the accepted point is stored for the next
    iteration.

    Close to a minimum, where :math:`f` changes by less than its rounding error, the
    sufficient-decrease test is replaced as in Optax by Hager and Zhang's approximate one,
    :math:`\langle \nabla f(x + t u), u\rangle \le (2 c_1 - 1)\langle \nabla f(x), u\rangle`,
    for trials with :math:`f(x + t u) \le f(x) + c_3 |f(x)|` (``approx_dec_rtol``; ``None``
    keeps the plain test).

    When the search runs out of steps, or the bracket becomes narrower than
    ``stepsize_precision`` times its right end, it returns the best step with sufficient
    decrease found so far (0, so no move, if there is none); ``info.curvature_error`` is then
    positive. A direction that is not a descent direction gives a zero update.

    Args:
        max_linesearch_steps: the most evaluations per search (>= 1).
        max_learning_rate: the largest step tried (``None``: no limit).
        tol: :math:`\epsilon \ge 0`.
        increase_factor: growth of the trial step while bracketing (> 1 to bracket; as in
            Optax, any positive number is accepted, and one <= 1 only tries smaller steps).
        slope_rtol: :math:`c_1 \in (0, 1)`.
        curv_rtol: :math:`c_2 \in (c_1, 1)`.
        approx_dec_rtol: :math:`c_3 \ge 0` of the approximate decrease test, or ``None``.
        stepsize_precision: relative width below which the zoom stops (>= 0).
        initial_guess_strategy: ``"keep"`` starts from the previous step (suits gradient
            descent), ``"one"`` from 1 (suits Newton and quasi-Newton directions).
        verbose: print why a search failed (with ``jax.debug.print``, so also under jit),
            using Optax's messages (``FLAG_*`` in this module).

    Returns:
        The transformation; ``update`` takes ``value_fn`` and optionally ``value`` and ``grad``
        (see :mod:`gradtx.linesearch`). State: :class:`ScaleByZoomLinesearchState`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**4)
        >>> tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_zoom_linesearch(20))
        >>> x = jnp.array([1.0, -0.5]); state = tx.init(x)
        >>> u, state = tx.update(jax.grad(f)(x), state, x, value_fn=f)
        >>> ls = state[1]
        >>> print(f"{ls.learning_rate:.3f}", ls.info.curvature_error)
        0.252 0.0

    References:
        Nocedal and Wright, *Numerical Optimization*, 2nd ed., 2006, Algorithms 3.5 and 3.6.
    """
    fn = "scale_by_zoom_linesearch"
    check_count(fn, "max_linesearch_steps", max_linesearch_steps)
    _checks.check_range(fn, "max_learning_rate", max_learning_rate, 0.0, low_open=True)
    _checks.non_negative(fn, tol=tol, stepsize_precision=stepsize_precision)
    _checks.non_negative(fn, approx_dec_rtol=approx_dec_rtol)
    # Optax accepts any factor; one <= 1 makes the bracketing phase shrink instead of grow.
    _checks.check_range(fn, "increase_factor", increase_factor, 0.0, low_open=True)
    _checks.check_range(fn, "slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    _checks.check_range(fn, "curv_rtol", curv_rtol, 0.0, 1.0, low_open=True, high_open=True)
    if initial_guess_strategy not in ("keep", "one"):
        raise ValueError(
            f"{fn}(): initial_guess_strategy must be 'keep' or 'one', "
            f"got {initial_guess_strategy!r}."
        )

    def search(line: Line, state: ScaleByZoomLinesearchState) -> SearchResult:
        f, params, updates, dtype = line.f, line.params, line.direction, line.dtype
        value0, slope0 = line.value, line.slope
        grad0 = cast_like(line.grad, state.grad)
        c1, c2, eps, grow, precision = (
            jnp.asarray(h, dtype)
            for h in (slope_rtol, curv_rtol, tol, increase_factor, stepsize_precision)
        )
        t_max = jnp.asarray(jnp.inf if max_learning_rate is None else max_learning_rate, dtype)
        previous = jnp.where(state.learning_rate > 0, state.learning_rate, 1.0)
        t0 = jnp.ones([], dtype) if initial_guess_strategy == "one" else previous
        start = _Point(jnp.zeros([], dtype), value0, slope0)

        def errors(p):
            decrease = p.value - value0 - c1 * p.t * slope0
            if approx_dec_rtol is not None:
                # Hager and Zhang's approximate test (their eq. 23), used only where the
                # value is within c3 |f(x)| of the start (a simplified eq. 26-27, as Optax).
                approx = p.slope - (2 * c1 - 1) * slope0
                c3 = jnp.asarray(approx_dec_rtol, dtype)
                approx = jnp.maximum(approx, p.value - value0 - c3 * jnp.abs(value0))
                decrease = jnp.minimum(decrease, approx)
            decrease = jnp.maximum(decrease - eps, 0.0)
            curvature = jnp.maximum(jnp.abs(p.slope) - c2 * jnp.abs(slope0) - eps, 0.0)
            return jnp.where(jnp.isnan(decrease), jnp.inf, decrease), curvature

        def cond(c):
            return (c.phase != _DONE) & (c.count < max_linesearch_steps)

        def body(c):
            zooming = c.phase == _ZOOM
            t = jnp.where(zooming, _interpolate(c.lo, c.hi, c.ref), jnp.minimum(c.trial, t_max))
            raw, g = jax.value_and_grad(f)(along(params, t, updates))
            g = cast_like(g, grad0)
            new = _Point(t, jnp.asarray(raw, dtype), slope(g, updates).astype(dtype))
            decrease_err, curvature_err = errors(new)
            worse = ((c.count > 0) | zooming) & (new.value >= c.lo.value)
            sufficient = (decrease_err <= 0) & ~worse
            flat = curvature_err <= 0
            # Bracketing (Algorithm 3.5): too long -> zoom on [lo, t]; slope turned up -> zoom on
            # [t, lo]; flat -> accept; still descending -> step further (accept at t_max).
            # Zooming (Algorithm 3.6): too long -> t is the new hi; flat -> accept; otherwise t
            # is the new lo, and the old lo becomes hi if the slope points away from hi.
            upturn = jnp.where(zooming, new.slope * (c.hi.t - c.lo.t) >= 0, new.slope >= 0)
            # As Optax, a trial meeting both conditions ends the search even if its value ties
            # with lo (the approximate decrease test accepts such flat steps).
            accept = (decrease_err <= 0) & flat
            move_lo = sufficient & ~flat
            new_hi = _tree.where(~sufficient, new, _tree.where(move_lo & upturn, c.lo, c.hi))
            lo = _tree.where(sufficient | accept, new, c.lo)
            lo_grad = _tree.where(sufficient | accept, g, c.lo_grad)
            at_max = ~zooming & move_lo & ~upturn & (t >= t_max)
            narrow = (
                zooming
                & (
                    jnp.abs(new_hi.t - lo.t)
                    <= precision * jnp.maximum(jnp.abs(new_hi.t), jnp.abs(lo.t))
                )
                & (lo.t > 0)
            )
            next_phase = jnp.where(zooming | ~sufficient | upturn, _ZOOM, _BRACKET)
            phase = jnp.where(accept | at_max | narrow, _DONE, next_phase)
            stop = jnp.select([accept, at_max, narrow], [0, _AT_MAX, _NARROW], 0)
            stop = stop.astype(c.stop.dtype)
            # The third interpolation point (Optax's cubic_ref): entering the zoom, the new lo;
            # then the end that was replaced (hi when hi moved, else lo).
            hi_moved = ~sufficient | (move_lo & upturn)
            ref = _tree.where(zooming, _tree.where(hi_moved, c.hi, c.lo), lo)
            return _ZoomCarry(c.count + 1, phase, stop, t * grow, lo, lo_grad, new_hi, ref)

        phase0 = jnp.where(slope0 < 0, _BRACKET, _DONE)
        zero = jnp.zeros([], jnp.int32)
        carry = _ZoomCarry(zero, phase0, zero, t0, start, grad0, start, start)
        out = jax.lax.while_loop(cond, body, carry)
        decrease_err, curvature_err = errors(out.lo)
        if verbose:
            _report_failure(out, slope0, curvature_err)
        return SearchResult(
            step=out.lo.t,
            learning_rate=out.lo.t,
            value=out.lo.value,
            grad=out.lo_grad,
            info=ZoomLinesearchInfo(out.count, decrease_err, curvature_err),
        )

    return linesearch_transformation(
        fn, ScaleByZoomLinesearchState, ZoomLinesearchInfo, search, store_grad=True
    )
