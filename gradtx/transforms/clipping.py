"""Clipping: elementwise, by the global norm of all updates, and by each block's RMS."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx import tree as _tree
from gradtx.base import ArrayLike, EmptyState, GradientTransformation
from gradtx.numerics import abs_sq, safe_sqrt, upcast
from gradtx.transforms._common import as_real

__all__ = ["clip", "clip_by_block_rms", "clip_by_global_norm"]


def _empty_init(params: Any) -> EmptyState:
    del params
    return EmptyState()


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
            return (u * factor).astype(u.dtype)
        uc = upcast(u)
        delta = as_real(max_delta, uc)
        return jnp.clip(uc, -delta, delta).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree_util.tree_map(leaf, updates), state

    return GradientTransformation(_empty_init, update_fn)


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
            return jnp.where(clip_needed, upcast(u) * factor, u).astype(u.dtype)

        return jax.tree_util.tree_map(leaf, updates), state

    return GradientTransformation(_empty_init, update_fn)


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
        return (uc / jnp.where(rms > threshold, rms / threshold, 1.0)).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree_util.tree_map(leaf, updates), state

    return GradientTransformation(_empty_init, update_fn)
