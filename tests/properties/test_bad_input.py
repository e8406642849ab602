"""A clear error for every kind of bad input (docs/errors.md lists them all).

tests/properties/test_errors.py covers the construction-time checks of the core transforms;
this file covers integer and boolean parameters, mismatched trees, missing parameters, and the
wrappers' arguments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.helpers import CASES, NEEDS_PARAMS, example_grads, example_params

# --- integer, boolean and key parameters ----------------------------------------------------

NOT_TRAINABLE = {
    "int32": jnp.arange(3, dtype=jnp.int32),
    "uint8": jnp.arange(3, dtype=jnp.uint8),
    "bool": jnp.array([True, False]),
    "key<fry>": jax.random.key(0),
    "int32 (Python int)": 3,
    "bool (Python bool)": True,
}


def _with_bad_leaf(leaf):
    params = example_params()
    return {**params, "dense": {**params["dense"], "n": leaf}}


@pytest.mark.parametrize("dtype", NOT_TRAINABLE, ids=list(NOT_TRAINABLE))
def test_apply_updates_rejects_integer_boolean_and_key_parameters(dtype):
    params = _with_bad_leaf(NOT_TRAINABLE[dtype])
    updates = jax.tree.map(lambda x: jnp.zeros(jnp.shape(x)), params)
    with pytest.raises(TypeError) as e:
        gradtx.apply_updates(params, updates)
    msg = str(e.value)
    expected = dtype.split(" ")[0]
    assert f"apply_updates(params): the leaf at ['dense']['n'] has dtype {expected}" in msg
    assert "floating-point and complex parameters only" in msg
    assert "equinox.is_inexact_array" in msg


def _keeps_slots(case) -> bool:
    """Whether the state has a slot per parameter (a leaf of the matrix's shape)."""
    state = case.make(case.h).init(example_params())
    return any(jnp.shape(x) == (3, 4) for x in jax.tree.leaves(state))


# trace and ema (gradtx/transforms/momentum.py) build their buffers with tree.zeros_like, which
# accepts integer trees; an integer parameter there is caught by apply_updates.
MOMENTUM_ONLY = {"trace", "trace_nesterov", "trace_dampening", "ema", "sgd_momentum",
                 "sgd_nesterov", "heavy_ball"}  # fmt: skip
SLOTTED = [c for c in CASES if _keeps_slots(c) and c.name not in MOMENTUM_ONLY]


@pytest.mark.parametrize("case", SLOTTED, ids=[c.name for c in SLOTTED])
def test_init_with_per_parameter_state_rejects_integer_parameters(case):
    with pytest.raises(TypeError, match=r"init\(params\).*\['dense'\]\['n'\] has dtype int32"):
        case.make(case.h).init(_with_bad_leaf(jnp.arange(3)))
    with pytest.raises(TypeError, match=r"\['dense'\]\['n'\] has dtype bool"):
        case.make(case.h).init(_with_bad_leaf(jnp.array([True])))


def test_the_rule_covers_shape_only_params():
    params = jax.eval_shape(lambda: _with_bad_leaf(jnp.arange(3)))
    with pytest.raises(TypeError, match=r"\['dense'\]\['n'\] has dtype int32"):
        jax.eval_shape(gradtx.adam(0.1).init, params)


def test_tree_utilities_still_accept_integer_trees():
    # The rule is about parameters; gradtx.tree works on any tree of arrays.
    z = gradtx.tree.zeros_like({"n": jnp.arange(3)})
    assert z["n"].dtype == jnp.int32


# --- mismatched trees -----------------------------------------------------------------------

STATEFUL = [c for c in CASES if _keeps_slots(c) or c.name in NEEDS_PARAMS]


@pytest.mark.parametrize("case", STATEFUL, ids=[c.name for c in STATEFUL])
def test_update_with_a_different_tree_names_the_differing_path(case):
    tx = case.make(case.h)
    params = example_params()
    grads = example_grads(0, params)
    renamed = {"dense": {"w": grads["dense"]["w"], "bias": grads["dense"]["b"]},
               "scale": grads["scale"]}  # fmt: skip
    with pytest.raises(ValueError, match=r"Tree structures differ|pytree structure") as e:
        tx.update(renamed, tx.init(params), params)
    msg = str(e.value)
    if case.name == "MultiSteps":  # jax's own tree_map message: the dict whose keys differ
        assert "tree['dense']" in msg
        return
    assert "Tree structures differ between updates and" in msg
    assert "['dense']['bias'] in updates versus ['dense']['b']" in msg


def test_apply_updates_names_the_differing_path():
    params = example_params()
    updates = {"dense": params["dense"], "scale": params["scale"], "extra": jnp.ones(1)}
    with pytest.raises(
        ValueError,
        match=r"first difference is at leaf \['scale'\] in params versus \['extra'\] in updates",
    ):
        gradtx.apply_updates(params, updates)


def test_state_of_another_chain_is_reported():
    params = example_params()
    state = gradtx.sgd(0.1, momentum=0.9).init(params)
    with pytest.raises(ValueError, match=r"chain\(\): the state has 2 entries but the chain has 3"):
        gradtx.adamw(0.1).update(example_grads(0, params), state, params)


def test_non_array_leaves_name_the_path():
    for leaf, kind in [("relu", "a str"), (object(), "a object"), (jnp.tanh, "a function")]:
        params = {"w": jnp.ones(2), "act": leaf}
        for call in (lambda: gradtx.adam(0.1).init(params),
                     lambda: gradtx.apply_updates(params, params)):  # fmt: skip
            with pytest.raises(TypeError, match=rf"\['act'\] is {kind}"):
                call()


# --- missing parameters ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_params_none_works_or_says_params_are_needed(case):
    tx = case.make(case.h)
    params = example_params()
    grads = example_grads(0, params)
    state = tx.init(params)
    uses_params = NEEDS_PARAMS | {"adamw", "nadamw", "lion", "lamb", "ema_params",
                                  "polyak_average", "lars", "fromage"}  # fmt: skip
    if case.name in uses_params:
        message = r"update\(\) needs the current parameters; call tx.update\(grads, state, params\)"
        with pytest.raises(ValueError, match=message):
            tx.update(grads, state, **case.extra())
    else:
        updates, _ = tx.update(grads, state, **case.extra())
        assert jax.tree.structure(updates) == jax.tree.structure(grads)


@pytest.mark.parametrize(
    "tx",
    [gradtx.ema_params(0.9), gradtx.polyak_average(), gradtx.keep_params_nonnegative(),
     gradtx.master_weights(gradtx.sgd(0.1)), gradtx.MultiSteps(gradtx.adamw(0.1), 2),
     gradtx.inject_hyperparams(gradtx.lamb)(0.1), gradtx.masked(gradtx.lion(0.1), "*")],
    ids=["ema_params", "polyak_average", "keep_params_nonnegative", "master_weights",
         "MultiSteps", "inject_hyperparams", "masked"],
)  # fmt: skip
def test_wrappers_that_need_params_say_so(tx):
    p = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match=r"needs the current parameters"):
        tx.update(p, tx.init(p))


