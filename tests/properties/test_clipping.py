"""Property tests for clipping: bounds always hold, and below the threshold nothing changes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import gradtx

# XLA on CPU flushes subnormal floats to zero, so they are left out of the inputs.
ELEMENTS = st.floats(
    -1e4, 1e4, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32
)
THRESHOLDS = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def grad_trees(draw):
    shapes = draw(st.lists(hnp.array_shapes(min_dims=0, max_dims=2, max_side=5), max_size=4))
    return {
        f"g{i}": draw(hnp.arrays(np.float32, s, elements=ELEMENTS)) for i, s in enumerate(shapes)
    }


def apply(tx, g):
    g = jax.tree.map(jnp.asarray, g)
    return tx.update(g, tx.init(g))[0]


def global_norm(t) -> float:
    return float(np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(t))))


@settings(deadline=None, max_examples=60)
@given(grad_trees(), THRESHOLDS)
def test_global_norm_clipping_never_exceeds_max_norm(g, max_norm):
    out = apply(gradtx.clip_by_global_norm(max_norm), g)
    assert global_norm(out) <= max_norm * (1 + 1e-5)
    norm = global_norm(g)
    if norm > max_norm:
        # Clipped: same direction, norm exactly max_norm.
        np.testing.assert_allclose(global_norm(out), max_norm, rtol=1e-5)
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(g), strict=True):
            np.testing.assert_allclose(a, np.asarray(b) * (max_norm / norm), rtol=1e-4, atol=1e-6)


@settings(deadline=None, max_examples=60)
@given(grad_trees())
def test_global_norm_clipping_below_threshold_is_the_identity(g):
    max_norm = global_norm(g) * 1.01 + 1e-3
    out = apply(gradtx.clip_by_global_norm(max_norm), g)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(g), strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit


@settings(deadline=None, max_examples=60)
@given(grad_trees(), THRESHOLDS)
def test_elementwise_clip_bounds_and_identity(g, delta):
    out = apply(gradtx.clip(delta), g)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(g), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert np.all(np.abs(a) <= np.float32(delta))
        inside = np.abs(b) <= np.float32(delta)
        np.testing.assert_array_equal(a[inside], b[inside])
        np.testing.assert_array_equal(np.sign(a[~inside]), np.sign(b[~inside]))


@settings(deadline=None, max_examples=60)
@given(grad_trees(), THRESHOLDS)
def test_block_rms_clipping_bounds_each_leaf(g, threshold):
    out = apply(gradtx.clip_by_block_rms(threshold), g)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(g), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.size == 0:
            continue
        rms_in, rms_out = np.sqrt(np.mean(b**2)), np.sqrt(np.mean(a**2))
        assert rms_out <= threshold * (1 + 1e-5)
        if rms_in <= threshold:
            np.testing.assert_array_equal(a, b)


def test_complex_clip_keeps_the_phase():
    g = jnp.array([3 + 4j, 0.3 - 0.4j, 0j], jnp.complex64)
    out = apply(gradtx.clip(1.0), g)
    np.testing.assert_allclose(out, [0.6 + 0.8j, 0.3 - 0.4j, 0j], rtol=1e-6)


def test_global_norm_clipping_of_zero_and_nonfinite_gradients():
    zero = apply(gradtx.clip_by_global_norm(1.0), {"a": jnp.zeros(3)})
    np.testing.assert_array_equal(zero["a"], np.zeros(3))
    # max_norm = 0 zeroes every non-zero update without producing nan.
    out = apply(gradtx.clip_by_global_norm(0.0), {"a": jnp.array([1.0, 2.0])})
    np.testing.assert_array_equal(out["a"], [0.0, 0.0])
