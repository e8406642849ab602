"""Optax and gradtx transformations mixed in one chain, as users do while they migrate.

Combinators and wrappers accept any object with ``init`` and ``update``. Each mixed chain is
checked against the same chain built from Optax alone (the oracle), step by step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx

PARAMS = {"w": jnp.array([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.array([0.1, -0.3])}


def _loss(p):
    return jnp.sum((p["w"] @ jnp.array([1.0, -2.0]) + p["b"]) ** 2) + jnp.sum(p["w"] ** 4)


def _run(tx, steps=5):
    """``steps`` updates of ``tx`` from PARAMS, returning the list of updates."""
    params, state, out = PARAMS, tx.init(PARAMS), []
    for _ in range(steps):
        updates, state = jax.jit(tx.update)(jax.grad(_loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        out.append(updates)
    return out


def _assert_same(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        jax.tree_util.tree_map(
            lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7), a, b
        )


def test_gradtx_chain_runs_optax_transformations():
    mixed = gradtx.chain(optax.clip_by_global_norm(1.0), gradtx.adam(1e-2))
    pure = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
    _assert_same(_run(mixed), _run(pure))


def test_optax_chain_runs_gradtx_transformations():
    mixed = optax.chain(gradtx.scale_by_adam(), optax.scale(-1e-2))
    pure = optax.chain(optax.scale_by_adam(), optax.scale(-1e-2))
    _assert_same(_run(mixed), _run(pure))


def test_gradtx_wrappers_take_optax_transformations():
    mask = {"w": True, "b": False}
    ours = gradtx.chain(gradtx.masked(optax.add_decayed_weights(0.1), mask), optax.sgd(0.1))
    theirs = optax.chain(optax.masked(optax.add_decayed_weights(0.1), mask), optax.sgd(0.1))
    _assert_same(_run(ours), _run(theirs))

    ours = gradtx.MultiSteps(optax.adam(1e-2), every_k_schedule=2)
    theirs = optax.MultiSteps(optax.adam(1e-2), every_k_schedule=2)
    _assert_same(_run(ours, steps=6), _run(theirs, steps=6))


def test_plain_optax_updates_receive_only_the_arguments_they_name():
    # optax.scale's update takes (updates, state, params): passing value= to it directly fails.
    with pytest.raises(TypeError):
        optax.scale(2.0).update(PARAMS, optax.scale(2.0).init(PARAMS), None, value=1.0)
    tx = gradtx.chain(optax.scale(2.0), gradtx.scale(-0.5))
    updates, _ = tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=1.0)
    jax.tree_util.tree_map(np.testing.assert_array_equal, updates, gradtx.tree.scale(-1.0, PARAMS))


def test_optax_updates_that_take_extra_args_receive_them():
    # Optax's backtracking line search needs value, grad and value_fn from the chain.
    def chain(lib):
        return lib.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(15))

    def run(tx):
        params, state = PARAMS, tx.init(PARAMS)
        for _ in range(4):
            value, grad = jax.value_and_grad(_loss)(params)
            updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=_loss)
            params = optax.apply_updates(params, updates)
        return params

    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
        run(chain(gradtx)),
        run(chain(optax)),
    )


def test_a_users_class_with_init_and_update_is_a_transformation():
    class Halve:
        def init(self, params):
            return ()

        def update(self, updates, state, params=None):
            return jax.tree_util.tree_map(lambda u: u / 2, updates), state

    tx = gradtx.chain(Halve(), gradtx.scale(-1.0))
    updates, _ = tx.update(PARAMS, tx.init(PARAMS), value=3.0)
    jax.tree_util.tree_map(np.testing.assert_array_equal, updates, gradtx.tree.scale(-0.5, PARAMS))


@pytest.mark.parametrize("bad", [3, "adam", gradtx.sgd])
def test_objects_without_init_and_update_are_refused(bad):
    with pytest.raises(TypeError, match="argument 0 must be a GradientTransformation"):
        gradtx.chain(bad)
    with pytest.raises(TypeError, match="inner must be a GradientTransformation"):
        gradtx.masked(bad, {"w": True})


def test_extra_args_type_is_the_transformation_type():
    assert gradtx.GradientTransformationExtraArgs is gradtx.GradientTransformation
