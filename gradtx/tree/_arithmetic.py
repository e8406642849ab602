"""Leaf-wise arithmetic and constructors on pytrees of arrays."""

from __future__ import annotations

import builtins
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.tree._structure import check_array_leaves, map

__all__ = [
    "add",
    "add_scale",
    "cast",
    "full_like",
    "ones_like",
    "scale",
    "sub",
    "where",
    "zeros_like",
]


def _leaf_dtype(x: Any, dtype: Any) -> Any:
    return jnp.result_type(x) if dtype is None else dtype


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros with each leaf's shape, in ``dtype`` (default: each leaf's own dtype).

    Example:
        >>> zeros_like({"w": jnp.ones(2)}, jnp.int32)
        {'w': Array([0, 0], dtype=int32)}
    """
    return full_like(tree, 0, dtype)


def ones_like(tree: Any, dtype: Any = None) -> Any:
    """Ones with each leaf's shape, in ``dtype`` (default: each leaf's own dtype).

    Example:
        >>> ones_like({"w": jnp.zeros(2)}, jnp.int32)
        {'w': Array([1, 1], dtype=int32)}
    """
    return full_like(tree, 1, dtype)


def full_like(tree: Any, fill_value: Any, dtype: Any = None) -> Any:
    """``fill_value`` with each leaf's shape, in ``dtype`` (default: each leaf's own dtype).

    Leaves may be ``jax.ShapeDtypeStruct``, so this works under ``jax.eval_shape``, and of
    any dtype (integer leaves give integer slots unless ``dtype`` says otherwise).

    Example:
        >>> full_like({"w": jnp.zeros(2)}, 0.1)
        {'w': Array([0.1, 0.1], dtype=float32)}
    """
    check_array_leaves(tree, "init(params)", inexact=False)
    return jax.tree_util.tree_map(
        lambda x: jnp.full(jnp.shape(x), fill_value, _leaf_dtype(x, dtype)), tree
    )


def cast(tree: Any, dtype: Any) -> Any:
    """Casts every leaf to ``dtype``; ``None`` leaves nothing changed.

    Example:
        >>> cast({"w": jnp.ones(2)}, jnp.bfloat16)["w"].dtype
        dtype(bfloat16)
    """
    if dtype is None:
        return tree
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x).astype(dtype), tree)


def add(tree: Any, *rest: Any) -> Any:
    """Leaf-wise sum of two or more trees.

    Example:
        >>> add({"w": 1.0}, {"w": 2.0}, {"w": 3.0})
        {'w': 6.0}
    """
    return map(lambda *xs: builtins.sum(xs[1:], xs[0]), tree, *rest)


def sub(a: Any, b: Any) -> Any:
    """Leaf-wise ``a - b``.

    Example:
        >>> sub({"w": jnp.array([3.0, 1.0])}, {"w": jnp.ones(2)})
        {'w': Array([2., 0.], dtype=float32)}
    """
    return map(lambda x, y: x - y, a, b)


def scale(scalar: Any, tree: Any) -> Any:
    """Multiplies every leaf by ``scalar``.

    Example:
        >>> scale(2.0, {"w": jnp.array([1.0, 2.0])})
        {'w': Array([2., 4.], dtype=float32)}
    """
    return jax.tree_util.tree_map(lambda x: scalar * x, tree)


def add_scale(a: Any, scalar: Any, b: Any) -> Any:
    """Leaf-wise ``a + scalar * b``.

    Example:
        >>> add_scale({"w": jnp.ones(2)}, 0.5, {"w": jnp.array([2.0, 4.0])})
        {'w': Array([2., 3.], dtype=float32)}
    """
    return map(lambda x, y: x + scalar * y, a, b)


def where(condition: Any, a: Any, b: Any) -> Any:
    """Selects ``a`` where ``condition`` holds and ``b`` elsewhere.

    ``condition`` is either one boolean (scalar array) for the whole tree or a tree of booleans
    with the structure of ``a``.

    Example:
        >>> where(jnp.array(False), {"w": 1.0}, {"w": 2.0})
        {'w': Array(2., dtype=float32, weak_type=True)}
        >>> where({"w": jnp.array([True, False])}, {"w": jnp.ones(2)}, {"w": jnp.zeros(2)})
        {'w': Array([1., 0.], dtype=float32)}
    """
    if jax.tree_util.tree_structure(condition).num_leaves == 1 and not isinstance(
        condition, (dict, list, tuple)
    ):
        return map(lambda x, y: jnp.where(condition, x, y), a, b)
    return map(lambda c, x, y: jnp.where(c, x, y), condition, a, b, names=("condition", "a", "b"))
