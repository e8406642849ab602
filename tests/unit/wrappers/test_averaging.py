"""ema_params and polyak_average against NumPy averages of the iterates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.helpers import example_grads, example_params


def iterates(params, steps):
    """The SGD iterates theta_1..theta_steps (float32, as gradtx computes them)."""
    tx = gradtx.sgd(0.1)
    out, p, s = [], params, tx.init(params)
    for k in range(steps):
        u, s = tx.update(example_grads(k, params), s, p)
        p = gradtx.apply_updates(p, u)
        out.append(p)
    return out


def test_ema_params_is_the_exponential_average_of_the_iterates():
    params = example_params()
    tx = gradtx.chain(gradtx.sgd(0.1), gradtx.ema_params(0.8))
    state, p = tx.init(params), params
    update = jax.jit(tx.update)
    thetas = iterates(params, 6)
    ema = jax.tree.map(lambda x: np.asarray(x, np.float64), params)
    for k in range(6):
        u, state = update(example_grads(k, params), state, p)
        p = gradtx.apply_updates(p, u)
        ema = jax.tree.map(lambda e, t: 0.8 * e + 0.2 * np.asarray(t, np.float64), ema, thetas[k])
        for a, b in zip(jax.tree.leaves(gradtx.averaged_params(state)), jax.tree.leaves(ema),
                        strict=True):  # fmt: skip
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(state[1].count) == 6


@pytest.mark.parametrize("start_step", [0, 2])
def test_polyak_average_is_the_mean_of_the_iterates_after_start_step(start_step):
    params = example_params()
    tx = gradtx.chain(gradtx.sgd(0.1), gradtx.polyak_average(start_step))
    state, p = tx.init(params), params
    update = jax.jit(tx.update)
    thetas = iterates(params, 6)
    for k in range(6):
        u, state = update(example_grads(k, params), state, p)
        p = gradtx.apply_updates(p, u)
        window = thetas[start_step : k + 1] or [thetas[k]]
        mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs).astype(np.float64), axis=0), *window)
        for a, b in zip(jax.tree.leaves(gradtx.averaged_params(state)), jax.tree.leaves(mean),
                        strict=True):  # fmt: skip
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_bfloat16_params_average_in_a_float32_accumulator():
    p = jnp.array([1.0], jnp.bfloat16)
    tx = gradtx.ema_params(0.99, accumulator_dtype=jnp.float32)
    state = tx.init(p)
    target = np.float64(1.0)
    for _ in range(5):
        u, state = tx.update(jnp.array([1.0], jnp.bfloat16), state, p)  # iterate 2.0 each time
        target = 0.99 * target + 0.01 * 2.0
    assert state.ema.dtype == jnp.float32
    np.testing.assert_allclose(state.ema, [target], rtol=1e-6)
    np.testing.assert_array_equal(u, [1.0])  # updates pass through


def test_averaged_params_needs_exactly_one_average():
    with pytest.raises(ValueError, match="holds 0 parameter averages"):
        gradtx.averaged_params(gradtx.sgd(0.1).init(jnp.zeros(1)))
    two = gradtx.chain(gradtx.ema_params(0.9), gradtx.polyak_average())
    with pytest.raises(ValueError, match="holds 2 parameter averages"):
        gradtx.averaged_params(two.init(jnp.zeros(1)))
    with pytest.raises(ValueError, match="decay must be in"):
        gradtx.ema_params(1.5)
