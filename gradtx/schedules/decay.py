"""Schedules of one transition: constant, exponential, 1/t, polynomial, linear, cosine."""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, Schedule
from gradtx.schedules._helpers import _as, _cosine, _dtype, _progress, _since, _steps

__all__ = [
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "inverse_time_decay",
    "linear_schedule",
    "polynomial_schedule",
]


def constant_schedule(value: ArrayLike) -> Schedule:
    """A schedule that always returns ``value``.

    Args:
        value: the value (a number, an array or a traced value).

    Returns:
        The schedule ``count -> value``, in float32 (or ``value``'s wider dtype), shaped like
        the count.

    Example:
        >>> gradtx.constant_schedule(0.1)(jnp.array(7))
        Array(0.1, dtype=float32)
    """

    def schedule(count):
        v = jnp.asarray(value, _dtype(value, count))
        return jnp.broadcast_to(v, jnp.broadcast_shapes(jnp.shape(v), jnp.shape(count)))

    return schedule


def exponential_decay(
    init_value: ArrayLike,
    transition_steps: ArrayLike,
    decay_rate: ArrayLike,
    transition_begin: ArrayLike = 0,
    staircase: bool | ArrayLike = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    r"""Exponential decay: :math:`\eta_k = \eta_0\,\gamma^{p_k}`.

    .. math::
        p_k = \max\!\Big(0, \frac{k - k_0}{s}\Big)
        \quad\text{or, with staircase,}\quad
        p_k = \max\!\Big(0, \Big\lfloor\frac{k - k_0}{s}\Big\rfloor\Big)

    The lectures' exponential decay :math:`\eta_k = \eta_0\,\gamma^{\max(0, [(k - k_0)/s])}`
    is the staircase case with :math:`\eta_0` = ``init_value``, :math:`\gamma` =
    ``decay_rate``, :math:`k_0` = ``transition_begin`` and :math:`s` = ``transition_steps``.

    Args:
        init_value: :math:`\eta_0`, held until ``transition_begin``.
        transition_steps: :math:`s`, the number of steps per factor of ``decay_rate``;
            :math:`s \le 0` gives the constant ``init_value``, as in Optax.
        decay_rate: :math:`\gamma \ge 0` (a value above 1 grows; 0 gives the constant
            ``init_value``, as in Optax).
        transition_begin: :math:`k_0 \ge 0`.
        staircase: take the integer part of the exponent (a Python or a traced boolean).
        end_value: stop decaying at this value: a lower bound when ``decay_rate < 1``, an upper
            bound otherwise. ``None`` (default) never stops.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.exponential_decay(1.0, transition_steps=2, decay_rate=0.5,
        ...                                  transition_begin=1, staircase=True)
        >>> sched(jnp.arange(7))
        Array([1.  , 1.  , 1.  , 0.5 , 0.5 , 0.25, 0.25], dtype=float32)
    """
    fn = "exponential_decay"
    _steps(fn, transition_begin=transition_begin)
    _checks.check_range(fn, "decay_rate", decay_rate, 0.0)

    def schedule(count):
        dtype = _dtype(init_value, decay_rate, end_value, count)
        steps = _as(transition_steps, dtype)
        rate = jnp.asarray(decay_rate, dtype)
        p = jnp.maximum(_since(count, transition_begin, dtype) / jnp.where(steps > 0, steps, 1), 0)
        p = jnp.where(staircase, jnp.floor(p), p)
        # As Optax: no transition (steps <= 0) or a zero rate is the constant init_value.
        p = jnp.where((steps > 0) & (rate != 0), p, 0)
        init, factor = jnp.asarray(init_value, dtype), rate**p
        if end_value is None:
            return init * factor
        end = jnp.asarray(end_value, dtype)
        value = init * factor
        stopped = jnp.where(rate < 1, value <= end, value >= end)
        # A growing factor overflows far past the end; keep it out of the gradient there.
        return jnp.where(stopped, end, init * jnp.where(stopped, 1, factor))

    return schedule


def inverse_time_decay(
    init_value: ArrayLike,
    transition_steps: ArrayLike,
    decay_rate: ArrayLike = 1.0,
    transition_begin: ArrayLike = 0,
    staircase: bool | ArrayLike = False,
) -> Schedule:
    r"""Inverse-time (1/t) decay: :math:`\eta_k = \eta_0 / (1 + r\,p_k)`.

    .. math::
        p_k = \max\!\Big(0, \frac{k - k_0}{s}\Big)
        \quad\text{or, with staircase,}\quad
        p_k = \max\!\Big(0, \Big\lfloor\frac{k - k_0}{s}\Big\rfloor\Big)

    The lectures' 1/t scheme :math:`\eta_k = \eta_0 / (1 + \max(0, [(k - k_0)/s]))` is the
    staircase case with ``decay_rate`` :math:`r = 1`, :math:`k_0` = ``transition_begin`` and
    :math:`s` = ``transition_steps``. Without staircase and with :math:`k_0 = 0` it is Keras'
    ``InverseTimeDecay``. Optax has no such schedule; the arguments follow
    :func:`exponential_decay`.

    Args:
        init_value: :math:`\eta_0`.
        transition_steps: :math:`s > 0`.
        decay_rate: :math:`r \ge 0`.
        transition_begin: :math:`k_0 \ge 0`.
        staircase: take the integer part of :math:`(k - k_0)/s` (a Python or traced boolean).

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.inverse_time_decay(1.0, transition_steps=2, transition_begin=1,
        ...                                   staircase=True)
        >>> sched(jnp.arange(7))
        Array([1.    , 1.    , 1.    , 0.5   , 0.5   , 0.3333, 0.3333], dtype=float32)
    """
    fn = "inverse_time_decay"
    _steps(fn, positive=True, transition_steps=transition_steps)
    _steps(fn, transition_begin=transition_begin)
    _checks.non_negative(fn, decay_rate=decay_rate)

    def schedule(count):
        dtype = _dtype(init_value, decay_rate, count)
        steps = jnp.asarray(transition_steps).astype(dtype)
        p = jnp.maximum(_since(count, transition_begin, dtype) / jnp.where(steps > 0, steps, 1), 0)
        p = jnp.where(staircase, jnp.floor(p), p)
        return jnp.asarray(init_value, dtype) / (1 + jnp.asarray(decay_rate, dtype) * p)

    return schedule


def polynomial_schedule(
    init_value: ArrayLike,
    end_value: ArrayLike,
    power: ArrayLike,
    transition_steps: ArrayLike,
    transition_begin: ArrayLike = 0,
) -> Schedule:
    r"""Polynomial transition from ``init_value`` to ``end_value``.

    .. math::
        \eta_k = (\eta_0 - \eta_T)\,(1 - a_k)^P + \eta_T, \qquad
        a_k = \operatorname{clip}\!\Big(\frac{k - B}{T}, 0, 1\Big)

    with :math:`B` = ``transition_begin``, :math:`T` = ``transition_steps`` and :math:`P` =
    ``power``: ``init_value`` until :math:`B`, ``end_value`` from :math:`B + T` on.

    Args:
        init_value: :math:`\eta_0`.
        end_value: :math:`\eta_T`.
        power: :math:`P \ge 0`.
        transition_steps: :math:`T`; :math:`T \le 0` gives the constant ``init_value``, as in
            Optax.
        transition_begin: :math:`B \ge 0`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.polynomial_schedule(1.0, 0.0, power=2, transition_steps=4)
        >>> sched(jnp.arange(6))
        Array([1.    , 0.5625, 0.25  , 0.0625, 0.    , 0.    ], dtype=float32)
    """
    fn = "polynomial_schedule"
    _steps(fn, transition_begin=transition_begin)
    _checks.non_negative(fn, power=power)

    def schedule(count):
        dtype = _dtype(init_value, end_value, power, count)
        _, left = _progress(count, transition_begin, transition_steps, dtype)
        init, end = jnp.asarray(init_value, dtype), jnp.asarray(end_value, dtype)
        return (init - end) * left ** jnp.asarray(power, dtype) + end

    return schedule


def linear_schedule(
    init_value: ArrayLike,
    end_value: ArrayLike,
    transition_steps: ArrayLike,
    transition_begin: ArrayLike = 0,
) -> Schedule:
    r"""Linear transition from ``init_value`` to ``end_value``.

    .. math::
        \varepsilon_k = (1 - a)\,\varepsilon_0 + a\,\varepsilon_\tau, \qquad
        a = \operatorname{clip}\!\Big(\frac{k - B}{\tau}, 0, 1\Big)

    This is the lectures' linear decay "until iteration :math:`\tau`", with
    :math:`\varepsilon_0` = ``init_value``, :math:`\varepsilon_\tau` = ``end_value``,
    :math:`\tau` = ``transition_steps`` and :math:`B` = ``transition_begin`` (0 in the
    lectures); the value stays :math:`\varepsilon_\tau` after :math:`B + \tau`. Both ends are
    exact.

    Args:
        init_value: :math:`\varepsilon_0`.
        end_value: :math:`\varepsilon_\tau`.
        transition_steps: :math:`\tau`; :math:`\tau \le 0` gives the constant ``init_value``,
            as in Optax.
        transition_begin: :math:`B \ge 0`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.linear_schedule(1.0, 0.2, transition_steps=4)
        >>> sched(jnp.arange(6))
        Array([1. , 0.8, 0.6, 0.4, 0.2, 0.2], dtype=float32)
    """
    _steps("linear_schedule", transition_begin=transition_begin)

    def schedule(count):
        dtype = _dtype(init_value, end_value, count)
        a, left = _progress(count, transition_begin, transition_steps, dtype)
        return left * jnp.asarray(init_value, dtype) + a * jnp.asarray(end_value, dtype)

    return schedule


def cosine_decay_schedule(
    init_value: ArrayLike,
    decay_steps: ArrayLike,
    alpha: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    r"""Cosine decay (Loshchilov and Hutter, SGDR, 2017).

    .. math::
        \eta_k = \eta_0\Big((1 - \alpha)\Big[\tfrac12\Big(1 + \cos\frac{\pi \min(k, T)}{T}
        \Big)\Big]^p + \alpha\Big)

    from :math:`\eta_0` at :math:`k = 0` to :math:`\alpha\,\eta_0` at :math:`k \ge T`.

    Args:
        init_value: :math:`\eta_0`.
        decay_steps: :math:`T > 0`.
        alpha: the final value as a fraction of ``init_value``.
        exponent: :math:`p \ge 0`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.cosine_decay_schedule(1.0, decay_steps=4, alpha=0.1)
        >>> sched(jnp.arange(6))
        Array([1.    , 0.8682, 0.55  , 0.2318, 0.1   , 0.1   ], dtype=float32)
    """
    _steps("cosine_decay_schedule", positive=True, decay_steps=decay_steps)
    _checks.non_negative("cosine_decay_schedule", exponent=exponent)

    def schedule(count):
        dtype = _dtype(init_value, alpha, exponent, count)
        decay = _cosine(_progress(count, 0, decay_steps, dtype)[1], exponent)
        a = jnp.asarray(alpha, dtype)
        return jnp.asarray(init_value, dtype) * ((1 - a) * decay + a)

    return schedule
