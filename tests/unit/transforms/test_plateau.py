"""reduce_on_plateau against a plain-Python simulation of its rule (negative losses included),
against Optax where their improvement tests agree, and under vmap over every hyperparameter."""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

DEFAULTS = dict(factor=0.1, patience=10, rtol=1e-4, atol=0.0, cooldown=0, accumulation_size=1,
                min_scale=0.0)  # fmt: skip


def simulate(values, **hyper):
    """The documented rule, one value at a time, in float64; returns the scales and the state."""
    h = {**DEFAULTS, **hyper}
    scale, best, plateau, cool, buffer, scales = 1.0, math.inf, 0, 0, [], []
    for v in values:
        buffer.append(v)
        if len(buffer) == h["accumulation_size"]:
            avg = sum(buffer) / len(buffer)
            buffer = []
            threshold = best if math.isinf(best) else best - max(h["atol"], h["rtol"] * abs(best))
            improved = avg < threshold
            if improved:
                best, plateau = avg, 0
            else:
                plateau += 1
            if cool > 0:
                cool -= 1
                plateau = 0
            elif not improved and plateau >= h["patience"]:
                scale = max(scale * h["factor"], h["min_scale"])
                plateau, cool = 0, h["cooldown"]
        scales.append(scale)
    return np.array(scales), dict(best_value=best, plateau_count=plateau, cooldown_count=cool,
                                  count=len(buffer))  # fmt: skip


def run(tx, values):
    """The scale applied at each step (the update of a gradient of ones) and the final state."""

    @jax.jit
    def go(values):
        def step(state, v):
            u, state = tx.update(jnp.ones(2), state, None, value=v)
            return state, u[0]

        return jax.lax.scan(step, tx.init(jnp.zeros(2)), values)

    state, scales = go(jnp.asarray(values, jnp.float32))
    return np.asarray(scales), state


def check(values, **hyper):
    want, want_state = simulate(values, **hyper)
    got, state = run(gradtx.reduce_on_plateau(**hyper), values)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(state.scale, want[-1], rtol=1e-6)
    np.testing.assert_allclose(state.best_value, want_state["best_value"], rtol=1e-6)
    for field in ("plateau_count", "cooldown_count", "count"):
        assert int(getattr(state, field)) == want_state[field], field
    return got


def test_plateau_then_reduction():
    values = [5.0, 4.0, 3.0, 3.0, 3.1, 2.9999, 3.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]
    got = check(values, factor=0.5, patience=3)
    # 2.9999 is within rtol of 3, so no improvement: reductions at 5, then 10 and 13 (after 2).
    np.testing.assert_array_equal(np.flatnonzero(np.diff(got)) + 1, [5, 10, 13])


def test_negative_losses():
    # best = -10; with rtol = 0.01 an improvement must go below -10.1. -10.05 is not one (Optax's
    # (1 - rtol) * best - atol = -9.9 would take it, and even -9.95, a worse value, as one).
    values = [-10.0, -10.05, -9.95, -10.08, -10.2, -10.25, -10.3, -10.31, -10.4, -10.5, -10.6]
    got = check(values, factor=0.5, patience=3, rtol=0.01)
    assert got[3] == 0.5  # three evaluations without improvement after -10
    assert list(got[4:7]) == [0.5, 0.5, 0.5]
    tx = gradtx.reduce_on_plateau(patience=1, rtol=0.01)
    state = tx.init(jnp.zeros(1))
    _, state = tx.update(jnp.ones(1), state, value=-10.0)
    _, state = tx.update(jnp.ones(1), state, value=-9.95)
    assert state.best_value == -10.0 and state.scale == np.float32(0.1)


def test_negative_and_positive_values_across_zero():
    values = list(np.linspace(1.0, -1.0, 9)) + [-1.0] * 6 + [-3.0] + [-3.0] * 6
    check(values, factor=0.3, patience=2, atol=0.05, rtol=0.0)


def test_cooldown():
    values = [1.0] + [1.0] * 12
    got = check(values, factor=0.5, patience=2, cooldown=3)
    # Reductions at (0-based) evaluation 2, then 2 + 3 (cooldown) + 2 (patience) = 7, then 12.
    np.testing.assert_array_equal(np.flatnonzero(np.diff(got)) + 1, [2, 7, 12])


def test_min_scale():
    got = check([1.0] * 8, factor=0.5, patience=1, min_scale=0.2)
    np.testing.assert_allclose(got, [1.0, 0.5, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2], rtol=1e-6)


def test_accumulation_size_averages_values():
    rng = np.random.default_rng(0)
    values = list(3.0 + rng.normal(scale=0.5, size=40))
    got = check(values, factor=0.5, patience=2, accumulation_size=4)
    # The scale can only change when an average is complete.
    changes = np.flatnonzero(np.diff(np.concatenate([[1.0], got])))
    assert np.all(changes % 4 == 3)


def test_atol_dominates_rtol_for_small_losses():
    values = [0.01, 0.009, 0.0085, 0.005, 0.0049, 0.0048, 0.004, 0.001]
    check(values, factor=0.5, patience=2, atol=1e-3, rtol=1e-2)


def test_both_tolerances_zero_means_any_strict_decrease():
    check([2.0, 1.0, 1.0, 0.9999999, 0.9999999, 0.9999999], factor=0.5, patience=2, rtol=0.0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "hyper",
    [dict(factor=0.5, patience=3, rtol=0.02),
     dict(factor=0.7, patience=2, rtol=0.0, atol=0.05, cooldown=2),
     dict(factor=0.5, patience=1, rtol=0.01, atol=0.01, cooldown=1, accumulation_size=3,
          min_scale=0.05)],
    ids=["rtol", "atol-cooldown", "everything"],
)  # fmt: skip
def test_random_walks_against_simulation(seed, hyper):
    rng = np.random.default_rng(seed)
    offset = [-5.0, 0.0, 5.0, -100.0][seed]
    values = list(offset + np.cumsum(rng.normal(scale=0.1, size=60) - 0.01))
    check(values, **hyper)


