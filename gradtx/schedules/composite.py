"""Schedules built from several pieces: warm-up then decay, piecewise, joined, restarts and
one-cycle."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import ArrayLike, Schedule
from gradtx.schedules._helpers import (
    BoundariesAndScales,
    _boundaries_and_scales,
    _check_less,
    _check_non_decreasing,
    _cosine,
    _dtype,
    _interpolate,
    _progress,
    _steps,
)
from gradtx.schedules.decay import constant_schedule, exponential_decay, linear_schedule

__all__ = [
    "cosine_onecycle_schedule",
    "join_schedules",
    "linear_onecycle_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]


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
    # Joined, as Optax: with no warm-up the peak holds from count 0.
    return join_schedules(
        [linear_schedule(init_value, peak_value, warmup_steps), constant_schedule(peak_value)],
        [warmup_steps],
    )


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
        transition_steps: as in :func:`exponential_decay` (:math:`\le 0`: constant after the
            warm-up).
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
