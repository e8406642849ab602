"""Clipping: elementwise, by the global norm of all updates, and by each block's RMS."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, GradientTransformation, init_empty_state
from gradtx.numerics import abs_sq, promote, safe_sqrt, upcast
from gradtx.transforms._common import as_real

__all__ = ["clip", "clip_by_block_rms", "clip_by_global_norm"]


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
