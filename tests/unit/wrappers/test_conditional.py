"""apply_if_finite, skip_not_finite and skip_large_updates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.helpers import example_grads, example_params, numeric_leaves


def poison(grads, value):
    """``grads`` with one element of the first leaf replaced by ``value``."""
    leaves, treedef = jax.tree.flatten(grads)
    leaves[0] = leaves[0].reshape(-1).at[1].set(value).reshape(leaves[0].shape)
    return treedef.unflatten(leaves)


BAD = {2: jnp.nan, 5: jnp.inf, 6: -jnp.inf}


@pytest.mark.parametrize("make", [lambda: gradtx.adam(0.1), lambda: gradtx.noisy_sgd(0.1, key=1)],
                         ids=["adam", "noisy_sgd"])  # fmt: skip
def test_non_finite_steps_leave_params_and_state_bit_identical(make):
    params0 = example_params()
    tx = gradtx.apply_if_finite(make(), max_consecutive_errors=3)
    update = jax.jit(tx.update)

    def run(steps):
        p, state = params0, tx.init(params0)
        for k in steps:
            g = example_grads(k, params0)
            if k in BAD:
                g = poison(g, BAD[k])
            u, state = update(g, state, p)
            if k in BAD:
                assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(u))
            p = gradtx.apply_updates(p, u)
        return p, state

    p_seen, s_seen = run(range(10))
    p_clean, s_clean = run([k for k in range(10) if k not in BAD])
    for a, b in zip(numeric_leaves((p_seen, s_seen.inner_state)),
                    numeric_leaves((p_clean, s_clean.inner_state)), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    assert int(s_seen.total_notfinite) == 3 and int(s_clean.total_notfinite) == 0
    assert int(s_seen.notfinite_count) == 0 and bool(s_seen.last_finite)

    # The same as the plain optimizer fed only the finite steps (another program: to rounding).
    plain = make()
    p, s = params0, plain.init(params0)
    plain_update = jax.jit(plain.update)
    for k in [k for k in range(10) if k not in BAD]:
        u, s = plain_update(example_grads(k, params0), s, p)
        p = gradtx.apply_updates(p, u)
    for a, b in zip(numeric_leaves((p, s)), numeric_leaves((p_seen, s_seen.inner_state)),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_after_too_many_failures_in_a_row_the_update_is_applied_and_the_count_resets():
    tx = gradtx.apply_if_finite(gradtx.sgd(1.0), max_consecutive_errors=2)
    state = tx.init(jnp.zeros(1))
    sequence = [1.0, jnp.nan, jnp.nan, jnp.nan, jnp.nan, 2.0]
    # By hand: failures 1 and 2 are skipped, the 3rd exceeds 2 and is applied (count back to
    # 0), the 4th is a new first failure; a finite step is always applied.
    applied = [True, False, False, True, False, True]
    counts = [0, 1, 2, 0, 1, 0]
    totals = [0, 1, 2, 3, 4, 4]
    for g, a, c, t in zip(sequence, applied, counts, totals, strict=True):
        u, state = tx.update(jnp.array([g]), state)
        if a:
            np.testing.assert_array_equal(u, [-g])
        else:
            np.testing.assert_array_equal(u, [0.0])
        assert int(state.notfinite_count) == c
        assert int(state.total_notfinite) == t
        assert bool(state.last_finite) == bool(np.isfinite(g))
    with pytest.raises(ValueError, match="max_consecutive_errors must be in"):
        gradtx.apply_if_finite(gradtx.sgd(1.0), -1)


def test_each_member_of_a_vmapped_batch_decides_for_itself():
    params = {"w": jnp.linspace(-1.0, 1.0, 4)}
    tx = gradtx.apply_if_finite(gradtx.adam(0.1), max_consecutive_errors=5)

    def run(poisoned_at):
        p, s = params, tx.init(params)
        for k in range(3):
            g = example_grads(k, params)
            g = jax.tree.map(lambda x, y: jnp.where(k == poisoned_at, y, x), g, poison(g, jnp.nan))
            u, s = tx.update(g, s, p)
            p = gradtx.apply_updates(p, u)
        return p, s

    batched_p, batched_s = jax.jit(jax.vmap(run))(jnp.array([1, -1]))
    np.testing.assert_array_equal(batched_s.total_notfinite, [1, 0])
    np.testing.assert_array_equal(batched_s.inner_state[0].count, [2, 3])
    for i, at in enumerate([1, -1]):
        p, s = jax.jit(run)(at)
        for b, x in zip(jax.tree.leaves((batched_p, batched_s)), jax.tree.leaves((p, s)),
                        strict=True):  # fmt: skip
            np.testing.assert_allclose(b[i], x, rtol=1e-6, atol=1e-7)


def test_apply_if_finite_around_a_transformation_with_other_update_structure():
    tx = gradtx.apply_if_finite(gradtx.lookahead(gradtx.sgd(0.1), 2, 0.5), 1)
    params = gradtx.LookaheadParams.init_synced(jnp.ones(2))
    u, state = jax.jit(tx.update)(jnp.array([jnp.nan, 1.0]), tx.init(params), params)
    assert isinstance(u, gradtx.LookaheadParams)
    np.testing.assert_array_equal(u.fast, [0.0, 0.0])
    np.testing.assert_array_equal(u.slow, [0.0, 0.0])
    assert int(state.inner_state.steps_since_sync) == 0


def test_skip_functions():
    g = {"a": jnp.array([1.0, jnp.nan]), "b": jnp.array([jnp.inf, -jnp.inf, 0.0])}
    skip, info = gradtx.skip_not_finite(g, jnp.array(0), None)
    assert bool(skip) and int(info["num_not_finite"]) == 3
    skip, info = gradtx.skip_not_finite({"a": jnp.ones(3)}, jnp.array(0), None)
    assert not bool(skip) and int(info["num_not_finite"]) == 0
    g = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
    skip, info = gradtx.skip_large_updates(g, jnp.array(0), None, max_squared_norm=25.5)
    assert not bool(skip) and float(info["norm_squared"]) == 25.0
    skip, _ = gradtx.skip_large_updates(g, jnp.array(0), None, max_squared_norm=24.0)
    assert bool(skip)
    skip, _ = gradtx.skip_large_updates({"a": jnp.array([jnp.nan])}, 0, None, 1.0)
    assert bool(skip)
