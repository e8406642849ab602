"""reduce_on_plateau: scale updates down when a monitored loss stops improving."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import ArrayLike, GradientTransformation
from gradtx.numerics import compute_dtype, promote_dtypes, real_dtype, safe_increment, upcast

__all__ = ["ReduceLROnPlateauState", "reduce_on_plateau"]


def _check_integer(fn: str, name: str, value: Any, low: float) -> None:
    _checks.check_range(fn, name, value, low)
    arr = _checks.concrete(value)
    if arr is not None and np.any(arr != np.floor(arr)):
        raise ValueError(f"{fn}(): {name} must be an integer, got {name}={value!r}.")


class ReduceLROnPlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau` (Optax's field names).

    Attributes:
        scale: the factor applied to the updates, 1 at the start.
        best_value: the best (lowest) averaged value seen so far, ``inf`` at the start.
        plateau_count: evaluations since the last improvement (outside cooldown).
        cooldown_count: evaluations of cooldown left after the last reduction.
        count: values accumulated towards the next evaluation.
        avg_value: the mean of those values.
    """

    scale: jax.Array
    best_value: jax.Array
    plateau_count: jax.Array  # int32 scalar
    cooldown_count: jax.Array  # int32 scalar
    count: jax.Array  # int32 scalar
    avg_value: jax.Array


def reduce_on_plateau(
    factor: ArrayLike = 0.1,
    patience: ArrayLike = 10,
    rtol: ArrayLike = 1e-4,
    atol: ArrayLike = 0.0,
    cooldown: ArrayLike = 0,
    accumulation_size: ArrayLike = 1,
    min_scale: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Multiplies updates by a scale that is reduced when the loss stops improving.

    ``update`` needs the monitored loss as the keyword argument ``value``
    (``tx.update(grads, state, params, value=loss)``; :func:`gradtx.chain` passes it on). The
    values are averaged over ``accumulation_size`` calls; each average :math:`v` is then an
    *evaluation*, which improves on the best value :math:`b` so far when

    .. math:: v < b - \max(\text{atol}, \text{rtol}\,|b|),

    a test that is also right for negative losses (Optax's
    :math:`v < (1 - \text{rtol})\,b - \text{atol}` accepts a worse value when :math:`b < 0`).
    After ``patience`` evaluations in a row without improvement the scale is multiplied by
    ``factor`` (but not below ``min_scale``) and the plateau count restarts; the next
    ``cooldown`` evaluations then do not count towards a plateau (the best value is still
    tracked). The updates are multiplied by the scale *after* the current value has been
    taken into account, as in Optax.

    Args:
        factor: the reduction factor, in :math:`(0, 1]`.
        patience: evaluations without improvement before a reduction, an integer
            :math:`\ge 0`.
        rtol: relative tolerance of an improvement, in :math:`[0, 1]`.
        atol: absolute tolerance of an improvement, :math:`\ge 0`. With both tolerances 0 any
            strict decrease is an improvement.
        cooldown: evaluations to wait after a reduction, an integer :math:`\ge 0`.
        accumulation_size: values averaged into one evaluation, an integer :math:`\ge 1`
            (use more than 1 when ``value`` is a noisy minibatch loss).
        min_scale: the scale is never reduced below this, in :math:`[0, 1]`.

    Returns:
        The transformation, with state :class:`ReduceLROnPlateauState`.

    Example:
        >>> tx = gradtx.reduce_on_plateau(factor=0.5, patience=2)
        >>> state = tx.init(jnp.zeros(1))
        >>> for loss in [-1.0, -2.0, -2.0, -2.0, -1.5]:
        ...     u, state = tx.update(jnp.ones(1), state, value=loss)
        >>> u, state.scale, state.best_value
        (Array([0.5], dtype=float32), Array(0.5, dtype=float32), Array(-2., dtype=float32))
    """
    fn = "reduce_on_plateau"
    _checks.check_range(fn, "factor", factor, 0.0, 1.0, low_open=True)
    _check_integer(fn, "patience", patience, 0.0)
    _checks.check_range(fn, "rtol", rtol, 0.0, 1.0)
    _checks.non_negative(fn, atol=atol)
    _check_integer(fn, "cooldown", cooldown, 0.0)
    _check_integer(fn, "accumulation_size", accumulation_size, 1.0)
    _checks.check_range(fn, "min_scale", min_scale, 0.0, 1.0)

    def init_fn(params):
        leaves = jax.tree_util.tree_leaves(params)
        dtype = real_dtype(compute_dtype(promote_dtypes(*leaves) if leaves else jnp.float32))
        zero = jnp.zeros([], jnp.int32)
        return ReduceLROnPlateauState(
            scale=jnp.ones([], dtype),
            best_value=jnp.full([], jnp.inf, dtype),
            plateau_count=zero,
            cooldown_count=zero,
            count=zero,
            avg_value=jnp.zeros([], dtype),
        )

    def evaluate(state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
        dtype = state.avg_value.dtype
        avg, best = state.avg_value, state.best_value
        finite = jnp.isfinite(best)
        safe_best = jnp.where(finite, best, 0)
        tol = jnp.maximum(jnp.asarray(atol, dtype), jnp.asarray(rtol, dtype) * jnp.abs(safe_best))
        improved = avg < jnp.where(finite, safe_best - tol, best)
        plateau = jnp.where(improved, 0, safe_increment(state.plateau_count))
        in_cooldown = state.cooldown_count > 0
        reduce = ~in_cooldown & ~improved & (plateau >= patience)
        reduced = jnp.maximum(
            state.scale * jnp.asarray(factor, dtype), jnp.asarray(min_scale, dtype)
        )
        return ReduceLROnPlateauState(
            scale=jnp.where(reduce, reduced, state.scale).astype(dtype),
            best_value=jnp.where(improved, avg, best),
            plateau_count=jnp.where(in_cooldown | reduce, 0, plateau).astype(jnp.int32),
            cooldown_count=jnp.where(
                in_cooldown,
                state.cooldown_count - 1,
                jnp.where(reduce, jnp.asarray(cooldown).astype(jnp.int32), 0),
            ).astype(jnp.int32),
            count=jnp.zeros([], jnp.int32),
            avg_value=jnp.zeros([], dtype),
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        if value is None:
            raise TypeError(
                f"{fn}: update() needs the monitored loss; call "
                "tx.update(grads, state, params, value=loss)."
            )
        value = jnp.asarray(value)
        if value.ndim != 0:
            raise ValueError(f"{fn}: value must be a scalar loss, got shape {value.shape}.")
        dtype = state.avg_value.dtype
        count = safe_increment(state.count)
        avg = (
            state.count.astype(dtype) * state.avg_value + jnp.real(value).astype(dtype)
        ) / count.astype(dtype)
        state = state._replace(count=count, avg_value=avg.astype(dtype))
        evaluated = evaluate(state)
        ready = count >= accumulation_size
        state = jax.tree_util.tree_map(lambda e, s: jnp.where(ready, e, s), evaluated, state)
        scale = state.scale

        def leaf(u):
            u = jnp.asarray(u)
            x = upcast(u)
            return (x * scale.astype(x.dtype)).astype(u.dtype)

        return jax.tree_util.tree_map(leaf, updates), state

    return GradientTransformation(init_fn, update_fn)
