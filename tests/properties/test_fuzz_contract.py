"""Fuzzing the contract: random chains of transforms over random trees of random dtypes.

For each example hypothesis draws a chain of one to three transformations (core transforms
and wrappers) and a tree of one to four leaves of random shapes and dtypes (float32,
bfloat16, float16, complex64). The transform contract must hold: jit and no-jit agree, the
state keeps its structure and dtypes across steps, updates come back in the gradients'
dtypes, and finite inputs give finite outputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from hypothesis import given, settings, strategies as st

import gradtx
from tests.helpers import dtype_tree, numeric_leaves


def _ndim_mask(params):
    return jax.tree.map(lambda x: jnp.ndim(x) > 0, params)


POOL = {
    "scale": lambda: gradtx.scale(-0.5),
    "scale_by_schedule": lambda: gradtx.scale_by_schedule(lambda k: 1.0 / (1.0 + k)),
    "scale_by_sign": gradtx.scale_by_sign,
    "scale_by_trust_ratio": lambda: gradtx.scale_by_trust_ratio(min_norm=1e-3),
    "clip": lambda: gradtx.clip(0.5),
    "clip_by_global_norm": lambda: gradtx.clip_by_global_norm(1.0),
    "clip_by_block_rms": lambda: gradtx.clip_by_block_rms(0.5),
    "trace": lambda: gradtx.trace(0.9, nesterov=True),
    "ema": lambda: gradtx.ema(0.9),
    "scale_by_rss": gradtx.scale_by_rss,
    "scale_by_rms": lambda: gradtx.scale_by_rms(centered=True),
    "scale_by_adam": lambda: gradtx.scale_by_adam(nu_dtype=jnp.float32),
    "scale_by_amsgrad": gradtx.scale_by_amsgrad,
    "scale_by_adamax": gradtx.scale_by_adamax,
    "scale_by_belief": gradtx.scale_by_belief,
    "scale_by_lion": lambda: gradtx.scale_by_lion(mu_dtype=jnp.float32),
    "add_decayed_weights": lambda: gradtx.add_decayed_weights(1e-2),
    "add_l1_regularization": lambda: gradtx.add_l1_regularization(1e-2),
    "add_noise": lambda: gradtx.add_noise(0.01, 0.55, key=0),
    "adamw": lambda: gradtx.adamw(gradtx.cosine_decay_schedule(0.1, 10)),
    "sgd": lambda: gradtx.sgd(0.1, momentum=0.9),
    "inject_hyperparams": lambda: gradtx.inject_hyperparams(gradtx.adam)(0.1),
    "apply_if_finite": lambda: gradtx.apply_if_finite(gradtx.lion(0.01), 2),
    "MultiSteps": lambda: gradtx.MultiSteps(gradtx.adam(0.1), every_k_schedule=2),
    "masked": lambda: gradtx.masked(gradtx.scale_by_adam(), _ndim_mask),
    "ema_params": lambda: gradtx.ema_params(0.9),
    "master_weights": lambda: gradtx.master_weights(gradtx.adamw(0.1)),
}

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64]
SHAPES = [(), (3,), (2, 3)]

leaf_specs = st.tuples(st.sampled_from(SHAPES), st.sampled_from(DTYPES))
trees = st.tuples(
    st.lists(leaf_specs, min_size=1, max_size=4),
    st.sampled_from(["dict", "nested", "list"]),
    st.integers(0, 2**16),
)
chains = st.lists(st.sampled_from(sorted(POOL)), min_size=1, max_size=3)


def _leaf(rng, shape, dtype, scale):
    x = rng.normal(size=shape) * scale
    if jnp.issubdtype(dtype, jnp.complexfloating):
        x = x + 1j * rng.normal(size=shape) * scale
    return jnp.asarray(x, dtype)


def _tree(leaves, layout):
    if layout == "dict":
        return {f"p{i}": x for i, x in enumerate(leaves)}
    if layout == "nested":
        return {"layer": {"w": leaves[0], "rest": list(leaves[1:])}}
    return list(leaves)


def _as_complex(x):
    return np.asarray(
        np.asarray(x).astype(np.complex128) if np.iscomplexobj(x) else np.asarray(x, np.float64)
    )


def _assert_close(a_tree, b_tree):
    for a, b, ref in zip(
        numeric_leaves(a_tree), numeric_leaves(b_tree), jax.tree.leaves(a_tree), strict=True
    ):
        dtype = jnp.result_type(ref)
        if not jnp.issubdtype(dtype, jnp.inexact):
            np.testing.assert_array_equal(a, b)  # counts, flags, keys
            continue
        eps = float(ml_dtypes.finfo(dtype).eps)
        a, b = _as_complex(a), _as_complex(b)
        assert np.all(np.abs(a - b) <= max(2e-6, 2 * eps) * np.abs(b) + 1e-6), (a, b)


@settings(max_examples=12)
@given(chain=chains, tree=trees)
def test_random_chains_keep_the_contract(chain, tree):
    specs, layout, seed = tree
    rng = np.random.default_rng(seed)
    params = _tree([_leaf(rng, s, d, 1.0) for s, d in specs], layout)
    grads = [
        jax.tree.map(lambda p: _leaf(rng, jnp.shape(p), p.dtype, 3.0), params) for _ in range(2)
    ]
    tx = gradtx.chain(*(POOL[name]() for name in chain))

    state0 = tx.init(params)
    jit_state0 = jax.jit(tx.init)(params)
    assert dtype_tree(jit_state0) == dtype_tree(state0)
    _assert_close(jit_state0, state0)
    assert dtype_tree(jax.eval_shape(tx.init, params)) == dtype_tree(state0)

    update = jax.jit(tx.update)
    state, jit_state, p, jit_p = state0, jit_state0, params, params
    for g in grads:
        u, state = tx.update(g, state, p)
        ju, jit_state = update(g, jit_state, jit_p)
        # Updates in the gradients' dtypes, state structure and dtypes stable.
        assert dtype_tree(u) == dtype_tree(ju) == dtype_tree(g)
        assert dtype_tree(state) == dtype_tree(jit_state) == dtype_tree(state0)
        # jit = no jit.
        _assert_close(ju, u)
        _assert_close(jit_state, state)
        # Finite inputs, finite outputs.
        for leaf in jax.tree.leaves(u) + jax.tree.leaves(state):
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
                assert np.all(np.isfinite(_as_complex(leaf))), chain
        p, jit_p = gradtx.apply_updates(p, u), gradtx.apply_updates(jit_p, ju)
        assert dtype_tree(p) == dtype_tree(params)
