r"""Learning-rate schedules: pure functions ``count -> value``, traceable in every argument.

A schedule is called with the step count (an int32 scalar, or an array of counts), starting at
0 for the first update: transforms evaluate it *before* incrementing their count, as Optax
does. It returns float32, or the dtype of its floating arguments when that is wider.

Every numeric argument, the integer step arguments (``transition_steps``, ``warmup_steps``,
``decay_steps``, boundaries...) and ``staircase`` included, may be a Python number, a concrete
array or a traced value, so ``jax.vmap`` over a grid of any of them and ``jax.grad`` through
the values work. Schedules use arithmetic and ``jnp.where`` only. Concrete invalid arguments
raise ``ValueError`` at construction, naming the argument; traced ones are not checked.

Names, signatures and defaults are Optax's. Besides the long names exported by :mod:`gradtx`,
each schedule has a short name in this module: ``constant``, ``exponential``,
``inverse_time``, ``linear``, ``polynomial``, ``cosine_decay``, ``warmup_cosine_decay``,
``warmup_constant``, ``warmup_exponential_decay``, ``piecewise_constant``,
``piecewise_interpolate``, ``join``, ``sgdr``, ``linear_onecycle`` and ``cosine_onecycle``.

Differences from Optax, all deliberate: a zero-length transition (``transition_steps=0`` in
:func:`linear_schedule` and :func:`polynomial_schedule`, ``warmup_steps=0``) jumps to the end
value at ``transition_begin`` where Optax holds ``init_value`` forever; non-positive
``transition_steps`` or ``decay_rate`` in :func:`exponential_decay` and a negative
``transition_begin`` raise instead of silently giving a constant; boundaries may also be given
as a sequence of ``(step, scale)`` pairs, which, unlike dictionary keys, may be traced.

Example:
    >>> sched = gradtx.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=1, decay_steps=5)
    >>> sched(jnp.arange(6))
    Array([0.    , 1.    , 0.8536, 0.5   , 0.1464, 0.    ], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import ArrayLike, Schedule

__all__ = [
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "inverse_time_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]

BoundariesAndScales = Mapping[int, ArrayLike] | Sequence[tuple[ArrayLike, ArrayLike]]


# --- helpers ------------------------------------------------------------------------------


def _dtype(*values: Any) -> Any:
    """float32, or the widest floating dtype among the (array) values."""
    leaves = [v for v in jax.tree_util.tree_leaves(values) if not callable(v)]
    return jnp.result_type(jnp.float32, *leaves)


def _since(count: Any, begin: Any, dtype: Any) -> jax.Array:
    """``count - begin`` in ``dtype``; integer differences are taken exactly before the cast."""
    return (jnp.asarray(count) - jnp.asarray(begin)).astype(dtype)


def _progress(count: Any, begin: Any, steps: Any, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """``(a, 1 - a)`` with ``a = clip((count - begin) / steps, 0, 1)``; a step when steps = 0.

    ``1 - a`` is computed as ``(steps - elapsed) / steps``, so that both are correctly rounded
    quotients: near the end of a transition ``1 - a`` computed by subtraction would carry the
    rounding error of ``a`` relative to a small number.
    """
    elapsed = _since(count, begin, dtype)
    steps = jnp.asarray(steps).astype(dtype)
    positive = steps > 0
    safe = jnp.where(positive, steps, 1)
    done = jnp.clip(elapsed, 0, safe) / safe
    left = jnp.clip(steps - elapsed, 0, safe) / safe
    jump = (elapsed >= 0).astype(dtype)
    return jnp.where(positive, done, jump), jnp.where(positive, left, 1 - jump)


def _half_cosine(left: jax.Array) -> jax.Array:
    """``0.5 (1 + cos(pi a))`` written as ``sin(pi (1 - a) / 2)**2``, accurate near both ends."""
    return jnp.sin(0.5 * jnp.pi * left) ** 2


def _cosine(left: jax.Array, exponent: Any) -> jax.Array:
    """``(0.5 (1 + cos(pi a)))**exponent`` from ``1 - a``: 1 at ``a = 0``, 0 at ``a = 1``."""
    return _half_cosine(left) ** jnp.asarray(exponent, left.dtype)


def _steps(fn: str, *, positive: bool = False, **values: Any) -> None:
    for name, value in values.items():
        _checks.check_range(fn, name, value, 0.0, low_open=positive)


def _check_less(fn: str, small: str, small_value: Any, big: str, big_value: Any) -> None:
    a, b = _checks.concrete(small_value), _checks.concrete(big_value)
    if a is not None and b is not None and np.any(b <= a):
        raise ValueError(
            f"{fn}(): {big} must be greater than {small}, got {small}={small_value!r} and "
            f"{big}={big_value!r}."
        )


def _check_non_decreasing(fn: str, name: str, values: Sequence[Any]) -> None:
    arrays = [_checks.concrete(v) for v in values]
    for i in range(1, len(values)):
        a, b = arrays[i - 1], arrays[i]
        if a is not None and b is not None and np.any(b < a):
            raise ValueError(
                f"{fn}(): {name} must be in non-decreasing order, got {name}={list(values)!r} "
                f"({values[i]!r} after {values[i - 1]!r})."
            )


def _boundaries_and_scales(
    fn: str, boundaries_and_scales: BoundariesAndScales | None
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Validated ``(boundaries, scales)``; a dict is sorted by step, pairs must be in order."""
    if boundaries_and_scales is None:
        return (), ()
    if isinstance(boundaries_and_scales, Mapping):
        items = sorted(boundaries_and_scales.items(), key=lambda kv: kv[0])
    else:
        items = [tuple(pair) for pair in boundaries_and_scales]
        if any(len(pair) != 2 for pair in items):
            raise ValueError(
                f"{fn}(): boundaries_and_scales must be a dict {{step: scale}} or a sequence of "
                f"(step, scale) pairs, got {boundaries_and_scales!r}."
            )
    boundaries = tuple(b for b, _ in items)
    scales = tuple(s for _, s in items)
    _check_non_decreasing(fn, "boundaries_and_scales (steps)", boundaries)
    for b in boundaries:
        _checks.check_range(fn, "boundaries_and_scales (step)", b, 0.0)
    for s in scales:
        _checks.check_range(fn, "boundaries_and_scales (scale)", s, 0.0)
    return boundaries, scales


