"""Recording measurements of the updates in the state, for logging and debugging.

:func:`snapshot` stores one measurement of the updates flowing through a chain at that point;
:func:`monitor` stores several, some of them stateful (:func:`measure_with_ema`, or any
transformation whose ``update`` returns the measurement). The updates pass through unchanged.
Read a measurement back by name with :func:`gradtx.tree_get`, wherever it sits in the state.

Example:
    >>> tx = gradtx.chain(gradtx.sgd(0.1), gradtx.snapshot("norm", gradtx.tree.norm),
    ...                   gradtx.clip_by_global_norm(0.05))
    >>> state = tx.init(jnp.zeros(2))
    >>> _, state = tx.update(jnp.array([3.0, 4.0]), state)
    >>> gradtx.tree_get(state, "norm")
    Array(0.5, dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _registry
from gradtx.base import (
    ArrayLike,
    DTypeLike,
    GradientTransformation,
    OptState,
    Updates,
    as_transformation,
    chain,
    is_transformation,
    stateless,
    with_extra_args_support,
)
from gradtx.transforms.momentum import ema

__all__ = ["MonitorState", "SnapshotState", "measure_with_ema", "monitor", "snapshot"]


class SnapshotState(NamedTuple):
    """State of :func:`snapshot`.

    Attributes:
        measurement: ``{measure_name: value}``: the measurement of the last updates (of the
            parameters, after ``init``).
    """

    measurement: dict[str, Any]


def snapshot(measure_name: str, measure: Callable[[Updates], Any]) -> GradientTransformation:
    """Stores ``measure(updates)`` in the state under ``measure_name``; updates pass through.

    In a chain, the updates measured are those transformed by the members before it. ``init``
    stores ``measure(params)``, so the state keeps one structure from the start.

    Args:
        measure_name: the key of the measurement in the state; read it back with
            ``gradtx.tree_get(state, measure_name)``.
        measure: a function of the updates returning a pytree of arrays.

    Returns:
        The transformation, with state :class:`SnapshotState`.

    Example:
        >>> tx = gradtx.snapshot("max", lambda u: jnp.max(u))
        >>> _, state = tx.update(jnp.array([1.0, 5.0]), tx.init(jnp.zeros(2)))
        >>> state.measurement
        {'max': Array(5., dtype=float32)}
    """
    if not isinstance(measure_name, str):
        raise TypeError(f"snapshot(): measure_name must be a string, got {measure_name!r}.")
    if not callable(measure):
        raise TypeError(f"snapshot(): measure must be a function of the updates, got {measure!r}.")

    def init_fn(params):
        return SnapshotState({measure_name: measure(params)})

    def update_fn(updates, state, params=None, **extra_args):
        del state, params, extra_args
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init_fn, update_fn)


class MonitorState(NamedTuple):
    """State of :func:`monitor`.

    Attributes:
        measurements: ``{name: value}``, the measurements of the last updates. After
            ``init``, zeros of the right shapes and dtypes, or ``{}`` (as in Optax) when a
            measure needs an extra argument of ``update``.
        measure_states: the states of the measures, in the order of ``measures``.
    """

    measurements: dict[str, Any]
    measure_states: tuple[OptState, ...]


def _as_measure(name: str, measure: Any) -> GradientTransformation:
    if is_transformation(measure):
        return with_extra_args_support(as_transformation("monitor", f"measures[{name!r}]", measure))
    if callable(measure):
        return stateless(lambda u, _, m=measure: m(u))
    raise TypeError(
        f"monitor(): measures[{name!r}] must be a function of the updates or a "
        f"GradientTransformation whose update returns the measurement, got {measure!r}."
    )


def monitor(
    measures: Mapping[str, GradientTransformation | Callable[[Updates], Any]],
) -> GradientTransformation:
    """Stores several measurements of the updates, stateful ones included; updates pass through.

    Each measure is a function of the updates (as in :func:`snapshot`) or a transformation
    whose ``update(updates, state, params, **extra_args)`` returns the measurement as its
    "updates", such as :func:`measure_with_ema`.

    Args:
        measures: a mapping from measurement name to measure.

    Returns:
        The transformation, with state :class:`MonitorState`.

    Example:
        >>> tx = gradtx.monitor({"norm": gradtx.tree.norm,
        ...                      "norm_ema": gradtx.measure_with_ema(gradtx.tree.norm, 0.9)})
        >>> state = tx.init(jnp.zeros(2))
        >>> _, state = tx.update(jnp.array([3.0, 4.0]), state)
        >>> _, state = tx.update(jnp.array([0.0, 0.0]), state)
        >>> state.measurements
        {'norm': Array(0., dtype=float32), 'norm_ema': Array(2.3684, dtype=float32)}
    """
    if not isinstance(measures, Mapping):
        raise TypeError(
            f"monitor(): measures must be a dict from name to measure, got {measures!r}."
        )
    txs = {name: _as_measure(name, m) for name, m in measures.items()}
    names = tuple(txs)

    def measure_all(updates, states, params, extra_args):
        measurements, new_states = {}, []
        for name, s in zip(names, states, strict=True):
            value, s = txs[name].update(updates, s, params, **extra_args)
            measurements[name] = value
            new_states.append(s)
        return measurements, tuple(new_states)

    def init_fn(params):
        states = tuple(txs[name].init(params) for name in names)
        # Zeros of the measurements' shapes (no computation), so the state keeps one structure;
        # a measure that needs extra arguments of update cannot be shaped now: then {} (Optax's).
        try:
            shapes = jax.eval_shape(lambda p, s: measure_all(p, s, p, {})[0], params, states)
        except TypeError:
            return MonitorState({}, states)
        zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        return MonitorState(zeros, states)

    def update_fn(updates, state, params=None, **extra_args):
        measurements, states = measure_all(updates, state.measure_states, params, extra_args)
        return updates, MonitorState(measurements, states)

    return _registry.describe(GradientTransformation(init_fn, update_fn), name="monitor")


def measure_with_ema(
    measure: Callable[[Updates], Any],
    decay: ArrayLike,
    debias: bool = True,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""A measure for :func:`monitor`: the exponential moving average of ``measure(updates)``.

    .. math::
        m_k = \beta\, m_{k-1} + (1 - \beta)\, \mathrm{measure}(u_k),

    reported as :math:`m_k / (1 - \beta^k)` with ``debias`` (as :func:`gradtx.ema`). A boolean
    or integer measurement (``norm > threshold``) is averaged as float32, so the average is the
    recent frequency.

    Args:
        measure: a function of the updates returning a pytree of arrays.
        decay: :math:`\beta \in [0, 1)`.
        debias: divide by :math:`1 - \beta^k`.
        accumulator_dtype: dtype of the average (default: the measurement's floating dtype).

    Returns:
        A transformation whose ``update`` returns the averaged measurement (a chain of the
        measurement and :func:`gradtx.ema`, with state ``(EmptyState(), EmaState)``).

    Example:
        >>> tx = gradtx.measure_with_ema(lambda u: jnp.sum(u), decay=0.5, debias=False)
        >>> state = tx.init(jnp.zeros(2))
        >>> tx.update(jnp.array([1.0, 3.0]), state)[0]
        Array(2., dtype=float32)
    """
    if not callable(measure):
        raise TypeError(
            f"measure_with_ema(): measure must be a function of the updates, got {measure!r}."
        )

    def measured(updates):
        def as_float(x):
            x = jnp.asarray(x)
            return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)

        return jax.tree_util.tree_map(as_float, measure(updates))

    base_ema = ema(decay, debias, accumulator_dtype)
    measurement_ema = base_ema._replace(init=lambda params: base_ema.init(measured(params)))
    return chain(stateless(lambda updates, _: measured(updates)), measurement_ema)
