"""Moving moments of updates and their bias correction, under Optax's ``optax.tree`` names.

Each function works leaf by leaf; ``None`` leaves of ``updates`` stay ``None``. Low-precision
leaves are computed in float32 and the result comes back in the dtype the standard promotion
rules give the update and the moment (the moment's dtype when it is at least as wide), also
under strict dtype promotion.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.numerics import abs_sq, compute_dtype, promote, promote_dtypes, real_dtype, upcast

__all__ = [
    "bias_correction",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
]


def _is_none(x: Any) -> bool:
    return x is None


def _moment_map(f: Any, updates: Any, moments: Any) -> Any:
    """``f(g, t)`` per leaf pair, with ``None`` updates giving ``None``."""
    return jax.tree_util.tree_map(
        lambda g, t: None if g is None else f(jnp.asarray(g), jnp.asarray(t)),
        updates,
        moments,
        is_leaf=_is_none,
    )


def _ema(decay: Any, t: jax.Array, x: jax.Array) -> jax.Array:
    """``(1 - decay) x + decay t`` in the compute dtype of ``x`` and ``t``."""
    decay, take, x, t = promote(decay, 1 - jnp.asarray(decay), x, t)
    return take * x + decay * t


def update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    r"""The exponential moving average of the ``order``-th power of the updates.

    .. math:: t \leftarrow (1 - \beta)\, g^{\text{order}} + \beta\, t

    Args:
        updates: the new values :math:`g` (``None`` leaves stay ``None``).
        moments: the moving averages :math:`t`, with the structure of ``updates``.
        decay: :math:`\beta`.
        order: the power (1 for the mean, 2 for the uncentred second moment of real values).

    Returns:
        The updated moments.

    Example:
        >>> import jax.numpy as jnp
        >>> update_moment({"w": jnp.array([2.0])}, {"w": jnp.array([1.0])}, 0.5, 2)
        {'w': Array([2.5], dtype=float32)}
    """

    def leaf(g, t):
        out = promote_dtypes(g, t)
        gc = upcast(g)
        return _ema(decay, upcast(t), gc**order).astype(out)

    return _moment_map(leaf, updates, moments)


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    r"""The exponential moving average of the ``order``-th power of each update's modulus.

    .. math:: t \leftarrow (1 - \beta)\, |g|^{\text{order}} + \beta\, t

    For real updates this is :func:`update_moment`; for complex ones it is real
    (:math:`|g|^2 = \bar g g`), as the second moment of Adam needs.

    Args:
        updates: the new values :math:`g` (``None`` leaves stay ``None``).
        moments: the moving averages :math:`t`.
        decay: :math:`\beta`.
        order: the power.

    Returns:
        The updated moments.

    Example:
        >>> import jax.numpy as jnp
        >>> update_moment_per_elem_norm([jnp.array([3 + 4j])], [jnp.array([0.0])], 0.5, 2)
        [Array([12.5], dtype=float32)]
    """

    def leaf(g, t):
        gc = upcast(g)
        if jnp.iscomplexobj(gc):
            half = order / 2
            norm = abs_sq(gc) ** (int(half) if float(half).is_integer() else half)
            out = promote_dtypes(real_dtype(g.dtype), t)
        else:
            norm = gc**order
            out = promote_dtypes(g, t)
        return _ema(decay, upcast(t), norm).astype(out)

    return _moment_map(leaf, updates, moments)


def update_infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
    r"""The exponentially weighted infinity norm of AdaMax.

    .. math:: t \leftarrow \max(|g| + \epsilon, \beta\, t)

    Args:
        updates: the new values :math:`g` (``None`` leaves stay ``None``).
        moments: the running norms :math:`t`.
        decay: :math:`\beta`.
        eps: :math:`\epsilon`, added to :math:`|g|`.

    Returns:
        The updated norms.

    Example:
        >>> import jax.numpy as jnp
        >>> update_infinity_moment([jnp.array([1.0, -3.0])], [jnp.array([4.0, 4.0])], 0.5, 0.0)
        [Array([2., 3.], dtype=float32)]
    """

    def leaf(g, t):
        out = promote_dtypes(real_dtype(g.dtype), t)
        a, tc = upcast(jnp.abs(g)), upcast(t)
        a, eps_, decay_, tc = promote(a, eps, decay, tc)
        return jnp.maximum(a + eps_, decay_ * tc).astype(out)

    return _moment_map(leaf, updates, moments)


def bias_correction(moment: Any, decay: Any, count: Any) -> Any:
    r"""Divides a moving average by :math:`1 - \beta^k`, the weight its terms sum to.

    The correction is computed in float32 (at least) and the division in each leaf's compute
    dtype, so a bfloat16 moment stays bfloat16 and :math:`\beta^k` is not rounded to 1.

    Args:
        moment: the moving averages (a tree of arrays).
        decay: :math:`\beta`.
        count: :math:`k`, the number of terms averaged so far (an integer or integer array).

    Returns:
        The corrected moments, in their own dtypes.

    Example:
        >>> import jax.numpy as jnp
        >>> bias_correction({"m": jnp.array([0.1])}, 0.9, jnp.array(1))
        {'m': Array([1.], dtype=float32)}
    """

    def leaf(t):
        t = jnp.asarray(t)
        dtype = real_dtype(compute_dtype(t.dtype))
        d = jnp.asarray(decay, dtype)
        k = jnp.asarray(count).astype(dtype)
        factor = 1 - jnp.power(d, k)
        tc, factor = promote(upcast(t), factor)
        return (tc / factor).astype(t.dtype)

    return jax.tree_util.tree_map(leaf, moment)
