"""Annealed Gaussian gradient noise."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, GradientTransformation
from gradtx.numerics import promote, safe_increment, upcast

__all__ = ["AddNoiseState", "add_noise"]


class AddNoiseState(NamedTuple):
    """State of :func:`add_noise`: the step count and the random key."""

    count: jax.Array  # int32 scalar
    rng_key: jax.Array


def _as_key(key: int | ArrayLike) -> jax.Array:
    if isinstance(key, int) and not isinstance(key, bool):
        return jax.random.key(key)
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
        if key.shape == (2,) and key.dtype == jnp.uint32:  # a raw jax.random.PRNGKey
            return jax.random.wrap_key_data(key)
    raise TypeError(
        f"add_noise(): key must be an int seed or a JAX random key, got {key!r}; "
        "create one with jax.random.key(seed)."
    )


def add_noise(eta: ArrayLike, gamma: ArrayLike, key: int | ArrayLike) -> GradientTransformation:
    r"""Adds annealed Gaussian noise to the updates (Neelakantan et al., 2015).

    .. math::
        u_k \leftarrow u_k + \sigma_k\, \xi_k, \qquad \sigma_k^2 = \frac{\eta}{k^\gamma},
        \qquad \xi_k \sim \mathcal N(0, I)

    for the k-th update (k = 1, 2, ...). The noise is drawn from the key held in the state, so
    a run is reproducible and the stream continues across checkpoints; the key sequence is the
    one Optax uses, so both libraries draw the same noise from the same key.

    Args:
        eta: base variance :math:`\eta \ge 0`.
        gamma: annealing exponent :math:`\gamma \ge 0`.
        key: an int seed or a ``jax.random.key``.

    Returns:
        The transformation, with state :class:`AddNoiseState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.add_noise(0.0, 0.55, key=0)  # no noise when eta = 0
        >>> tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))[0]
        Array([1.], dtype=float32)
    """
    _checks.non_negative("add_noise", eta=eta, gamma=gamma)
    key = _as_key(key)

    def init_fn(params):
        del params
        return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=key)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)
        e, c, g = promote(eta, count.astype(jnp.float32), gamma)
        std = jnp.sqrt(e / c**g)
        rng_key, sample_key = jax.random.split(state.rng_key)
        leaves, treedef = jax.tree_util.tree_flatten(updates)
        keys = jax.random.split(sample_key, len(leaves))

        def leaf(u, k):
            u = jnp.asarray(u)
            noise = jax.random.normal(k, u.shape, upcast(u).dtype)
            uc, step = promote(upcast(u), jnp.multiply(*promote(std, noise)))
            return (uc + step).astype(u.dtype)

        new_leaves = [leaf(u, k) for u, k in zip(leaves, keys, strict=True)]
        return treedef.unflatten(new_leaves), AddNoiseState(count=count, rng_key=rng_key)

    return GradientTransformation(init_fn, update_fn)
