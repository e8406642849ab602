"""Weight decay and explicit regularisation terms added to the updates."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, _mask, _registry, tree as _tree
from gradtx.base import GradientTransformation, Params, ScalarOrSchedule, init_empty_state
from gradtx.numerics import promote, safe_increment, upcast
from gradtx.transforms._common import requires_params

__all__ = [
    "AddDecayedWeightsState",
    "add_decayed_weights",
    "add_l1_regularization",
    "add_l2_regularization",
]

Mask = Any | Callable[[Params], Any]


def _mask_tree(mask: Mask | None, params: Params, fn: str) -> Any:
    """A tree of booleans (Python or traced) with the structure of ``params``."""
    keep = _mask.resolve(mask, params, f"{fn}()", traceable=True)
    leaves, treedef = jax.tree_util.tree_flatten(params, is_leaf=_mask.is_masked_node)
    return treedef.unflatten(
        [p if _mask.is_masked_node(p) else k for p, k in zip(leaves, keep, strict=True)]
    )


class AddDecayedWeightsState(NamedTuple):
    """State of a scheduled :func:`add_decayed_weights`: the step count."""

    count: jax.Array  # int32 scalar


def _add_param_term(
    fn: str,
    arg_name: str,
    strength: ScalarOrSchedule,
    mask: Mask | None,
    term: Callable[[jax.Array], jax.Array],
    low: float = 0.0,
) -> GradientTransformation:
    """``u + strength * term(w)`` on the leaves selected by ``mask``."""
    _checks.check_range(fn, arg_name, strength, low)
    scheduled = callable(strength)

    def init_fn(params):
        del params
        return AddDecayedWeightsState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params(fn, params)
        new_state = (
            AddDecayedWeightsState(count=safe_increment(state.count)) if scheduled else state
        )
        if updates is None:  # as Optax: no updates, nothing to add to
            return None, new_state
        value: Any = _checks.resolve(strength, state.count) if scheduled else strength

        def leaf(u, w, keep):
            u = jnp.asarray(u)
            decay, t = promote(value, term(upcast(jnp.asarray(w))))
            x, decayed = promote(upcast(u), decay * t)
            added = (x + decayed).astype(u.dtype)
            if isinstance(keep, bool):
                return added if keep else u
            return jnp.where(keep, added, u)

        keep = _mask_tree(mask, params, fn)
        updates = _tree.map(leaf, updates, params, keep, names=("updates", "params", "mask"))
        return updates, new_state

    tx = GradientTransformation(init_fn if scheduled else init_empty_state, update_fn)
    return _registry.describe(tx, name=fn, mask=mask)


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: Mask | None = None
) -> GradientTransformation:
    r"""Adds decoupled weight decay: :math:`u \leftarrow u + \lambda w`.

    Placed after an adaptive scaling (as in :func:`gradtx.adamw`) this is decoupled weight decay
    (Loshchilov and Hutter, 2019); placed before it, it is the gradient of
    :math:`\frac{\lambda}{2}\|w\|^2` (see :func:`add_l2_regularization`).

    Args:
        weight_decay: :math:`\lambda`, a number, array, traced value or schedule; usually
            positive, but any real number is accepted, as in Optax (NaN is refused).
        mask: which leaves to decay, in any form :func:`gradtx.masked` accepts: a tree of
            booleans with the params' structure (or a prefix of it, and the booleans may be
            traced), a callable ``params -> tree``, glob patterns on the ``/``-joined key paths
            (``"*/w"``) or a :func:`gradtx.by_path` rule. ``None`` decays every leaf.

    Returns:
        The transformation; its state is empty, or holds the count for a schedule.
        ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.add_decayed_weights(0.1, mask={"w": True, "b": False})
        >>> p = {"w": jnp.array([2.0]), "b": jnp.array([2.0])}
        >>> tx.update({"w": jnp.zeros(1), "b": jnp.zeros(1)}, tx.init(p), p)[0]
        {'b': Array([0.], dtype=float32), 'w': Array([0.2], dtype=float32)}
    """
    # Any real weight decay, as in Optax (a negative one pulls weights away from zero).
    return _add_param_term(
        "add_decayed_weights", "weight_decay", weight_decay, mask, lambda w: w, low=-math.inf
    )


def add_l2_regularization(
    strength: ScalarOrSchedule = 1e-4, mask: Mask | None = None
) -> GradientTransformation:
    r"""Adds the gradient of :math:`\frac{\lambda}{2}\|w\|_2^2` to the updates: :math:`\lambda w`.

    Place it first in a chain (before any adaptive scaling) to regularise the loss itself, as
    ``weight_decay`` does in ``torch.optim.SGD`` and ``torch.optim.Adam``.

    Args:
        strength: :math:`\lambda \ge 0` (number, array, traced value or schedule).
        mask: which leaves to regularise, as in :func:`add_decayed_weights`.

    Returns:
        The transformation; ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.add_l2_regularization(0.5)
        >>> tx.update(jnp.array([1.0]), tx.init(None), jnp.array([4.0]))[0]
        Array([3.], dtype=float32)
    """
    return _add_param_term("add_l2_regularization", "strength", strength, mask, lambda w: w)


def add_l1_regularization(
    strength: ScalarOrSchedule = 1e-4, mask: Mask | None = None
) -> GradientTransformation:
    r"""Adds the (sub)gradient of :math:`\lambda\|w\|_1`: :math:`\lambda\operatorname{sign}(w)`.

    The subgradient 0 is used at :math:`w = 0`; a complex :math:`w` uses :math:`w/|w|`.

    Args:
        strength: :math:`\lambda \ge 0` (number, array, traced value or schedule).
        mask: which leaves to regularise, as in :func:`add_decayed_weights`.

    Returns:
        The transformation; ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.add_l1_regularization(0.5)
        >>> tx.update(jnp.zeros(3), tx.init(None), jnp.array([4.0, 0.0, -1.0]))[0]
        Array([ 0.5,  0. , -0.5], dtype=float32)
    """
    return _add_param_term("add_l1_regularization", "strength", strength, mask, jnp.sign)
