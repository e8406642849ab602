"""Applying transformations to some leaves only: masks and partitions.

A mask says, for every parameter leaf, whether a transformation applies to it. Every mask in
gradtx (here, in :func:`freeze` and in the ``mask`` of :func:`add_decayed_weights` and of the
optimizers) follows the same rules. It can be

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

from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import jax

from gradtx import _registry, tree as _tree
from gradtx._mask import (
    MaskedNode as MaskedNode,
    PathRule as PathRule,
    Selection,
    by_path as by_path,
    is_masked_node,
    leaf_values,
    resolve,
    spec_values,
)
from gradtx.base import GradientTransformation, OptState, as_transformation
from gradtx.tree._params import ParamsPlaceholder

__all__ = [
    "MaskedNode",
    "MaskedState",
    "MultiTransformState",
    "PartitionState",
    "PathRule",
    "by_path",
    "masked",
    "multi_transform",
    "partition",
]


class MaskedState(NamedTuple):
    """State of :func:`masked`: the inner state, which holds only the selected leaves."""

    inner_state: OptState


def masked(
    inner: GradientTransformation,
    mask: Any,
    *,
    mask_compatible_extra_args: bool = False,
    zero_masked_out: bool = False,
) -> GradientTransformation:
    """Applies ``inner`` to the leaves selected by ``mask`` only.

    The inner transformation sees a tree in which the parts left out are replaced by an empty
    :class:`MaskedNode` (a whole subtree where a prefix mask says ``False``, as in Optax), so
    its state holds nothing for them. Masks nest: ``masked(masked(tx, m1), m2)`` applies
    ``tx`` where both select.

    Args:
        inner: the transformation to apply.
        mask: a tree of booleans with the parameters' structure or a prefix of it, a callable
            ``params -> tree``, glob patterns on the ``/``-joined key paths (a string or a list
            of strings), or a :func:`by_path` rule. Evaluated on the updates in ``update``. A
            callable pytree of booleans (an Equinox module) is a tree, not a callable.
        mask_compatible_extra_args: also mask the extra arguments of ``update`` that have the
            updates' structure (per-parameter tags, say), as Optax does.
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
    inner = as_transformation("masked", "inner", inner)

    def selection(tree):
        keep = resolve(mask, tree, "masked()")
        return Selection(tree, spec_values(mask, tree), keep)

    def init_fn(params):
        if isinstance(params, ParamsPlaceholder):  # tree.map_params looks for the params
            return MaskedState(inner_state=inner.init(params))
        return MaskedState(inner_state=inner.init(selection(params).tree))

    def update_fn(updates, state, params=None, **extra_args):
        chosen = selection(updates)
        if mask_compatible_extra_args:
            structure = jax.tree_util.tree_structure(updates)
            extra_args = {
                k: selection(v).tree if jax.tree_util.tree_structure(v) == structure else v
                for k, v in extra_args.items()
            }
        sub_params = None
        if params is not None:
            sub_params = Selection(params, chosen.values, chosen.keep).tree
        new, inner_state = inner.update(chosen.tree, state.inner_state, sub_params, **extra_args)
        return chosen.restore(new, updates, zero_masked_out), MaskedState(inner_state=inner_state)

    def explain(params):
        keep = resolve(mask, params, "masked()")
        items: list[Any] = [(None, inner, keep)]
        if zero_masked_out:
            items.append(("zeroed (masked out)", None, [not k for k in keep]))
        return items

    return _registry.describe(GradientTransformation(init_fn, update_fn), explain=explain)


class PartitionState(NamedTuple):
    """State of :func:`partition`: each label's :class:`MaskedState`, by label."""

    inner_states: dict[Hashable, MaskedState]


def _resolve_labels(labels: Any, tree: Any, transforms: Mapping[Hashable, Any]) -> list[Any]:
    values = leaf_values(labels, tree, "partition()", "labels")
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=is_masked_node)
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


def _labelled(label: Hashable, tx: Any) -> GradientTransformation:
    try:
        return as_transformation("partition", f"the transformation for label {label!r}", tx)
    except TypeError:
        raise TypeError(
            f"partition(): the transformation for label {label!r} is {tx!r}, expected a "
            "GradientTransformation (an object with init and update)."
        ) from None


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
    transforms = {label: _labelled(label, tx) for label, tx in dict(transforms).items()}

    def masks(tree):
        values = _resolve_labels(param_labels, tree, transforms)
        leaves = jax.tree_util.tree_leaves(tree, is_leaf=is_masked_node)
        return {
            label: [
                v == label and not is_masked_node(x) for v, x in zip(values, leaves, strict=True)
            ]
            for label in transforms
        }

    def selections(tree):
        keep = masks(tree)
        labels = spec_values(param_labels, tree, "labels")
        return {
            label: Selection(
                tree,
                jax.tree_util.tree_map(
                    lambda v, label=label: not is_masked_node(v) and v == label,
                    labels,
                    is_leaf=is_masked_node,
                ),
                keep[label],
            )
            for label in transforms
        }

    def init_fn(params):
        if isinstance(params, ParamsPlaceholder):  # tree.map_params looks for the params
            return PartitionState(
                {label: MaskedState(tx.init(params)) for label, tx in transforms.items()}
            )
        chosen = selections(params)
        return PartitionState(
            inner_states={
                label: MaskedState(tx.init(chosen[label].tree)) for label, tx in transforms.items()
            }
        )

    def update_fn(updates, state, params=None, **extra_args):
        chosen = selections(updates)
        out = updates
        new_states = {}
        for label, tx in transforms.items():
            sub_params = None
            if params is not None:
                sub_params = Selection(params, chosen[label].values, chosen[label].keep).tree
            new, inner_state = tx.update(
                chosen[label].tree, state.inner_states[label].inner_state, sub_params, **extra_args
            )
            out = chosen[label].restore(new, out)
            new_states[label] = MaskedState(inner_state)
        return out, PartitionState(inner_states=new_states)

    def explain(params):
        keep = masks(params)
        return [(f"partition[{label}]", tx, keep[label]) for label, tx in transforms.items()]

    return _registry.describe(GradientTransformation(init_fn, update_fn), explain=explain)


multi_transform = partition

MultiTransformState = PartitionState
"""Optax's older name for :class:`PartitionState`, the state of :func:`multi_transform`."""