def _interpolate(kind: str, count: Any, init: Any, boundaries: Sequence[Any], scales: Any, dtype):
    """Interpolates between ``init * prod(scales[:i])`` at the boundaries ``0, b_1, ..., b_n``."""
    c = jnp.asarray(count)
    values = [jnp.asarray(init, dtype)]
    for s in scales:
        values.append(values[-1] * jnp.asarray(s, dtype))
    bounds = (0, *boundaries)
    out = values[-1]
    for i in reversed(range(len(boundaries))):
        lo, hi = jnp.asarray(bounds[i]), jnp.asarray(bounds[i + 1])
        done, left = _progress(c, lo, jnp.maximum(hi - lo, 1), dtype)
        if kind == "cosine":
            done, left = _half_cosine(done), _half_cosine(left)
        out = jnp.where(c < hi, left * values[i] + done * values[i + 1], out)
    return jnp.broadcast_to(out, jnp.broadcast_shapes(jnp.shape(out), jnp.shape(c)))


# --- schedules ------------------------------------------------------------------------------


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
        transition_steps: :math:`s > 0`, the number of steps per factor of ``decay_rate``.
        decay_rate: :math:`\gamma > 0` (a value above 1 grows).
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
    _steps(fn, positive=True, transition_steps=transition_steps)
    _steps(fn, transition_begin=transition_begin)
    _checks.check_range(fn, "decay_rate", decay_rate, 0.0, low_open=True)

    def schedule(count):
        dtype = _dtype(init_value, decay_rate, end_value, count)
        steps = jnp.asarray(transition_steps).astype(dtype)
        p = jnp.maximum(_since(count, transition_begin, dtype) / jnp.where(steps > 0, steps, 1), 0)
        p = jnp.where(staircase, jnp.floor(p), p)
        rate = jnp.asarray(decay_rate, dtype)
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
        transition_steps: :math:`T \ge 0`; 0 switches to ``end_value`` at :math:`B`.
        transition_begin: :math:`B \ge 0`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.polynomial_schedule(1.0, 0.0, power=2, transition_steps=4)
        >>> sched(jnp.arange(6))
        Array([1.    , 0.5625, 0.25  , 0.0625, 0.    , 0.    ], dtype=float32)
    """
    fn = "polynomial_schedule"
    _steps(fn, transition_steps=transition_steps, transition_begin=transition_begin)
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
        transition_steps: :math:`\tau \ge 0`; 0 switches to ``end_value`` at :math:`B`.
        transition_begin: :math:`B \ge 0`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.linear_schedule(1.0, 0.2, transition_steps=4)
        >>> sched(jnp.arange(6))
        Array([1. , 0.8, 0.6, 0.4, 0.2, 0.2], dtype=float32)
    """
    _steps("linear_schedule", transition_steps=transition_steps, transition_begin=transition_begin)

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


