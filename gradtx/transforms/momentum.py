"""Momentum: the trace of past updates (heavy ball, Nesterov), exponential moving averages, and
the optimistic (negative) momentum of optimistic gradient descent."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, DTypeLike, GradientTransformation, Updates
from gradtx.numerics import promote, safe_increment, upcast
from gradtx.transforms._common import (
    as_real,
    debias_factor,
    map_leaves,
    moving_average,
    per_dtype,
    slot_like,
)

__all__ = [
    "DampedTraceState",
    "EmaState",
    "ScaleByOptimisticGradientState",
    "TraceState",
    "ema",
    "scale_by_optimistic_gradient",
    "trace",
]


class TraceState(NamedTuple):
    """State of :func:`trace`: the momentum buffer."""

    trace: Updates


class DampedTraceState(NamedTuple):
    """State of :func:`trace` with ``dampen_first_step=False``: the step count and the buffer."""

    count: jax.Array  # int32 scalar
    trace: Updates


def trace(
    decay: ArrayLike,
    nesterov: bool = False,
    accumulator_dtype: DTypeLike | None = None,
    *,
    dampening: ArrayLike = 0.0,
    dampen_first_step: bool = True,
) -> GradientTransformation:
    r"""Momentum: accumulates a decaying sum of past updates.

    .. math::
        t_k = \beta\, t_{k-1} + (1 - d)\, g_k, \qquad
        u_k = \begin{cases} g_k + \beta\, t_k & \text{nesterov} \\ t_k & \text{otherwise}
        \end{cases}

    with :math:`t_0 = 0`, momentum ``decay`` :math:`\beta` and ``dampening`` :math:`d`.

    * ``dampening=0`` (default) is Optax's ``trace`` and ``torch.optim.SGD``'s buffer: followed
      by ``scale_by_learning_rate(eps)`` it is the heavy ball of the lectures,
      :math:`v \leftarrow \alpha v - \varepsilon g`, for a constant learning rate.
    * ``dampening=decay`` gives the exponential moving average form of the lectures,
      :math:`m \leftarrow \beta m + (1 - \beta) g` (without bias correction; see :func:`ema`).

    ``torch.optim.SGD`` with ``dampening > 0`` starts its buffer at :math:`g_1` instead of
    :math:`(1-d) g_1`: ``dampen_first_step=False`` does the same (and :func:`gradtx.sgd` uses
    it), with a step count in the state (:class:`DampedTraceState`).

    Args:
        decay: the momentum :math:`\beta \in [0, 1]`; as in Optax, 1 is accepted (the buffer
            then sums every update, as gradient accumulation does).
        nesterov: use Nesterov's accelerated (look-ahead) update.
        accumulator_dtype: dtype of the buffer (default: the parameters' dtype).
        dampening: :math:`d \in [0, 1]`, the fraction of the new update left out of the buffer.
        dampen_first_step: whether the first update is dampened too (the formula above);
            ``False`` is ``torch.optim.SGD``: :math:`t_1 = g_1`.

    Returns:
        The transformation, with state :class:`TraceState` (:class:`DampedTraceState` when
        ``dampen_first_step=False``).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.trace(0.5)
        >>> state = tx.init(jnp.zeros(1))
        >>> for _ in range(3):
        ...     u, state = tx.update(jnp.ones(1), state)
        >>> u  # 1 + 0.5 + 0.25
        Array([1.75], dtype=float32)
    """
    _checks.check_range("trace", "decay", decay, 0.0, 1.0)
    _checks.check_range("trace", "dampening", dampening, 0.0, 1.0)

    def init_fn(params):
        buffer = slot_like(params, accumulator_dtype)
        if dampen_first_step:
            return TraceState(trace=buffer)
        return DampedTraceState(count=jnp.zeros([], jnp.int32), trace=buffer)

    def leaf(first, g, t):
        g = jnp.asarray(g)
        gc = upcast(g)
        beta, damp = as_real(decay, gc), as_real(dampening, gc)
        beta, take, gc = promote(beta, 1 - damp, gc)  # a real decay with complex updates
        if first is not None:  # torch.optim.SGD: the first update enters the buffer whole
            take = jnp.where(first, jnp.ones_like(take), take)
        new_t = beta * t.astype(gc.dtype) + take * gc
        u = gc + beta * new_t if nesterov else new_t
        return u.astype(g.dtype), new_t.astype(t.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        if dampen_first_step:
            updates, new_trace = map_leaves(functools.partial(leaf, None), 2, updates, state.trace)
            return updates, TraceState(trace=new_trace)
        first = state.count == 0
        updates, new_trace = map_leaves(functools.partial(leaf, first), 2, updates, state.trace)
        return updates, DampedTraceState(count=safe_increment(state.count), trace=new_trace)

    return GradientTransformation(init_fn, update_fn)


class EmaState(NamedTuple):
    """State of :func:`ema`: the step count and the moving average."""

    count: jax.Array  # int32 scalar
    ema: Updates


def ema(
    decay: ArrayLike, debias: bool = True, accumulator_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""Exponential moving average of the updates.

    .. math::
        m_k = \beta\, m_{k-1} + (1 - \beta)\, g_k, \qquad
        u_k = \begin{cases} m_k / (1 - \beta^k) & \text{debias} \\ m_k & \text{otherwise}
        \end{cases}

    with :math:`m_0 = 0`. The debiased average is the bias-corrected first moment of Adam.

    Args:
        decay: :math:`\beta \in [0, 1)`.
        debias: divide by :math:`1 - \beta^k`.
        accumulator_dtype: dtype of the average (default: the parameters' dtype).

    Returns:
        The transformation, with state :class:`EmaState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.ema(0.9)
        >>> u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
        >>> u  # debiased: equals the first update
        Array([2.], dtype=float32)
    """
    _checks.unit_interval("ema", decay=decay)

    def init_fn(params):
        return EmaState(count=jnp.zeros([], jnp.int32), ema=slot_like(params, accumulator_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)

        debias_for = per_dtype(lambda dt: debias_factor(decay, count, dt))

        def leaf(g, m):
            g = jnp.asarray(g)
            gc = upcast(g)
            new_m = moving_average(decay, m, gc)
            u = jnp.divide(*promote(new_m, debias_for(gc.dtype))) if debias else new_m
            return u.astype(g.dtype), new_m.astype(m.dtype)

        updates, new_ema = map_leaves(leaf, 2, updates, state.ema)
        return updates, EmaState(count=count, ema=new_ema)

    return GradientTransformation(init_fn, update_fn)


class ScaleByOptimisticGradientState(NamedTuple):
    """State of :func:`scale_by_optimistic_gradient`: whether no update was seen yet, and the
    previous update (Optax's fields)."""

    is_initial_step: jax.Array  # bool scalar
    previous_gradient: Updates


def scale_by_optimistic_gradient(
    alpha: ArrayLike = 1.0, beta: ArrayLike = 1.0
) -> GradientTransformation:
    r"""The generalised optimistic gradient: the update plus a correction by the last change.

    .. math:: u_k = (\alpha + \beta)\, g_k - \beta\, g_{k-1}
        = \alpha\, g_k + \beta\,(g_k - g_{k-1})

    with :math:`g_0 = g_1`, so the first update is :math:`\alpha g_1`. Followed by a learning
    rate it is optimistic gradient descent (:func:`gradtx.optimistic_gradient_descent`), which
    converges in bilinear min-max games where gradient descent cycles or diverges.

    Args:
        alpha: :math:`\alpha`, the weight of the current update (any real number).
        beta: :math:`\beta`, the weight of the negative momentum (any real number).

    Returns:
        The transformation, with state :class:`ScaleByOptimisticGradientState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_optimistic_gradient()
        >>> state = tx.init(jnp.zeros(1))
        >>> u, state = tx.update(jnp.array([1.0]), state)
        >>> u, _ = tx.update(jnp.array([3.0]), state)
        >>> u  # 2 * 3 - 1
        Array([5.], dtype=float32)

    References:
        Mokhtari et al., `A Unified Analysis of Extra-gradient and Optimistic Gradient Methods
        for Saddle Point Problems: Proximal Point Approach <https://arxiv.org/abs/1901.08511>`_,
        2019; Daskalakis et al., `Training GANs with Optimism
        <https://arxiv.org/abs/1711.00141>`_, 2017
    """
    fn = "scale_by_optimistic_gradient"
    _checks.check_range(fn, "alpha", alpha)
    _checks.check_range(fn, "beta", beta)

    def init_fn(params):
        return ScaleByOptimisticGradientState(
            is_initial_step=jnp.array(True), previous_gradient=slot_like(params, None)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args

        def leaf(g, prev):
            g = jnp.asarray(g)
            gc = upcast(g)
            a, b = as_real(alpha, gc), as_real(beta, gc)
            last = jnp.where(state.is_initial_step, gc, prev.astype(gc.dtype))
            a, b, gc_, last = promote(a, b, gc, last)
            u = (a + b) * gc_ - b * last
            return u.astype(g.dtype), g.astype(prev.dtype)

        updates, previous = map_leaves(leaf, 2, updates, state.previous_gradient)
        return updates, ScaleByOptimisticGradientState(
            is_initial_step=jnp.zeros_like(state.is_initial_step), previous_gradient=previous
        )

    return GradientTransformation(init_fn, update_fn)
