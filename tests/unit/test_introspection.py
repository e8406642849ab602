"""explain() reads the registry combinators fill in, never closures."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import gradtx
from gradtx import _registry

PARAMS = {"dense": {"w": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
ADAMW = ("scale_by_adam", "add_decayed_weights", "scale")


def my_transform():
    def update_fn(updates, state, params=None, **extra_args):
        return updates, state

    return gradtx.GradientTransformation(lambda params: (), update_fn)


def test_an_unregistered_transform_is_listed_under_its_factory_name():
    explained = gradtx.explain(gradtx.chain(my_transform(), gradtx.sgd(0.1)), PARAMS)
    assert explained["dense/w"] == ("my_transform", "identity", "scale")


@pytest.mark.parametrize(
    "wrap",
    [
        lambda tx: gradtx.MultiSteps(tx, 2),
        lambda tx: gradtx.MultiSteps(tx, 2).gradient_transformation(),
        lambda tx: gradtx.apply_if_finite(tx, 3),
        lambda tx: gradtx.lookahead(tx, 2, 0.5),
        lambda tx: gradtx.master_weights(tx),
        lambda tx: gradtx.flatten(tx),
        lambda tx: gradtx.named_chain(("opt", tx)),
        lambda tx: gradtx.sam(tx),
    ],
    ids=["MultiSteps", "gradient_transformation", "apply_if_finite", "lookahead",
         "master_weights", "flatten", "named_chain", "sam"],
)  # fmt: skip
def test_wrappers_list_their_inner_transformation(wrap):
    explained = gradtx.explain(wrap(gradtx.adamw(0.1, mask="*/w")), PARAMS)
    assert explained == {"dense/bias": ("scale_by_adam", "scale"), "dense/w": ADAMW}


def test_the_registry_not_closure_variable_names_decides():
    inner = gradtx.scale(2.0)

    def renamed():  # no variable called mask or fn anywhere
        def update_fn(updates, state, params=None, **extra_args):
            return inner.update(updates, state, params)

        return _registry.describe(
            gradtx.GradientTransformation(inner.init, update_fn), name="doubled", mask="*/bias"
        )

    assert gradtx.explain(renamed(), PARAMS) == {"dense/bias": ("doubled",), "dense/w": ()}
    assert gradtx.MultiSteps(inner, 2).inner_opt is inner


def test_regularisers_register_their_name_and_mask():
    for factory in (
        gradtx.add_decayed_weights,
        gradtx.add_l1_regularization,
        gradtx.add_l2_regularization,
    ):
        explained = gradtx.explain(factory(0.1, mask=gradtx.by_path("*/bias")), PARAMS)
        assert explained == {"dense/bias": (factory.__name__,), "dense/w": ()}
