"""MultiSteps: gradient accumulation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.helpers import example_grads, example_params


@pytest.mark.parametrize(
    "make", [lambda: gradtx.adam(0.1), lambda: gradtx.sgd(0.1, momentum=0.9)], ids=["adam", "sgd"]
)
def test_k4_equals_one_step_on_the_mean_of_the_four_gradients(make):
    params = example_params()
    tx = gradtx.MultiSteps(make(), every_k_schedule=4)
    update = jax.jit(tx.update)
    plain = make()
    plain_update = jax.jit(plain.update)
    state, p = tx.init(params), params
    s_plain, p_plain = plain.init(params), params
    for big_step in range(3):
        grads = [example_grads(4 * big_step + i, params) for i in range(4)]
        for i, g in enumerate(grads):
            u, state = update(g, state, p)
            if i < 3:
                assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(u))
                assert not bool(tx.has_updated(state))
            p = gradtx.apply_updates(p, u)
        assert bool(tx.has_updated(state))
        mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0), *grads)
        u_plain, s_plain = plain_update(mean, s_plain, p_plain)
        p_plain = gradtx.apply_updates(p_plain, u_plain)
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(u_plain), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves((p, state.inner_opt_state)),
                    jax.tree.leaves((p_plain, s_plain)), strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    assert int(state.gradient_step) == 3 and int(state.mini_step) == 0


def test_the_state_holds_exactly_one_accumulator_per_parameter():
    params = example_params()
    inner = gradtx.adam(0.1)
    state = gradtx.MultiSteps(inner, 4).init(params)
    assert jax.tree.structure(state.acc_grads) == jax.tree.structure(params)
    assert all(a.shape == p.shape and a.dtype == jnp.float32
               for a, p in zip(jax.tree.leaves(state.acc_grads), jax.tree.leaves(params),
                               strict=True))  # fmt: skip
    n_params = len(jax.tree.leaves(params))
    n_inner = len(jax.tree.leaves(inner.init(params)))
    assert len(jax.tree.leaves(state)) == n_inner + n_params + 2  # + mini_step, gradient_step
    bf16 = gradtx.MultiSteps(inner, 4, accumulator_dtype=jnp.bfloat16).init(params)
    assert {a.dtype for a in jax.tree.leaves(bf16.acc_grads)} == {jnp.dtype(jnp.bfloat16)}


def test_inner_schedules_count_optimizer_steps_not_micro_steps():
    tx = gradtx.MultiSteps(gradtx.sgd(lambda k: 1.0 / (1.0 + k.astype(float))), every_k_schedule=2)
    state = tx.init(jnp.zeros(1))
    outputs = []
    for g in [1.0, 3.0, 2.0, 4.0, 5.0, 7.0]:
        u, state = tx.update(jnp.array([g]), state)
        outputs.append(float(u[0]))
    # Means 2, 3, 6 at optimizer steps 0, 1, 2 with learning rates 1, 1/2, 1/3.
    np.testing.assert_allclose(outputs, [0, -2.0, 0, -1.5, 0, -2.0], rtol=1e-6)
    assert int(state.inner_opt_state[1].count) == 3


def test_sum_instead_of_mean_and_a_growing_k():
    tx = gradtx.MultiSteps(gradtx.sgd(1.0), lambda step: 1 + step, use_grad_mean=False)
    state = tx.init(jnp.zeros(1))
    outputs = []
    for g in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]:
        u, state = jax.jit(tx.update)(jnp.array([g]), state)
        outputs.append(float(u[0]))
    # k = 1, then 2, then 3: sums 1, 2 + 3, 4 + 5 + 6.
    np.testing.assert_array_equal(outputs, [-1.0, 0.0, -5.0, 0.0, 0.0, -15.0])


def test_skipped_micro_steps_leave_no_trace():
    params = {"w": jnp.array([1.0, 2.0])}
    tx = gradtx.MultiSteps(gradtx.adam(0.1), 2, should_skip_update_fn=gradtx.skip_not_finite)
    clean = gradtx.MultiSteps(gradtx.adam(0.1), 2, should_skip_update_fn=gradtx.skip_not_finite)
    grads = [jnp.array([1.0, -1.0]), jnp.array([jnp.nan, 0.0]), jnp.array([0.5, 2.0])]
    state = tx.init(params)
    for g in grads:
        u, state = tx.update({"w": g}, state, params)
    c_state = clean.init(params)
    for g in [grads[0], grads[2]]:
        cu, c_state = clean.update({"w": g}, c_state, params)
    np.testing.assert_array_equal(u["w"], cu["w"])
    for a, b in zip(jax.tree.leaves(state[:4]), jax.tree.leaves(c_state[:4]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(state.gradient_step) == 1
    # By hand: Adam's first step on the mean (0.75, 0.5) is -0.1 * sign.
    np.testing.assert_allclose(u["w"], [-0.1, -0.1], rtol=1e-6)
    assert int(state.skip_state["num_not_finite"]) == 0


def test_multisteps_is_a_gradient_transformation():
    tx = gradtx.MultiSteps(gradtx.sgd(0.1), 2)
    assert isinstance(tx, gradtx.GradientTransformation)
    chained = gradtx.chain(gradtx.clip(1.0), tx)
    state = chained.init(jnp.zeros(1))
    _, state = chained.update(jnp.array([5.0]), state)
    u, state = chained.update(jnp.array([5.0]), state)
    np.testing.assert_allclose(u, [-0.1], rtol=1e-6)  # clipped to 1, then averaged
    plain = tx.gradient_transformation()
    assert type(plain) is gradtx.GradientTransformation
    assert tx.inner_opt is not None
    with pytest.raises(ValueError, match="every_k_schedule must be in"):
        gradtx.MultiSteps(gradtx.sgd(0.1), 0)
    with pytest.raises(TypeError, match="every_k_schedule must be an int"):
        gradtx.MultiSteps(gradtx.sgd(0.1), 2.0)  # type: ignore[arg-type]
