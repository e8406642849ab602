"""Constraints on the parameters, enforced through the updates."""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import tree as _tree
from gradtx.base import GradientTransformation, init_empty_state
from gradtx.transforms._common import requires_params

__all__ = ["keep_params_nonnegative"]


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

    def leaf(u, w):
        u, w = jnp.asarray(u), jnp.asarray(w)
        new_w = jnp.asarray(w + u).astype(w.dtype)  # rounded as apply_updates rounds it
        return jnp.where(new_w < 0, -w, u).astype(u.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("keep_params_nonnegative", params)
        return _tree.map(leaf, updates, params, names=("updates", "params")), state

    return GradientTransformation(init_empty_state, update_fn)
