"""early_stopping against a plain-Python version of Keras' rule."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


def reference(values, patience, min_delta, mode):
    sign = 1.0 if mode == "min" else -1.0
    best, best_step, wait, stop = math.inf * sign, -1, 0, False
    out = []
    for i, v in enumerate(values):
        improved = sign * v < sign * best - min_delta  # False for NaN
        if improved:
            best, best_step, wait = v, i, 0
        else:
            wait += 1
        stop = stop or wait >= patience
        out.append((best, best_step, wait, improved, stop))
    return out


def sequences():
    rng = np.random.RandomState(0)
    noisy = np.cumsum(rng.normal(size=40)) * 0.1 + 3.0
    plateau = np.concatenate([np.linspace(3.0, 1.0, 10), np.full(10, 1.0), [0.5]])
    with_nan = noisy.copy()
    with_nan[[3, 4, 5]] = np.nan
    return {"noisy": noisy, "plateau": plateau, "nan": with_nan}


@pytest.mark.parametrize("name", list(sequences()))
@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize(("patience", "min_delta"), [(0, 0.0), (2, 0.0), (3, 0.05)])
def test_early_stopping_matches_the_reference(name, mode, patience, min_delta):
    values = sequences()[name].astype(np.float32)
    stopper = gradtx.early_stopping(patience, min_delta, mode)

    @jax.jit
    def run(values):
        def step(state, v):
            state = stopper.update(state, v)
            return state, state

        return jax.lax.scan(step, stopper.init(), values)[1]

    states = run(jnp.asarray(values))
    expected = reference([float(v) for v in values], patience, np.float32(min_delta), mode)
    best, best_step, wait, improved, stop = (np.array(x) for x in zip(*expected, strict=True))
    np.testing.assert_array_equal(states.best, best.astype(np.float32))
    np.testing.assert_array_equal(states.best_step, best_step)
    np.testing.assert_array_equal(states.patience_count, wait)
    np.testing.assert_array_equal(states.has_improved, improved)
    np.testing.assert_array_equal(states.should_stop, stop)
    np.testing.assert_array_equal(states.count, np.arange(1, len(values) + 1))


def test_vmap_over_patience():
    stopper_for = lambda patience: gradtx.early_stopping(patience)  # noqa: E731
    values = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0])

    def run(patience):
        stopper = stopper_for(patience)
        state = stopper.init()
        stops = []
        for v in values:
            state = stopper.update(state, v)
            stops.append(state.should_stop)
        return jnp.stack(stops)

    stops = jax.jit(jax.vmap(run))(jnp.array([1, 2, 3]))
    for i, patience in enumerate([1, 2, 3]):
        expected = [s[4] for s in reference([1.0] * 5, patience, 0.0, "min")]
        np.testing.assert_array_equal(stops[i], expected)


def test_early_stopping_errors():
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        gradtx.early_stopping(3, mode="minimum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="patience must be in"):
        gradtx.early_stopping(-1)
