"""gradtx inside the training loops of Flax (nnx and linen's TrainState) and Equinox, and every
optimizer state through orbax-checkpoint.

Each loop is run twice, once with a gradtx optimizer and once with the same Optax optimizer (the
oracle), and the parameters must agree step by step.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx
from flax.training import train_state

import gradtx
from tests.helpers import CASES, example_grads, example_params

X = jnp.asarray(np.random.RandomState(0).normal(size=(16, 3)), jnp.float32)
Y = jnp.sin(X @ jnp.array([1.0, -2.0, 0.5]))[:, None]


def _close(a, b, rtol=1e-6, atol=1e-7):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


# --- flax.nnx.Optimizer ------------------------------------------------------------------------


class _NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(3, 8, rngs=rngs)
        self.out = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


def _nnx_tx(lib):
    return lib.chain(lib.clip_by_global_norm(1.0), lib.adamw(1e-2))


def test_gradtx_optimizer_inside_flax_nnx_optimizer():
    model = _NnxMLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, _nnx_tx(gradtx), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(X) - Y) ** 2))(model)
        optimizer.update(model, grads)
        return loss

    # The oracle: the same optimizer by hand on the same parameters, as a pure function.
    graphdef, params = nnx.split(_NnxMLP(nnx.Rngs(0)), nnx.Param)
    tx = _nnx_tx(gradtx)
    state = tx.init(params)

    def loss_fn(p):
        return jnp.mean((nnx.merge(graphdef, p)(X) - Y) ** 2)

    losses = []
    for _ in range(5):
        loss = step(model, optimizer)
        value, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = tx.update(grads, state, params)
        params = gradtx.apply_updates(params, updates)
        np.testing.assert_allclose(loss, value, rtol=1e-6)
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    _close(jax.tree.leaves(nnx.state(model, nnx.Param)), jax.tree.leaves(params))
    # And Optax's adamw in the same place ends at the same point (to its float32 bias
    # correction, see Coming from Optax).
    model_optax = _NnxMLP(nnx.Rngs(0))
    optimizer_optax = nnx.Optimizer(model_optax, _nnx_tx(optax), wrt=nnx.Param)
    for _ in range(5):
        step(model_optax, optimizer_optax)
    _close(
        jax.tree.leaves(nnx.state(model, nnx.Param)),
        jax.tree.leaves(nnx.state(model_optax, nnx.Param)),
        rtol=1e-5,
        atol=1e-6,
    )


# --- flax.training.train_state (linen) ----------------------------------------------------------


def test_gradtx_optimizer_in_a_flax_train_state():
    def apply_fn(params, x):
        return jnp.tanh(x @ params["w"]) @ params["v"]

    params = {"w": jnp.ones((3, 4)) * 0.1, "v": jnp.ones((4, 1)) * 0.2}

    def run(tx):
        state = train_state.TrainState.create(apply_fn=apply_fn, params=params, tx=tx)

        @jax.jit
        def step(state):
            grads = jax.grad(lambda p: jnp.mean((state.apply_fn(p, X) - Y) ** 2))(state.params)
            return state.apply_gradients(grads=grads)

        for _ in range(5):
            state = step(state)
        return state

    ours, theirs = (
        run(gradtx.sgd(0.1, momentum=0.9, nesterov=True)),
        run(optax.sgd(0.1, momentum=0.9, nesterov=True)),
    )
    assert int(ours.step) == 5
    _close(ours.params, theirs.params)
    _close(jax.tree.leaves(ours.opt_state), jax.tree.leaves(theirs.opt_state))


# --- Equinox's filtered training loop -----------------------------------------------------------


def _eqx_run(lib, steps=5):
    model = eqx.nn.MLP(3, 1, 8, 2, activation=jnp.tanh, key=jax.random.key(0))
    # The model holds a non-array leaf (the activation): only its arrays are optimised.
    tx = lib.chain(lib.add_decayed_weights(1e-3), lib.lion(3e-3))
    opt_state = tx.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, opt_state):
        loss, grads = eqx.filter_value_and_grad(lambda m: jnp.mean((jax.vmap(m)(X) - Y) ** 2))(
            model
        )
        updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    losses = []
    for _ in range(steps):
        model, opt_state, loss = step(model, opt_state)
        losses.append(float(loss))
    return losses, eqx.filter(model, eqx.is_array)


def test_gradtx_optimizer_in_an_equinox_filtered_loop():
    ours, model = _eqx_run(gradtx)
    theirs, oracle = _eqx_run(optax)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert ours[-1] < ours[0]
    _close(jax.tree.leaves(model), jax.tree.leaves(oracle))


def test_gradtx_apply_updates_on_an_equinox_model():
    # gradtx.apply_updates keeps None params: Equinox's filtered-out leaves.
    model = eqx.nn.Linear(3, 2, key=jax.random.key(1))
    params = eqx.filter(model, eqx.is_array)
    updates = jax.tree.map(jnp.ones_like, params)
    new = gradtx.apply_updates(params, updates)
    _close(new, eqx.apply_updates(params, updates))


# --- Optax's chain around gradtx transformations, with extra arguments --------------------------


def _loss(p):
    return jnp.mean((jnp.tanh(X @ p["w"]) - Y) ** 2)


def _line_search_run(tx, steps=4):
    params = {"w": jnp.full((3, 1), 0.3)}
    state = tx.init(params)
    for _ in range(steps):
        value, grad = jax.value_and_grad(_loss)(params)
        updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=_loss)
        params = optax.apply_updates(params, updates)
    return params


def test_optax_chain_passes_extra_args_to_a_wrapped_gradtx_transformation():
    # optax.chain gives extra arguments only to its own GradientTransformationExtraArgs; a
    # gradtx transformation, a (init, update) pair, becomes one by unpacking it.
    ours = optax.chain(
        optax.sgd(1.0),
        optax.GradientTransformationExtraArgs(*gradtx.scale_by_backtracking_linesearch(15)),
    )
    theirs = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(15))
    _close(_line_search_run(ours), _line_search_run(theirs))


def test_gradtx_chain_passes_extra_args_to_optax_and_gradtx_members():
    # value, grad and value_fn reach gradtx's line search and Optax's Polyak step alike.
    ours = gradtx.chain(
        optax.sgd(1.0), gradtx.scale_by_backtracking_linesearch(15), optax.scale_by_polyak()
    )
    theirs = optax.chain(
        optax.sgd(1.0), optax.scale_by_backtracking_linesearch(15), optax.scale_by_polyak()
    )
    _close(_line_search_run(ours), _line_search_run(theirs))


# --- orbax-checkpoint ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpointer():
    with ocp.StandardCheckpointer() as ckptr:
        yield ckptr


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_state_round_trips_through_orbax(case, checkpointer, tmp_path):
    tx = case.make(case.h)
    params = example_params()
    update = jax.jit(lambda g, s, p: tx.update(g, s, p, **case.extra()))
    state = tx.init(params)
    _, state = update(example_grads(0, params), state, params)
    # Saved as users do, beside the parameters (orbax refuses a tree with no arrays at all,
    # which a stateless transformation's EmptyState is, alone).
    tree = {"params": params, "opt_state": state}
    checkpointer.save(tmp_path / "ckpt", tree)
    checkpointer.wait_until_finished()
    restored = checkpointer.restore(
        tmp_path / "ckpt", jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
    )["opt_state"]
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(_data(a), _data(b))
    # The restored state continues the run exactly.
    grads = example_grads(1, params)
    for a, b in zip(
        jax.tree.leaves(update(grads, restored, params)),
        jax.tree.leaves(update(grads, state, params)),
        strict=True,
    ):
        np.testing.assert_array_equal(_data(a), _data(b))


def _data(x):
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(x)
    return np.asarray(x)
