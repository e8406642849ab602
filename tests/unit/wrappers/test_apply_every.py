"""apply_every, step by step against Optax and against sums computed by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests.helpers import example_grads, example_params, numeric_leaves


@pytest.mark.parametrize("k", [1, 2, 3])
def test_matches_optax_step_by_step(k):
    tx, ref = gradtx.apply_every(k), optax.apply_every(k)
    params = example_params()
    state, ref_state = tx.init(params), ref.init(params)
    assert state._fields == ref_state._fields == ("count", "grad_acc")
    update = jax.jit(tx.update)
    for step in range(8):
        g = example_grads(step, params)
        u, state = update(g, state)
        with jax.numpy_dtype_promotion("standard"):
            v, ref_state = ref.update(g, ref_state)
        for a, b in zip(numeric_leaves((u, state)), numeric_leaves((v, ref_state)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_sums_by_hand_and_a_traced_k():
    grads = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]

    def run(k):
        tx = gradtx.apply_every(k)
        state = tx.init(jnp.zeros(1))
        out = []
        for g in grads:
            u, state = tx.update(jnp.array([g]), state)
            out.append(u[0])
        return jnp.stack(out)

    expected = {1: grads, 2: [0, 3, 0, 12, 0, 48, 0], 3: [0, 0, 7, 0, 0, 56, 0]}
    for k, e in expected.items():
        np.testing.assert_array_equal(run(k), e)
    np.testing.assert_array_equal(jax.vmap(run)(jnp.array([1, 2, 3])), list(expected.values()))


def test_dtypes_and_errors():
    tx = gradtx.apply_every(2)
    params = {"w": jnp.zeros(2, jnp.bfloat16)}
    state = tx.init(params)
    u, state = tx.update({"w": jnp.ones(2, jnp.float32)}, state)
    assert u["w"].dtype == jnp.float32 and state.grad_acc["w"].dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="k must be in"):
        gradtx.apply_every(0)
    with pytest.raises(TypeError, match="k must be an integer"):
        gradtx.apply_every(2.0)  # type: ignore[arg-type]
