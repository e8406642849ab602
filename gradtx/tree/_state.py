"""Reading and replacing named nodes of a nested state: :func:`tree_get` and :func:`tree_set`.

A node's name is its dict key, field name or index, and a key is a name or a ``/``-joined
suffix of a path (``"0/hyperparams/learning_rate"``), so a hyperparameter can be read or
changed wherever it sits in a chain, a partition or a wrapper.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.tree._structure import path_str

__all__ = ["tree_get", "tree_set"]


def _children(node: Any) -> tuple[list[tuple[str, Any]], Any] | None:
    """The named children of one pytree node and its one-level treedef; None for a leaf."""
    kids, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if jax.tree_util.treedef_is_leaf(treedef):
        return None
    return [(path_str(p), child) for p, child in kids], treedef


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, node
    split = _children(node)
    if split is not None:
        for name, child in split[0]:
            yield from _walk(child, (*path, name))


def _ends_with(path: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    return len(path) >= len(parts) and path[len(path) - len(parts) :] == parts


def _hyperparameter_names(tree: Any) -> list[str]:
    return sorted({p[-1] for p, _ in _walk(tree) if len(p) >= 2 and p[-2] == "hyperparams"})


_MISSING = object()


def tree_get(tree: Any, key: str, default: Any = _MISSING) -> Any:
    """Returns the node of ``tree`` named ``key``, wherever it is.

    A node's name is its dict key, field name or index. ``key`` may be a ``/``-joined path
    suffix (``"0/hyperparams/learning_rate"``) to pick one of several nodes with the same name.
    Also spelt ``gradtx.tree.get``, Optax's ``optax.tree.get``.

    Args:
        tree: a pytree, usually an optimizer state.
        key: the name, or a ``/``-joined suffix of the path.
        default: returned when nothing matches (otherwise a ``KeyError`` is raised).

    Returns:
        The unique matching node (a leaf or a subtree).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-3, b2=0.99)
        >>> gradtx.tree_get(tx.init(jnp.zeros(2)), "b2")
        Array(0.99, dtype=float32)
    """
    parts = tuple(key.split("/"))
    found = [(p, node) for p, node in _walk(tree) if p and _ends_with(p, parts)]
    if not found:
        if default is not _MISSING:
            return default
        names = _hyperparameter_names(tree)
        raise KeyError(
            f"tree_get(): nothing named {key!r} in the tree"
            + (f"; its hyperparameters are {names}" if names else "")
            + ". Hyperparameters are in the state only for transformations built with "
            "gradtx.inject_hyperparams."
        )
    if len(found) > 1:
        paths = ["/".join(p) for p, _ in found]
        raise ValueError(
            f"tree_get(): {key!r} matches {len(found)} nodes, at {paths}; pass a longer path "
            f"such as {paths[0]!r}."
        )
    return found[0][1]


def tree_set(tree: Any, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
    """Returns ``tree`` with every node named by a key replaced by its value.

    Keys are names or ``/``-joined path suffixes, as in :func:`tree_get`; every matching node
    is replaced. A callable value is applied to the old node. A new value for an array leaf is
    cast to the leaf's dtype, so a jitted step does not recompile; its shape may change (write
    a grid of values into a state made by ``jax.vmap(tx.init)``). Also spelt
    ``gradtx.tree.set``, Optax's ``optax.tree.set``.

    Args:
        tree: a pytree, usually an optimizer state.
        values: ``{key: value}`` (for keys that are not Python identifiers).
        **kwargs: more ``key=value`` pairs.

    Returns:
        The new tree; ``tree`` is not modified.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
        >>> state = gradtx.tree_set(tx.init(jnp.zeros(2)), learning_rate=lambda lr: lr / 2)
        >>> gradtx.tree_get(state, "learning_rate")
        Array(0.05, dtype=float32)
    """
    new_values = {**(values or {}), **kwargs}
    keys = {k: tuple(k.split("/")) for k in new_values}
    hits = dict.fromkeys(new_values, 0)

    def rebuild(node, path):
        for key, parts in keys.items():
            if path and _ends_with(path, parts):
                hits[key] += 1
                value = new_values[key]
                value = value(node) if callable(value) else value
                if isinstance(node, (jax.Array, np.ndarray, np.generic)):
                    value = jnp.asarray(value, node.dtype)
                return value
        split = _children(node)
        if split is None:
            return node
        kids, treedef = split
        return treedef.unflatten([rebuild(child, (*path, name)) for name, child in kids])

    out = rebuild(tree, ())
    missing = [k for k, n in hits.items() if n == 0]
    if missing:
        names = _hyperparameter_names(tree)
        raise KeyError(
            f"tree_set(): nothing named {missing} in the tree"
            + (f"; its hyperparameters are {names}" if names else "")
            + ". Hyperparameters are in the state only for transformations built with "
            "gradtx.inject_hyperparams."
        )
    return out