def test_lookahead_without_its_params_pair_says_how_to_build_it():
    tx = gradtx.lookahead(gradtx.sgd(0.1), 2, 0.5)
    with pytest.raises(TypeError, match=r"LookaheadParams.init_synced\(params\)"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)), jnp.ones(2))


def test_extra_positional_arguments_are_a_type_error():
    tx = gradtx.adam(0.1)
    p = jnp.ones(2)
    with pytest.raises(TypeError, match="positional arguments"):
        tx.update(p, tx.init(p), p, 1e-3)


# --- wrappers' arguments --------------------------------------------------------------------

sgd = gradtx.sgd(0.1)

# (call, exception type, a regex the message must match)
# fmt: off
INVALID_WRAPPER_ARGUMENTS = [
    (lambda: gradtx.apply_if_finite(sgd, -1), ValueError,
     r"apply_if_finite\(\): max_consecutive_errors must be in \[0, inf\), got "
     r"max_consecutive_errors=-1"),
    (lambda: gradtx.apply_if_finite(sgd, "3"), TypeError,
     r"max_consecutive_errors must be a number"),
    (lambda: gradtx.MultiSteps(sgd, 0), ValueError,
     r"MultiSteps\(\): every_k_schedule must be in \[1, inf\), got every_k_schedule=0"),
    (lambda: gradtx.MultiSteps(sgd, 2.5), TypeError, r"every_k_schedule must be an int"),
    (lambda: gradtx.MultiSteps(gradtx.sgd, 2), TypeError,
     r"MultiSteps\(\): opt must be a GradientTransformation"),
    (lambda: gradtx.lookahead(sgd, 0, 0.5), ValueError,
     r"lookahead\(\): sync_period must be in \[1, inf\), got sync_period=0"),
    (lambda: gradtx.lookahead(sgd, 2.0, 0.5), TypeError, r"sync_period must be an int >= 1"),
    (lambda: gradtx.lookahead(sgd, 2, 1.5), ValueError,
     r"slow_step_size must be in \[0, 1\], got slow_step_size=1.5"),
    (lambda: gradtx.ema_params(1.5), ValueError, r"ema_params\(\): decay must be in \[0, 1\]"),
    (lambda: gradtx.polyak_average(-1), ValueError,
     r"polyak_average\(\): start_step must be in \[0, inf\)"),
    (lambda: gradtx.early_stopping(-1), ValueError, r"patience must be in \[0, inf\)"),
    (lambda: gradtx.early_stopping(2, min_delta=-0.1), ValueError,
     r"min_delta must be in \[0, inf\)"),
    (lambda: gradtx.early_stopping(2, mode="lowest"), ValueError,
     r"mode must be 'min' or 'max', got 'lowest'"),
    (lambda: gradtx.inject_hyperparams(gradtx.adam, static_args="lr"), ValueError,
     r"static_args \['lr'\] are not arguments of adam"),
    (lambda: gradtx.inject_hyperparams(gradtx.adam)(learning_rate=-1.0), ValueError,
     r"adam\(\): learning_rate must be in \[0, inf\)"),
    (lambda: gradtx.inject_hyperparams(gradtx.adam)(lr=0.1), TypeError,
     r"inject_hyperparams\(adam\): missing a required argument: 'learning_rate'"),
    (lambda: gradtx.masked(gradtx.sgd, "*"), TypeError,
     r"masked\(\): inner must be a GradientTransformation"),
    (lambda: gradtx.masked(sgd, {"w": 1.0}).init({"w": jnp.ones(1)}), TypeError,
     r"a mask holds one Python bool per leaf, got 1.0"),
    (lambda: gradtx.masked(sgd, {"x": True}).init({"w": jnp.ones(1)}), ValueError,
     r"the mask must be a tree with the structure of the parameters"),
    (lambda: gradtx.partition({"a": gradtx.sgd}, "a"), TypeError,
     r"the transformation for label 'a' is .*expected a GradientTransformation"),
    (lambda: gradtx.partition({"a": sgd}, {"w": "b"}).init({"w": jnp.ones(1)}), ValueError,
     r"the leaf 'w' has the label 'b', which has no transformation"),
    (lambda: gradtx.selective_transform(sgd, freeze_mask={"x": True}).init({"w": jnp.ones(1)}),
     ValueError, r"selective_transform\(\): the mask must be a tree with the structure of the"),
    (lambda: gradtx.by_path([1, 2]), TypeError, r"by_path\(\): patterns must be strings"),
    (lambda: gradtx.master_weights(sgd, jnp.int8), ValueError,
     r"master_weights\(\): master_dtype must be a floating-point dtype"),
    (lambda: gradtx.master_weights(gradtx.sgd), TypeError,
     r"master_weights\(\): inner must be a GradientTransformation"),
    (lambda: gradtx.chain(gradtx.adam), TypeError,
     r"chain\(\): argument 0 must be a GradientTransformation.*gradtx\.adam instead of "
     r"gradtx\.adam\(\.\.\.\)"),
    (lambda: gradtx.named_chain(("a", sgd), ("a", sgd)), ValueError,
     r"named_chain\(\): names must be unique"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "error", "message"),
    INVALID_WRAPPER_ARGUMENTS,
    ids=[f"{i}-{m.split(chr(92))[0]}" for i, (_, _, m) in enumerate(INVALID_WRAPPER_ARGUMENTS)],
)
def test_invalid_wrapper_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_traced_wrapper_hyperparameters_are_not_validated_eagerly():
    @jax.jit
    def run(alpha, decay):
        la = gradtx.lookahead(gradtx.sgd(0.1), 2, alpha)
        avg = gradtx.chain(gradtx.sgd(0.1), gradtx.ema_params(decay))
        p = jnp.ones(2)
        u1 = la.update(p, la.init(p), gradtx.LookaheadParams.init_synced(p))[0]
        u2 = avg.update(p, avg.init(p), p)[0]
        return u1.fast + u2

    assert np.all(np.isfinite(run(0.5, 0.9)))


