"""Constraints enforced through the updates: non-negative parameters, and NaNs replaced by 0.

``NonNegativeParamsState`` is Optax's name for the :class:`~gradtx.EmptyState` of
:func:`keep_params_nonnegative` (an alias).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import tree as _tree
from gradtx.base import EmptyState, GradientTransformation, init_empty_state
from gradtx.transforms._common import requires_params

__all__ = ["NonNegativeParamsState", "ZeroNansState", "keep_params_nonnegative", "zero_nans"]

NonNegativeParamsState = EmptyState
"""The state of :func:`keep_params_nonnegative` (Optax's name for :class:`~gradtx.EmptyState`)."""


def keep_params_nonnegative() -> GradientTransformation:
    r"""Clips updates so that real parameters stay non-negative: :math:`w + u \ge 0`.

    Where :math:`w + u < 0` the update becomes :math:`-w`, which lands the parameter on 0
    (parameters that start negative are moved to 0). Put it last in a chain.

    Returns:
        A stateless transformation (its state is a :data:`NonNegativeParamsState`); ``update``
        needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.keep_params_nonnegative()
        >>> p = jnp.array([1.0, 0.5])
        >>> tx.update(jnp.array([-0.5, -2.0]), tx.init(p), p)[0]
        Array([-0.5, -0.5], dtype=float32)
    """

    def leaf(u, w):
        u, w = jnp.asarray(u), jnp.asarray(w)
        new_w = jnp.asarray(w + u).astype(w.dtype)  # rounded as apply_updates rounds it
        return jnp.where(new_w < 0, -w, u).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("keep_params_nonnegative", params)
        return _tree.map(leaf, updates, params, names=("updates", "params")), state

    return GradientTransformation(init_empty_state, update_fn)


class ZeroNansState(NamedTuple):
    """State of :func:`zero_nans`: per leaf, whether the last update had a NaN."""

    found_nan: Any  # a tree of bool scalars shaped like the parameters


def zero_nans() -> GradientTransformation:
    r"""Replaces NaN entries of the updates by 0 and records, per leaf, whether there were any.

    A complex entry with a NaN real or imaginary part becomes 0. The state is for the user's
    information (logging): it does not change what later updates do.

    Returns:
        The transformation, with state :class:`ZeroNansState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.zero_nans()
        >>> g = {"a": jnp.array([1.0, jnp.nan]), "b": jnp.array([2.0])}
        >>> u, state = tx.update(g, tx.init(g))
        >>> u["a"]
        Array([1., 0.], dtype=float32)
        >>> state.found_nan
        {'a': Array(True, dtype=bool), 'b': Array(False, dtype=bool)}
    """

    def init_fn(params):
        _tree.check_array_leaves(params, "init(params)")
        return ZeroNansState(
            found_nan=jax.tree_util.tree_map(lambda _: jnp.zeros([], jnp.bool_), params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del state, params, extra_args
        nans = jax.tree_util.tree_map(jnp.isnan, updates)
        found = jax.tree_util.tree_map(jnp.any, nans)
        updates = jax.tree_util.tree_map(
            lambda u, n: jnp.where(n, jnp.zeros_like(u), u), updates, nans
        )
        return updates, ZeroNansState(found_nan=found)

    return GradientTransformation(init_fn, update_fn)
