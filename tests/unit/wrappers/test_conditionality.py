"""conditionally_transform and conditionally_mask, step by step against Optax and by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests.helpers import example_grads, example_params, numeric_leaves

WRAPPERS = [
    (gradtx.conditionally_transform, optax.conditionally_transform),
    (gradtx.conditionally_mask, optax.conditionally_mask),
]


@pytest.mark.parametrize(("ours", "theirs"), WRAPPERS, ids=["transform", "mask"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_matches_optax_step_by_step(ours, theirs, jit):
    condition = lambda step: step % 3 != 1  # noqa: E731
    tx = ours(gradtx.sgd(0.1, momentum=0.9), condition)
    ref = theirs(optax.sgd(0.1, momentum=0.9), condition)
    params = example_params()
    state, ref_state = tx.init(params), ref.init(params)
    assert type(state).__name__ == type(ref_state).__name__
    assert state._fields == ref_state._fields
    update = jax.jit(tx.update) if jit else tx.update
    for k in range(7):
        g = example_grads(k, params)
        u, state = update(g, state, params)
        with jax.numpy_dtype_promotion("standard"):
            v, ref_state = ref.update(g, ref_state, params)
        for a, b in zip(numeric_leaves(u), numeric_leaves(v), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert int(state.step) == int(ref_state.step) == k + 1
        for a, b in zip(numeric_leaves(state.inner_state), numeric_leaves(ref_state.inner_state),
                        strict=True):  # fmt: skip
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_by_hand_pass_through_zeros_and_the_inner_state():
    inner = gradtx.chain(gradtx.trace(0.5), gradtx.scale(10.0))
    on = [True, False, True, False, False]
    passed = gradtx.conditionally_transform(inner, lambda step: jnp.asarray(on)[step])
    masked = gradtx.conditionally_mask(inner, lambda step: jnp.asarray(on)[step])
    s_pass, s_mask = passed.init(jnp.zeros(1)), masked.init(jnp.zeros(1))
    trace = 0.0
    for k, g in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        u_pass, s_pass = passed.update(jnp.array([g]), s_pass)
        u_mask, s_mask = masked.update(jnp.array([g]), s_mask)
        if on[k]:
            trace = 0.5 * trace + g
            np.testing.assert_allclose(u_pass, [10 * trace])
            np.testing.assert_allclose(u_mask, [10 * trace])
        else:
            np.testing.assert_array_equal(u_pass, [g])
            np.testing.assert_array_equal(u_mask, [0.0])
        np.testing.assert_allclose(s_pass.inner_state[0].trace, [trace])
        np.testing.assert_allclose(s_mask.inner_state[0].trace, [trace])
        assert int(s_pass.step) == int(s_mask.step) == k + 1


@pytest.mark.parametrize("wrapper", [w for w, _ in WRAPPERS], ids=["transform", "mask"])
def test_forward_extra_args_and_plain_inner_updates(wrapper):
    seen = []

    def condition(step, **extra):
        seen.append(sorted(extra))
        return extra["loss"] < 1.0

    def plain_update(updates, state, params=None):  # an Optax-style update: no extra args
        return jax.tree.map(lambda u: 2 * u, updates), state

    inner = gradtx.GradientTransformation(gradtx.init_empty_state, plain_update)
    tx = wrapper(inner, condition, forward_extra_args=True)
    state = tx.init(jnp.zeros(2))
    u, state = tx.update(jnp.ones(2), state, loss=jnp.array(0.5))
    np.testing.assert_array_equal(u, [2.0, 2.0])
    u, state = tx.update(jnp.ones(2), state, loss=jnp.array(3.0))
    expected = [1.0, 1.0] if wrapper is gradtx.conditionally_transform else [0.0, 0.0]
    np.testing.assert_array_equal(u, expected)
    assert seen == [["loss"], ["loss"]]
    # Without forward_extra_args the condition gets the step only.
    tx = wrapper(inner, lambda step: step < 1)
    u, _ = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)), loss=1.0)
    np.testing.assert_array_equal(u, [2.0, 2.0])


def test_vmap_over_a_traced_condition_and_errors():
    def run(threshold):
        tx = gradtx.conditionally_mask(gradtx.sgd(1.0), lambda step: step >= threshold)
        state = tx.init(jnp.zeros(1))
        out = []
        for _ in range(3):
            u, state = tx.update(jnp.ones(1), state)
            out.append(u[0])
        return jnp.stack(out)

    got = jax.vmap(run)(jnp.array([0, 1, 2, 5]))
    np.testing.assert_array_equal(got, [[-1, -1, -1], [0, -1, -1], [0, 0, -1], [0, 0, 0]])
    tx = gradtx.conditionally_transform(gradtx.sgd(1.0), lambda step: jnp.ones(2, bool))
    with pytest.raises(ValueError, match="must return a boolean scalar"):
        tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    with pytest.raises(TypeError, match="inner must be a GradientTransformation"):
        gradtx.conditionally_mask(gradtx.sgd, lambda step: True)
