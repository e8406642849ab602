"""The one mask resolver: which leaves of a tree a transformation applies to.

Every argument that selects leaves (:func:`gradtx.masked`, :func:`gradtx.freeze`,
:func:`gradtx.selective_transform`, the ``mask`` of :func:`gradtx.add_decayed_weights` and of
the optimizers with weight decay) and the labels of :func:`gradtx.partition` are read here.
A mask is

* a tree of booleans with the parameters' structure, or a prefix of it
  (``{"encoder": False, "head": True}`` covers every leaf under each key);
* a callable ``params -> tree of booleans`` (full or prefix);
* glob patterns on the ``/``-joined key paths of the leaves (``"*/bias"``, ``"*norm*/*"``),
  given as a string or a list of strings, or any rule built with :func:`by_path`.

Leaves that an outer mask already left out are :class:`MaskedNode` and are never selected.
Masks that decide the structure (which leaves a transformation's state holds) need Python
booleans; weight decay also accepts traced booleans (:func:`resolve` with ``traceable=True``).

Example:
    >>> params = {"dense": {"w": 1.0, "bias": 2.0}, "norm": {"scale": 3.0}}
    >>> resolve("*/bias", params, "example()")  # leaves in order: bias, w, scale
    [True, False, False]
    >>> resolve({"dense": True, "norm": False}, params, "example()")
    [True, True, False]
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks, tree as _tree

__all__ = [
    "MaskedNode",
    "PathRule",
    "by_path",
    "is_masked_node",
    "leaf_values",
    "resolve",
    "select",
]


class MaskedNode(NamedTuple):
    """An empty subtree that stands in for a leaf a mask leaves out of a transformation."""


def is_masked_node(x: Any) -> bool:
    """Whether ``x`` is a :class:`MaskedNode` (use as ``is_leaf`` when flattening)."""
    return isinstance(x, MaskedNode)


@dataclasses.dataclass(frozen=True)
class PathRule:
    """A rule from ``/``-joined key paths to values; call it on a tree to get a tree of values.

    Build one with :func:`by_path`. As a callable ``params -> tree`` it can be given wherever
    gradtx takes a mask or labels, including ``adamw(mask=...)``.
    """

    rule: Callable[[str], Any] | tuple[tuple[str, Any], ...]
    default: Any = False

    def value(self, path: str) -> Any:
        """The value for one leaf path."""
        if callable(self.rule):
            return self.rule(path)
        parts = path.split("/")
        ancestors = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern, value in self.rule:
            if any(fnmatch.fnmatchcase(a, pattern) for a in ancestors):
                return value
        return self.default

    def __call__(self, tree: Any) -> Any:
        return jax.tree_util.tree_map_with_path(
            lambda p, _: self.value(_tree.path_str(p)), tree, is_leaf=is_masked_node
        )


def by_path(
    rule: str | Sequence[str] | Mapping[str, Any] | Callable[[str], Any], default: Any = False
) -> PathRule:
    """A mask or a labelling by the ``/``-joined key paths of the leaves.

    Patterns are shell globs (:mod:`fnmatch`; ``*`` also matches ``/``) matched against a
    leaf's path and the paths of its ancestors, so ``"encoder"`` selects every leaf under
    ``encoder`` and ``"*/bias"`` every leaf named ``bias``. Paths join dict keys, sequence
    indices and attribute names with ``/``: ``{"layers": [{"w": ...}]}`` has the path
    ``layers/0/w``.

    Args:
        rule: one pattern or a list of patterns (selected leaves get ``True``); a mapping
            ``{pattern: value}`` (the first matching pattern, in order, gives the value); or a
            callable ``path -> value``.
        default: the value of leaves no pattern matches.

    Returns:
        A :class:`PathRule`, a callable ``params -> tree`` usable as a mask or as labels.

    Example:
        >>> params = {"dense": {"w": 1.0, "b": 2.0}, "layernorm": {"scale": 3.0}}
        >>> by_path({"*/b": "no_decay", "*norm*": "no_decay"}, default="decay")(params)
        {'dense': {'b': 'no_decay', 'w': 'decay'}, 'layernorm': {'scale': 'no_decay'}}
    """
    if callable(rule):
        return PathRule(rule, default)
    if isinstance(rule, str):
        return PathRule(((rule, True),), default)
    items = tuple(rule.items()) if isinstance(rule, Mapping) else tuple((p, True) for p in rule)
    for pattern, _ in items:
        if not isinstance(pattern, str):
            raise TypeError(f"by_path(): patterns must be strings, got {pattern!r}.")
    return PathRule(items, default)


def _is_patterns(spec: Any) -> bool:
    return isinstance(spec, str) or (
        isinstance(spec, (list, tuple)) and len(spec) > 0 and all(isinstance(s, str) for s in spec)
    )


def is_callable_spec(spec: Any) -> bool:
    """Whether ``spec`` is a function of the tree rather than a tree (Optax's rule: every leaf
    is callable, so a callable pytree of booleans, like an Equinox module, is a tree)."""
    flags = jax.tree_util.tree_leaves(jax.tree_util.tree_map(callable, spec))
    return len(flags) > 0 and all(flags)


def spec_values(spec: Any, tree: Any, what: str = "mask") -> Any:
    """The tree of values of a mask or labelling for ``tree`` (full or a prefix of it)."""
    if what == "mask" and _is_patterns(spec):
        spec = by_path(spec)
    return spec(tree) if is_callable_spec(spec) else spec


def leaf_values(spec: Any, tree: Any, fn: str, what: str = "mask") -> list[Any]:
    """The value of ``spec`` for every leaf of ``tree``, in order.

    Leaves are those of ``jax.tree_util.tree_flatten(tree, is_leaf=is_masked_node)``.

    Args:
        spec: a tree with the structure of ``tree`` or a prefix of it, or a callable
            ``tree -> such a tree`` (a :func:`by_path` rule is one); for a mask
            (``what="mask"``) also glob patterns, a string or a list of strings.
        tree: the parameters (or updates), possibly holding :class:`MaskedNode` leaves.
        fn: the caller, for error messages (``"masked()"``).
        what: ``"mask"`` or ``"labels"``, for error messages.

    Returns:
        One value per leaf.
    """
    values = spec_values(spec, tree, what)
    treedef = jax.tree_util.tree_structure(tree, is_leaf=is_masked_node)
    try:
        full = jax.tree_util.tree_map(
            lambda v, sub: jax.tree_util.tree_map(lambda _: v, sub, is_leaf=is_masked_node),
            values,
            tree,
        )
        return treedef.flatten_up_to(full)
    except (ValueError, TypeError) as error:
        detail = str(error)
        try:  # its message names the expected and present keys ("Dict key mismatch; ...")
            jax.tree_util.tree_structure(values, is_leaf=is_masked_node).flatten_up_to(tree)
        except (ValueError, TypeError) as closer:
            detail = str(closer)
        forms = "a callable returning one, or a by_path rule"
        if what == "mask":
            forms = (
                "a callable returning one, glob patterns on the '/'-joined key paths, or a "
                "by_path rule (a mask must be a tree of booleans, True where the "
                "transformation applies)"
            )
        raise ValueError(
            f"{fn}: the {what} must be a tree with the structure of the parameters (or a prefix "
            f"of it), {forms}. Got {values!r} for params with structure "
            f"{jax.tree_util.tree_structure(tree)}: {detail}"
        ) from None


def _static_bool(value: Any, fn: str) -> bool:
    if isinstance(value, bool):
        return value
    arr = _checks.concrete(value)
    if arr is None or np.shape(arr) != () or arr.dtype != np.bool_:
        raise TypeError(
            f"{fn}: a mask holds one Python bool per leaf, got {value!r}. Masks decide which "
            "transformation runs on a leaf and must be known before tracing."
        )
    return bool(arr)


def _traceable_bool(value: Any, fn: str) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    dtype = getattr(value, "dtype", None)
    if dtype is None or np.dtype(dtype) != np.bool_:
        raise TypeError(
            f"{fn}: a mask holds one boolean per leaf (a Python bool or a boolean array), got "
            f"{value!r}."
        )
    if isinstance(value, np.ndarray) and value.shape == ():
        return bool(value)
    return value


def resolve(mask: Any, tree: Any, fn: str, *, traceable: bool = False) -> list[Any]:
    """One boolean per leaf of ``tree``: whether ``mask`` selects it.

    Args:
        mask: a mask in any form the module docstring lists; ``None`` selects every leaf.
        tree: the parameters (or updates); its :class:`MaskedNode` leaves are never selected.
        fn: the caller, for error messages (``"masked()"``).
        traceable: also accept boolean arrays, traced ones included, which are returned as
            they are (for a ``jnp.where``); otherwise every value must be a Python bool or a
            concrete boolean scalar.

    Returns:
        A list with one entry per leaf of
        ``jax.tree_util.tree_leaves(tree, is_leaf=is_masked_node)``.
    """
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=is_masked_node)
    if mask is None:
        return [not is_masked_node(x) for x in leaves]
    check = _traceable_bool if traceable else _static_bool
    return [
        False if is_masked_node(x) or is_masked_node(m) else check(m, fn)
        for x, m in zip(leaves, leaf_values(mask, tree, fn, "mask"), strict=True)
    ]


class Selection:
    """The leaves of ``tree`` a mask selects, as Optax's ``masked`` builds them.

    Where the mask is a prefix of the tree, a ``False`` replaces the whole subtree below it by
    one :class:`MaskedNode` (so the inner state has the structure Optax gives it); per-leaf
    selection is the fallback where the mask reaches below a subtree already masked out.

    Args:
        tree: the parameters or updates.
        values: the mask's tree of booleans (:func:`spec_values`), a prefix of ``tree``.
        keep: the per-leaf selection (:func:`resolve`), consistent with ``values``.
    """

    def __init__(self, tree: Any, values: Any, keep: Sequence[bool]):
        self.keep = keep
        self.values = values
        self._def = None
        flat, treedef = jax.tree_util.tree_flatten(values, is_leaf=is_masked_node)
        try:
            subs = treedef.flatten_up_to(tree)
        except (ValueError, TypeError):
            self.tree = select(tree, keep)
            return
        self._def = treedef
        self._flags = [not is_masked_node(m) and bool(m) for m in flat]
        self._subs = subs
        self.tree = treedef.unflatten(
            [sub if f else MaskedNode() for f, sub in zip(self._flags, subs, strict=True)]
        )

    def restore(self, new: Any, original: Any, zero_rest: bool = False) -> Any:
        """``original`` with the selected part replaced by ``new`` (the inner output); the rest
        is kept, or zeroed with ``zero_rest``."""

        def rest(sub):
            if not zero_rest:
                return sub
            return jax.tree_util.tree_map(
                lambda x: x if is_masked_node(x) else jnp.zeros_like(x),
                sub,
                is_leaf=is_masked_node,
            )

        if self._def is None:
            leaves, treedef = jax.tree_util.tree_flatten(original, is_leaf=is_masked_node)
            new_leaves = treedef.flatten_up_to(new)
            return treedef.unflatten(
                [n if k else rest(u) for k, u, n in zip(self.keep, leaves, new_leaves, strict=True)]
            )
        olds = self._def.flatten_up_to(original)
        news = self._def.flatten_up_to(new)
        return self._def.unflatten(
            [n if f else rest(o) for f, n, o in zip(self._flags, news, olds, strict=True)]
        )


def select(tree: Any, keep: Sequence[bool]) -> Any:
    """``tree`` with the leaves where ``keep`` is False replaced by :class:`MaskedNode`."""
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_masked_node)
    return treedef.unflatten([x if k else MaskedNode() for x, k in zip(leaves, keep, strict=True)])
