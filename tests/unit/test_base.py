"""The core combinators: identity, set_to_zero, stateless, chain, named_chain, apply_updates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.numerics import safe_increment


def recorder(log: list):
    """A transform that records the extra keyword arguments it receives."""

    def update_fn(updates, state, params=None, **extra_args):
        log.append(dict(extra_args))
        return updates, state

    return gradtx.GradientTransformation(lambda p: gradtx.EmptyState(), update_fn)


def test_identity_and_set_to_zero():
    g = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(3.0)}
    tx = gradtx.identity()
    u, s = tx.update(g, tx.init(g))
    assert u is g and s == gradtx.EmptyState()
    tx = gradtx.set_to_zero()
    u, _ = tx.update(g, tx.init(g))
    np.testing.assert_array_equal(u["a"], [0.0, 0.0])
    np.testing.assert_array_equal(u["b"], 0.0)


def test_stateless_receives_params():
    tx = gradtx.stateless(lambda u, p: jax.tree.map(lambda x, y: x * y, u, p))
    u, s = tx.update({"w": jnp.array(2.0)}, tx.init(None), {"w": jnp.array(3.0)})
    assert float(u["w"]) == 6.0 and s == gradtx.EmptyState()


def test_chain_applies_in_order():
    g = jnp.array([3.0, -4.0])
    scale_then_clip = gradtx.chain(gradtx.scale(10.0), gradtx.clip(1.0))
    clip_then_scale = gradtx.chain(gradtx.clip(1.0), gradtx.scale(10.0))
    np.testing.assert_array_equal(scale_then_clip.update(g, scale_then_clip.init(g))[0], [1, -1])
    np.testing.assert_array_equal(clip_then_scale.update(g, clip_then_scale.init(g))[0], [10, -10])


def test_chain_passes_extra_arguments_to_every_member():
    log: list = []
    tx = gradtx.chain(recorder(log), gradtx.sgd(0.1), recorder(log))
    g = jnp.ones(2)
    tx.update(g, tx.init(g), g, value=jnp.array(1.5), step_info="x")
    assert len(log) == 2
    assert all(float(e["value"]) == 1.5 and e["step_info"] == "x" for e in log)


def test_chain_state_is_a_tuple_of_member_states():
    tx = gradtx.chain(gradtx.trace(0.9), gradtx.scale_by_adam())
    state = tx.init(jnp.zeros(2))
    assert isinstance(state, tuple) and len(state) == 2
    assert isinstance(state[0], gradtx.TraceState)
    assert isinstance(state[1], gradtx.ScaleByAdamState)


def test_named_chain_matches_chain_and_names_its_states():
    members = [("clip", gradtx.clip_by_global_norm(1.0)), ("adam", gradtx.adam(0.1))]
    named = gradtx.named_chain(*members)
    plain = gradtx.chain(*(t for _, t in members))
    p = jnp.array([1.0, 2.0])
    ns, ps = named.init(p), plain.init(p)
    assert set(ns) == {"clip", "adam"}
    for k in range(3):
        g = jnp.array([3.0, -1.0]) * (k + 1)
        nu, ns = named.update(g, ns, p)
        pu, ps = plain.update(g, ps, p)
        np.testing.assert_array_equal(nu, pu)
    assert int(ns["adam"][0].count) == 3


def test_named_chain_rejects_duplicate_names():
    with pytest.raises(ValueError, match="names must be unique"):
        gradtx.named_chain(("a", gradtx.identity()), ("a", gradtx.identity()))


def test_chain_rejects_uncalled_factories():
    expected = (
        r"argument 1 must be a GradientTransformation"
        r".*gradtx\.sgd instead of gradtx\.sgd\(\.\.\.\)"
    )
    with pytest.raises(TypeError, match=expected):
        gradtx.chain(gradtx.identity(), gradtx.sgd)


def test_chain_rejects_a_foreign_state():
    tx = gradtx.chain(gradtx.identity(), gradtx.identity())
    with pytest.raises(ValueError, match="state has 1 entries but the chain has 2"):
        tx.update(jnp.ones(1), (gradtx.EmptyState(),))


def test_apply_updates_keeps_dtypes_and_rounds_once():
    params = {"bf": jnp.array([1.0, 256.0], jnp.bfloat16), "f32": jnp.ones(2), "none": None}
    updates = {"bf": jnp.array([0.00390625, 1.0], jnp.float32), "f32": jnp.ones(2), "none": None}
    out = gradtx.apply_updates(params, updates)
    assert out["bf"].dtype == jnp.bfloat16 and out["f32"].dtype == jnp.float32
    assert out["none"] is None
    # The sum is rounded once from float32: 1 + 2^-8 rounds to 1 (ties to even),
    # 256 + 1 rounds to 256 in bfloat16 (8 bits of mantissa).
    expected = (np.array([1.0, 256.0]) + np.array([0.00390625, 1.0])).astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(out["bf"], np.float32), expected.astype(np.float32))


def test_apply_updates_structure_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"between params and updates.*\['b'\]"):
        gradtx.apply_updates({"a": jnp.ones(1), "b": jnp.ones(1)}, {"a": jnp.ones(1)})


def test_safe_increment_saturates_at_int32_max():
    top = np.iinfo(np.int32).max
    count = jnp.array(top - 2, jnp.int32)
    seen = []
    for _ in range(5):
        count = safe_increment(count)
        seen.append(int(count))
    assert seen == [top - 1, top, top, top, top]
    assert count.dtype == jnp.int32


def test_adam_keeps_working_past_int32_max_steps():
    tx = gradtx.adam(0.1)
    p = jnp.ones(3)
    state = tx.init(p)
    top = np.iinfo(np.int32).max
    state = (state[0]._replace(count=jnp.array(top - 2, jnp.int32)), state[1])
    for _ in range(5):
        u, state = tx.update(jnp.array([1.0, -2.0, 0.5]), state, p)
        assert np.all(np.isfinite(u))
    assert int(state[0].count) == top
    # The bias corrections are 1 by then: the update is -lr * m / (sqrt(v) + eps).
    m, v = np.asarray(state[0].mu), np.asarray(state[0].nu)
    np.testing.assert_allclose(u, -0.1 * m / (np.sqrt(v) + 1e-8), rtol=1e-5)


def test_a_plain_update_receives_only_the_extra_arguments_it_names():
    """As Optax: a GradientTransformation whose update has no **kwargs is called without the
    extra arguments of the chain, or only with the ones it names."""
    calls = []

    def init(params):
        return ()

    def plain(updates, state, params=None):
        calls.append("plain")
        return updates, state

    def named(updates, state, params=None, *, arg):
        calls.append(("named", arg))
        return updates, state

    tx = gradtx.chain(gradtx.GradientTransformation(init, plain),
                      gradtx.GradientTransformation(init, named))  # fmt: skip
    tx.update(jnp.ones(1), tx.init(jnp.ones(1)), arg=1, ignored="hi")
    assert calls == ["plain", ("named", 1)]
    with pytest.raises(TypeError):  # ``arg`` is required by the second one
        tx.update(jnp.ones(1), tx.init(jnp.ones(1)))


def test_none_params_and_updates_pass_through_as_in_optax():
    import optax

    x = {"a": None, "b": jnp.array([1.0, 2.0])}
    u = {"a": jnp.ones(3), "b": jnp.array([0.5, 0.5])}
    ours, theirs = gradtx.apply_updates(x, u), optax.apply_updates(x, u)
    assert ours["a"] is None and theirs["a"] is None
    np.testing.assert_array_equal(ours["b"], theirs["b"])
    assert gradtx.apply_updates(None, jnp.ones(3)) is None
    assert optax.apply_updates(None, jnp.ones(3)) is None
    weights = (jnp.ones(2), {"a": jnp.ones(2)})
    tx = gradtx.add_decayed_weights(0.1)
    assert tx.update(None, tx.init(weights), weights)[0] is None


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32", "int8", "int16", "int32",
                                   "uint8", "uint16", "uint32"])  # fmt: skip
def test_safe_increment_counts_and_saturates_in_every_real_dtype(dtype):
    info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype)
    top = jnp.asarray(info.max, dtype)
    assert jax.jit(safe_increment)(jnp.asarray(3, dtype)).dtype == jnp.dtype(dtype)
    assert int(jax.jit(safe_increment)(jnp.asarray(3, dtype))) == 4
    assert jax.jit(safe_increment)(top) == top  # not inf, not a wrap to the minimum
    for bad in (jnp.asarray(True), jnp.asarray(1 + 0j, jnp.complex64)):
        with pytest.raises(ValueError, match="integer or floating"):
            safe_increment(bad)