def warmup_constant_schedule(
    init_value: ArrayLike, peak_value: ArrayLike, warmup_steps: ArrayLike
) -> Schedule:
    r"""Linear warm-up from ``init_value`` to ``peak_value``, then constant.

    Args:
        init_value: the value at count 0.
        peak_value: the value from ``warmup_steps`` on.
        warmup_steps: the length of the warm-up, :math:`\ge 0` (0: ``peak_value`` throughout).

    Returns:
        The schedule.

    Example:
        >>> gradtx.warmup_constant_schedule(0.0, 1.0, warmup_steps=4)(jnp.arange(6))
        Array([0.  , 0.25, 0.5 , 0.75, 1.  , 1.  ], dtype=float32)
    """
    _steps("warmup_constant_schedule", warmup_steps=warmup_steps)
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_cosine_decay_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: ArrayLike,
    decay_steps: ArrayLike,
    end_value: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    r"""Linear warm-up to ``peak_value``, then cosine decay to ``end_value``.

    .. math::
        \eta_k = \begin{cases}
        \eta_{\text{init}} + (\eta_{\text{peak}} - \eta_{\text{init}})\,k / W & k < W \\
        \eta_{\text{end}} + (\eta_{\text{peak}} - \eta_{\text{end}})
        \Big[\tfrac12\Big(1 + \cos\frac{\pi \min(k - W, D - W)}{D - W}\Big)\Big]^p & k \ge W
        \end{cases}

    Args:
        init_value: the value at count 0.
        peak_value: the value at the end of the warm-up.
        warmup_steps: :math:`W \ge 0`.
        decay_steps: :math:`D > W`, the total length *including* the warm-up.
        end_value: the value from ``decay_steps`` on.
        exponent: :math:`p \ge 0`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=2,
        ...                                             decay_steps=4, end_value=0.5)
        >>> sched(jnp.arange(6))
        Array([0.  , 0.5 , 1.  , 0.75, 0.5 , 0.5 ], dtype=float32)
    """
    fn = "warmup_cosine_decay_schedule"
    _steps(fn, warmup_steps=warmup_steps)
    _steps(fn, positive=True, decay_steps=decay_steps)
    _check_less(fn, "warmup_steps", warmup_steps, "decay_steps", decay_steps)
    _checks.non_negative(fn, exponent=exponent)

    def decay(count):
        dtype = _dtype(peak_value, end_value, exponent, count)
        length = jnp.asarray(decay_steps) - jnp.asarray(warmup_steps)
        _, left = _progress(count, 0, length, dtype)
        peak, end = jnp.asarray(peak_value, dtype), jnp.asarray(end_value, dtype)
        return end + (peak - end) * _cosine(left, exponent)

    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps), decay],
                          [warmup_steps])  # fmt: skip


def warmup_exponential_decay_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: ArrayLike,
    transition_steps: ArrayLike,
    decay_rate: ArrayLike,
    transition_begin: ArrayLike = 0,
    staircase: bool | ArrayLike = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    r"""Linear warm-up to ``peak_value``, then :func:`exponential_decay` from it.

    The decay sees the count since the end of the warm-up, so it starts
    ``warmup_steps + transition_begin`` steps in.

    Args:
        init_value: the value at count 0.
        peak_value: the value at the end of the warm-up, where the decay starts.
        warmup_steps: the length of the warm-up, :math:`\ge 0`.
        transition_steps: as in :func:`exponential_decay` (:math:`> 0`).
        decay_rate: as in :func:`exponential_decay` (:math:`> 0`).
        transition_begin: steps after the warm-up at ``peak_value`` before decaying.
        staircase: as in :func:`exponential_decay`.
        end_value: as in :func:`exponential_decay`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.warmup_exponential_decay_schedule(0.0, 1.0, warmup_steps=2,
        ...                                                  transition_steps=1, decay_rate=0.5)
        >>> sched(jnp.arange(6))
        Array([0.   , 0.5  , 1.   , 0.5  , 0.25 , 0.125], dtype=float32)
    """
    _steps("warmup_exponential_decay_schedule", warmup_steps=warmup_steps)
    decay = exponential_decay(
        peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps), decay],
                          [warmup_steps])  # fmt: skip


