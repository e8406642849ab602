"""Scaling transforms: constant factors, learning rates, schedules, sign and trust ratio."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import (
    ArrayLike,
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    init_empty_state,
)
from gradtx.numerics import abs_sq, promote, safe_increment, safe_sqrt, upcast
from gradtx.transforms._common import requires_params

__all__ = [
    "ScaleByScheduleState",
    "scale",
    "scale_by_learning_rate",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_trust_ratio",
]


def _scale_leaf(u: jax.Array, factor: Any) -> jax.Array:
    u = jnp.asarray(u)
    return jnp.multiply(*promote(upcast(u), factor)).astype(u.dtype)


def scale(step_size: ArrayLike) -> GradientTransformation:
    r"""Multiplies every update by a constant: :math:`u \leftarrow s\,u`.

    Args:
        step_size: the factor ``s`` (a number, an array or a traced value).

    Returns:
        A stateless transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale(-0.1)
        >>> tx.update(jnp.array([1.0, 2.0]), tx.init(None))[0]
        Array([-0.1, -0.2], dtype=float32)
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree_util.tree_map(lambda u: _scale_leaf(u, step_size), updates), state

    return GradientTransformation(init_empty_state, update_fn)


class ScaleByScheduleState(NamedTuple):
    """State of :func:`scale_by_schedule`: the number of updates made so far."""

    count: jax.Array  # int32 scalar


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    r"""Multiplies updates by a schedule evaluated at the step count: :math:`u \leftarrow s(k)\,u`.

    The first update uses ``k = 0``; the count then increments and saturates at the int32
    maximum.

    Args:
        step_size_fn: a function from the count to the factor.

    Returns:
        The transformation, with state :class:`ScaleByScheduleState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_schedule(lambda k: 1.0 / (1.0 + k))
        >>> state = tx.init(jnp.zeros(1))
        >>> for _ in range(3):
        ...     u, state = tx.update(jnp.ones(1), state)
        >>> u
        Array([0.3333], dtype=float32)
    """
    if not callable(step_size_fn):
        raise TypeError(
            f"scale_by_schedule(): step_size_fn must be callable, got {step_size_fn!r}; "
            "use gradtx.scale for a constant."
        )

    def init_fn(params):
        del params
        return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        factor = step_size_fn(state.count)
        updates = jax.tree_util.tree_map(lambda u: _scale_leaf(u, factor), updates)
        return updates, ScaleByScheduleState(count=safe_increment(state.count))

    return GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Scales updates by the learning rate, negated by default: :math:`u \leftarrow -\eta\,u`.

    Args:
        learning_rate: a non-negative number, array, traced value, or schedule
            ``count -> value``.
        flip_sign: negate the result, so that adding the updates descends (default). Use
            ``False`` for gradient ascent.

    Returns:
        A transformation: stateless for a constant, with a :class:`ScaleByScheduleState`
        for a schedule.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_learning_rate(0.5)
        >>> tx.update(jnp.array([1.0, -2.0]), tx.init(None))[0]
        Array([-0.5,  1. ], dtype=float32)
    """
    _checks.learning_rate("scale_by_learning_rate", learning_rate)
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


def scale_by_sign() -> GradientTransformation:
    r"""Replaces each update by its sign, :math:`u \leftarrow \operatorname{sign}(u)`.

    For complex updates the sign is :math:`u / |u|` (0 at 0).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_sign()
        >>> tx.update(jnp.array([0.3, -2.0, 0.0]), tx.init(None))[0]
        Array([ 1., -1.,  0.], dtype=float32)
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree_util.tree_map(jnp.sign, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_trust_ratio(
    min_norm: ArrayLike = 0.0, trust_coefficient: ArrayLike = 1.0, eps: ArrayLike = 0.0
) -> GradientTransformation:
    r"""Scales each leaf's update by its trust ratio (LARS/LAMB, You et al. 2017, 2019).

    .. math::
        u \leftarrow u \cdot c\,\frac{\max(\|w\|, m)}{\max(\|u\|, m) + \epsilon}

    per parameter leaf ``w``, with the ratio replaced by 1 when either norm is zero.

    Args:
        min_norm: lower bound ``m`` of both norms.
        trust_coefficient: the factor ``c``.
        eps: added to the update norm.

    Returns:
        A stateless transformation; ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_trust_ratio()
        >>> tx.update(jnp.array([0.0, 2.0]), tx.init(None), jnp.array([3.0, 4.0]))[0]
        Array([0., 5.], dtype=float32)
    """
    _checks.non_negative(
        "scale_by_trust_ratio", min_norm=min_norm, trust_coefficient=trust_coefficient, eps=eps
    )

    def leaf(u, w):
        u, w = jnp.asarray(u), jnp.asarray(w)
        uc, wc = upcast(u), upcast(w)
        w_norm = jnp.maximum(safe_sqrt(jnp.sum(abs_sq(wc))), min_norm)
        u_norm = jnp.maximum(safe_sqrt(jnp.sum(abs_sq(uc))), min_norm)
        scaled = jnp.multiply(*promote(trust_coefficient, w_norm))
        ratio = jnp.divide(*promote(scaled, u_norm + eps))
        ratio = jnp.where((w_norm == 0) | (u_norm == 0), 1.0, ratio)
        return jnp.multiply(*promote(uc, ratio)).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("scale_by_trust_ratio", params)
        return _tree.map(leaf, updates, params, names=("updates", "params")), state

    return GradientTransformation(init_empty_state, update_fn)


def _scale_by_param_block(fn: str, min_scale: ArrayLike, reduce: Any) -> GradientTransformation:
    """``u * max(reduce(|w|^2), min_scale)`` per parameter leaf ``w``."""
    _checks.non_negative(fn, min_scale=min_scale)

    def leaf(u, w):
        u, w = jnp.asarray(u), jnp.asarray(w)
        size = safe_sqrt(reduce(abs_sq(upcast(w))))
        factor = jnp.maximum(*promote(size, min_scale))
        return jnp.multiply(*promote(upcast(u), factor)).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params(fn, params)
        return _tree.map(leaf, updates, params, names=("updates", "params")), state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_param_block_norm(min_scale: ArrayLike = 1e-3) -> GradientTransformation:
    r"""Scales each leaf's update by the norm of its parameters (a "block": a vector or matrix).

    .. math:: u \leftarrow u \cdot \max(\|w\|_F, m)

    per parameter leaf ``w`` (the Frobenius norm, :math:`|w|` for complex entries).

    Args:
        min_scale: the smallest factor :math:`m \ge 0`, so that zero parameters still move.

    Returns:
        A stateless transformation; ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_param_block_norm()
        >>> tx.update(jnp.array([1.0, 2.0]), tx.init(None), jnp.array([3.0, 4.0]))[0]
        Array([ 5., 10.], dtype=float32)

    References:
        Bernstein et al., `On the distance between two neural networks and the stability of
        learning <https://arxiv.org/abs/2002.03432>`_, 2020
    """
    return _scale_by_param_block("scale_by_param_block_norm", min_scale, jnp.sum)


def scale_by_param_block_rms(min_scale: ArrayLike = 1e-3) -> GradientTransformation:
    r"""Scales each leaf's update by the root mean square of its parameters.

    .. math:: u \leftarrow u \cdot \max\Big(\sqrt{\tfrac{1}{n}\textstyle\sum_i |w_i|^2},
        m\Big)

    per parameter leaf ``w`` of ``n`` entries, so that the step is relative to the typical
    size of the block's entries (Adafactor's relative step).

    Args:
        min_scale: the smallest factor :math:`m \ge 0`.

    Returns:
        A stateless transformation; ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_param_block_rms()
        >>> tx.update(jnp.array([1.0, 2.0]), tx.init(None), jnp.array([1.0, 7.0]))[0]
        Array([ 5., 10.], dtype=float32)

    References:
        Shazeer and Stern, `Adafactor: Adaptive Learning Rates with Sublinear Memory Cost
        <https://arxiv.org/abs/1804.04235>`_, 2018
    """
    return _scale_by_param_block("scale_by_param_block_rms", min_scale, jnp.mean)
