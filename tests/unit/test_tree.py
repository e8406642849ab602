"""gradtx.tree against NumPy on random trees (hypothesis) and its error messages."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import gradtx
from gradtx import tree

# XLA on CPU flushes subnormal floats to zero, so they are left out of the inputs.
FLOATS = st.floats(
    -1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32
)


@st.composite
def trees(draw, n_trees=1, complex_=False):
    """``n_trees`` dicts of float32 (or complex64) arrays sharing one structure."""
    shapes = draw(st.lists(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), max_size=4))
    out = []
    for _ in range(n_trees):
        leaves = {}
        for i, shape in enumerate(shapes):
            x = draw(hnp.arrays(np.float32, shape, elements=FLOATS))
            if complex_:
                x = x + 1j * draw(hnp.arrays(np.float32, shape, elements=FLOATS))
            leaves[f"leaf{i}"] = x
        out.append({"group": leaves, "extra": [np.float32(draw(FLOATS))]})
    return out


def flat(t) -> np.ndarray:
    leaves = [np.ravel(np.asarray(x, np.complex128)) for x in jax.tree.leaves(t)]
    return np.concatenate(leaves) if leaves else np.zeros(0)


@settings(deadline=None, max_examples=40)
@given(trees(n_trees=3), FLOATS)
def test_arithmetic_matches_numpy(ts, s):
    a, b, c = ts
    np.testing.assert_allclose(
        flat(tree.add(a, b, c)), flat(a) + flat(b) + flat(c), rtol=1e-6, atol=1e-3
    )
    np.testing.assert_allclose(flat(tree.sub(a, b)), flat(a) - flat(b), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(flat(tree.scale(s, a)), s * flat(a), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(
        flat(tree.add_scale(a, s, b)), flat(a) + s * flat(b), rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(tree.sum(a), flat(a).real.sum(), rtol=1e-5, atol=1e-2)


@settings(deadline=None, max_examples=40)
@given(trees(n_trees=2, complex_=True))
def test_vdot_and_norms_match_numpy_for_complex_trees(ts):
    a, b = ts
    fa, fb = flat(a), flat(b)
    np.testing.assert_allclose(tree.vdot(a, b), np.vdot(fa, fb), rtol=1e-4, atol=1e-1)
    scale = max(1.0, np.abs(fa).max(initial=0.0))
    np.testing.assert_allclose(tree.norm(a), np.linalg.norm(fa), rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(
        tree.norm(a, squared=True), np.linalg.norm(fa) ** 2, rtol=1e-5, atol=1e-6 * scale**2
    )
    np.testing.assert_allclose(tree.norm(a, ord=1), np.abs(fa).sum(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(tree.norm(a, ord="inf"), np.abs(fa).max(initial=0.0), rtol=1e-6)
    assert tree.norm(a).dtype == jnp.float32


def test_norm_of_low_precision_tree_is_accumulated_in_float32():
    # 10,000 ones in bfloat16: a bfloat16 accumulator would stall at 256.
    x = {"w": jnp.ones(10_000, jnp.bfloat16)}
    assert float(tree.norm(x, squared=True)) == 10_000.0
    assert float(tree.sum(x)) == 10_000.0


def test_norm_of_empty_tree_is_zero():
    assert float(tree.norm({})) == 0.0
    assert float(tree.norm({}, ord="inf")) == 0.0
    assert float(tree.sum([])) == 0.0


def test_norm_rejects_unknown_orders():
    with pytest.raises(ValueError, match="ord must be 1, 2 or 'inf', got 3"):
        tree.norm({"a": jnp.ones(2)}, ord=3)
    with pytest.raises(ValueError, match="squared=True needs ord=2"):
        tree.norm({"a": jnp.ones(2)}, ord=1, squared=True)


def test_like_constructors_and_cast():
    t = {"a": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.arange(3)}
    z = tree.zeros_like(t)
    assert z["a"].dtype == jnp.bfloat16 and z["b"].dtype == jnp.int32
    assert not np.any(np.asarray(z["a"], np.float32))
    o = tree.ones_like(t, jnp.float32)
    assert o["a"].dtype == o["b"].dtype == jnp.float32
    np.testing.assert_array_equal(o["b"], np.ones(3))
    f = tree.full_like(t, 7.0, jnp.float32)
    np.testing.assert_array_equal(f["a"], np.full((2, 3), 7.0))
    c = tree.cast(t, jnp.float16)
    assert c["a"].dtype == c["b"].dtype == jnp.float16
    assert tree.cast(t, None) is t
    # Shape-only leaves work, so init can run under jax.eval_shape.
    shapes = jax.eval_shape(tree.zeros_like, t)
    assert shapes["a"].shape == (2, 3) and shapes["a"].dtype == jnp.bfloat16


def test_where_with_scalar_and_tree_conditions():
    a = {"x": jnp.array([1.0, 2.0]), "y": jnp.array(3.0)}
    b = {"x": jnp.array([-1.0, -2.0]), "y": jnp.array(-3.0)}
    np.testing.assert_array_equal(tree.where(jnp.array(True), a, b)["x"], [1.0, 2.0])
    np.testing.assert_array_equal(tree.where(False, a, b)["y"], -3.0)
    cond = {"x": jnp.array([True, False]), "y": jnp.array(False)}
    out = tree.where(cond, a, b)
    np.testing.assert_array_equal(out["x"], [1.0, -2.0])
    np.testing.assert_array_equal(out["y"], -3.0)


class Pair(NamedTuple):
    first: jax.Array
    second: list


def test_map_with_path_gives_slash_joined_paths():
    t = {"layer": Pair(jnp.zeros(1), [jnp.zeros(1), jnp.zeros(1)]), "b": jnp.zeros(1)}
    paths = tree.map_with_path(lambda p, x: p, t)
    assert jax.tree.leaves(paths) == ["b", "layer/first", "layer/second/0", "layer/second/1"]
    doubled = tree.map_with_path(lambda p, x, y: x + y, t, t)
    assert jax.tree.structure(doubled) == jax.tree.structure(t)


def test_structure_mismatch_names_first_differing_path_and_both_structures():
    a = {"dense": {"b": jnp.zeros(1), "w": jnp.zeros(1)}}
    b = {"dense": {"b": jnp.zeros(1), "v": jnp.zeros(1)}}
    with pytest.raises(ValueError, match="Tree structures differ") as e:
        tree.add(a, b)
    msg = str(e.value)
    assert "['dense']['w']" in msg and "['dense']['v']" in msg
    assert str(jax.tree.structure(a)) in msg and str(jax.tree.structure(b)) in msg
    with pytest.raises(ValueError, match=r"first extra leaf is \['c'\]"):
        tree.sub({"a": 1.0}, {"a": 1.0, "c": 2.0})
    with pytest.raises(ValueError, match="container types differ"):
        tree.sub((1.0, 2.0), [1.0, 2.0])


def test_non_array_leaves_get_a_message_saying_how_to_filter_them():
    params = {"w": jnp.zeros(2), "act": jax.nn.relu}
    with pytest.raises(TypeError) as e:
        tree.zeros_like(params)
    msg = str(e.value)
    assert "['act']" in msg and "is a function" in msg and "equinox.partition" in msg
    with pytest.raises(TypeError, match=r"\['name'\] is a str"):
        tree.check_array_leaves({"name": "mlp"}, "init(params)")
    # None is an empty subtree, Python scalars are arrays.
    tree.check_array_leaves({"a": None, "b": 1.0, "c": np.ones(2)}, "init(params)")


def test_the_namespace_lists_its_names_and_spells_get_and_set_like_optax():
    assert tree.__all__ == sorted(tree.__all__)
    for name in tree.__all__:
        assert callable(getattr(tree, name)), name
    assert tree.get is gradtx.tree_get and tree.set is gradtx.tree_set
    nested = {"encoder": {"w": jnp.ones(2), "scale": jnp.array(2.0)}, "head": [jnp.zeros(1)]}
    assert float(tree.get(nested, "scale")) == 2.0
    assert tree.get(nested, "encoder/w").shape == (2,)
    assert tree.get(nested, "head/0").shape == (1,)
    new = tree.set(nested, {"encoder/w": jnp.zeros(2)}, scale=lambda s: s * 3)
    np.testing.assert_array_equal(new["encoder"]["w"], [0.0, 0.0])
    assert float(new["encoder"]["scale"]) == 6.0
    assert float(nested["encoder"]["scale"]) == 2.0  # not modified


# --- moments (Optax's optax.tree.update_moment and friends) ----------------------------------


def _moment_inputs(dtype=np.float32):
    rng = np.random.RandomState(3)
    g = {"a": rng.standard_normal((3, 2)), "b": rng.standard_normal(4)}
    t = {"a": rng.uniform(0.1, 2.0, (3, 2)), "b": rng.uniform(0.1, 2.0, 4)}
    if np.issubdtype(dtype, np.complexfloating):
        g = {k: v + 1j * rng.standard_normal(v.shape) for k, v in g.items()}
    return (
        jax.tree.map(lambda x: jnp.asarray(x, dtype), g),
        jax.tree.map(lambda x: jnp.asarray(x, np.float32), t),
    )


def _np(x):
    return np.asarray(x, np.complex128) if np.iscomplexobj(x) else np.asarray(x, np.float64)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_update_moment_is_the_moving_average_of_a_power(order):
    g, t = _moment_inputs()
    out = tree.update_moment(g, t, 0.8, order)
    for k in g:
        want = 0.2 * _np(g[k]) ** order + 0.8 * _np(t[k])
        np.testing.assert_allclose(np.asarray(out[k]), want, rtol=2e-6)
        assert out[k].dtype == jnp.float32


@pytest.mark.parametrize("order", [1, 2, 3])
def test_update_moment_per_elem_norm_uses_the_modulus(order):
    g, t = _moment_inputs(np.complex64)
    out = tree.update_moment_per_elem_norm(g, t, 0.8, order)
    for k in g:
        want = 0.2 * np.abs(_np(g[k])) ** order + 0.8 * _np(t[k])
        np.testing.assert_allclose(np.asarray(out[k]), want, rtol=2e-6)
        assert out[k].dtype == jnp.float32  # real for complex updates
    g, t = _moment_inputs()
    real = tree.update_moment_per_elem_norm(g, t, 0.8, order)
    for k in g:
        np.testing.assert_allclose(
            np.asarray(real[k]), 0.2 * _np(g[k]) ** order + 0.8 * _np(t[k]), rtol=2e-6
        )


def test_update_infinity_moment_is_adamax_norm():
    g, t = _moment_inputs()
    out = tree.update_infinity_moment(g, t, 0.5, 0.1)
    for k in g:
        want = np.maximum(np.abs(_np(g[k])) + 0.1, 0.5 * _np(t[k]))
        np.testing.assert_allclose(np.asarray(out[k]), want, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_bias_correction_divides_by_one_minus_decay_power(dtype):
    _, t = _moment_inputs()
    t = jax.tree.map(lambda x: x.astype(dtype), t)
    for count in (1, 7, jnp.asarray(40, jnp.int32)):
        out = tree.bias_correction(t, 0.999, count)
        for k in t:
            want = _np(t[k].astype(jnp.float32)) / (1 - np.float32(0.999) ** int(count))
            assert out[k].dtype == dtype
            rtol = 1e-2 if dtype == jnp.bfloat16 else 1e-5
            np.testing.assert_allclose(np.asarray(out[k], np.float64), want, rtol=rtol)


def test_moment_helpers_keep_none_leaves():
    g = {"a": jnp.ones(2), "b": None}
    t = {"a": jnp.zeros(2), "b": jnp.zeros(2)}
    for f, arg in [(tree.update_moment, 2), (tree.update_moment_per_elem_norm, 2),
                   (tree.update_infinity_moment, 0.0)]:  # fmt: skip
        out = f(g, t, 0.5, arg)
        assert out["b"] is None
        np.testing.assert_allclose(out["a"], [0.5 if f is not tree.update_infinity_moment
                                              else 1.0] * 2)  # fmt: skip


def test_moment_helpers_are_at_the_top_level_as_in_optax():
    for name in ("bias_correction", "update_moment", "update_moment_per_elem_norm",
                 "update_infinity_moment"):  # fmt: skip
        assert getattr(gradtx, name) is getattr(tree, name)


# --- incremental_update and periodic_update (Optax's optax/_src/update.py) -------------------


def test_incremental_update_is_polyak_averaging():
    new = {"w": jnp.array([1.0, 3.0]), "b": jnp.array(2.0, jnp.bfloat16)}
    old = {"w": jnp.array([0.0, -1.0]), "b": jnp.array(0.0, jnp.bfloat16)}
    out = gradtx.incremental_update(new, old, 0.25)
    np.testing.assert_allclose(out["w"], [0.25, 0.0])
    assert out["b"].dtype == jnp.bfloat16 and float(out["b"]) == 0.5
    assert gradtx.incremental_update({"w": None}, {"w": jnp.ones(1)}, 0.5) == {"w": None}
    steps = jax.jit(jax.vmap(lambda s: gradtx.incremental_update(new, old, s)["w"]))(
        jnp.array([0.0, 1.0])
    )
    np.testing.assert_allclose(steps, [[0.0, -1.0], [1.0, 3.0]])


def test_periodic_update_copies_every_period():
    new, old = {"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}
    update = jax.jit(gradtx.periodic_update)
    got = [float(update(new, old, jnp.int32(k), 3)["w"][0]) for k in range(7)]
    assert got == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