def piecewise_constant_schedule(
    init_value: ArrayLike, boundaries_and_scales: BoundariesAndScales | None = None
) -> Schedule:
    r"""``init_value`` times the product of the scales whose boundary has been reached.

    .. math:: \eta_k = \eta_0 \prod_{i:\, k \ge b_i} s_i

    Args:
        init_value: :math:`\eta_0`.
        boundaries_and_scales: ``{b_i: s_i}`` (steps :math:`b_i \ge 0` and scales
            :math:`s_i \ge 0`), or a sequence of ``(b_i, s_i)`` pairs in non-decreasing order of
            :math:`b_i`, whose steps, unlike dictionary keys, may be traced.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.piecewise_constant_schedule(1.0, {2: 0.5, 4: 0.1})
        >>> sched(jnp.arange(6))
        Array([1.  , 1.  , 0.5 , 0.5 , 0.05, 0.05], dtype=float32)
    """
    boundaries, scales = _boundaries_and_scales(
        "piecewise_constant_schedule", boundaries_and_scales
    )

    def schedule(count):
        dtype = _dtype(init_value, scales, count)
        c = jnp.asarray(count)
        value = jnp.asarray(init_value, dtype)
        for b, s in zip(boundaries, scales, strict=True):
            value = jnp.where(c < jnp.asarray(b), value, value * jnp.asarray(s, dtype))
        return jnp.broadcast_to(value, jnp.broadcast_shapes(jnp.shape(value), jnp.shape(c)))

    return schedule


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: ArrayLike,
    boundaries_and_scales: BoundariesAndScales | None = None,
) -> Schedule:
    r"""Interpolates between the values of :func:`piecewise_constant_schedule` at its boundaries.

    With boundaries :math:`0 = b_0 \le b_1 \le \dots \le b_n` and values
    :math:`v_i = \eta_0 \prod_{j \le i} s_j`, the value moves from :math:`v_{i-1}` at
    :math:`b_{i-1}` to :math:`v_i` at :math:`b_i`, linearly or along a half cosine, and stays
    :math:`v_n` after :math:`b_n`.

    Args:
        interpolate_type: ``"linear"`` or ``"cosine"``.
        init_value: :math:`\eta_0`.
        boundaries_and_scales: as in :func:`piecewise_constant_schedule`.

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.piecewise_interpolate_schedule("linear", 1.0, {2: 0.5, 4: 0.1})
        >>> sched(jnp.arange(6))
        Array([1.   , 0.75 , 0.5  , 0.275, 0.05 , 0.05 ], dtype=float32)
    """
    fn = "piecewise_interpolate_schedule"
    if interpolate_type not in ("linear", "cosine"):
        raise ValueError(
            f"{fn}(): interpolate_type must be 'linear' or 'cosine', got {interpolate_type!r}."
        )
    boundaries, scales = _boundaries_and_scales(fn, boundaries_and_scales)

    def schedule(count):
        dtype = _dtype(init_value, scales, count)
        return _interpolate(interpolate_type, count, init_value, boundaries, scales, dtype)

    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[ArrayLike]) -> Schedule:
    r"""Runs ``schedules[i]`` from ``boundaries[i - 1]`` on, with its count restarted at 0.

    .. math:: \eta_k = \eta^{(i)}(k - b_i) \quad\text{for } b_i \le k < b_{i+1}, \; b_0 = 0

    Args:
        schedules: the schedules, in order.
        boundaries: one fewer than ``schedules``: the non-negative, non-decreasing steps at
            which the next schedule takes over (numbers or traced values).

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.join_schedules(
        ...     [gradtx.constant_schedule(1.0), gradtx.linear_schedule(0.5, 0.0, 2)], [3])
        >>> sched(jnp.arange(7))
        Array([1.  , 1.  , 1.  , 0.5 , 0.25, 0.  , 0.  ], dtype=float32)
    """
    schedules, boundaries = list(schedules), list(boundaries)
    if not schedules or len(boundaries) != len(schedules) - 1:
        raise ValueError(
            "join_schedules(): boundaries must have one entry fewer than schedules, got "
            f"{len(schedules)} schedules and boundaries={boundaries!r}."
        )
    for i, s in enumerate(schedules):
        if not callable(s):
            raise TypeError(f"join_schedules(): schedules[{i}] is not callable, got {s!r}.")
    for b in boundaries:
        _checks.check_range("join_schedules", "boundaries", b, 0.0)
    _check_non_decreasing("join_schedules", "boundaries", boundaries)

    def schedule(count):
        c = jnp.asarray(count)
        value = jnp.asarray(schedules[0](c))
        for b, s in zip(boundaries, schedules[1:], strict=True):
            b = jnp.asarray(b)
            value = jnp.where(c < b, value, s(c - b))
        return value.astype(_dtype(value))

    return schedule


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, ArrayLike]]) -> Schedule:
    r"""Stochastic gradient descent with warm restarts (Loshchilov and Hutter, 2017).

    Cycles of :func:`warmup_cosine_decay_schedule`, one per dictionary of its keyword
    arguments, joined with :func:`join_schedules`; each cycle lasts its ``decay_steps``.

    Args:
        cosine_kwargs: the keyword arguments of each cycle (values may be traced).

    Returns:
        The schedule.

    Example:
        >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=1, decay_steps=3)
        >>> gradtx.sgdr_schedule([cycle, cycle])(jnp.arange(7))
        Array([0. , 1. , 0.5, 0. , 1. , 0.5, 0. ], dtype=float32)
    """
    kwargs_list = [dict(kwargs) for kwargs in cosine_kwargs]
    if not kwargs_list:
        raise ValueError("sgdr_schedule(): cosine_kwargs must contain at least one cycle.")
    schedules, boundaries, step = [], [], 0
    for kwargs in kwargs_list:
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        step = step + kwargs["decay_steps"]
        boundaries.append(step)
    return join_schedules(schedules, boundaries[:-1])


