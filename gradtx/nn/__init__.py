"""A tiny Flax-free neural-network kit: pure functions over dicts of arrays.

Layers are :class:`Layer` pairs ``(init, apply)`` of pure functions, so they work under
``jax.jit``, ``jax.vmap`` and ``jax.grad`` and their parameters feed any gradtx optimizer;
batch norm is a :class:`StatefulLayer` whose running statistics are state kept apart from the
parameters. Initialisers live in :mod:`gradtx.nn.initializers`, losses in
:mod:`gradtx.losses`.

Example:
    >>> model = gradtx.nn.mlp([2, 32, 2], activation=jnp.tanh)
    >>> params = model.init(jax.random.key(0))
    >>> tx = gradtx.adamw(1e-2, mask=gradtx.nn.decay_mask)
    >>> state = tx.init(params)
    >>> x, y = jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.array([0, 1])
    >>> def loss(p):
    ...     logits = model.apply(p, x)
    ...     return gradtx.losses.softmax_cross_entropy_with_integer_labels(
    ...         logits, y, reduction="mean")
    >>> @jax.jit
    ... def step(params, state):
    ...     updates, state = tx.update(jax.grad(loss)(params), state, params)
    ...     return gradtx.apply_updates(params, updates), state
    >>> for _ in range(50):
    ...     params, state = step(params, state)
    >>> float(gradtx.losses.accuracy(model.apply(params, x), y))
    1.0
"""

from __future__ import annotations

from gradtx.nn import initializers
from gradtx.nn.conv import conv2d
from gradtx.nn.data import Standardizer, minibatch_indices, minibatches, standardize
from gradtx.nn.layers import (
    Layer,
    decay_mask,
    dense,
    dropout,
    is_bias_or_norm,
    mlp,
    residual,
    sequential,
)
from gradtx.nn.norm import BatchNormState, StatefulLayer, batch_norm, layer_norm, rms_norm

__all__ = [
    "BatchNormState",
    "Layer",
    "Standardizer",
    "StatefulLayer",
    "batch_norm",
    "conv2d",
    "decay_mask",
    "dense",
    "dropout",
    "initializers",
    "is_bias_or_norm",
    "layer_norm",
    "minibatch_indices",
    "minibatches",
    "mlp",
    "residual",
    "rms_norm",
    "sequential",
    "standardize",
]
