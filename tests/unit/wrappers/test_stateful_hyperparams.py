"""inject_stateful_hyperparams, stateful schedules in inject_hyperparams, WrappedSchedule."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradtx
from tests.helpers import example_grads, example_params, numeric_leaves


class TotalState(NamedTuple):
    total: jax.Array


class LossSum:
    """A stateful schedule: the value is the sum of the losses seen so far (a float32)."""

    def init(self):
        return TotalState(jnp.zeros([], jnp.float32))

    def update(self, state, **extra_args):
        return TotalState(state.total + extra_args["loss"])

    def __call__(self, state, **extra_args):
        return state.total


def _stateful_optax(factory, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return optax.inject_stateful_hyperparams(factory)(**kwargs)


def test_matches_optax_step_by_step_with_a_plain_and_a_stateful_schedule():
    schedule = lambda lib: lib.linear_schedule(0.1, 0.01, 5)  # noqa: E731
    tx = gradtx.inject_stateful_hyperparams(gradtx.sgd)(learning_rate=schedule(gradtx),
                                                        momentum=0.9)  # fmt: skip
    ref = _stateful_optax(optax.sgd, learning_rate=schedule(optax), momentum=0.9)
    params = example_params()
    state, ref_state = tx.init(params), ref.init(params)
    assert type(state).__name__ == type(ref_state).__name__ == "InjectStatefulHyperparamsState"
    assert state._fields == ref_state._fields
    update = jax.jit(tx.update)
    for k in range(6):
        g = example_grads(k, params)
        u, state = update(g, state, params)
        with jax.numpy_dtype_promotion("standard"):
            v, ref_state = ref.update(g, ref_state, params)
        for a, b in zip(numeric_leaves(u), numeric_leaves(v), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(state.hyperparams["learning_rate"],
                                   ref_state.hyperparams["learning_rate"], rtol=1e-6)  # fmt: skip
        assert int(state.hyperparams_states["learning_rate"].count) == k + 1
        assert int(ref_state.hyperparams_states["learning_rate"].count) == k + 1


def test_a_stateful_schedule_sees_the_extra_arguments():
    for wrapper in (gradtx.inject_hyperparams, gradtx.inject_stateful_hyperparams):
        tx = wrapper(gradtx.scale)(step_size=LossSum())
        state = tx.init(jnp.ones(2))
        assert isinstance(state, gradtx.InjectStatefulHyperparamsState)
        losses = [0.5, 2.0, 1.0]
        total = 0.0
        update = jax.jit(tx.update)
        for loss in losses:
            u, state = update(jnp.ones(2), state, loss=jnp.float32(loss))
            np.testing.assert_allclose(u, [total, total])  # the value before this step's loss
            total += loss
            np.testing.assert_allclose(state.hyperparams_states["step_size"].total, total)
        np.testing.assert_allclose(state.hyperparams["step_size"], total - losses[-1])


def test_plain_inject_hyperparams_keeps_its_state_and_integer_schedules():
    tx = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=gradtx.linear_schedule(1.0, 0.0, 2))
    assert isinstance(tx.init(jnp.zeros(1)), gradtx.InjectHyperparamsState)
    # Optax takes every callable for a schedule: one returning the (integer) count too.
    tx = gradtx.inject_hyperparams(gradtx.scale)(lambda count: count)
    state = tx.init(jnp.zeros(2))
    for k in range(3):
        u, state = tx.update(jnp.ones(2), state)
        np.testing.assert_array_equal(u, [k, k])


def test_wrapped_schedule_by_hand():
    sched = gradtx.linear_schedule(1.0, 0.0, 4)
    wrapped = gradtx.schedules.WrappedSchedule(sched)
    state = wrapped.init()
    for k in range(6):
        np.testing.assert_array_equal(wrapped(state, loss=1.0), sched(jnp.int32(k)))
        assert int(state.count) == k
        state = wrapped.update(state, loss=1.0)