def _check_onecycle(fn: str, transition_steps: Any, div_factor: Any, final_div_factor: Any):
    _steps(fn, positive=True, transition_steps=transition_steps)
    _checks.check_range(fn, "div_factor", div_factor, 0.0, low_open=True)
    _checks.check_range(fn, "final_div_factor", final_div_factor, 0.0, low_open=True)


def linear_onecycle_schedule(
    transition_steps: ArrayLike,
    peak_value: ArrayLike,
    pct_start: ArrayLike = 0.3,
    pct_final: ArrayLike = 0.85,
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
) -> Schedule:
    r"""One-cycle policy with linear phases (Smith and Topin, 2017).

    With :math:`\eta_{\text{init}}` = ``peak_value / div_factor`` and :math:`T` =
    ``transition_steps``: linear from :math:`\eta_{\text{init}}` to ``peak_value`` until
    :math:`\lfloor p_s T\rfloor`, back to :math:`\eta_{\text{init}}` at
    :math:`\lfloor p_f T\rfloor`, then to :math:`\eta_{\text{init}}` / ``final_div_factor`` at
    :math:`T`, constant afterwards.

    Args:
        transition_steps: :math:`T > 0`.
        peak_value: the largest value.
        pct_start: :math:`p_s \in [0, 1]`, the fraction of the cycle spent increasing.
        pct_final: :math:`p_f \in [p_s, 1]`, where the decrease back to the initial value ends.
        div_factor: ``init_value = peak_value / div_factor`` (:math:`> 0`).
        final_div_factor: ``final_value = init_value / final_div_factor`` (:math:`> 0`).

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.linear_onecycle_schedule(10, 1.0, 0.2, 0.6, 10.0, 10.0)
        >>> sched(jnp.array([0, 1, 2, 4, 6, 8, 10]))
        Array([0.1  , 0.55 , 1.   , 0.55 , 0.1  , 0.055, 0.01 ], dtype=float32)
    """
    fn = "linear_onecycle_schedule"
    _check_onecycle(fn, transition_steps, div_factor, final_div_factor)
    _checks.check_range(fn, "pct_start", pct_start, 0.0, 1.0)
    _checks.check_range(fn, "pct_final", pct_final, 0.0, 1.0)
    a, b = _checks.concrete(pct_start), _checks.concrete(pct_final)
    if a is not None and b is not None and np.any(b < a):
        raise ValueError(
            f"{fn}(): pct_final must be at least pct_start, got pct_start={pct_start!r} and "
            f"pct_final={pct_final!r}."
        )

    def schedule(count):
        dtype = _dtype(peak_value, pct_start, pct_final, div_factor, final_div_factor, count)
        steps = jnp.asarray(transition_steps).astype(dtype)
        div = jnp.asarray(div_factor, dtype)
        boundaries = (
            jnp.floor(jnp.asarray(pct_start, dtype) * steps),
            jnp.floor(jnp.asarray(pct_final, dtype) * steps),
            transition_steps,
        )
        scales = (div, 1 / div, 1 / jnp.asarray(final_div_factor, dtype))
        init = jnp.asarray(peak_value, dtype) / div
        return _interpolate("linear", count, init, boundaries, scales, dtype)

    return schedule


