"""Every numeric hyperparameter of every factory can be vmapped over and differentiated."""

from __future__ import annotations

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.helpers import CASES, core_factories, example_params

# Every factory exported by gradtx, and how to call it when an argument has no default.
REQUIRED = {"learning_rate": 0.05, "decay": 0.9, "step_size": 0.5, "max_delta": 1.0,
            "max_norm": 1.0, "threshold": 1.0, "eta": 0.01, "gamma": 0.55,
            "clipping": 0.1}  # fmt: skip
# min_dim_size_to_factor decides the state shapes (which leaves are factored): static.
NOT_HYPERPARAMETERS = {
    "key",
    "accumulator_dtype",
    "mu_dtype",
    "mask",
    "step_size_fn",
    "min_dim_size_to_factor",
}
# Arguments whose default is None but which take a number.
OPTIONAL_NUMBERS = {"momentum": 0.9, "dampening": 0.1, "lr_decay": 0.01}
FACTORIES = sorted(
    core_factories() - {"safe_increment", "identity", "set_to_zero", "scale_by_sign"}
)


def numeric_arguments(name):
    for p in inspect.signature(getattr(gradtx, name)).parameters.values():
        if p.name in NOT_HYPERPARAMETERS:
            continue
        default = p.default
        if default is inspect.Parameter.empty:
            default = REQUIRED[p.name]
        elif default is None:
            default = OPTIONAL_NUMBERS.get(p.name)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        yield p.name, float(default)


def build(name, **overrides):
    kwargs = {}
    for p in inspect.signature(getattr(gradtx, name)).parameters.values():
        if p.default is inspect.Parameter.empty and p.name in REQUIRED:
            kwargs[p.name] = REQUIRED[p.name]
    if name in {"add_noise", "noisy_sgd"}:
        kwargs["key"] = 0
    kwargs.update(overrides)
    with warnings.catch_warnings():  # optimistic_adam is deprecated (in Optax too)
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(gradtx, name)(**kwargs)


ARGS = [(name, arg, value) for name in FACTORIES for arg, value in numeric_arguments(name)]


def test_the_list_is_not_empty():
    assert len(ARGS) > 60


def run(tx, params, steps=4):
    state = tx.init(params)
    for k in range(steps):
        grads = jax.tree.map(lambda x: jnp.cos(x * (k + 1.0)) - 0.3 * x, params)
        updates, state = tx.update(grads, state, params, value=1.0)
        # Transforms without a learning rate take steps of size ~1 (or ~|w| for the trust
        # ratio); a small step keeps the runs away from chaotic dynamics, where float32
        # rounding differences between two equal computations would grow without bound.
        params = gradtx.apply_updates(params, gradtx.tree.scale(0.1, updates))
    return params


def grid(value):
    """Three valid values around a default (0 stays valid for non-negative arguments)."""
    return (value, value * 0.5, value * 0.25) if value else (0.0, 0.01, 0.02)


# Ill-conditioned on these runs: the centred variance r - m^2 cancels (a 1e-7 relative change
# of the parameters moves scale_by_stddev's result by 1.6e-5, and float32 runs are 1e-4 from the
# float64 one whichever way they are computed), so in float32 the two equal computations differ
# by rounding alone. In float64 they agree to 1e-13, which tests vmap and not the rounding.
IN_FLOAT64 = {"scale_by_stddev"}


@pytest.mark.parametrize(("name", "arg", "value"), ARGS, ids=[f"{n}-{a}" for n, a, _ in ARGS])
def test_vmap_over_every_numeric_hyperparameter(name, arg, value):
    with jax.enable_x64(name in IN_FLOAT64):
        dtype = jnp.float64 if name in IN_FLOAT64 else jnp.float32
        params = example_params(dtype)
        values = grid(value)
        batched = jax.jit(jax.vmap(lambda h: run(build(name, **{arg: h}), params)))(
            jnp.array(values, dtype)
        )
        for i, h in enumerate(values):
            single = run(build(name, **{arg: h}), params)
            for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
                np.testing.assert_allclose(b[i], s, rtol=1e-5, atol=1e-6)


SMOOTH = [c for c in CASES if c.name not in {"identity", "scale_by_sign", "sign_sgd"}]


@pytest.mark.parametrize("case", SMOOTH, ids=[c.name for c in SMOOTH])
def test_grad_through_hyperparameter_matches_finite_differences(case):
    with jax.enable_x64(True):
        params = example_params(jnp.float64)

        def final_loss(h):
            p = run(case.make(h), params, steps=3)
            return sum(jnp.sum(jnp.sin(x)) for x in jax.tree.leaves(p))

        h = jnp.float64(case.h)
        grad = jax.grad(final_loss)(h)
        step = 1e-6 * max(1.0, abs(case.h))
        fd = (final_loss(h + step) - final_loss(h - step)) / (2 * step)
        np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6)
