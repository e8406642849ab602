"""Stateful schedules: a schedule with a state of its own, updated at every step.

A :class:`~gradtx.StatefulSchedule` has ``init() -> state``, ``update(state, **extra_args) ->
state`` and ``__call__(state, **extra_args) -> value``; :func:`gradtx.inject_hyperparams`
keeps its state in ``state.hyperparams_states`` and hands it the extra keyword arguments of
``update`` (a loss, say). :class:`WrappedSchedule` makes one of a plain ``count -> value``
schedule.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.base import ArrayLike, Schedule
from gradtx.numerics import safe_increment

__all__ = ["WrappedSchedule", "WrappedScheduleState"]


class WrappedScheduleState(NamedTuple):
    """State of a :class:`WrappedSchedule`.

    Attributes:
        count: the number of updates so far (int32, saturating).
    """

    count: jax.Array


class WrappedSchedule:
    """A plain schedule as a :class:`~gradtx.StatefulSchedule` whose state is the step count.

    Args:
        schedule_fn: a schedule ``count -> value``.

    Example:
        >>> sched = gradtx.schedules.WrappedSchedule(gradtx.linear_schedule(0.0, 1.0, 4))
        >>> state = sched.update(sched.init())
        >>> sched(state)
        Array(0.25, dtype=float32)
    """

    def __init__(self, schedule_fn: Schedule):
        if not callable(schedule_fn):
            raise TypeError(
                f"WrappedSchedule(): schedule_fn must be a function of the step count, got "
                f"{schedule_fn!r}."
            )
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        """The state before the first update: a count of zero."""
        return WrappedScheduleState(count=jnp.zeros([], jnp.int32))

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        """The state one step later (the extra arguments are ignored)."""
        del extra_args
        return WrappedScheduleState(count=safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> ArrayLike:
        """The schedule's value at ``state.count``."""
        del extra_args
        return self.schedule_fn(state.count)
