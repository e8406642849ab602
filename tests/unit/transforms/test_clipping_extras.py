"""Optax's clipping helpers that are not transformations (unit-wise norms, per-example clipping,
scale_gradient) against Optax's own functions, plus the constraints' edge cases: NaNs zeroed
and recorded, projected descent staying non-negative, and the EmptyState aliases."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx


def standard(fn, *args, **kwargs):
    """Calls Optax under the standard promotion rules (the suite runs under strict ones)."""
    with jax.numpy_dtype_promotion("standard"):
        return fn(*args, **kwargs)


def assert_trees_close(actual, expected, rtol=1e-6, atol=1e-7):
    a_leaves, a_def = jax.tree.flatten(actual)
    e_leaves, e_def = jax.tree.flatten(expected)
    assert a_def == e_def
    for a, e in zip(a_leaves, e_leaves, strict=True):
        assert jnp.asarray(a).dtype == jnp.asarray(e).dtype, (a, e)
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


RNG = np.random.RandomState(0)
SHAPES = [(), (5,), (1, 5), (4, 3), (2, 3, 4), (3, 3, 2, 4), (2, 2, 2, 3, 4)]


# --- unitwise_norm / unitwise_clip ------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unitwise_norm_matches_optax_for_every_inferred_rank(shape):
    x = jnp.asarray(RNG.standard_normal(shape), jnp.float32)
    ours = gradtx.unitwise_norm(x)
    assert ours.shape == x.shape
    assert_trees_close(ours, standard(optax.transforms.unitwise_norm, x))


@pytest.mark.parametrize("axis", [0, 1, (0, 2), (1, 2, 3)], ids=str)
def test_unitwise_norm_with_axis_matches_optax(axis):
    x = jnp.asarray(RNG.standard_normal((3, 4, 2, 5)), jnp.float32)
    assert_trees_close(
        gradtx.unitwise_norm(x, axis=axis), standard(optax.transforms.unitwise_norm, x, axis)
    )


def test_unitwise_norm_of_rank_6_needs_an_axis():
    x = jnp.ones((2,) * 6)
    with pytest.raises(ValueError, match="axis"):
        gradtx.unitwise_norm(x)
    np.testing.assert_allclose(gradtx.unitwise_norm(x, axis=(0, 1)), np.full(x.shape, 2.0))


def test_unitwise_norm_of_complex_and_bfloat16_inputs():
    z = jnp.asarray(RNG.standard_normal((4, 3)) + 1j * RNG.standard_normal((4, 3)), jnp.complex64)
    ours = gradtx.unitwise_norm(z)
    assert ours.dtype == jnp.float32
    np.testing.assert_allclose(ours, np.broadcast_to(np.linalg.norm(z, axis=0), z.shape), 1e-6)
    b = jnp.asarray(RNG.standard_normal((4, 3)), jnp.bfloat16)
    ours = gradtx.unitwise_norm(b)
    assert ours.dtype == jnp.bfloat16
    exact = np.linalg.norm(np.asarray(b, np.float64), axis=0)
    np.testing.assert_allclose(np.asarray(ours, np.float64)[0], exact, rtol=2**-8)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32], ids=lambda d: jnp.dtype(d).name)
def test_unitwise_clip_matches_optax(dtype):
    grad = jnp.asarray(RNG.standard_normal((4, 3)) * 5, dtype)
    g_norm = jnp.asarray(gradtx.unitwise_norm(grad), jnp.float32)
    # One unit below its bound, one above, one exactly at it (which clips, a no-op).
    max_norm = g_norm * jnp.array([1.5, 0.5, 1.0], jnp.float32)
    ours = gradtx.unitwise_clip(g_norm, max_norm, grad)
    theirs = standard(optax.transforms.unitwise_clip, g_norm, max_norm, grad)
    assert_trees_close(ours, theirs)
    assert bool(jnp.any(g_norm < max_norm)) and bool(jnp.any(g_norm >= max_norm))


def test_unitwise_clip_of_a_zero_unit_and_mismatched_shapes():
    zero = jnp.zeros(3)
    np.testing.assert_array_equal(gradtx.unitwise_clip(zero, jnp.zeros(3), zero), zero)
    with pytest.raises(ValueError, match="shape"):
        gradtx.unitwise_clip(jnp.ones(2), jnp.ones(3), jnp.ones(3))


def test_adaptive_grad_clip_bounds_each_unit_by_its_parameters():
    w = jnp.asarray(RNG.standard_normal((4, 3)), jnp.float32)
    g = jnp.asarray(RNG.standard_normal((4, 3)) * 3, jnp.float32)
    tx = gradtx.adaptive_grad_clip(0.2)
    u, state = tx.update(g, tx.init(w), w)
    assert isinstance(state, gradtx.AdaptiveGradClipState)
    ratio = np.linalg.norm(u, axis=0) / np.linalg.norm(w, axis=0)
    assert np.all(ratio <= 0.2 * (1 + 1e-6))
    ref = standard(optax.adaptive_grad_clip(0.2).update, g, optax.EmptyState(), w)[0]
    assert_trees_close(u, ref)
    with pytest.raises(ValueError, match="params"):
        tx.update(g, tx.init(w))


# --- per-example clipping ---------------------------------------------------------------------


def per_example_grads():
    grads = {
        "w": RNG.standard_normal((6, 3, 2)) * np.exp(RNG.uniform(-2, 2, (6, 1, 1))),
        "b": RNG.standard_normal((6, 4)),
    }
    grads = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), grads)
    grads["w"] = grads["w"].at[0].set(0.0)  # a zero gradient: the factor stays 1
    grads["b"] = grads["b"].at[0].set(0.0)
    return grads


@pytest.mark.parametrize("clip", [0.0, 0.5, 2.0, np.inf])
def test_per_example_global_norm_clip_matches_optax(clip):
    grads = per_example_grads()
    ours = gradtx.per_example_global_norm_clip(grads, clip)
    theirs = standard(optax.per_example_global_norm_clip, grads, clip)
    assert_trees_close(ours, theirs, rtol=1e-5, atol=1e-6)
    norms = np.sqrt(sum(np.sum(np.asarray(g) ** 2, axis=tuple(range(1, g.ndim))) for g in
                        jax.tree.leaves(grads)))  # fmt: skip
    assert int(ours[1]) == int(np.sum(norms > clip))


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("clip", [0.0, 1.0, np.inf])
def test_per_example_layer_norm_clip_matches_optax(uniform, clip):
    grads = per_example_grads()
    ours = gradtx.per_example_layer_norm_clip(grads, clip, uniform)
    theirs = standard(optax.per_example_layer_norm_clip, grads, clip, uniform)
    assert jax.tree.structure(ours[1]) == jax.tree.structure(grads)
    assert_trees_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["per_example_global_norm_clip", "per_example_layer_norm_clip"])
def test_per_example_clipping_needs_a_common_batch_axis(fn):
    with pytest.raises(ValueError, match="batch"):
        getattr(gradtx, fn)({"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}, 1.0)
    with pytest.raises(ValueError, match="batch"):
        getattr(gradtx, fn)([jnp.ones(())], 1.0)


# --- scale_gradient ---------------------------------------------------------------------------


def loss(scale_fn, x, s):
    y = scale_fn({"a": x, "b": 2.0 * x}, s)
    return jnp.sum(jnp.sin(y["a"]) * y["b"])


@pytest.mark.parametrize("s", [0.0, 1.0, -0.5, 3.0, np.float32(1.0), np.float32(0.25)], ids=str)
def test_scale_gradient_matches_optax(s):
    x = jnp.asarray(RNG.standard_normal(5), jnp.float32)
    value = loss(gradtx.scale_gradient, x, s)
    np.testing.assert_allclose(value, standard(loss, optax.scale_gradient, x, s), rtol=1e-6)
    ours = jax.grad(loss, argnums=1)(gradtx.scale_gradient, x, s)
    theirs = standard(jax.grad(loss, argnums=1), optax.scale_gradient, x, s)
    assert_trees_close(ours, theirs)
    np.testing.assert_allclose(ours, float(s) * jax.grad(lambda v: loss(lambda t, _: t, v, 0))(x),
                               rtol=1e-6)  # fmt: skip


def test_scale_gradient_takes_a_traced_scale():
    grad = jax.jit(jax.grad(lambda x, s: gradtx.scale_gradient(x, s) ** 2))
    np.testing.assert_allclose(grad(3.0, jnp.float32(0.5)), 3.0)
    np.testing.assert_allclose(grad(3.0, jnp.float32(0.0)), 0.0)
    # A zero Python scale stops the gradient: a nan cotangent does not leak through.
    nan_grad = jax.grad(lambda x: jnp.sqrt(gradtx.scale_gradient(x, 0.0) - 1.0))(0.0)
    assert float(nan_grad) == 0.0


# --- constraints ------------------------------------------------------------------------------


def test_zero_nans_zeroes_and_records_per_leaf_like_optax():
    g = {
        "a": jnp.array([1.0, jnp.nan, 3.0]),
        "b": jnp.array([[2.0, 0.5]]),
        "c": jnp.array([1.0 + 1j, complex(0.0, np.nan)], jnp.complex64),
    }
    tx = gradtx.zero_nans()
    state = tx.init(g)
    assert isinstance(state, gradtx.ZeroNansState)
    assert not any(bool(v) for v in jax.tree.leaves(state.found_nan))
    u, state = tx.update(g, state)
    ref_tx = optax.zero_nans()
    ref_u, ref_state = standard(ref_tx.update, g, ref_tx.init(g))
    assert_trees_close(u, ref_u)
    assert jax.tree.map(bool, state.found_nan) == {"a": True, "b": False, "c": True}
    assert jax.tree.map(bool, state.found_nan) == jax.tree.map(bool, ref_state.found_nan)
    # The next clean update clears the record.
    _, state = tx.update(u, state)
    assert not any(bool(v) for v in jax.tree.leaves(state.found_nan))


def test_keep_params_nonnegative_projects_descent_onto_the_orthant():
    def parabola(x):
        return (x[0] - 1.0) ** 2 + (x[1] + 2.0) ** 2

    tx = gradtx.chain(gradtx.sgd(0.1), gradtx.keep_params_nonnegative())
    x = jnp.array([3.0, 3.0])
    state = tx.init(x)
    for _ in range(300):
        u, state = tx.update(jax.grad(parabola)(x), state, x)
        x = gradtx.apply_updates(x, u)
        assert bool(jnp.all(x >= 0.0))
    np.testing.assert_allclose(x, [1.0, 0.0], atol=1e-5)
    # A negative parameter is moved to 0.
    neg = jnp.array([-1.0, 2.0])
    u, _ = gradtx.keep_params_nonnegative().update(jnp.zeros(2), gradtx.EmptyState(), neg)
    np.testing.assert_array_equal(gradtx.apply_updates(neg, u), [0.0, 2.0])


# --- names ------------------------------------------------------------------------------------

ALIASES = ["ClipState", "ClipByGlobalNormState", "AdaptiveGradClipState", "ScaleState",
           "ScaleByTrustRatioState", "NonNegativeParamsState"]  # fmt: skip


@pytest.mark.parametrize("name", ALIASES)
def test_state_aliases_are_empty_state_as_in_optax(name):
    assert getattr(optax, name) is optax.EmptyState
    assert getattr(gradtx, name) is gradtx.EmptyState
    tx = {"ClipState": gradtx.clip(1.0), "ClipByGlobalNormState": gradtx.clip_by_global_norm(1.0),
          "AdaptiveGradClipState": gradtx.adaptive_grad_clip(0.1),
          "ScaleState": gradtx.scale(0.5), "ScaleByTrustRatioState": gradtx.scale_by_trust_ratio(),
          "NonNegativeParamsState": gradtx.keep_params_nonnegative()}[name]  # fmt: skip
    assert isinstance(tx.init(jnp.zeros(2)), getattr(gradtx, name))


NAMES = ["adaptive_grad_clip", "unitwise_norm", "unitwise_clip", "per_example_global_norm_clip",
         "per_example_layer_norm_clip", "centralize", "normalize_by_update_norm",
         "scale_gradient", "zero_nans", "ZeroNansState", *ALIASES]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_every_optax_namespace_that_has_the_name_has_it_in_gradtx(name):
    for namespace in ("", "transforms"):
        theirs = optax if not namespace else getattr(optax, namespace)
        ours = gradtx if not namespace else getattr(gradtx, namespace)
        if hasattr(theirs, name):
            assert hasattr(ours, name), f"gradtx.{namespace}.{name}".replace("..", ".")
    assert hasattr(gradtx, name)
