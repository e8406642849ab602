"""with_extra_args_support, stateless_with_tree_map and the protocol types, against Optax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx


def test_with_extra_args_support_drops_unnamed_extras_and_keeps_extra_args_transforms():
    calls = []

    def plain(updates, state, params=None):
        calls.append(params)
        return jax.tree.map(lambda u: -u, updates), state

    tx = gradtx.with_extra_args_support(gradtx.GradientTransformation(lambda p: (), plain))
    u, _ = tx.update(jnp.ones(2), (), None, loss=1.0, value_fn=None)
    np.testing.assert_array_equal(u, [-1.0, -1.0])
    assert calls == [None]
    ours = gradtx.adam(0.1)
    assert gradtx.with_extra_args_support(ours) is ours
    # Optax's transformations, plain and with extra args, work the same way.
    for theirs in (optax.scale(-1.0), optax.with_extra_args_support(optax.scale(-1.0))):
        wrapped = gradtx.with_extra_args_support(theirs)
        np.testing.assert_array_equal(wrapped.update(jnp.ones(1), wrapped.init(None), x=2)[0], [-1])
    with pytest.raises(TypeError, match="tx must be a GradientTransformation"):
        gradtx.with_extra_args_support(gradtx.adam)  # type: ignore[arg-type]


def test_stateless_with_tree_map_matches_optax():
    f = lambda u, p: u if p is None else u - 0.5 * p  # noqa: E731
    ours, theirs = gradtx.stateless_with_tree_map(f), optax.stateless_with_tree_map(f)
    params = {"a": jnp.array([1.0, 2.0]), "b": (jnp.array(3.0),)}
    grads = {"a": jnp.array([0.5, -1.0]), "b": (jnp.array(2.0),)}
    for p in (params, None):
        u, s = ours.update(grads, ours.init(params), p)
        v, _ = theirs.update(grads, theirs.init(params), p)
        jax.tree.map(np.testing.assert_array_equal, u, v)
        assert s == gradtx.EmptyState()
    with pytest.raises(ValueError, match="updates"):
        ours.update(grads, ours.init(params), {"a": params["a"]})


def test_protocols_and_aliases():
    class Halving:
        def init(self):
            return jnp.array(1.0)

        def update(self, state, **extra_args):
            return state / 2

        def __call__(self, state, **extra_args):
            return state

    assert isinstance(Halving(), gradtx.StatefulSchedule)
    assert isinstance(gradtx.schedules.WrappedSchedule(lambda k: k), gradtx.StatefulSchedule)
    assert not isinstance(gradtx.linear_schedule(0.0, 1.0, 2), gradtx.StatefulSchedule)
    assert gradtx.MultiTransformState is gradtx.PartitionState
    assert gradtx.schedules.StatefulSchedule is gradtx.StatefulSchedule
    for name in ("TransformInitFn", "TransformUpdateFn", "TransformUpdateExtraArgsFn", "MaskOrFn"):
        assert hasattr(gradtx, name) and hasattr(optax, name)
