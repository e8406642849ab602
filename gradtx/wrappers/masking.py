"""Applying transformations to some leaves only: masks, path rules, partitions and freezing.

A mask says, for every parameter leaf, whether a transformation applies to it. It can be

* a tree of booleans with the parameters' structure, or a prefix of it
  (``{"encoder": False, "head": True}`` covers every leaf under each key);
* a callable ``params -> tree of booleans`` (full or prefix);
* glob patterns on the ``/``-joined key paths of the leaves (``"*/bias"``, ``"*norm*/*"``),
  given as a string or a list of strings, or any rule built with :func:`by_path`.

Transformations see only the leaves selected for them: their state holds nothing for the
others, which are replaced by an empty :class:`MaskedNode`.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"dense": {"w": jnp.ones(2), "bias": jnp.ones(2)}}
    >>> tx = gradtx.masked(gradtx.scale(10.0), "*/bias")
    >>> tx.update(params, tx.init(params))[0]["dense"]
    {'bias': Array([10., 10.], dtype=float32), 'w': Array([1., 1.], dtype=float32)}
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx import tree as _tree
from gradtx.base import GradientTransformation, OptState

__all__ = [
    "MaskedNode",
    "MaskedState",
    "PartitionState",
    "PathRule",
    "by_path",
    "masked",
    "multi_transform",
    "partition",
]


class MaskedNode(NamedTuple):
    """An empty subtree that stands in for a leaf a mask leaves out of a transformation."""


def is_masked_node(x: Any) -> bool:
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


def resolve_values(spec: Any, tree: Any, fn: str, what: str) -> list[Any]:
    """The value of ``spec`` (a tree, a prefix tree or a callable) for every leaf of ``tree``.

    Leaves are those of ``jax.tree_util.tree_flatten(tree, is_leaf=is_masked_node)``, in order.
    """
    values = spec(tree) if callable(spec) else spec
    treedef = jax.tree_util.tree_structure(tree, is_leaf=is_masked_node)
    try:
        full = jax.tree_util.tree_map(
            lambda v, sub: jax.tree_util.tree_map(lambda _: v, sub, is_leaf=is_masked_node),
            values,
            tree,
        )
        return treedef.flatten_up_to(full)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{fn}: the {what} must be a tree with the structure of the parameters (or a prefix "
            f"of it), a callable returning one, or a by_path rule. Got {values!r} for params "
            f"with structure {jax.tree_util.tree_structure(tree)}: {e}"
        ) from None


def resolve_mask(mask: Any, tree: Any, fn: str) -> list[bool]:
    """Booleans, one per leaf of ``tree``; masked-out leaves (:class:`MaskedNode`) are False."""
    if _is_patterns(mask):
        mask = by_path(mask)
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=is_masked_node)
    out = []
    for leaf, m in zip(leaves, resolve_values(mask, tree, fn, "mask"), strict=True):
        if is_masked_node(leaf) or is_masked_node(m):
            out.append(False)
            continue
        value = m if isinstance(m, bool) else _checks.concrete(m)
        if value is None or np.shape(value) != () or np.asarray(value).dtype != np.bool_:
            raise TypeError(
                f"{fn}: a mask holds one Python bool per leaf, got {m!r}. Masks decide which "
                "transformation runs on a leaf and must be known before tracing."
            )
        out.append(bool(value))
    return out


def select(tree: Any, keep: list[bool]) -> Any:
    """``tree`` with the leaves where ``keep`` is False replaced by :class:`MaskedNode`."""
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_masked_node)
    return treedef.unflatten([x if k else MaskedNode() for x, k in zip(leaves, keep, strict=True)])


def _leaves(tree: Any) -> list[Any]:
    return jax.tree_util.tree_leaves(tree, is_leaf=is_masked_node)


def set_explain_hook(update_fn: Callable[..., Any], hook: Callable[[Any], list[Any]]) -> None:
    """Tells :func:`gradtx.explain` which inner transformations apply to which leaves.

    ``hook(params)`` returns ``(entry, transformation, selected)`` triples: for the leaves where
    ``selected`` (a list of bools over the leaves of ``params``) holds, ``entry`` (if not None)
    is listed, then ``transformation`` (if not None) is explained.
    """
    update_fn._gradtx_explain = hook  # type: ignore[attr-defined]


class MaskedState(NamedTuple):
    """State of :func:`masked`: the inner state, which holds only the selected leaves."""

    inner_state: OptState


def masked(
    inner: GradientTransformation, mask: Any, *, zero_masked_out: bool = False
) -> GradientTransformation:
    """Applies ``inner`` to the leaves selected by ``mask`` only.

    The inner transformation sees a tree in which the other leaves are replaced by an empty
    :class:`MaskedNode`, so its state holds nothing for them. Masks nest:
    ``masked(masked(tx, m1), m2)`` applies ``tx`` where both select.

    Args:
        inner: the transformation to apply.
        mask: a tree of booleans with the parameters' structure or a prefix of it, a callable
            ``params -> tree``, glob patterns on the ``/``-joined key paths (a string or a list
            of strings), or a :func:`by_path` rule. Evaluated on the updates in ``update``.
        zero_masked_out: replace the updates of the leaves left out by zeros instead of passing
            them through unchanged.

    Returns:
        The transformation, with state :class:`MaskedState`.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"w": jnp.ones(2), "b": jnp.ones(2)}
        >>> tx = gradtx.masked(gradtx.scale(-1.0), {"w": True, "b": False})
        >>> tx.update(params, tx.init(params))[0]
        {'b': Array([1., 1.], dtype=float32), 'w': Array([-1., -1.], dtype=float32)}
    """
    _checks.transformation("masked", "inner", inner)
    if not isinstance(inner, GradientTransformation):
        raise TypeError(f"masked(): inner must be a GradientTransformation, got {inner!r}.")

    def init_fn(params):
        keep = resolve_mask(mask, params, "masked()")
        return MaskedState(inner_state=inner.init(select(params, keep)))

    def update_fn(updates, state, params=None, **extra_args):
        keep = resolve_mask(mask, updates, "masked()")
        sub_params = None if params is None else select(params, keep)
        new, inner_state = inner.update(
            select(updates, keep), state.inner_state, sub_params, **extra_args
        )
        leaves, treedef = jax.tree_util.tree_flatten(updates, is_leaf=is_masked_node)
        new_leaves = treedef.flatten_up_to(new)
        out = []
        for k, u, n in zip(keep, leaves, new_leaves, strict=True):
            if k:
                out.append(n)
            elif zero_masked_out and not is_masked_node(u):
                out.append(jnp.zeros_like(u))
            else:
                out.append(u)
        return treedef.unflatten(out), MaskedState(inner_state=inner_state)

    def explain(params):
        keep = resolve_mask(mask, params, "masked()")
        items: list[Any] = [(None, inner, keep)]
        if zero_masked_out:
            items.append(("zeroed (masked out)", None, [not k for k in keep]))
        return items

    set_explain_hook(update_fn, explain)
    return GradientTransformation(init_fn, update_fn)


class PartitionState(NamedTuple):
    """State of :func:`partition`: each label's :class:`MaskedState`, by label."""

    inner_states: dict[Hashable, MaskedState]


