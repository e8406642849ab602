"""Freezing chosen leaves: zero updates, optionally with no optimizer state for them."""

from __future__ import annotations

from typing import Any

import jax

from gradtx._mask import is_masked_node, resolve
from gradtx.base import GradientTransformation, as_transformation, set_to_zero
from gradtx.wrappers.masking import masked, partition

__all__ = ["freeze", "selective_transform"]


def freeze(mask: Any) -> GradientTransformation:
    """Sets the updates of the selected leaves to zero, so those parameters stay constant.

    This is ``masked(set_to_zero(), mask)``; put it last in a chain. To also keep the
    optimizer's state free of the frozen leaves, use :func:`selective_transform`.

    Args:
        mask: which leaves to freeze, in any form :func:`masked` accepts.

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.freeze({"w": False, "b": True})
        >>> g = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> tx.update(g, tx.init(g))[0]
        {'b': Array([0.], dtype=float32), 'w': Array([1.], dtype=float32)}
    """
    return masked(set_to_zero(), mask)


def selective_transform(
    optimizer: GradientTransformation, *, freeze_mask: Any
) -> GradientTransformation:
    """Runs ``optimizer`` on the leaves ``freeze_mask`` leaves out and freezes the others.

    A :func:`partition` into ``"train"`` (``optimizer``) and ``"freeze"`` (zero updates): the
    optimizer's state holds only the trained leaves.

    Args:
        optimizer: the transformation for the trained leaves.
        freeze_mask: which leaves to freeze, in any form :func:`masked` accepts.

    Returns:
        The transformation, with state :class:`PartitionState`.

    Example:
        >>> import jax.numpy as jnp
        >>> p = {"w": jnp.ones(1), "b": jnp.ones(1)}
        >>> tx = gradtx.selective_transform(gradtx.adam(0.1), freeze_mask="b")
        >>> state = tx.init(p)
        >>> tx.update(p, state)[0]
        {'b': Array([0.], dtype=float32), 'w': Array([-0.1], dtype=float32)}
        >>> state.inner_states["train"].inner_state[0].mu  # no moment for the frozen leaf
        {'b': MaskedNode(), 'w': Array([0.], dtype=float32)}
    """
    optimizer = as_transformation("selective_transform", "optimizer", optimizer)

    def labels(params):
        keep = resolve(freeze_mask, params, "selective_transform()")
        treedef = jax.tree_util.tree_structure(params, is_leaf=is_masked_node)
        return treedef.unflatten(["freeze" if k else "train" for k in keep])

    return partition({"train": optimizer, "freeze": set_to_zero()}, labels)
