"""Lifting one-array rules to pytrees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import tree as _tree
from gradtx.numerics import compute_dtype, real_dtype


def map_leaves(
    f: Callable[..., tuple[Any, ...]], n_out: int, updates: Any, *states: Any
) -> tuple[Any, ...]:
    """Applies ``f(update_leaf, *state_leaves) -> n_out arrays`` and unzips into ``n_out`` trees.

    The state trees must share the updates' structure; a mismatch raises an error that names
    the first differing key path.
    """
    names = ("updates", *(["state"] * len(states)))
    out = _tree.map(f, updates, *states, names=names)
    treedef = jax.tree_util.tree_structure(updates)
    leaves = treedef.flatten_up_to(out)
    return tuple(treedef.unflatten([leaf[i] for leaf in leaves]) for i in range(n_out))


def requires_params(fn: str, params: Any) -> None:
    if params is None:
        raise ValueError(
            f"{fn}: update() needs the current parameters; call tx.update(grads, state, params)."
        )


def real_full_like(params: Any, fill_value: Any = 0.0, dtype: Any = None) -> Any:
    """Second-moment slots: ``fill_value`` shaped like each leaf, in its real dtype.

    A complex parameter's squared modulus is real, so its accumulator is float32 for complex64
    (``dtype`` overrides).
    """
    _tree.check_array_leaves(params, "init(params)")
    return jax.tree_util.tree_map(
        lambda p: jnp.full(jnp.shape(p), fill_value, dtype or real_dtype(jnp.result_type(p))),
        params,
    )


def debias_factor(decay: Any, count: jax.Array, like: jax.Array) -> jax.Array:
    """``1 - decay**count`` computed in the real compute dtype of ``like``."""
    t = count.astype(real_dtype(compute_dtype(jnp.result_type(like))))
    return 1 - decay**t
