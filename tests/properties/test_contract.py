"""The contract every public transform and optimizer keeps.

jit and eager agree, a second update does not retrace, state keeps its dtypes, vmap over a
hyperparameter matches separate runs, each case converges on a parabola and on Rosenbrock,
extra keyword arguments are ignored, init works on shapes only, and strict dtype promotion
gives the bits of the standard rules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.helpers import (
    CASES,
    NOT_ON_PARABOLA,
    core_factories,
    counted_update,
    dtype_tree,
    example_grads,
    example_params,
    minimise,
    numeric_leaves,
    run_steps,
)

ids = [c.name for c in CASES]


def test_registry_covers_every_public_transform():
    covered = {c.name for c in CASES} | {"set_to_zero"}  # set_to_zero: tests/unit/test_base.py
    missing = core_factories() - covered
    assert not missing, f"add these to tests/helpers.py CASES: {sorted(missing)}"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_jit_matches_eager(case):
    tx = case.make(case.h)
    params = example_params()
    eager = run_steps(tx, params, 3, **case.extra())
    jitted = run_steps(
        gradtx.GradientTransformation(jax.jit(tx.init), jax.jit(tx.update)),
        params,
        3,
        **case.extra(),
    )
    for a, b in zip(numeric_leaves(eager), numeric_leaves(jitted), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_second_update_does_not_retrace(case):
    tx = case.make(case.h)
    params = example_params()
    step, traces = counted_update(tx, **case.extra())
    state = tx.init(params)
    for k in range(3):
        _, state = step(example_grads(k, params), state, params)
    assert len(traces) == 1


DTYPES = [jnp.bfloat16, jnp.float16, jnp.float32, jnp.complex64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_dtypes_are_stable(case, dtype):
    _check_dtypes(case, dtype)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.complex64], ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_strict_promotion_gives_the_bits_of_the_standard_rules(case, dtype):
    # The suite runs under strict promotion (tests/conftest.py); gradtx casts explicitly so
    # that users who do not opt in get exactly what they got before.
    params = example_params(dtype)

    def run(mode):
        with jax.numpy_dtype_promotion(mode):
            tx = case.make(case.h)
            step = jax.jit(tx.update)
            state = tx.init(params)
            out = []
            for k in range(2):
                updates, state = step(example_grads(k, params), state, params, **case.extra())
                out.append(updates)
            return numeric_leaves((out, state))

    for a, b in zip(run("strict"), run("standard"), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_dtypes_are_stable_float64(case):
    with jax.enable_x64(True):
        _check_dtypes(case, jnp.float64)


def _check_dtypes(case, dtype):
    tx = case.make(case.h)
    params = example_params(dtype)
    state0 = tx.init(params)
    grads = example_grads(0, params)
    updates, state1 = tx.update(grads, state0, params, **case.extra())
    updates, state2 = tx.update(grads, state1, params, **case.extra())
    # Updates come back in the gradients' dtype, the state keeps its structure and dtypes.
    assert dtype_tree(updates) == dtype_tree(grads)
    assert dtype_tree(state1) == dtype_tree(state0) == dtype_tree(state2)
    for leaf in jax.tree.leaves(updates):
        assert jnp.all(jnp.isfinite(leaf.astype(jnp.complex64))), case.name
    # So both branches of a lax.cond between two steps type-check.
    chosen = jax.lax.cond(True, lambda: state1, lambda: state2)
    assert dtype_tree(chosen) == dtype_tree(state0)
    # The parameters keep their dtype.
    new_params = gradtx.apply_updates(params, updates)
    assert dtype_tree(new_params) == dtype_tree(params)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_vmap_over_hyperparameter_matches_separate_runs(case):
    params = example_params()

    def run(h):
        tx = case.make(h)
        state = tx.init(params)

        def step(carry, k):
            p, s = carry
            grads = jax.tree.map(lambda x: jnp.sin(x * (k + 1.0)) + 0.1 * x, p)
            u, s = tx.update(grads, s, p, **case.extra())
            return (gradtx.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (params, state), jnp.arange(5.0))
        return p

    grid = jnp.array(case.grid)
    batched = jax.jit(jax.vmap(run))(grid)
    for i, h in enumerate(case.grid):
        single = jax.jit(run)(h)
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_allclose(b[i], s, rtol=1e-5, atol=1e-6)


def parabola(x):
    """0.5 (x0 - 1)^2 + 2 (x1 + 2)^2: minimum at (1, -2), condition number 4."""
    return 0.5 * (x[0] - 1.0) ** 2 + 2.0 * (x[1] + 2.0) ** 2


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


PARABOLA_CASES = [c for c in CASES if c.name not in NOT_ON_PARABOLA]


@pytest.mark.parametrize("case", PARABOLA_CASES, ids=[c.name for c in PARABOLA_CASES])
def test_converges_on_parabola(case):
    x = minimise(
        case.optimizer(case.parabola_lr),
        parabola,
        jnp.array([3.0, 3.0]),
        2_000,
        with_value=case.needs_value,
    )
    np.testing.assert_allclose(x, [1.0, -2.0], atol=1e-3)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_converges_on_rosenbrock(case):
    x = minimise(
        case.optimizer(case.rosenbrock_lr),
        rosenbrock,
        jnp.array([-1.2, 1.0]),
        case.rosenbrock_steps,
        with_value=case.needs_value,
    )
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-3)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_extra_keyword_arguments_are_ignored(case):
    tx = gradtx.chain(case.make(case.h))
    params = example_params()
    grads = example_grads(0, params)
    plain = tx.update(grads, tx.init(params), params, **case.extra(jnp.array(1.0)))
    extra = tx.update(grads, tx.init(params), params, value=jnp.array(1.0), other="x")
    for a, b in zip(numeric_leaves(plain), numeric_leaves(extra), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_init_works_on_shapes_only(case):
    tx = case.make(case.h)
    params = example_params()
    shapes = jax.eval_shape(tx.init, params)
    assert dtype_tree(shapes) == dtype_tree(tx.init(params))


def test_value_taking_cases_refuse_an_update_without_the_value():
    """Polyak's step needs the loss: without ``value=`` it is a TypeError, as in Optax."""
    cases = [c for c in CASES if c.needs_value]
    assert {c.name for c in cases} == {"scale_by_polyak", "polyak_sgd"}
    params = example_params()
    for case in cases:
        tx = case.make(case.h)
        with pytest.raises(TypeError, match="value"):
            tx.update(example_grads(0, params), tx.init(params), params)