def cosine_onecycle_schedule(
    transition_steps: ArrayLike,
    peak_value: ArrayLike,
    pct_start: ArrayLike = 0.3,
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
) -> Schedule:
    r"""One-cycle policy with half-cosine phases (Smith and Topin, 2017).

    With :math:`\eta_{\text{init}}` = ``peak_value / div_factor`` and :math:`T` =
    ``transition_steps``: a half cosine from :math:`\eta_{\text{init}}` up to ``peak_value``
    until :math:`\lfloor p_s T\rfloor`, then down to :math:`\eta_{\text{init}}` /
    ``final_div_factor`` at :math:`T`, constant afterwards.

    Args:
        transition_steps: :math:`T > 0`.
        peak_value: the largest value.
        pct_start: :math:`p_s \in [0, 1]`, the fraction of the cycle spent increasing.
        div_factor: ``init_value = peak_value / div_factor`` (:math:`> 0`).
        final_div_factor: ``final_value = init_value / final_div_factor`` (:math:`> 0`).

    Returns:
        The schedule.

    Example:
        >>> sched = gradtx.cosine_onecycle_schedule(10, 1.0, 0.2, 10.0, 10.0)
        >>> sched(jnp.array([0, 1, 2, 6, 10]))
        Array([0.1  , 0.55 , 1.   , 0.505, 0.01 ], dtype=float32)
    """
    fn = "cosine_onecycle_schedule"
    _check_onecycle(fn, transition_steps, div_factor, final_div_factor)
    _checks.check_range(fn, "pct_start", pct_start, 0.0, 1.0)

    def schedule(count):
        dtype = _dtype(peak_value, pct_start, div_factor, final_div_factor, count)
        steps = jnp.asarray(transition_steps).astype(dtype)
        div = jnp.asarray(div_factor, dtype)
        boundaries = (jnp.floor(jnp.asarray(pct_start, dtype) * steps), transition_steps)
        scales = (div, 1 / (div * jnp.asarray(final_div_factor, dtype)))
        init = jnp.asarray(peak_value, dtype) / div
        return _interpolate("cosine", count, init, boundaries, scales, dtype)

    return schedule


# Short names, reachable as gradtx.schedules.<name> only (not exported at the top level).
constant = constant_schedule
exponential = exponential_decay
inverse_time = inverse_time_decay
linear = linear_schedule
polynomial = polynomial_schedule
cosine_decay = cosine_decay_schedule
warmup_constant = warmup_constant_schedule
warmup_cosine_decay = warmup_cosine_decay_schedule
warmup_exponential_decay = warmup_exponential_decay_schedule
piecewise_constant = piecewise_constant_schedule
piecewise_interpolate = piecewise_interpolate_schedule
join = join_schedules
sgdr = sgdr_schedule
linear_onecycle = linear_onecycle_schedule
cosine_onecycle = cosine_onecycle_schedule
