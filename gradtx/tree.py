"""Arithmetic on pytrees of arrays.

Every function here works leaf by leaf on trees of the same structure, and reports a structure
mismatch by naming the first key path where the trees differ. Reductions (:func:`vdot`,
:func:`norm`, :func:`sum`) return a scalar array and are safe for complex leaves.

Example:
    >>> import jax.numpy as jnp
    >>> from gradtx import tree
    >>> a = {"w": jnp.array([3.0, 0.0]), "b": jnp.array(4.0)}
    >>> print(tree.norm(a), tree.norm(a, ord=1), tree.norm(a, ord="inf"))
    5.0 7.0 4.0
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.numerics import abs_sq, safe_sqrt, upcast

__all__ = [
    "add",
    "add_scale",
    "cast",
    "check_array_leaves",
    "full_like",
    "map",
    "map_with_path",
    "norm",
    "ones_like",
    "path_str",
    "scale",
    "sub",
    "sum",
    "vdot",
    "where",
    "zeros_like",
]

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
    """Ones with each leaf's shape, in ``dtype`` (default: each leaf's own dtype)."""
    return full_like(tree, 1, dtype)


def full_like(tree: Any, fill_value: Any, dtype: Any = None) -> Any:
    """``fill_value`` with each leaf's shape, in ``dtype`` (default: each leaf's own dtype).

    Leaves may be ``jax.ShapeDtypeStruct``, so this works under ``jax.eval_shape``, and of
    any dtype (integer leaves give integer slots unless ``dtype`` says otherwise).

    Example:
        >>> ones_like({"w": jnp.zeros(2)}, jnp.int32)
        {'w': Array([1, 1], dtype=int32)}

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
    """Leaf-wise ``a - b``."""
    return map(lambda x, y: x - y, a, b)


def scale(scalar: Any, tree: Any) -> Any:
    """Multiplies every leaf by ``scalar``.

    Example:
        >>> scale(2.0, {"w": jnp.array([1.0, 2.0])})
        {'w': Array([2., 4.], dtype=float32)}

    Example:
        >>> sub({"w": jnp.array([3.0, 1.0])}, {"w": jnp.ones(2)})
        {'w': Array([2., 0.], dtype=float32)}
    """
    return jax.tree_util.tree_map(lambda x: scalar * x, tree)


def add_scale(a: Any, scalar: Any, b: Any) -> Any:
    """Leaf-wise ``a + scalar * b``."""
    return map(lambda x, y: x + scalar * y, a, b)


def where(condition: Any, a: Any, b: Any) -> Any:
    """Selects ``a`` where ``condition`` holds and ``b`` elsewhere.

    ``condition`` is either one boolean (scalar array) for the whole tree or a tree of booleans
    with the structure of ``a``.

    Example:
        >>> where(jnp.array(False), {"w": 1.0}, {"w": 2.0})
        {'w': Array(2., dtype=float32, weak_type=True)}

    Example:
        >>> add_scale({"w": jnp.ones(2)}, 0.5, {"w": jnp.array([2.0, 4.0])})
        {'w': Array([2., 3.], dtype=float32)}
    """
    if jax.tree_util.tree_structure(condition).num_leaves == 1 and not isinstance(
        condition, (dict, list, tuple)
    ):
        return map(lambda x, y: jnp.where(condition, x, y), a, b)
    return map(lambda c, x, y: jnp.where(c, x, y), condition, a, b, names=("condition", "a", "b"))


def _combine(partials: list[jax.Array], reduce: Callable[..., jax.Array] = jnp.sum) -> jax.Array:
    """One reduction over per-leaf partial results (0 for no leaves).

    A Python chain of scalar additions would be duplicated by XLA into every fusion that
    consumes the total (each leaf of a clipped update), making compile time quadratic in the
    number of leaves; a stacked reduction is computed once.
    """
    if not partials:
        return jnp.zeros([], jnp.float32)
    dtype = jnp.result_type(jnp.float32, *partials)
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