# --- NaN and Inf in the gradients -----------------------------------------------------------


def _regression(corrupt: np.ndarray, tx: gradtx.GradientTransformation):
    """Minibatch least squares; on the steps where ``corrupt`` is set, one gradient entry is
    replaced by NaN, +Inf or -Inf. Returns the final full-data loss, params and state."""
    rng = np.random.default_rng(0)
    n, d, steps = 512, 8, len(corrupt)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w_true = rng.normal(size=d).astype(np.float32)
    y = x @ w_true + 0.1 * rng.normal(size=n).astype(np.float32)
    x, y = jnp.asarray(x), jnp.asarray(y)
    batches = rng.integers(0, n, size=(steps, 32))
    bad_value = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), size=steps)
    bad_index = rng.integers(0, d, size=steps)

    def loss(params, xb, yb):
        return jnp.mean((xb @ params["w"] + params["b"] - yb) ** 2)

    def step(carry, inputs):
        params, state = carry
        idx, bad, value, where = inputs
        grads = jax.grad(loss)(params, x[idx], y[idx])
        grads = {**grads, "w": jnp.where(bad, grads["w"].at[where].set(value), grads["w"])}
        updates, state = tx.update(grads, state, params)
        return (gradtx.apply_updates(params, updates), state), None

    @jax.jit
    def run():
        params = {"w": jnp.zeros(d), "b": jnp.zeros(())}
        (params, state), _ = jax.lax.scan(
            step, (params, tx.init(params)), (batches, corrupt, bad_value, bad_index)
        )
        return loss(params, x, y), params, state

    return run()


