"""Lifting one-array rules to pytrees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import tree as _tree
from gradtx.numerics import compute_dtype, promote, promote_dtypes, real_dtype


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


def slot_like(params: Any, dtype: Any) -> Any:
    """Zeros shaped like each parameter, in ``dtype`` (default: the parameter's dtype).

    For first moments and momentum buffers. A complex parameter's slot is complex:
    ``dtype=float32`` gives complex64 for it, so no imaginary part is dropped.
    """
    _tree.check_array_leaves(params, "init(params)")

    def leaf(p):
        slot = jnp.result_type(p)
        if dtype is not None:
            complex_leaf = jnp.issubdtype(slot, jnp.complexfloating)
            slot = promote_dtypes(dtype, jnp.complex64) if complex_leaf else jnp.dtype(dtype)
        return jnp.zeros(jnp.shape(p), slot)

    return jax.tree_util.tree_map(leaf, params)


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


def as_real(value: Any, like: jax.Array) -> jax.Array:
    """A hyperparameter as an array of the real compute dtype of ``like``.

    Casting first makes a Python number and an array (or a traced value under vmap) give the
    same bits, and keeps every formula consistent with itself: ``1 - 0.999`` would otherwise
    be rounded from a double in a moving average but ``1 - 0.999**1`` computed from
    ``float32(0.999)`` in its bias correction, so that Adam's first step would miss
    ``sign(g)`` by 1e-5 and a vmapped sweep would disagree with the single run it replaces.
    """
    return jnp.asarray(value, real_dtype(compute_dtype(jnp.result_type(like))))


def moving_average(decay: Any, old: jax.Array, new: jax.Array) -> jax.Array:
    """``decay * old + (1 - decay) * new`` in the dtype of ``new``."""
    decay = as_real(decay, new)
    # Explicit promotion: a real decay with complex moments, as the standard rules would do.
    keep, take, old, new = promote(decay, 1 - decay, old.astype(new.dtype), new)
    return keep * old + take * new


def debias_factor(decay: Any, count: jax.Array, like: jax.Array) -> jax.Array:
    """``1 - decay**count`` in the real compute dtype of ``like``, without cancellation.

    ``1 - 0.999**t`` computed directly loses about ``t`` ulps of ``0.999**t`` to cancellation
    (a relative error of 6e-5 at t = 50 in float32); ``-expm1(t * log(decay))`` keeps it to a
    few ulps. ``decay = 0`` gives 1 for every ``count >= 1``.
    """
    decay = as_real(decay, like)
    positive = decay > 0
    log_decay = jnp.log(jnp.where(positive, decay, 1.0))
    return jnp.where(positive, -jnp.expm1(count.astype(decay.dtype) * log_decay), 1.0)


def per_dtype(compute: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Memoises ``compute(dtype)`` for one ``update`` call.

    Scalar arithmetic on hyperparameters (casts, bias corrections) is the same for every leaf
    of a dtype; computing it once per dtype rather than once per leaf keeps the traced program,
    and so the compile time, from growing with that arithmetic times the number of leaves.
    Create it inside ``update_fn``: it captures that call's traced count.
    """
    cache: dict[Any, Any] = {}

    def get(dtype: Any) -> Any:
        key = real_dtype(compute_dtype(jnp.dtype(dtype)))
        if key not in cache:
            cache[key] = compute(key)
        return cache[key]

    return get