def _resolve_labels(labels: Any, tree: Any, transforms: Mapping[Hashable, Any]) -> list[Any]:
    values = resolve_values(labels, tree, "partition()", "labels")
    leaves = _leaves(tree)
    paths = [
        _tree.path_str(p)
        for p, _ in jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_masked_node)[0]
    ]
    for path, leaf, label in zip(paths, leaves, values, strict=True):
        if not is_masked_node(leaf) and label not in transforms:
            raise ValueError(
                f"partition(): the leaf {path!r} has the label {label!r}, which has no "
                f"transformation; the labels with one are {sorted(map(str, transforms))}."
            )
    return values


def partition(
    transforms: Mapping[Hashable, GradientTransformation], param_labels: Any
) -> GradientTransformation:
    """Applies a different transformation to each group of leaves.

    Every leaf gets a label, and the transformation of that label updates it; each
    transformation's state holds only its own leaves. A typical use keeps weight decay off
    biases and norm scales::

        labels = gradtx.by_path({"*/bias": "no_decay", "*norm*": "no_decay"}, default="decay")
        tx = gradtx.partition({"decay": gradtx.adamw(1e-3), "no_decay": gradtx.adam(1e-3)},
                              labels)

    and :func:`gradtx.explain` prints which transformations each leaf gets.
    ``multi_transform`` is the same function under Optax's name.

    Args:
        transforms: a mapping from label to transformation.
        param_labels: a tree of labels with the parameters' structure (or a prefix of it), a
            callable ``params -> tree of labels``, or a :func:`by_path` rule.

    Returns:
        The transformation, with state :class:`PartitionState`.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"w": jnp.ones(2), "b": jnp.ones(2)}
        >>> tx = gradtx.partition({"a": gradtx.sgd(0.1), "frozen": gradtx.set_to_zero()},
        ...                       {"w": "a", "b": "frozen"})
        >>> tx.update(params, tx.init(params))[0]
        {'b': Array([0., 0.], dtype=float32), 'w': Array([-0.1, -0.1], dtype=float32)}
    """
    transforms = dict(transforms)
    for label, tx in transforms.items():
        if not isinstance(tx, GradientTransformation):
            raise TypeError(
                f"partition(): the transformation for label {label!r} is {tx!r}, expected a "
                "GradientTransformation."
            )

    def masks(tree):
        values = _resolve_labels(param_labels, tree, transforms)
        leaves = _leaves(tree)
        return {
            label: [
                v == label and not is_masked_node(x) for v, x in zip(values, leaves, strict=True)
            ]
            for label in transforms
        }

    def init_fn(params):
        keep = masks(params)
        return PartitionState(
            inner_states={
                label: MaskedState(tx.init(select(params, keep[label])))
                for label, tx in transforms.items()
            }
        )

    def update_fn(updates, state, params=None, **extra_args):
        keep = masks(updates)
        leaves, treedef = jax.tree_util.tree_flatten(updates, is_leaf=is_masked_node)
        out = list(leaves)
        new_states = {}
        for label, tx in transforms.items():
            sub_params = None if params is None else select(params, keep[label])
            new, inner_state = tx.update(
                select(updates, keep[label]),
                state.inner_states[label].inner_state,
                sub_params,
                **extra_args,
            )
            for i, (k, n) in enumerate(zip(keep[label], treedef.flatten_up_to(new), strict=True)):
                if k:
                    out[i] = n
            new_states[label] = MaskedState(inner_state)
        return treedef.unflatten(out), PartitionState(inner_states=new_states)

    def explain(params):
        keep = masks(params)
        return [(f"partition[{label}]", tx, keep[label]) for label, tx in transforms.items()]

    set_explain_hook(update_fn, explain)
    return GradientTransformation(init_fn, update_fn)


multi_transform = partition
