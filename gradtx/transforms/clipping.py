"""Clipping: elementwise, by the global norm of all updates, by each block's RMS, and unit-wise
relative to the parameters (adaptive gradient clipping).

The stateless clips keep an :class:`~gradtx.EmptyState`; ``ClipState``,
``ClipByGlobalNormState`` and ``AdaptiveGradClipState`` are Optax's names for it (aliases, so
``isinstance(state, gradtx.ClipState)`` holds).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, EmptyState, GradientTransformation, init_empty_state
from gradtx.numerics import abs_sq, promote, real_dtype, safe_sqrt, upcast
from gradtx.transforms._common import as_real, requires_params

__all__ = [
    "AdaptiveGradClipState",
    "ClipByGlobalNormState",
    "ClipState",
    "adaptive_grad_clip",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "unitwise_clip",
    "unitwise_norm",
]

Axis = int | tuple[int, ...] | None

ClipState = EmptyState
"""The state of :func:`clip` (Optax's name for :class:`~gradtx.EmptyState`)."""


def clip(max_delta: ArrayLike) -> GradientTransformation:
    r"""Clips each update coordinate to :math:`[-\Delta, \Delta]`.

    A complex coordinate keeps its phase and has its modulus clipped to :math:`\Delta`.

    Args:
        max_delta: :math:`\Delta \ge 0`.

    Returns:
        A stateless transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.clip(1.0)
        >>> tx.update(jnp.array([0.5, -3.0, 2.0]), tx.init(None))[0]
        Array([ 0.5, -1. ,  1. ], dtype=float32)
    """
    _checks.non_negative("clip", max_delta=max_delta)

    def leaf(u):
        u = jnp.asarray(u)
        if jnp.iscomplexobj(u):
            mod = jnp.abs(u)
            factor = jnp.where(mod > max_delta, max_delta / jnp.where(mod > 0, mod, 1), 1)
            return jnp.multiply(*promote(u, factor)).astype(u.dtype)
        uc = upcast(u)
        delta = as_real(max_delta, uc)
        return jnp.clip(uc, -delta, delta).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree_util.tree_map(leaf, updates), state

    return GradientTransformation(init_empty_state, update_fn)


ClipByGlobalNormState = EmptyState
"""The state of :func:`clip_by_global_norm` (Optax's name for :class:`~gradtx.EmptyState`)."""


def clip_by_global_norm(max_norm: ArrayLike) -> GradientTransformation:
    r"""Rescales all updates together when their global norm exceeds ``max_norm``.

    .. math::
        g \leftarrow \begin{cases} g & \|g\| \le c \\ g\, c / \|g\| & \|g\| > c \end{cases}

    where :math:`\|g\|` is the Euclidean norm of all leaves as one vector (the lectures'
    remedy for cliffs and exploding gradients). Below the threshold the updates are returned
    unchanged, bit for bit.

    Args:
        max_norm: :math:`c \ge 0`.

    Returns:
        A stateless transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.clip_by_global_norm(1.0)
        >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))[0]
        {'a': Array([0.6], dtype=float32), 'b': Array([0.8], dtype=float32)}
    """
    _checks.non_negative("clip_by_global_norm", max_norm=max_norm)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        g_norm = _tree.norm(updates)
        clip_needed = g_norm > max_norm
        # Divide by a safe norm so that the untaken branch never produces nan/inf.
        factor = max_norm / jnp.where(clip_needed, g_norm, 1.0)

        def leaf(u):
            u = jnp.asarray(u)
            scaled = jnp.multiply(*promote(upcast(u), factor))
            return jnp.where(clip_needed, scaled, u.astype(scaled.dtype)).astype(u.dtype)

        return jax.tree_util.tree_map(leaf, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def clip_by_block_rms(threshold: ArrayLike) -> GradientTransformation:
    r"""Rescales each leaf whose root mean square exceeds ``threshold``.

    .. math::
        u \leftarrow u / \max\left(1, \operatorname{rms}(u) / \tau\right), \qquad
        \operatorname{rms}(u) = \sqrt{\operatorname{mean}(|u|^2)}

    Args:
        threshold: :math:`\tau \ge 0`.

    Returns:
        A stateless transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.clip_by_block_rms(1.0)
        >>> tx.update(jnp.array([2.0, -2.0]), tx.init(None))[0]
        Array([ 1., -1.], dtype=float32)
    """
    _checks.non_negative("clip_by_block_rms", threshold=threshold)

    def leaf(u):
        u = jnp.asarray(u)
        uc = upcast(u)
        rms = safe_sqrt(jnp.mean(abs_sq(uc)))
        scale = jnp.where(rms > threshold, rms / threshold, 1.0)
        return jnp.divide(*promote(uc, scale)).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree_util.tree_map(leaf, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def _unit_axes(x: jax.Array, axis: Axis) -> int | tuple[int, ...] | None:
    """The reduction axes of :func:`unitwise_norm` (``None``: all of them)."""
    if axis is not None:
        return axis
    if jnp.squeeze(x).ndim <= 1:
        return None
    if x.ndim in (2, 3):
        return 0
    if x.ndim in (4, 5):
        return tuple(range(x.ndim - 1))
    raise ValueError(
        f"unitwise_norm(): expected an array of rank 1 to 5, got shape {x.shape}; pass axis= "
        "to name the reduction axes of other shapes."
    )


def _unit_norm(x: jax.Array, axis: Axis) -> jax.Array:
    """:func:`unitwise_norm` in the real compute dtype of ``x``."""
    x = upcast(x)
    sq = jnp.sum(abs_sq(x), axis=_unit_axes(x, axis), keepdims=True)
    return jnp.broadcast_to(safe_sqrt(sq), x.shape)


def unitwise_norm(x: ArrayLike, axis: Axis = None) -> jax.Array:
    r"""The Euclidean norm of each unit of ``x``, broadcast back to the shape of ``x``.

    A unit is a slice of ``x`` over the reduction axes: ``axis`` when given, otherwise chosen
    from the rank as in the NFNet code: the whole array for scalars and vectors, axis 0 for
    rank 2 and 3 (dense ``(in, out)`` kernels, multi-head kernels), all but the last axis for
    rank 4 and 5 (``HWIO`` and ``DHWIO`` convolution kernels): one norm per output unit.

    .. math::
        \|x\|_{\text{unit}} = \sqrt{\textstyle\sum_{\text{axes}} |x|^2}

    Args:
        x: an array (complex entries contribute :math:`|x|^2 = (\bar x x)`).
        axis: axis or axes to reduce over; ``None`` infers them from the rank.

    Returns:
        A real array of the shape of ``x`` (float32 for low-precision inputs computed in it and
        cast back to their real dtype).

    Raises:
        ValueError: when ``axis`` is ``None`` and the rank is above 5.

    Example:
        >>> import jax.numpy as jnp
        >>> gradtx.unitwise_norm(jnp.array([[3.0, 1.0], [4.0, 0.0]]))
        Array([[5., 1.],
               [5., 1.]], dtype=float32)
    """
    x = jnp.asarray(x)
    out_dtype = real_dtype(x.dtype) if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.float32
    return _unit_norm(x, axis).astype(out_dtype)


def unitwise_clip(
    g_norm: ArrayLike, max_norm: ArrayLike, grad: ArrayLike, div_eps: ArrayLike = 1e-6
) -> jax.Array:
    r"""Rescales each unit of ``grad`` whose norm reaches ``max_norm`` down to ``max_norm``.

    .. math::
        g \leftarrow \begin{cases} g & \|g\| < m \\
        g\, m / \max(\|g\|, \epsilon) & \text{otherwise} \end{cases}

    elementwise, with the unit norms and bounds given broadcast to the shape of ``grad`` (as
    :func:`unitwise_norm` returns them). ``div_eps`` only guards the division.

    Args:
        g_norm: the unit norms of ``grad``, shaped like ``grad``.
        max_norm: the bound of each unit, shaped like ``grad``.
        grad: the array to clip.
        div_eps: :math:`\epsilon \ge 0`, the smallest divisor.

    Returns:
        ``grad`` clipped, in its dtype (float32 for an integer ``grad``).

    Raises:
        ValueError: when the three shapes differ.

    Example:
        >>> import jax.numpy as jnp
        >>> g = jnp.array([3.0, 4.0])
        >>> gradtx.unitwise_clip(jnp.full(2, 5.0), jnp.full(2, 1.0), g)
        Array([0.6, 0.8], dtype=float32)
    """
    _checks.non_negative("unitwise_clip", div_eps=div_eps)
    grad = jnp.asarray(grad)
    shapes = {"g_norm": jnp.shape(g_norm), "max_norm": jnp.shape(max_norm)}
    for name, shape in shapes.items():
        if shape != grad.shape:
            raise ValueError(
                f"unitwise_clip(): {name} must have the shape of grad {grad.shape}, got {shape}; "
                "broadcast it with jnp.broadcast_to (unitwise_norm returns full shapes)."
            )
    gc = upcast(grad)
    norm, bound = (as_real(v, gc) for v in (g_norm, max_norm))
    ratio = bound / jnp.maximum(norm, as_real(div_eps, gc))
    clipped = jnp.multiply(*promote(gc, ratio))
    out = jnp.where(norm < bound, gc.astype(clipped.dtype), clipped)
    # Integer gradients come back as floats, as in Optax (a clipped integer would truncate).
    return out.astype(grad.dtype) if jnp.issubdtype(grad.dtype, jnp.inexact) else out


AdaptiveGradClipState = EmptyState
"""The state of :func:`adaptive_grad_clip` (Optax's name for :class:`~gradtx.EmptyState`)."""


def adaptive_grad_clip(
    clipping: ArrayLike, eps: ArrayLike = 1e-3, axis: Axis = None
) -> GradientTransformation:
    r"""Adaptive gradient clipping (AGC): bounds each unit's update relative to its parameters.

    For each unit :math:`i` (see :func:`unitwise_norm`) of each leaf,

    .. math::
        g_i \leftarrow \begin{cases} g_i & \|g_i\| < \lambda \max(\|w_i\|, \epsilon) \\
        \lambda \max(\|w_i\|, \epsilon)\, g_i / \|g_i\| & \text{otherwise,}
        \end{cases}

    so the update of a unit is at most :math:`\lambda` times its parameters' norm; ``eps``
    keeps zero-initialised units (biases) from being frozen.

    Args:
        clipping: :math:`\lambda \ge 0`, the largest ratio of update norm to parameter norm.
        eps: :math:`\epsilon \ge 0`, the smallest parameter norm used.
        axis: the reduction axes of the unit norms; ``None`` infers them from each leaf's rank
            (ranks 1 to 5).

    Returns:
        A stateless transformation (its state is an :data:`AdaptiveGradClipState`); ``update``
        needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adaptive_grad_clip(0.1)
        >>> w = jnp.array([3.0, 4.0])
        >>> tx.update(jnp.array([6.0, 8.0]), tx.init(w), w)[0]
        Array([0.3, 0.4], dtype=float32)

    References:
        Brock et al., `High-Performance Large-Scale Image Recognition Without Normalization
        <https://arxiv.org/abs/2102.06171>`_, 2021
    """
    _checks.non_negative("adaptive_grad_clip", clipping=clipping, eps=eps)

    def leaf(u: Any, w: Any) -> jax.Array:
        u = jnp.asarray(u)
        uc = upcast(u)
        g_norm = _unit_norm(uc, axis)
        p_norm = _unit_norm(jnp.asarray(w), axis).astype(g_norm.dtype)
        bound = as_real(clipping, uc) * jnp.maximum(p_norm, as_real(eps, uc))
        return unitwise_clip(g_norm, bound, uc).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("adaptive_grad_clip", params)
        return _tree.map(leaf, updates, params, names=("updates", "params")), state

    return GradientTransformation(init_empty_state, update_fn)
