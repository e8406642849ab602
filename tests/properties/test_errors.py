"""Every construction-time ValueError and every tree-mismatch message."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

UNIT = "[0, 1)"
NONNEG = "[0, inf)"

# (factory, keyword arguments, the argument that is wrong, the interval in the message)
# fmt: off
INVALID = [
    (gradtx.scale_by_adam, {"b1": 1.0}, "b1", UNIT),
    (gradtx.scale_by_adam, {"b1": -0.1}, "b1", UNIT),
    (gradtx.scale_by_adam, {"b2": 1.5}, "b2", UNIT),
    (gradtx.scale_by_adam, {"eps": -1e-8}, "eps", NONNEG),
    (gradtx.scale_by_adam, {"eps_root": -1.0}, "eps_root", NONNEG),
    (gradtx.scale_by_adam, {"b1": float("nan")}, "b1", UNIT),
    (gradtx.scale_by_amsgrad, {"b2": 1.0}, "b2", UNIT),
    (gradtx.scale_by_amsgrad, {"eps": -1.0}, "eps", NONNEG),
    (gradtx.scale_by_adamax, {"b1": 2.0}, "b1", UNIT),
    (gradtx.scale_by_adamax, {"eps": -1.0}, "eps", NONNEG),
    (gradtx.scale_by_belief, {"b2": -0.5}, "b2", UNIT),
    (gradtx.scale_by_belief, {"eps_root": -1.0}, "eps_root", NONNEG),
    (gradtx.scale_by_lion, {"b1": 1.0}, "b1", UNIT),
    (gradtx.scale_by_rss, {"initial_accumulator_value": -0.1}, "initial_accumulator_value",
     NONNEG),
    (gradtx.scale_by_rss, {"eps": -1.0}, "eps", NONNEG),
    (gradtx.scale_by_rms, {"decay": 1.0}, "decay", UNIT),
    (gradtx.scale_by_rms, {"eps": -1.0}, "eps", NONNEG),
    (gradtx.scale_by_rms, {"initial_scale": -1.0}, "initial_scale", NONNEG),
    (gradtx.trace, {"decay": 1.5}, "decay", "[0, 1]"),
    (gradtx.trace, {"decay": 0.9, "dampening": 1.5}, "dampening", "[0, 1]"),
    (gradtx.ema, {"decay": -0.1}, "decay", UNIT),
    (gradtx.clip, {"max_delta": -1.0}, "max_delta", NONNEG),
    (gradtx.clip_by_global_norm, {"max_norm": -1.0}, "max_norm", NONNEG),
    (gradtx.clip_by_block_rms, {"threshold": -1.0}, "threshold", NONNEG),
    (gradtx.add_decayed_weights, {"weight_decay": float("nan")}, "weight_decay", "(-inf, inf)"),
    (gradtx.add_l2_regularization, {"strength": -1.0}, "strength", NONNEG),
    (gradtx.add_l1_regularization, {"strength": -1.0}, "strength", NONNEG),
    (gradtx.add_noise, {"eta": -1.0, "gamma": 0.55, "key": 0}, "eta", NONNEG),
    (gradtx.add_noise, {"eta": 0.01, "gamma": -1.0, "key": 0}, "gamma", NONNEG),
    (gradtx.scale_by_trust_ratio, {"min_norm": -1.0}, "min_norm", NONNEG),
    (gradtx.scale_by_trust_ratio, {"trust_coefficient": -1.0}, "trust_coefficient", NONNEG),
    (gradtx.scale_by_learning_rate, {"learning_rate": -0.1}, "learning_rate", NONNEG),
    (gradtx.sgd, {"learning_rate": 0.1, "momentum": 1.5}, "momentum", "[0, 1]"),
    (gradtx.sgd, {"learning_rate": 0.1, "momentum": 0.9, "dampening": -0.5}, "dampening",
     "[0, 1]"),
    (gradtx.heavy_ball, {"learning_rate": 0.1, "momentum": 1.2}, "momentum", UNIT),
    (gradtx.adagrad, {"learning_rate": 0.1, "lr_decay": -1.0}, "lr_decay", NONNEG),
    (gradtx.rmsprop, {"learning_rate": 0.1, "momentum": -0.5}, "momentum", UNIT),
    (gradtx.adam, {"learning_rate": 0.1, "b2": 1.0}, "b2", UNIT),
    (gradtx.adamw, {"learning_rate": 0.1, "weight_decay": float("nan")}, "weight_decay",
     "(-inf, inf)"),
    (gradtx.lion, {"learning_rate": 0.1, "b2": 1.0}, "b2", UNIT),
    (gradtx.scale_by_lion, {"mode": "soft"}, "mode", "('hard', 'smooth', 'refined')"),
    (gradtx.lamb, {"learning_rate": 0.1, "eps": -1.0}, "eps", NONNEG),
    (gradtx.adam, {"learning_rate": jnp.array([0.1, -0.1])}, "learning_rate", NONNEG),
]
# fmt: on

OPTIMIZERS = [
    gradtx.sgd, gradtx.heavy_ball, gradtx.adagrad, gradtx.rmsprop, gradtx.adam, gradtx.adamw,
    gradtx.nadam, gradtx.nadamw, gradtx.amsgrad, gradtx.adamax, gradtx.adabelief, gradtx.lion,
    gradtx.lamb, gradtx.sign_sgd,
]  # fmt: skip


@pytest.mark.parametrize(
    ("factory", "kwargs", "arg", "interval"),
    INVALID,
    ids=[f"{f.__name__}-{a}-{i}" for i, (f, _, a, _) in enumerate(INVALID)],
)
def test_invalid_hyperparameter_names_argument_value_and_range(factory, kwargs, arg, interval):
    with pytest.raises(ValueError, match=f"{arg} must be in") as e:
        factory(**kwargs)
    msg = str(e.value)
    assert f"{arg} must be in {interval}" in msg
    assert f"got {arg}=" in msg
    value = kwargs[arg]
    if isinstance(value, float) and not math.isnan(value):
        assert repr(value) in msg


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda f: f.__name__)
def test_negative_learning_rate_names_the_optimizer(optimizer):
    with pytest.raises(ValueError, match=rf"^{optimizer.__name__}\(\): learning_rate must be"):
        optimizer(-1e-3)


def test_noisy_sgd_rejects_negative_learning_rate():
    with pytest.raises(ValueError, match=r"noisy_sgd\(\): learning_rate must be in \[0, inf\)"):
        gradtx.noisy_sgd(-0.1, key=0)


def test_hyperparameter_that_is_not_a_number_is_a_type_error():
    with pytest.raises(TypeError, match=r"scale_by_adam\(\): b1 must be a number"):
        gradtx.scale_by_adam(b1="0.9")


def test_traced_hyperparameters_are_not_validated_eagerly():
    # Inside jit the value is unknown; construction must not fail or force it.
    @jax.jit
    def first_update(b1):
        tx = gradtx.adam(0.1, b1=b1)
        return tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))[0]

    assert first_update(0.5).shape == (2,)


def test_update_with_a_different_tree_names_the_path_and_both_structures():
    params = {"dense": {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)}}
    tx = gradtx.adam(0.1)
    state = tx.init(params)
    grads = {"dense": {"w": jnp.zeros((2, 2)), "bias": jnp.zeros(2)}}
    with pytest.raises(ValueError, match="Tree structures differ") as e:
        tx.update(grads, state, params)
    msg = str(e.value)
    assert "['dense']['b']" in msg and "['dense']['bias']" in msg
    assert "updates" in msg and "state" in msg
    assert str(jax.tree.structure(grads)) in msg and str(jax.tree.structure(params)) in msg


def test_update_with_an_extra_leaf_names_it():
    tx = gradtx.sgd(0.1, momentum=0.9)
    state = tx.init({"a": jnp.zeros(1)})
    with pytest.raises(ValueError, match=r"first extra leaf is \['b'\] in updates"):
        tx.update({"a": jnp.zeros(1), "b": jnp.zeros(1)}, state)


def test_function_leaf_in_params_says_how_to_filter_it():
    params = {"w": jnp.zeros(2), "activation": jax.nn.relu}
    with pytest.raises(TypeError) as e:
        gradtx.adam(0.1).init(params)
    msg = str(e.value)
    assert "['activation']" in msg and "is a function" in msg
    assert "equinox.partition" in msg and "jax.tree.map" in msg


def test_function_leaf_in_apply_updates_is_reported():
    with pytest.raises(TypeError, match=r"apply_updates\(params\).*\['f'\] is a function"):
        gradtx.apply_updates({"f": np.sin}, {"f": jnp.zeros(1)})


def test_transforms_that_need_params_say_so():
    for tx in [gradtx.add_decayed_weights(0.1), gradtx.scale_by_trust_ratio(),
               gradtx.add_l1_regularization(0.1)]:  # fmt: skip
        with pytest.raises(ValueError, match=r"needs the current parameters.*update\(grads"):
            tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_nesterov_without_momentum_is_rejected():
    with pytest.raises(ValueError, match=r"sgd\(\): nesterov=True needs a momentum"):
        gradtx.sgd(0.1, nesterov=True)
    with pytest.raises(ValueError, match="cannot be combined"):
        gradtx.adam(0.1, nesterov=True, amsgrad=True)


def test_bad_schedule_and_key_types():
    with pytest.raises(TypeError, match=r"step_size_fn must be callable.*gradtx.scale"):
        gradtx.scale_by_schedule(0.1)
    with pytest.raises(TypeError, match=r"key must be an int seed or a JAX random key"):
        gradtx.add_noise(0.01, 0.55, key="seed")


def test_mask_with_wrong_structure_is_reported():
    tx = gradtx.add_decayed_weights(0.1, mask={"x": True})
    p = {"a": jnp.ones(1), "b": jnp.ones(1)}
    with pytest.raises(ValueError, match="mask must be a tree of booleans"):
        tx.update(p, tx.init(p), p)


def test_optimistic_adam_is_deprecated_and_refuses_schedules_as_in_optax():
    with pytest.warns(DeprecationWarning, match="optimistic_adam_v2"):
        gradtx.optimistic_adam(0.1)
    with (
        pytest.warns(DeprecationWarning, match="optimistic_adam_v2"),
        pytest.raises(ValueError, match="does not support learning rate schedules"),
    ):
        gradtx.optimistic_adam(gradtx.constant_schedule(0.1))
