"""Early stopping as a small pure state machine that runs inside ``jax.jit``.

Feed it a validation metric after each evaluation; ``state.should_stop`` becomes true once
the metric has not improved for ``patience`` evaluations in a row, and stays true::

    stopper = gradtx.early_stopping(patience=5, min_delta=1e-3)
    es = stopper.init()
    for epoch in range(1000):
        ...
        es = stopper.update(es, val_loss)
        if es.should_stop:
            break
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike
from gradtx.numerics import safe_increment

__all__ = ["EarlyStopping", "EarlyStoppingState", "early_stopping"]


class EarlyStoppingState(NamedTuple):
    """State of :func:`early_stopping`.

    Attributes:
        count: metric values seen (int32).
        best: the best value seen (``inf`` for ``mode="min"``, ``-inf`` for ``"max"`` before
            the first).
        best_step: the index (0-based) of the value that set ``best``; -1 before.
        patience_count: values seen since the last improvement.
        has_improved: whether the last value improved on the best.
        should_stop: whether to stop; once true it stays true.
    """

    count: jax.Array
    best: jax.Array
    best_step: jax.Array
    patience_count: jax.Array
    has_improved: jax.Array
    should_stop: jax.Array


class EarlyStopping(NamedTuple):
    """The pure functions of :func:`early_stopping`.

    Attributes:
        init: ``init() -> EarlyStoppingState``.
        update: ``update(state, value) -> EarlyStoppingState``.
    """

    init: Callable[[], EarlyStoppingState]
    update: Callable[[EarlyStoppingState, ArrayLike], EarlyStoppingState]


def early_stopping(
    patience: ArrayLike, min_delta: ArrayLike = 0.0, mode: Literal["min", "max"] = "min"
) -> EarlyStopping:
    r"""Stops when a metric has not improved for ``patience`` values in a row.

    A value :math:`v` improves on the best :math:`b` when :math:`v < b - \delta` (``mode="min"``)
    or :math:`v > b + \delta` (``mode="max"``); the first finite value always does and a NaN
    never does. Each value that does not improve increments ``patience_count``, an improvement
    resets it, and ``should_stop`` is set when ``patience_count >= patience`` (as in Keras'
    ``EarlyStopping``). The state is a tuple of arrays, so the machine runs under ``jax.jit``
    and ``jax.vmap`` (``patience`` and ``min_delta`` may be traced).

    Args:
        patience: values without improvement to tolerate, >= 0.
        min_delta: :math:`\delta \ge 0`, the smallest change that counts as an improvement.
        mode: ``"min"`` for a loss, ``"max"`` for an accuracy.

    Returns:
        An :class:`EarlyStopping` with ``init()`` and ``update(state, value)``.

    Example:
        >>> stopper = gradtx.early_stopping(patience=2)
        >>> state = stopper.init()
        >>> stops = []
        >>> for loss in [3.0, 2.0, 2.5, 2.2, 1.0]:
        ...     state = stopper.update(state, loss)
        ...     stops.append(bool(state.should_stop))
        >>> stops
        [False, False, False, True, True]
    """
    if mode not in ("min", "max"):
        raise ValueError(f"early_stopping(): mode must be 'min' or 'max', got {mode!r}.")
    _checks.non_negative("early_stopping", patience=patience, min_delta=min_delta)
    sign = 1.0 if mode == "min" else -1.0

    def init_fn() -> EarlyStoppingState:
        return EarlyStoppingState(
            count=jnp.zeros([], jnp.int32),
            best=jnp.asarray(sign * jnp.inf, jnp.float32),
            best_step=jnp.asarray(-1, jnp.int32),
            patience_count=jnp.zeros([], jnp.int32),
            has_improved=jnp.array(False),
            should_stop=jnp.array(False),
        )

    def update_fn(state: EarlyStoppingState, value: ArrayLike) -> EarlyStoppingState:
        value = jnp.asarray(value, jnp.float32)
        delta = jnp.asarray(min_delta, jnp.float32)
        # In "min" mode: value < best - delta; "max" is the same on negated values.
        improved = sign * value < sign * state.best - delta
        patience_count = jnp.where(improved, 0, safe_increment(state.patience_count))
        return EarlyStoppingState(
            count=safe_increment(state.count),
            best=jnp.where(improved, value, state.best),
            best_step=jnp.where(improved, state.count, state.best_step),
            patience_count=patience_count.astype(jnp.int32),
            has_improved=improved,
            should_stop=state.should_stop | (patience_count >= patience),
        )

    return EarlyStopping(init_fn, update_fn)
