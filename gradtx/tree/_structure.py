"""Key paths, structure-checked maps and the leaf check of every ``init``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_array_leaves", "map", "map_with_path", "path_str"]

_ARRAY_TYPES = (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct, int, float, complex, bool)


def path_str(path: tuple[Any, ...]) -> str:
    """Joins a JAX key path with ``/``: ``(DictKey('layer'), SequenceKey(0))`` -> ``'layer/0'``.

    Example:
        >>> import jax
        >>> [path_str(p) for p, _ in jax.tree_util.tree_leaves_with_path({"a": [1, 2]})]
        ['a/0', 'a/1']
    """
    parts = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, jax.tree_util.SequenceKey):
            parts.append(str(k.idx))
        elif isinstance(k, jax.tree_util.GetAttrKey):
            parts.append(k.name)
        elif isinstance(k, jax.tree_util.FlattenedIndexKey):
            parts.append(str(k.key))
        else:
            parts.append(str(k))
    return "/".join(parts)


def _structure_error(trees: tuple[Any, ...], names: tuple[str, ...], index: int) -> ValueError:
    first, other = trees[0], trees[index]
    paths_a = [p for p, _ in jax.tree_util.tree_flatten_with_path(first)[0]]
    paths_b = [p for p, _ in jax.tree_util.tree_flatten_with_path(other)[0]]
    where = None
    for pa, pb in zip(paths_a, paths_b, strict=False):
        if pa != pb:
            where = (
                f"the first difference is at leaf {jax.tree_util.keystr(pa)} in "
                f"{names[0]} versus {jax.tree_util.keystr(pb)} in {names[index]}"
            )
            break
    if where is None and len(paths_a) != len(paths_b):
        longer, n, name = (
            (paths_a, len(paths_b), names[0])
            if len(paths_a) > len(paths_b)
            else (paths_b, len(paths_a), names[index])
        )
        where = (
            f"{names[0]} has {len(paths_a)} leaves and {names[index]} has {len(paths_b)}; "
            f"the first extra leaf is {jax.tree_util.keystr(longer[n])} in {name}"
        )
    if where is None:
        where = "the leaves have the same key paths but the container types differ"
    return ValueError(
        f"Tree structures differ between {names[0]} and {names[index]}: {where}.\n"
        f"  {names[0]}: {jax.tree_util.tree_structure(first)}\n"
        f"  {names[index]}: {jax.tree_util.tree_structure(other)}\n"
        "Pass trees with the structure of the params given to init (the same keys, the same "
        "containers)."
    )


def map(f: Callable[..., Any], tree: Any, *rest: Any, names: tuple[str, ...] | None = None) -> Any:
    """``jax.tree.map`` with a structure check that names the first differing key path.

    Args:
        f: function of one leaf from each tree.
        tree: the tree whose structure the others must share.
        *rest: further trees.
        names: how to call the trees in an error message (default ``tree``, ``tree_1``...).

    Returns:
        The mapped tree.

    Example:
        >>> map(lambda a, b: a * b, {"x": 2.0}, {"x": 3.0})
        {'x': 6.0}
    """
    if rest:
        treedef = jax.tree_util.tree_structure(tree)
        for i, other in enumerate(rest, start=1):
            if jax.tree_util.tree_structure(other) != treedef:
                all_names = names or tuple(f"tree {j}" for j in range(len(rest) + 1))
                raise _structure_error((tree, *rest), tuple(all_names), i)
    return jax.tree_util.tree_map(f, tree, *rest)


def map_with_path(f: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Maps ``f(path, leaf, *other_leaves)`` where ``path`` is the ``/``-joined key path.

    Example:
        >>> map_with_path(lambda p, x: p, {"layer": {"w": 1.0, "b": 2.0}})
        {'layer': {'b': 'layer/b', 'w': 'layer/w'}}
    """
    if rest:
        map(lambda *_: None, tree, *rest)  # structure check with a readable error
    return jax.tree_util.tree_map_with_path(lambda p, *xs: f(path_str(p), *xs), tree, *rest)


def check_array_leaves(tree: Any, where: str, *, inexact: bool = True) -> None:
    """Raises a ``TypeError`` naming the first leaf of ``tree`` that gradtx cannot train.

    ``None`` is an empty subtree in JAX and is allowed. Python scalars and
    ``jax.ShapeDtypeStruct`` (for ``jax.eval_shape``) are allowed too. With ``inexact`` (the
    default), integer, boolean and random-key leaves are rejected as well: gradtx trains
    floating-point and complex parameters only, as ``jax.grad`` differentiates only those.

    Example:
        >>> check_array_leaves({"w": jnp.zeros(2), "act": jnp.tanh}, "init(params)")
        Traceback (most recent call last):
        ...
        TypeError: init(params): the leaf at ['act'] is a function ...
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not isinstance(leaf, _ARRAY_TYPES):
            kind = "a function" if callable(leaf) else f"a {type(leaf).__name__}"
            raise TypeError(
                f"{where}: the leaf at {jax.tree_util.keystr(path)} is {kind} ({leaf!r}), "
                "but gradtx needs a tree whose leaves are all arrays. Keep non-array values "
                "(activation functions, flags, strings) out of the params tree: split the model "
                "into (params, static) parts, e.g. with equinox.partition(model, "
                "equinox.is_array), or filter with jax.tree.map(lambda x: x if "
                "isinstance(x, jax.Array) else None, tree) and pass the array part only."
            )
        if inexact:
            dtype = jnp.result_type(leaf)
            if not jnp.issubdtype(dtype, jnp.inexact):
                raise TypeError(
                    f"{where}: the leaf at {jax.tree_util.keystr(path)} has dtype {dtype}, but "
                    "gradtx trains floating-point and complex parameters only (jax.grad "
                    "rejects integer and boolean inputs too). Keep integer, boolean and "
                    "random-key values (step counters, masks, seeds) out of the params tree: "
                    "split the model with equinox.partition(model, equinox.is_inexact_array), "
                    "or replace those leaves by None before calling gradtx."
                )
