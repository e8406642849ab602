"""lookahead against the paper's two-loop algorithm, written in NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

A = np.array([[3.0, 0.5], [0.5, 1.0]])
B = np.array([1.0, -2.0])


def grad(theta):
    return A @ theta - B


def reference(theta0, lr, momentum, k, alpha, steps, reset):
    """Zhang et al. (2019), Algorithm 1, with SGD (heavy-ball momentum) as the inner optimizer."""
    slow = theta0.copy()
    fast = theta0.copy()
    buf = np.zeros_like(theta0)
    fasts, slows = [], []
    for t in range(steps):
        buf = momentum * buf + grad(fast)
        fast = fast - lr * buf
        if (t + 1) % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow.copy()
            if reset:
                buf = np.zeros_like(buf)
        fasts.append(fast.copy())
        slows.append(slow.copy())
    return np.array(fasts), np.array(slows)


@pytest.mark.parametrize("reset", [False, True])
def test_lookahead_matches_the_two_loop_algorithm(reset):
    theta0 = np.array([2.0, -1.0])
    tx = gradtx.lookahead(gradtx.sgd(0.1, momentum=0.5), sync_period=3, slow_step_size=0.6,
                          reset_state=reset)  # fmt: skip
    params = gradtx.LookaheadParams.init_synced(jnp.asarray(theta0, jnp.float32))
    state = tx.init(params)
    update = jax.jit(tx.update)
    fasts, slows = [], []
    for _ in range(10):
        g = jnp.asarray(grad(np.asarray(params.fast, np.float64)), jnp.float32)
        u, state = update(g, state, params)
        params = gradtx.apply_updates(params, u)
        fasts.append(np.asarray(params.fast))
        slows.append(np.asarray(params.slow))
    ref_fast, ref_slow = reference(theta0, 0.1, 0.5, 3, 0.6, 10, reset)
    np.testing.assert_allclose(fasts, ref_fast, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(slows, ref_slow, rtol=1e-5, atol=1e-6)
    assert int(state.steps_since_sync) == 10 % 3


def test_lookahead_errors():
    with pytest.raises(ValueError, match="sync_period must be in"):
        gradtx.lookahead(gradtx.sgd(0.1), 0, 0.5)
    with pytest.raises(ValueError, match="slow_step_size must be in"):
        gradtx.lookahead(gradtx.sgd(0.1), 2, 1.5)
    tx = gradtx.lookahead(gradtx.sgd(0.1), 2, 0.5)
    state = tx.init(jnp.zeros(2))  # plain params are taken as the fast ones
    with pytest.raises(TypeError, match="LookaheadParams"):
        tx.update(jnp.ones(2), state, jnp.zeros(2))