def test_apply_if_finite_survives_one_percent_non_finite_steps():
    steps = 600
    corrupt = np.random.default_rng(1).random(steps) < 0.01
    assert 3 <= corrupt.sum() <= 12
    tx = gradtx.apply_if_finite(gradtx.adam(0.02), max_consecutive_errors=3)
    clean_loss, _, clean_state = _regression(np.zeros(steps, bool), tx)
    loss, params, state = _regression(corrupt, tx)
    assert int(clean_state.total_notfinite) == 0
    assert int(state.total_notfinite) == int(corrupt.sum())
    # Skipped steps left the inner state alone: its count is the number of applied steps.
    assert int(state.inner_state[0].count) == steps - int(corrupt.sum())
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(params))
    # The noise floor is 0.01; both runs reach it.
    assert float(clean_loss) < 0.02
    np.testing.assert_allclose(float(loss), float(clean_loss), rtol=0.01)
    # Without the wrapper the first NaN ruins the run.
    plain_loss, _, _ = _regression(corrupt, gradtx.adam(0.02))
    assert not np.isfinite(float(plain_loss))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: gradtx.apply_if_finite(gradtx.sgd, 3), r"apply_if_finite\(\): inner must be"),
        (lambda: gradtx.lookahead(gradtx.sgd, 5, 0.5), r"lookahead\(\): fast_optimizer must"),
        (lambda: gradtx.masked(gradtx.sgd, {}), r"masked\(\): inner must be"),
        (lambda: gradtx.master_weights(gradtx.sgd), r"master_weights\(\): inner must be"),
    ],
)
def test_uncalled_factories_are_named(build, message):
    with pytest.raises(TypeError, match=message + r".*gradtx.sgd instead of gradtx.sgd\(\.\.\.\)"):
        build()


def test_inject_hyperparams_needs_a_factory_and_multisteps_a_float_accumulator():
    with pytest.raises(TypeError, match=r"inject_hyperparams\(\): inner_factory must be"):
        gradtx.inject_hyperparams(3)
    with pytest.raises(
        ValueError, match=r"accumulator_dtype must be a floating dtype .*, got int32"
    ):
        gradtx.MultiSteps(gradtx.sgd(0.1), 2, accumulator_dtype=jnp.int32)
