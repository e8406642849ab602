"""Reductions of a whole pytree to one scalar: sums, inner products and norms.

Each is one stacked reduction over per-leaf partial results, upcast to at least float32 and
safe for complex leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.numerics import abs_sq, promote_dtypes, safe_sqrt, upcast
from gradtx.tree._structure import map

__all__ = ["norm", "sum", "vdot"]


def _combine(partials: list[jax.Array], reduce: Callable[..., jax.Array] = jnp.sum) -> jax.Array:
    """One reduction over per-leaf partial results (0 for no leaves).

    A Python chain of scalar additions would be duplicated by XLA into every fusion that
    consumes the total (each leaf of a clipped update), making compile time quadratic in the
    number of leaves; a stacked reduction is computed once.
    """
    if not partials:
        return jnp.zeros([], jnp.float32)
    dtype = promote_dtypes(jnp.float32, *partials)
    return reduce(jnp.stack([jnp.asarray(p, dtype) for p in partials]))


def sum(tree: Any) -> jax.Array:
    """Sum of all elements of all leaves (0.0 for an empty tree).

    Example:
        >>> sum({"a": jnp.ones(3), "b": jnp.array(2.0)})
        Array(5., dtype=float32)
    """
    return _combine([jnp.sum(upcast(x)) for x in jax.tree_util.tree_leaves(tree)])


def vdot(a: Any, b: Any) -> jax.Array:
    """Inner product of two trees, ``sum(conj(a) * b)`` over all elements.

    Example:
        >>> vdot({"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([3.0, 4.0])})
        Array(11., dtype=float32)
    """
    products = map(lambda x, y: jnp.vdot(upcast(x), upcast(y)), a, b, names=("a", "b"))
    return _combine(jax.tree_util.tree_leaves(products))


def norm(tree: Any, ord: int | str = 2, squared: bool = False) -> jax.Array:
    """Norm of a tree seen as one flat vector; complex leaves use their modulus.

    Args:
        tree: the tree.
        ord: ``2`` (Euclidean), ``1`` (sum of moduli) or ``"inf"`` (largest modulus).
        squared: with ``ord=2``, return the squared norm (no square root).

    Returns:
        A real scalar array (0 for an empty tree).

    Example:
        >>> norm({"a": jnp.array([3.0]), "b": jnp.array([4.0])})
        Array(5., dtype=float32)
    """
    leaves = [upcast(x) for x in jax.tree_util.tree_leaves(tree)]
    if ord == 2:
        total = _combine([jnp.sum(abs_sq(x)) for x in leaves])
        return total if squared else safe_sqrt(total)
    if squared:
        raise ValueError(f"norm(): squared=True needs ord=2, got ord={ord!r}.")
    if ord == 1:
        return _combine([jnp.sum(jnp.abs(x)) for x in leaves])
    if ord in ("inf", np.inf, float("inf")):
        return _combine([jnp.max(jnp.abs(x), initial=0) for x in leaves], jnp.max)
    raise ValueError(f"norm(): ord must be 1, 2 or 'inf', got {ord!r}.")
