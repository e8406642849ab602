"""Freezing chosen leaves and keeping parameters non-negative."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import tree as _tree
from gradtx.base import EmptyState, GradientTransformation, set_to_zero
from gradtx.transforms._common import requires_params
from gradtx.wrappers.masking import is_masked_node, masked, partition, resolve_mask

__all__ = ["freeze", "keep_params_nonnegative", "selective_transform"]


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

    def labels(params):
        keep = resolve_mask(freeze_mask, params, "selective_transform()")
        treedef = jax.tree_util.tree_structure(params, is_leaf=is_masked_node)
        return treedef.unflatten(["freeze" if k else "train" for k in keep])

    return partition({"train": optimizer, "freeze": set_to_zero()}, labels)


def keep_params_nonnegative() -> GradientTransformation:
    r"""Clips updates so that real parameters stay non-negative: :math:`w + u \ge 0`.

    Where :math:`w + u < 0` the update becomes :math:`-w`, which lands the parameter on 0
    (parameters that start negative are moved to 0). Put it last in a chain.

    Returns:
        A stateless transformation; ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.keep_params_nonnegative()
        >>> p = jnp.array([1.0, 0.5])
        >>> tx.update(jnp.array([-0.5, -2.0]), tx.init(p), p)[0]
        Array([-0.5, -0.5], dtype=float32)
    """

    def init_fn(params):
        del params
        return EmptyState()

    def leaf(u, w):
        u, w = jnp.asarray(u), jnp.asarray(w)
        new_w = jnp.asarray(w + u).astype(w.dtype)  # rounded as apply_updates rounds it
        return jnp.where(new_w < 0, -w, u).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("keep_params_nonnegative", params)
        return _tree.map(leaf, updates, params, names=("updates", "params")), state

    return GradientTransformation(init_fn, update_fn)
