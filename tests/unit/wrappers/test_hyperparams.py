"""inject_hyperparams, tree_get / tree_set and current_learning_rate."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import optimizers
from tests.helpers import counted_update, example_grads, example_params


def _small_params():
    return {"w": jnp.asarray(np.random.RandomState(0).normal(size=(3, 4)), jnp.float32)}


def _build(name, factory, lr):
    """``factory(lr)`` with the keyword-only arguments an optimizer requires."""
    required = {
        p.name
        for p in inspect.signature(getattr(optimizers, name)).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY
    }
    return factory(lr, **({"key": 0} if "key" in required else {}))


def _grads(k, p):
    return jax.tree.map(lambda x: jnp.sin(x * (k + 1.0)) + 0.1 * x, p)


def _value(k, p):
    """A loss whose gradient is _grads (>= 0, for polyak_sgd, which needs the value)."""
    return sum(
        jnp.sum(1.0 - jnp.cos(x * (k + 1.0)) / (k + 1.0) + 0.05 * x**2) for x in jax.tree.leaves(p)
    )


def _scan(tx, params, steps):
    def step(carry, k):
        p, s = carry
        u, s = tx.update(_grads(k, p), s, p, value=_value(k, p))
        return (gradtx.apply_updates(p, u), s), u

    (p, s), us = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(float(steps)))
    return p, s, us


@pytest.mark.parametrize("name", optimizers.__all__)
def test_wrapping_changes_nothing_over_100_steps(name):
    factory = getattr(optimizers, name)
    plain = _build(name, factory, 0.01)
    wrapped = _build(name, gradtx.inject_hyperparams(factory), 0.01)
    params = _small_params()

    @jax.jit
    def both():
        return _scan(plain, params, 100)[::2], _scan(wrapped, params, 100)[::2]

    (p_plain, u_plain), (p_wrapped, u_wrapped) = both()
    for a, b in zip(jax.tree.leaves((p_plain, u_plain)), jax.tree.leaves((p_wrapped, u_wrapped)),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["adam", "amsgrad"])
def test_wrapping_a_scheduled_learning_rate_changes_nothing(name):
    def schedule(k):
        return 0.02 / (1.0 + 0.1 * k.astype(float))

    factory = getattr(gradtx, name)
    params = {"w": jnp.linspace(-1.0, 1.0, 6)}
    p_plain, _, u_plain = jax.jit(lambda: _scan(factory(schedule), params, 30))()
    p_wrapped, s, u_wrapped = jax.jit(
        lambda: _scan(gradtx.inject_hyperparams(factory)(schedule), params, 30)
    )()
    for a, b in zip(jax.tree.leaves((p_plain, u_plain)), jax.tree.leaves((p_wrapped, u_wrapped)),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    # The stored value is the one used in the last (30th) update, at count 29.
    np.testing.assert_allclose(s.hyperparams["learning_rate"], 0.02 / (1.0 + 2.9), rtol=1e-6)
    assert int(s.count) == 30


def test_a_schedule_is_evaluated_before_each_update_and_stored():
    tx = gradtx.inject_hyperparams(gradtx.sgd)(
        learning_rate=lambda k: 1.0 / (1.0 + k.astype(float))
    )
    state = tx.init(jnp.zeros(1))
    assert float(state.hyperparams["learning_rate"]) == 1.0  # what the first update uses
    for k in range(4):
        u, state = tx.update(jnp.array([2.0]), state)
        lr = np.float32(1.0 / (1.0 + k))
        assert float(state.hyperparams["learning_rate"]) == lr
        assert float(u[0]) == -2.0 * lr


def test_changing_the_learning_rate_takes_effect_at_the_next_step():
    params = _small_params()
    tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.1)
    update = jax.jit(tx.update)
    state = tx.init(params)
    for k in range(3):
        _, state = update(example_grads(k, params), state, params)
    state.hyperparams["learning_rate"] = 0.5  # the Optax idiom
    grads = example_grads(3, params)
    u, new_state = update(grads, state, params)
    # The same step of an Adam built with 0.5, from the same moments.
    expected, _ = jax.jit(gradtx.adam(0.5).update)(grads, state.inner_state, params)
    for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(a, b)
    assert new_state.hyperparams["learning_rate"].dtype == jnp.float32
    # And through tree_set: the step after is scaled by the new rate.
    sgd = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
    s = sgd.init(params)
    u1, s = sgd.update(grads, s)
    u2, _ = sgd.update(grads, gradtx.tree_set(s, learning_rate=0.025))
    for g, a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(u1), jax.tree.leaves(u2),
                       strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, -np.float32(0.1) * np.asarray(g))
        np.testing.assert_array_equal(b, -np.float32(0.025) * np.asarray(g))


def test_vmap_over_a_grid_written_into_the_state_equals_separate_runs():
    params = _small_params()
    lrs = jnp.array([0.001, 0.01, 0.05, 0.1])
    b1s = jnp.array([0.5, 0.8, 0.9, 0.95])
    tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.1)
    state = jax.vmap(tx.init, in_axes=None, axis_size=4)(params)
    state = gradtx.tree_set(state, learning_rate=lrs, b1=b1s)
    batched_params = jax.tree.map(lambda x: jnp.broadcast_to(x, (4, *x.shape)), params)

    def run(p, s):
        for k in range(5):
            u, s = tx.update(_grads(k, p), s, p)
            p = gradtx.apply_updates(p, u)
        return p

    batched = jax.jit(jax.vmap(run))(batched_params, state)

    @jax.jit
    def single(lr, b1):
        single_tx = gradtx.adam(lr, b1=b1)
        p, s = params, single_tx.init(params)
        for k in range(5):
            u, s = single_tx.update(_grads(k, p), s, p)
            p = gradtx.apply_updates(p, u)
        return p

    for i in range(4):
        p = single(lrs[i], b1s[i])
        for b, x in zip(jax.tree.leaves(batched), jax.tree.leaves(p), strict=True):
            np.testing.assert_allclose(b[i], x, rtol=1e-5, atol=1e-6)


def test_grad_through_the_learning_rate_matches_finite_differences():
    with jax.enable_x64(True):
        params = example_params(jnp.float64)
        tx = gradtx.inject_hyperparams(gradtx.adamw)(learning_rate=0.05, weight_decay=0.1)

        def final_loss(lr):
            p = params
            state = gradtx.tree_set(tx.init(params), learning_rate=lr)
            assert state.hyperparams["learning_rate"].dtype == jnp.float64
            for k in range(3):
                u, state = tx.update(_grads(k, p), state, p)
                p = gradtx.apply_updates(p, u)
            return sum(jnp.sum(jnp.sin(x)) for x in jax.tree.leaves(p))

        lr = jnp.float64(0.05)
        grad = jax.jit(jax.grad(final_loss))(lr)
        loss = jax.jit(final_loss)
        fd = (loss(lr + 1e-6) - loss(lr - 1e-6)) / 2e-6
        np.testing.assert_allclose(grad, fd, rtol=1e-6)
        assert abs(float(grad)) > 1e-3


def test_bfloat16_params_keep_float32_hyperparameters():
    params = example_params(jnp.bfloat16)
    tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-3, b2=0.999)
    state = tx.init(params)
    b2 = state.hyperparams["b2"]
    assert b2.dtype == jnp.float32
    assert np.asarray(b2) == np.float32(0.999)
    assert float(jnp.asarray(0.999, jnp.bfloat16)) == 1.0  # what a bf16 store would do
    plain = gradtx.adam(1e-3, b2=0.999)
    s_plain = plain.init(params)
    update, update_plain = jax.jit(tx.update), jax.jit(plain.update)
    for k in range(5):
        grads = example_grads(k, params)
        u, state = update(grads, state, params)
        u_plain, s_plain = update_plain(grads, s_plain, params)
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(u_plain), strict=True):
            assert a.dtype == jnp.bfloat16
            np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    assert state.hyperparams["b2"].dtype == jnp.float32


def test_which_arguments_become_hyperparameters():
    def names(factory, *args, **kwargs):
        tx = gradtx.inject_hyperparams(factory)(*args, **kwargs)
        return sorted(tx.init({"w": jnp.ones(2)}).hyperparams)

    # Booleans, None, dtypes, masks and integer seeds stay static; an int weight decay does not.
    assert names(gradtx.sgd, 0.1, nesterov=False) == ["learning_rate"]  # dampening: None
    assert names(gradtx.sgd, 0.1, momentum=0.9, nesterov=True, accumulator_dtype=jnp.float32) \
        == ["learning_rate", "momentum"]  # fmt: skip
    assert names(gradtx.sgd, 0.1, momentum=0.9, dampening=0.1) == [
        "dampening", "learning_rate", "momentum"]  # fmt: skip
    assert names(gradtx.noisy_sgd, 0.1, key=3) == ["eta", "gamma", "learning_rate"]
    assert "weight_decay" in names(gradtx.adamw, 0.1, weight_decay=0, mask=lambda p: p)
    assert "mask" not in names(gradtx.adamw, 0.1, mask=lambda p: jax.tree.map(bool, p))

    def custom(lr, steps, scale_fn):
        del steps
        return gradtx.chain(gradtx.stateless(lambda u, p: scale_fn(u)), gradtx.sgd(lr))

    wrapped = gradtx.inject_hyperparams(custom, static_args="scale_fn")
    state = wrapped(0.5, 10, lambda u: u).init({"w": jnp.ones(2)})
    assert sorted(state.hyperparams) == ["lr"]  # the int 10 is structural
    with pytest.raises(ValueError, match=r"static_args \['nope'\] are not arguments of custom"):
        gradtx.inject_hyperparams(custom, static_args=["nope"])


def test_b1_can_be_scheduled_even_though_adam_takes_a_constant():
    tx = gradtx.inject_hyperparams(gradtx.scale_by_adam)(
        b1=lambda k: 0.5 + 0.1 * k.astype(float), b2=0.9
    )
    state = tx.init(jnp.zeros(1))
    for k in range(3):
        _, state = tx.update(jnp.ones(1), state)
        np.testing.assert_allclose(state.hyperparams["b1"], 0.5 + 0.1 * k, rtol=1e-6)
    # mu follows m_k = b1_k m_{k-1} + (1 - b1_k) g with g = 1.
    m = 0.0
    for k in range(3):
        m = (0.5 + 0.1 * k) * m + (1 - (0.5 + 0.1 * k))
    np.testing.assert_allclose(state.inner_state.mu, [m], rtol=1e-6)


def test_construction_validates_like_the_unwrapped_factory():
    with pytest.raises(ValueError, match="b1 must be in"):
        gradtx.inject_hyperparams(gradtx.adam)(0.1, b1=1.5)
    with pytest.raises(TypeError, match="inject_hyperparams"):
        gradtx.inject_hyperparams(gradtx.adam)(0.1, not_an_argument=1.0)


def test_a_misspelt_hyperparameter_in_the_state_is_an_error():
    tx = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
    state = tx.init(jnp.zeros(1))
    state.hyperparams["lr"] = 0.5
    with pytest.raises(KeyError, match="unknown: \\['lr'\\]"):
        tx.update(jnp.ones(1), state)


def test_tree_get_tree_set_and_current_learning_rate_in_nested_states():
    adam = gradtx.inject_hyperparams(gradtx.adam)
    tx = gradtx.chain(gradtx.clip(1.0), adam(learning_rate=0.1))
    state = tx.init({"w": jnp.zeros(2)})
    assert float(gradtx.tree_get(state, "learning_rate")) == np.float32(0.1)
    assert float(gradtx.current_learning_rate(state)) == np.float32(0.1)
    new = gradtx.tree_set(state, learning_rate=0.3, b2=lambda b: b * 0)
    assert float(gradtx.current_learning_rate(new)) == np.float32(0.3)
    assert float(gradtx.tree_get(new, "b2")) == 0.0
    assert new.__class__ is state.__class__
    assert float(gradtx.current_learning_rate(state)) == np.float32(0.1)  # not modified
    assert gradtx.tree_get(state, "mu")["w"].shape == (2,)  # subtrees too
    assert gradtx.tree_get(state, "missing", default=None) is None
    with pytest.raises(KeyError, match=r"its hyperparameters are \['b1', 'b2'"):
        gradtx.tree_get(state, "lr")
    with pytest.raises(KeyError, match="nothing named \\['lr'\\]"):
        gradtx.tree_set(state, lr=0.1)

    two = gradtx.partition({"a": adam(0.1), "b": adam(0.2)}, {"w": "a", "v": "b"})
    state = two.init({"w": jnp.zeros(1), "v": jnp.zeros(1)})
    with pytest.raises(ValueError, match="2 learning rates"):
        gradtx.current_learning_rate(state)
    with pytest.raises(ValueError, match="matches 2 nodes"):
        gradtx.tree_get(state, "learning_rate")
    path = "inner_states/b/inner_state/hyperparams/learning_rate"
    assert float(gradtx.tree_get(state, path)) == np.float32(0.2)
    both = gradtx.tree_set(state, learning_rate=0.7)
    assert float(gradtx.tree_get(both, "a/inner_state/hyperparams/learning_rate")) == np.float32(
        0.7
    )
    with pytest.raises(ValueError, match="records no learning rate"):
        gradtx.current_learning_rate(gradtx.adam(0.1).init(jnp.zeros(1)))


def test_the_wrapped_update_compiles_once_across_learning_rates():
    tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.1)
    params = example_params()
    step, traces = counted_update(tx)
    state = tx.init(params)
    for k, lr in enumerate([0.1, 0.2, 0.3]):
        _, state = step(example_grads(k, params), gradtx.tree_set(state, learning_rate=lr), params)
    assert len(traces) == 1


def _injected(factory, *args, static_args=(), **kwargs):
    tx = gradtx.inject_hyperparams(factory, static_args=static_args)(*args, **kwargs)
    return tx, tx.init({"w": jnp.ones(2)})


def test_the_value_passed_not_the_annotation_decides():
    received = {}

    def unannotated(lr, decay=0.5, steps=2, width=1.0):
        received.update(decay=decay, steps=steps, width=width)
        return gradtx.chain(*[gradtx.scale(decay)] * steps, gradtx.sgd(lr))

    # Floats and a float-defaulted int are hyperparameters; an int-defaulted int is a count.
    _, state = _injected(unannotated, 0.1, steps=3, width=2)
    assert sorted(state.hyperparams) == ["decay", "lr", "width"]
    assert received["steps"] == 3 and type(received["steps"]) is int
    assert state.hyperparams["width"].dtype == jnp.float32
    np.testing.assert_array_equal(state.hyperparams["width"], 2.0)

    def odd(lr: MyAlias, warmup: MyAlias = 3, dtype: MyAlias = None):  # noqa: F821
        del warmup, dtype
        return gradtx.sgd(lr)

    # Under ``from __future__ import annotations`` the annotations are never evaluated.
    tx, state = _injected(odd, 0.25, dtype=jnp.bfloat16)
    assert sorted(state.hyperparams) == ["lr"]
    np.testing.assert_array_equal(tx.update(jnp.ones(1), state)[0], [-0.25])
    # A schedule is recognised by what it returns, whatever the annotation says.
    tx, state = _injected(odd, lambda k: 0.5 / (1.0 + k.astype(float)))
    updates = []
    for _ in range(3):
        u, state = tx.update(jnp.ones(1), state)
        updates.append(u[0])
    np.testing.assert_array_equal(updates, np.float32([-0.5, -0.25, -0.5 / 3]))


def test_ints_are_hyperparameters_only_where_the_default_is_a_float():
    _, state = _injected(gradtx.adamw, 0.1, weight_decay=0)
    assert "weight_decay" in state.hyperparams
    _, state = _injected(gradtx.lbfgs, memory_size=3)
    assert "memory_size" not in state.hyperparams
    # An int for an argument without a default stays static (pass 1.0 to inject it).
    _, state = _injected(gradtx.sgd, 1)
    assert "learning_rate" not in state.hyperparams
    _, state = _injected(gradtx.sgd, 1.0)
    assert "learning_rate" in state.hyperparams
    # Key arrays are static, floating NumPy scalars are hyperparameters.
    _, state = _injected(gradtx.noisy_sgd, np.float32(0.1), key=jax.random.key(3))
    assert sorted(state.hyperparams) == ["eta", "gamma", "learning_rate"]


def test_traced_values_are_hyperparameters():
    def final_lr(lr):
        _, state = _injected(gradtx.sgd, lr, momentum=0.9)
        return state.hyperparams["learning_rate"] * state.hyperparams["momentum"]

    np.testing.assert_allclose(jax.vmap(final_lr)(jnp.array([0.1, 0.2])), [0.09, 0.18])
    np.testing.assert_allclose(jax.grad(final_lr)(0.1), 0.9, rtol=1e-6)


def test_a_callable_named_in_static_args_is_passed_through():
    received = []

    def factory(learning_rate, transform_fn=None):
        received.append(transform_fn)
        return gradtx.chain(gradtx.stateless(lambda u, p: transform_fn(u)), gradtx.sgd(1.0))

    def halve(u):
        return jax.tree.map(lambda x: x / 2, u)  # would pass for a schedule if not named

    tx, state = _injected(factory, 0.1, transform_fn=halve, static_args=("transform_fn",))
    assert all(fn is halve for fn in received)
    assert sorted(state.hyperparams) == ["learning_rate"]
    np.testing.assert_array_equal(tx.update(jnp.ones(2), state)[0], [-0.5, -0.5])
    # Named in static_args, even a schedule is handed to the factory as it is.
    schedule = gradtx.constant_schedule(0.3)
    _, state = _injected(gradtx.sgd, schedule, static_args="learning_rate")
    assert "learning_rate" not in state.hyperparams


def test_dtypes_masks_and_label_functions_stay_static():
    for dtype in (jnp.bfloat16, jnp.float32, np.float16, np.dtype("float32"), "bfloat16"):
        _, state = _injected(gradtx.adam, 0.1, mu_dtype=dtype)
        assert "mu_dtype" not in state.hyperparams
        assert gradtx.tree_get(state, "mu")["w"].dtype == jnp.dtype(dtype)
    for mask in (lambda p: jax.tree.map(lambda x: x.ndim > 1, p), gradtx.by_path("*/w"),
                 {"w": True}):  # fmt: skip
        _, state = _injected(gradtx.adamw, 0.1, mask=mask)
        assert "mask" not in state.hyperparams
    labels = lambda p: jax.tree.map(lambda x: "a", p)  # noqa: E731
    _, state = _injected(gradtx.partition, {"a": gradtx.sgd(0.1)}, labels)
    assert state.hyperparams == {}


def test_optax_style_calls():
    _, state = _injected(gradtx.adamw, learning_rate=1e-3, weight_decay=1e-4)
    assert {"learning_rate", "weight_decay", "b1", "b2", "eps"} <= set(state.hyperparams)
    assert "mask" not in state.hyperparams  # None, the default
    tx, state = _injected(gradtx.sgd, learning_rate=0.1, momentum=0.9, static_args=("momentum",))
    assert sorted(state.hyperparams) == ["learning_rate"]
    grads = example_grads(0, example_params())
    plain = gradtx.sgd(0.1, momentum=0.9)
    u, _ = tx.update(grads, tx.init(grads))
    expected, _ = plain.update(grads, plain.init(grads))
    for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_optax_factory_can_be_wrapped():
    optax = pytest.importorskip("optax")
    tx, state = _injected(optax.adamw, learning_rate=1e-3, weight_decay=1e-4)
    assert {"learning_rate", "weight_decay", "b1", "b2"} <= set(state.hyperparams)
    grads = {"w": jnp.array([1.0, -2.0])}
    # Optax's own wrapper stores the same float32 hyperparameters: the same bits come out.
    reference = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3, weight_decay=1e-4)
    with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-clean
        u, _ = tx.update(grads, state, {"w": jnp.ones(2)})
        expected, _ = reference.update(
            grads, reference.init({"w": jnp.ones(2)}), {"w": jnp.ones(2)}
        )
    np.testing.assert_array_equal(u["w"], expected["w"])


def test_arrays_keep_their_own_dtype_and_integer_schedules_are_schedules():
    import optax

    params = [jnp.ones((1, 2)), jnp.ones(2)]
    for make in (gradtx.inject_hyperparams, optax.inject_hyperparams):
        tx = make(
            gradtx.scale_by_adam if make is gradtx.inject_hyperparams else optax.scale_by_adam
        )(b1=jnp.array(0.9, jnp.float32), b2=jnp.asarray(0.95, jnp.bfloat16))
        state = jax.jit(tx.init)(params)
        assert state.hyperparams["b1"].dtype == jnp.float32
        assert state.hyperparams["b2"].dtype == jnp.bfloat16
    # the step count itself as a schedule: Optax's test of a first update at count 0
    grads = jnp.array([-1.0, 0.0, 1.0])
    ours = gradtx.inject_hyperparams(gradtx.scale)(lambda count: count)
    theirs = optax.inject_hyperparams(optax.scale)(lambda count: count)
    s_ours, s_theirs = ours.init(jnp.zeros(3)), theirs.init(jnp.zeros(3))
    for _ in range(3):
        u_ours, s_ours = jax.jit(ours.update)(grads, s_ours)
        with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-clean
            u_theirs, s_theirs = jax.jit(theirs.update)(grads, s_theirs)
        np.testing.assert_array_equal(u_ours, u_theirs)
    assert float(u_ours[2]) == 2.0


@pytest.mark.parametrize(
    ("factory", "kwargs"), [(gradtx.sgd, {"momentum": 0.9}), (gradtx.adagrad, {})]
)
def test_injecting_keeps_optaxs_state_structure(factory, kwargs):
    # sgd's dampening and adagrad's lr_decay default to None, which is not injected: the
    # inner state is the plain optimizer's (TraceState, no schedule state), as in Optax.
    params = {"w": jnp.ones(3)}
    plain = factory(0.1, **kwargs).init(params)
    inner = gradtx.inject_hyperparams(factory)(0.1, **kwargs).init(params).inner_state
    assert jax.tree.structure(inner) == jax.tree.structure(plain)
    assert (
        "dampening" not in gradtx.inject_hyperparams(gradtx.sgd)(0.1, 0.9).init(params).hyperparams
    )
