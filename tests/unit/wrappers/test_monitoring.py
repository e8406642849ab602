"""snapshot, monitor and measure_with_ema, against Optax and by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from tests.helpers import dtype_tree, example_grads, example_params


def _chains(lib, measures):
    return lib.chain(lib.sgd(0.1, momentum=0.9), lib.monitor(measures(lib)),
                     lib.clip_by_global_norm(0.05))  # fmt: skip


def test_monitor_matches_optax_step_by_step():
    def measures(lib):
        return {
            "norm": lib.tree.norm,
            "norm_ema": lib.measure_with_ema(lib.tree.norm, 0.9),
            "clipped_ema": lib.measure_with_ema(lambda u: lib.tree.norm(u) > 0.05, 0.8, False),
        }

    tx, ref = _chains(gradtx, measures), _chains(optax, measures)
    params = example_params()
    state, ref_state = tx.init(params), ref.init(params)
    update = jax.jit(tx.update)
    for k in range(5):
        g = example_grads(k, params)
        u, state = update(g, state, params)
        with jax.numpy_dtype_promotion("standard"):
            v, ref_state = ref.update(g, ref_state, params)
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(v), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        for name in ("norm", "norm_ema", "clipped_ema"):
            np.testing.assert_allclose(gradtx.tree_get(state, name),
                                       optax.tree.get(ref_state, name), rtol=2e-6)  # fmt: skip
    assert type(state[1]).__name__ == "MonitorState"
    assert state[1]._fields == ref_state[1]._fields


def test_ema_by_hand_and_the_state_keeps_its_structure():
    decay = 0.7
    tx = gradtx.monitor({"max": lambda u: jnp.max(u),
                         "ema": gradtx.measure_with_ema(jnp.max, decay)})  # fmt: skip
    state = tx.init(jnp.zeros(3))
    structure = dtype_tree(state)
    assert state.measurements == {"max": 0.0, "ema": 0.0}
    m = 0.0
    for k, g in enumerate([[1.0, 2.0, 0.0], [5.0, 1.0, 1.0], [0.0, -1.0, 3.0]], start=1):
        u, state = tx.update(jnp.array(g), state)
        np.testing.assert_array_equal(u, g)  # the updates pass through
        m = decay * m + (1 - decay) * max(g)
        np.testing.assert_allclose(state.measurements["ema"], m / (1 - decay**k), rtol=1e-6)
        assert state.measurements["max"] == max(g)
        assert dtype_tree(state) == structure


def test_snapshot_matches_optax_and_records_the_chain_at_its_place():
    def make(lib):
        return lib.chain(lib.sgd(0.1, momentum=0.9), lib.snapshot("before", lib.tree.norm),
                         lib.clip_by_global_norm(0.05))  # fmt: skip

    tx, ref = make(gradtx), make(optax)
    params = jnp.array([1.0, 2.0, 3.0])
    state, ref_state = tx.init(params), ref.init(params)
    np.testing.assert_allclose(gradtx.tree_get(state, "before"), np.linalg.norm([1, 2, 3]))
    for _ in range(3):
        g = 2 * params
        u, state = tx.update(g, state)
        v, ref_state = ref.update(g, ref_state)
        np.testing.assert_allclose(u, v, rtol=1e-6)
        np.testing.assert_allclose(gradtx.tree_get(state, "before"),
                                   optax.tree.get(ref_state, "before"), rtol=1e-6)  # fmt: skip
        params = gradtx.apply_updates(params, u)
    assert state[1].measurement.keys() == {"before"}


def test_extra_args_reach_stateful_measures_and_errors():
    def update(updates, state, params=None, *, loss):
        return loss, state

    loss_measure = gradtx.GradientTransformation(gradtx.init_empty_state, update)
    tx = gradtx.monitor({"loss": loss_measure})
    _, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)), loss=jnp.array(4.0))
    assert state.measurements["loss"] == 4.0
    with pytest.raises(TypeError, match="measures\\['x'\\] must be"):
        gradtx.monitor({"x": 3.0})
    with pytest.raises(TypeError, match="measure_name must be a string"):
        gradtx.snapshot(1, jnp.max)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decay must be in"):
        gradtx.measure_with_ema(jnp.max, 1.5)
