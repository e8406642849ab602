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

from gradtx._schedule_state import (
    WrappedSchedule as WrappedSchedule,
    WrappedScheduleState as WrappedScheduleState,
)
from gradtx.base import (
    Schedule as Schedule,
    StatefulSchedule as StatefulSchedule,
)
from gradtx.schedules.composite import (
    cosine_onecycle_schedule as cosine_onecycle_schedule,
    join_schedules as join_schedules,
    linear_onecycle_schedule as linear_onecycle_schedule,
    piecewise_constant_schedule as piecewise_constant_schedule,
    piecewise_interpolate_schedule as piecewise_interpolate_schedule,
    sgdr_schedule as sgdr_schedule,
    warmup_constant_schedule as warmup_constant_schedule,
    warmup_cosine_decay_schedule as warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule as warmup_exponential_decay_schedule,
)
from gradtx.schedules.decay import (
    constant_schedule as constant_schedule,
    cosine_decay_schedule as cosine_decay_schedule,
    exponential_decay as exponential_decay,
    inverse_time_decay as inverse_time_decay,
    linear_schedule as linear_schedule,
    polynomial_schedule as polynomial_schedule,
)
from gradtx.wrappers.hyperparams import (
    InjectHyperparamsState as InjectHyperparamsState,
    InjectStatefulHyperparamsState as InjectStatefulHyperparamsState,
    inject_hyperparams as inject_hyperparams,
    inject_stateful_hyperparams as inject_stateful_hyperparams,
)

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "WrappedScheduleState",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
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
