"""Scaling transforms: constant factors, learning rates, schedules, sign, trust ratio,
normalisation by the update norm and gradient centralisation; and :func:`scale_gradient`,
which scales a gradient in the backward pass.

``ScaleState`` and ``ScaleByTrustRatioState`` are Optax's names for the
:class:`~gradtx.EmptyState` of :func:`scale` and :func:`scale_by_trust_ratio` (aliases).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks, tree as _tree
from gradtx.base import (
    ArrayLike,
    EmptyState,
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    init_empty_state,
)
from gradtx.numerics import abs_sq, promote, safe_increment, safe_sqrt, upcast
from gradtx.transforms._common import as_real, requires_params

__all__ = [
    "ScaleByScheduleState",
    "ScaleByTrustRatioState",
    "ScaleState",
    "centralize",
    "normalize_by_update_norm",
    "scale",
    "scale_by_learning_rate",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_trust_ratio",
    "scale_gradient",
]


def _scale_leaf(u: jax.Array, factor: Any) -> jax.Array:
    u = jnp.asarray(u)
    return jnp.multiply(*promote(upcast(u), factor)).astype(u.dtype)


def _divide_leaf(u: jax.Array, divisor: Any) -> jax.Array:
    """``u / divisor`` computed in the compute dtype, cast back to ``u``'s dtype."""
    return jnp.divide(*promote(upcast(u), divisor)).astype(u.dtype)


ScaleState = EmptyState
"""The state of :func:`scale` (Optax's name for :class:`~gradtx.EmptyState`)."""


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


ScaleByTrustRatioState = EmptyState
"""The state of :func:`scale_by_trust_ratio` (Optax's name for :class:`~gradtx.EmptyState`)."""


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


def normalize_by_update_norm(
    scale_factor: ArrayLike = 1.0, eps: ArrayLike = 1e-6
) -> GradientTransformation:
    r"""Divides all updates by their global norm: :math:`u \leftarrow s\,u / (\|u\| + \epsilon)`.

    :math:`\|u\|` is the Euclidean norm of all leaves as one vector, so the result has norm
    just under :math:`|s|` (normalised gradient descent takes steps of a fixed length).

    Args:
        scale_factor: :math:`s`, any sign (``-lr`` gives a descent step).
        eps: :math:`\epsilon \ge 0`, keeps a zero update finite.

    Returns:
        A stateless transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.normalize_by_update_norm(eps=0.0)
        >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))[0]
        {'a': Array([0.6], dtype=float32), 'b': Array([0.8], dtype=float32)}
    """
    _checks.non_negative("normalize_by_update_norm", eps=eps)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        g_norm = _tree.norm(updates)
        # Optax's order of operations: u / ((|u| + eps) / s), so that the bits agree.
        denom = (g_norm + as_real(eps, g_norm)) / as_real(scale_factor, g_norm)
        return jax.tree_util.tree_map(lambda u: _divide_leaf(u, denom), updates), state

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


def _subtract_mean(u: jax.Array) -> jax.Array:
    u = jnp.asarray(u)
    if u.ndim <= 1:
        return u
    uc = upcast(u)
    return (uc - jnp.mean(uc, axis=tuple(range(1, u.ndim)), keepdims=True)).astype(u.dtype)


def centralize() -> GradientTransformation:
    r"""Gradient centralisation: subtracts from each slice along axis 0 its mean.

    For a leaf of rank at least 2, :math:`u_{i\ldots} \leftarrow u_{i\ldots} -
    \operatorname{mean}(u_{i\ldots})`, the mean over all axes but the first; vectors and scalars
    are left unchanged.

    Returns:
        A stateless transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.centralize()
        >>> tx.update(jnp.array([[1.0, 2.0, 3.0], [4.0, 6.0, 8.0]]), tx.init(None))[0]
        Array([[-1.,  0.,  1.],
               [-2.,  0.,  2.]], dtype=float32)

    References:
        Yong et al., `Gradient Centralization: A New Optimization Technique for Deep Neural
        Networks <https://arxiv.org/abs/2004.01461>`_, 2020
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree_util.tree_map(_subtract_mean, updates), state

    return GradientTransformation(init_empty_state, update_fn)


@jax.custom_vjp
def _scale_gradient(inputs: Any, factor: Any) -> Any:
    del factor  # used by the backward pass only
    return inputs


def _scale_gradient_fwd(inputs: Any, factor: Any) -> tuple[Any, Any]:
    return inputs, factor


def _scale_gradient_bwd(factor: Any, cotangents: Any) -> tuple[Any, Any]:
    scaled = jax.tree_util.tree_map(lambda g: _scale_leaf(g, factor), cotangents)
    return scaled, jax.tree_util.tree_map(jnp.zeros_like, factor)


_scale_gradient.defvjp(_scale_gradient_fwd, _scale_gradient_bwd)


def _is_static_number(value: Any) -> bool:
    """A Python or NumPy real number (never a traced value), whose value can decide structure."""
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and np.issubdtype(value.dtype, np.number)
    return isinstance(value, int | float | np.number)


def scale_gradient(inputs: Any, scale: ArrayLike) -> Any:
    r"""The identity on ``inputs`` whose gradient is multiplied by ``scale``.

    The forward pass returns ``inputs`` unchanged; the backward pass multiplies the incoming
    cotangents by ``scale`` (no gradient flows to ``scale`` itself). A Python or NumPy ``1``
    returns ``inputs`` as they are and a ``0`` stops the gradient (``jax.lax.stop_gradient``),
    as in Optax; JAX arrays go through the scaling, so a traced ``scale`` works under ``jit``
    (where Optax's comparison with 1 fails).

    Args:
        inputs: a tree of arrays.
        scale: the factor applied to the gradient.

    Returns:
        ``inputs``, with the scaled backward pass.

    Example:
        >>> import jax
        >>> jax.grad(lambda x: gradtx.scale_gradient(x, 0.5) ** 2)(3.0)
        Array(3., dtype=float32)
    """
    if _is_static_number(scale):
        if scale == 1:
            return inputs
        if scale == 0:
            return jax.lax.stop_gradient(inputs)
    return _scale_gradient(inputs, jnp.asarray(scale))


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