def test_matches_optax_for_positive_losses_and_atol_zero():
    # Optax's test (1 - rtol) * best - atol equals gradtx's for best > 0 and atol = 0.
    rng = np.random.default_rng(1)
    values = 2.0 + np.cumsum(np.abs(rng.normal(scale=0.05, size=80)) * (rng.random(80) < 0.3))
    values = values[::-1].copy()
    for hyper in (dict(factor=0.5, patience=3, rtol=0.01),
                  dict(factor=0.5, patience=2, rtol=0.001, cooldown=2, accumulation_size=2,
                       min_scale=0.1)):  # fmt: skip
        ours, _ = run(gradtx.reduce_on_plateau(**hyper), values)
        # Optax is not written for strict dtype promotion.
        with jax.numpy_dtype_promotion("standard"):
            theirs, _ = run(optax.contrib.reduce_on_plateau(**hyper), values)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
        assert ours[-1] < 1.0


HYPER_GRIDS = {
    "factor": (0.2, 0.5, 0.9),
    "patience": (1, 2, 4),
    "rtol": (0.0, 0.01, 0.1),
    "atol": (0.0, 0.05, 0.3),
    "cooldown": (0, 1, 3),
    "accumulation_size": (1, 2, 3),
    "min_scale": (0.0, 0.3, 0.6),
}
BASE = dict(factor=0.5, patience=2, rtol=0.01, atol=0.0, cooldown=1, accumulation_size=1,
            min_scale=0.0)  # fmt: skip


def test_every_hyperparameter_has_a_grid():
    assert set(HYPER_GRIDS) == set(inspect.signature(gradtx.reduce_on_plateau).parameters)


@pytest.mark.parametrize("name", list(HYPER_GRIDS))
def test_vmap_over_hyperparameter_matches_simulation(name):
    rng = np.random.default_rng(2)
    values = jnp.asarray(-1.0 + np.cumsum(rng.normal(scale=0.1, size=30)), jnp.float32)
    grid = HYPER_GRIDS[name]

    def scales(h):
        tx = gradtx.reduce_on_plateau(**{**BASE, name: h})

        def step(state, v):
            u, state = tx.update(jnp.ones(1), state, value=v)
            return state, u[0]

        return jax.lax.scan(step, tx.init(jnp.zeros(1)), values)[1]

    batched = jax.jit(jax.vmap(scales))(jnp.asarray(grid))
    for i, h in enumerate(grid):
        want, _ = simulate(list(np.asarray(values, np.float64)), **{**BASE, name: h})
        np.testing.assert_allclose(batched[i], want, rtol=1e-6)
    assert len({tuple(np.asarray(b)) for b in batched}) > 1, "the grid does not matter"


def test_grad_flows_to_the_updates():
    tx = gradtx.reduce_on_plateau(factor=0.5, patience=1)

    def f(g):
        state = tx.init(jnp.zeros(()))
        total = 0.0
        for v in (1.0, 1.0, 1.0):
            u, state = tx.update(g, state, value=v)
            total = total + u
        return total

    np.testing.assert_allclose(jax.grad(f)(jnp.float32(2.0)), 1.0 + 0.5 + 0.25)


def test_dtypes():
    tx = gradtx.reduce_on_plateau(patience=0)
    params = {"a": jnp.zeros(2, jnp.bfloat16), "b": jnp.zeros(1, jnp.complex64)}
    state = tx.init(params)
    assert state.scale.dtype == jnp.float32 and state.best_value.dtype == jnp.float32
    updates = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(1, jnp.complex64)}
    out, state = tx.update(updates, state, params, value=jnp.bfloat16(1.0))
    assert out["a"].dtype == jnp.bfloat16 and out["b"].dtype == jnp.complex64
    out, state = tx.update(updates, state, params, value=1.0)
    np.testing.assert_allclose(np.asarray(out["a"], np.float32), 0.1, rtol=1e-2)
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros(2, jnp.float64))
        assert state.best_value.dtype == jnp.float64
        assert state.plateau_count.dtype == jnp.int32


def test_in_a_chain_with_extra_arguments():
    tx = gradtx.chain(gradtx.sgd(1.0), gradtx.reduce_on_plateau(factor=0.5, patience=1))
    params = jnp.array([1.0])
    state = tx.init(params)
    for loss in (1.0, 1.0):
        u, state = tx.update(jnp.array([2.0]), state, params, value=loss, unused=3)
    np.testing.assert_allclose(u, [-1.0])


def test_needs_a_scalar_value():
    tx = gradtx.reduce_on_plateau()
    state = tx.init(jnp.zeros(1))
    with pytest.raises(TypeError, match="value=loss"):
        tx.update(jnp.ones(1), state)
    with pytest.raises(ValueError, match="scalar"):
        tx.update(jnp.ones(1), state, value=jnp.ones(3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [(dict(factor=0.0), "factor"), (dict(factor=1.5), "factor"), (dict(patience=-1), "patience"),
     (dict(patience=2.5), "patience must be an integer"), (dict(rtol=-0.1), "rtol"),
     (dict(rtol=2.0), "rtol"), (dict(atol=-1.0), "atol"), (dict(cooldown=-1), "cooldown"),
     (dict(accumulation_size=0), "accumulation_size"), (dict(min_scale=-0.1), "min_scale"),
     (dict(min_scale=2.0), "min_scale")],
)  # fmt: skip
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradtx.reduce_on_plateau(**kwargs)
