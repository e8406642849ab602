"""Mixed precision: slot dtypes, float32 master weights, float32 maths, saturating counts.

tests/properties/test_contract.py checks that every transform keeps update and state dtypes under
bfloat16, float16, float32, float64 and complex64; this file checks the slot dtype options
(``mu_dtype``, ``nu_dtype``, ``accumulator_dtype``), :func:`gradtx.master_weights`, that
low-precision inputs are computed in float32 with float32 hyperparameters, and that every
step count saturates at the int32 maximum.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import gradtx
from tests.helpers import CASES, dtype_tree, example_grads, example_params

BF16, F16, F32, F64, C64 = jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64, jnp.complex64
TOP = int(np.iinfo(np.int32).max)


def _name(dtype) -> str:
    return jnp.dtype(dtype).name


def _real(dtype):
    return {jnp.dtype(C64): jnp.dtype(F32)}.get(jnp.dtype(dtype), jnp.dtype(dtype))


def _leaf_dtypes(tree) -> set:
    return {jnp.dtype(x.dtype) for x in jax.tree.leaves(tree)}


def _small_params(dtype):
    """A matrix and a scalar (the masks in CASES treat scalars apart) from example_params."""
    params = example_params(dtype)
    return {"w": params["dense"]["w"], "scale": params["scale"]}


def _check_two_steps(tx, params):
    """Updates in the gradients' dtype, state dtypes stable, lax.cond between steps."""
    grads = example_grads(0, params)
    state0 = tx.init(params)
    u1, state1 = tx.update(grads, state0, params)
    u2, state2 = tx.update(example_grads(1, params), state1, params)
    assert dtype_tree(u1) == dtype_tree(u2) == dtype_tree(grads)
    assert dtype_tree(state0) == dtype_tree(state1) == dtype_tree(state2)
    chosen = jax.lax.cond(jnp.array(False), lambda: state1, lambda: state2)
    assert dtype_tree(chosen) == dtype_tree(state0)
    return state2


# --- slot dtypes ----------------------------------------------------------------------------

# (name, build(mu_dtype, nu_dtype), slot fields holding the first and the second moment)
SLOTTED = [
    ("scale_by_adam", lambda mu, nu: gradtx.scale_by_adam(mu_dtype=mu, nu_dtype=nu),
     ("mu",), ("nu",)),
    ("scale_by_amsgrad", lambda mu, nu: gradtx.scale_by_amsgrad(mu_dtype=mu, nu_dtype=nu),
     ("mu",), ("nu", "nu_max")),
    ("scale_by_belief", lambda mu, nu: gradtx.scale_by_belief(mu_dtype=mu, nu_dtype=nu),
     ("mu",), ("nu",)),
    ("adam", lambda mu, nu: gradtx.adam(0.1, mu_dtype=mu, nu_dtype=nu), ("mu",), ("nu",)),
    ("adam_amsgrad", lambda mu, nu: gradtx.adam(0.1, mu_dtype=mu, nu_dtype=nu, amsgrad=True),
     ("mu",), ("nu", "nu_max")),
    ("adamw", lambda mu, nu: gradtx.adamw(0.1, mu_dtype=mu, nu_dtype=nu), ("mu",), ("nu",)),
    ("nadam", lambda mu, nu: gradtx.nadam(0.1, mu_dtype=mu, nu_dtype=nu), ("mu",), ("nu",)),
    ("nadamw", lambda mu, nu: gradtx.nadamw(0.1, mu_dtype=mu, nu_dtype=nu), ("mu",), ("nu",)),
    ("amsgrad", lambda mu, nu: gradtx.amsgrad(0.1, mu_dtype=mu, nu_dtype=nu), ("mu",),
     ("nu", "nu_max")),
    ("adabelief", lambda mu, nu: gradtx.adabelief(0.1, mu_dtype=mu, nu_dtype=nu), ("mu",),
     ("nu",)),
    ("lamb", lambda mu, nu: gradtx.lamb(0.1, mu_dtype=mu, nu_dtype=nu), ("mu",), ("nu",)),
    ("scale_by_lion", lambda mu, nu: gradtx.scale_by_lion(mu_dtype=mu), ("mu",), ()),
    ("lion", lambda mu, nu: gradtx.lion(0.1, mu_dtype=mu), ("mu",), ()),
    ("trace", lambda mu, nu: gradtx.trace(0.9, accumulator_dtype=mu), ("trace",), ()),
    ("ema", lambda mu, nu: gradtx.ema(0.9, accumulator_dtype=mu), ("ema",), ()),
    ("sgd", lambda mu, nu: gradtx.sgd(0.1, momentum=0.9, accumulator_dtype=mu), ("trace",), ()),
]  # fmt: skip


def _slots(state, field):
    """The subtrees stored under ``field`` anywhere in ``state``."""
    found = []

    def visit(node):
        if hasattr(node, "_fields") and field in node._fields:
            found.append(getattr(node, field))
        return node

    jax.tree.map(visit, state, is_leaf=lambda x: hasattr(x, "_fields"))
    assert found, field
    return found


TRANSFORMS = {"scale_by_adam", "scale_by_amsgrad", "scale_by_belief", "scale_by_lion", "trace",
              "ema"}  # fmt: skip

# (parameter dtype, slot dtype): the default, float32 slots for low-precision models,
# bfloat16 slots for a float32 model, and complex parameters (real second moments).
SLOT_GRID = [(BF16, None), (BF16, F32), (F16, F32), (F32, BF16), (C64, None), (C64, F32)]


# trace and ema (gradtx/transforms/momentum.py) use accumulator_dtype as given, so complex
# parameters need a complex accumulator_dtype there; the Adam family maps a real mu_dtype to
# the complex dtype of the same precision.
LITERAL_SLOT_DTYPE = {"trace", "ema", "sgd"}


@pytest.mark.parametrize("case", SLOTTED, ids=[c[0] for c in SLOTTED])
def test_slot_dtypes(case):
    name, build, first, second = case
    # The optimizers chain the transforms: check that they pass the slot dtypes on.
    grid = SLOT_GRID if name in TRANSFORMS else [(BF16, F32), (C64, F32), (F32, None)]
    for dtype, slot_dtype in grid:
        complex_params = jnp.dtype(dtype) == jnp.dtype(C64)
        slot_first = None if slot_dtype is None else jnp.dtype(slot_dtype)
        if slot_first is not None and complex_params:
            slot_first = jnp.dtype(C64)  # a complex moment stays complex
        tx = build(slot_first if name in LITERAL_SLOT_DTYPE else slot_dtype, slot_dtype)
        state = _check_two_steps(tx, _small_params(dtype))
        for field in first:
            expected = jnp.dtype(dtype if slot_first is None else slot_first)
            assert _leaf_dtypes(_slots(state, field)) == {expected}, (field, dtype, slot_dtype)
        for field in second:
            # Second moments are real: float32 for complex64 parameters.
            expected = _real(dtype) if slot_dtype is None else jnp.dtype(slot_dtype)
            assert _leaf_dtypes(_slots(state, field)) == {expected}, (field, dtype, slot_dtype)


def test_slot_dtypes_float64():
    with jax.enable_x64(True):
        params = _small_params(F64)
        for name, build, first, second in SLOTTED:
            if name not in TRANSFORMS:  # the optimizers chain these
                continue
            state = _check_two_steps(build(None, None), params)
            for field in (*first, *second):
                assert _leaf_dtypes(_slots(state, field)) == {jnp.dtype(F64)}
            state = _check_two_steps(build(F32, F32), params)
            for field in (*first, *second):
                assert _leaf_dtypes(_slots(state, field)) == {jnp.dtype(F32)}


# The moments of a bfloat16 model kept in float32: every update equals the float32 run on the
# same (exactly upcast) gradients, rounded once, for as many steps as we like.
FLOAT32_SLOTS = [
    ("adam", lambda d: gradtx.scale_by_adam(mu_dtype=d, nu_dtype=d)),
    ("nadam", lambda d: gradtx.scale_by_adam(mu_dtype=d, nu_dtype=d, nesterov=True)),
    ("amsgrad", lambda d: gradtx.scale_by_amsgrad(mu_dtype=d, nu_dtype=d)),
    ("belief", lambda d: gradtx.scale_by_belief(mu_dtype=d, nu_dtype=d)),
    ("lion", lambda d: gradtx.scale_by_lion(mu_dtype=d)),
    ("trace", lambda d: gradtx.trace(0.9, nesterov=True, accumulator_dtype=d)),
    ("ema", lambda d: gradtx.ema(0.9, accumulator_dtype=d)),
]


@pytest.mark.parametrize("dtype", [BF16, F16], ids=_name)
@pytest.mark.parametrize("case", FLOAT32_SLOTS, ids=[c[0] for c in FLOAT32_SLOTS])
def test_float32_slots_give_float32_maths_on_low_precision_models(case, dtype):
    _, build = case
    low, high = build(F32), build(None)
    params = example_params(dtype)
    params32 = jax.tree.map(lambda x: x.astype(F32), params)
    s_low, s_high = low.init(params), high.init(params32)
    for k in range(6):
        g = example_grads(k, params)
        u_low, s_low = low.update(g, s_low, params)
        u_high, s_high = high.update(jax.tree.map(lambda x: x.astype(F32), g), s_high, params32)
        for a, b in zip(jax.tree.leaves(u_low), jax.tree.leaves(u_high), strict=True):
            assert a.dtype == jnp.dtype(dtype)
            np.testing.assert_array_equal(
                np.asarray(a, np.float32), np.asarray(b.astype(dtype), np.float32)
            )
    # The float32 state is exactly the float32 run's state.
    for a, b in zip(jax.tree.leaves(s_low), jax.tree.leaves(s_high), strict=True):
        np.testing.assert_array_equal(a, b)


def test_float64_slots_compute_in_float64():
    """Slots wider than the parameters widen the arithmetic (a float64 Adam on float32 params)."""
    with jax.enable_x64(True):
        tx = gradtx.scale_by_adam(b2=0.99, mu_dtype=F64, nu_dtype=F64)
        p = jnp.zeros(3, F32)
        state = tx.init(p)
        m = v = np.zeros(3)
        for k in range(1, 8):
            g = np.array([0.3, -1.7, 1e-3], np.float32) * k
            u, state = tx.update(jnp.asarray(g), state, p)
            g64 = g.astype(np.float64)
            m = 0.9 * m + 0.1 * g64
            v = 0.99 * v + 0.01 * g64**2
            ref = (m / (1 - 0.9**k)) / (np.sqrt(v / (1 - 0.99**k)) + 1e-8)
            assert u.dtype == jnp.float32
            np.testing.assert_allclose(state.mu, m, rtol=1e-14)
            np.testing.assert_allclose(state.nu, v, rtol=1e-14)
            np.testing.assert_allclose(u, ref.astype(np.float32), rtol=1e-7)


# --- hyperparameters and arithmetic never take low precision --------------------------------

# Single transforms whose state starts at zero: the first low-precision update is the float32
# update rounded once. (scale_by_rss starts its bfloat16 accumulator at a rounded 0.1 and
# scale_by_yogi its moments at a rounded 1e-6, a float16 subnormal 1.3% away: the float16 run
# is exactly the float32 run started there. Chains round between members. Those get two
# roundings of slack below.)
EXACT = {c.name for c in CASES if not c.is_optimizer} - {"scale_by_rss", "scale_by_yogi"}


@pytest.mark.parametrize("dtype", [BF16, F16], ids=_name)
def test_low_precision_updates_are_float32_maths_rounded(dtype):
    eps = float(ml_dtypes.finfo(dtype).eps)
    # Every case in bfloat16; in float16 (the same code path) the single transforms.
    for case in CASES if dtype == BF16 else [c for c in CASES if c.name in EXACT]:
        tx = case.make(case.h)
        params = _small_params(dtype)
        grads = example_grads(0, params)
        params32, grads32 = (jax.tree.map(lambda x: x.astype(F32), t) for t in (params, grads))
        u, _ = tx.update(grads, tx.init(params), params, **case.extra())
        u32, _ = tx.update(grads32, tx.init(params32), params32, **case.extra())
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(u32), strict=True):
            a = np.asarray(a, np.float32)
            rounded = np.asarray(b.astype(dtype), np.float32)
            if case.name in EXACT:
                np.testing.assert_array_equal(a, rounded, err_msg=case.name)
            else:
                # A hyperparameter rounded to bfloat16 (b2 = 0.999 -> 1.0) is far outside this.
                bound = 2 * eps * np.abs(np.asarray(b)) + 1e-6
                assert np.all(np.abs(a - np.asarray(b)) <= bound), case.name


def test_adam_hyperparameters_stay_float32_for_bfloat16_models():
    # In bfloat16, b2 = 0.999 is 1.0 and b1 = 0.9 is 0.8984: the second moment would never grow.
    assert float(jnp.asarray(0.999, BF16)) == 1.0
    tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.1, b2=0.999)
    params = {"w": jnp.ones(3, BF16)}
    state = tx.init(params)
    assert _leaf_dtypes(state.hyperparams) == {jnp.dtype(F32)}
    assert np.float32(state.hyperparams["b2"]) == np.float32(0.999)
    g = {"w": jnp.asarray([0.5, -2.0, 1e-3], BF16)}
    for _ in range(3):
        u, state = tx.update(g, state, params)
    # After three equal gradients: m_hat = g and v_hat = g^2, so u = -lr * sign(g).
    np.testing.assert_allclose(np.asarray(u["w"], np.float32), [-0.1, 0.1, -0.1], rtol=1e-2)
    nu = np.asarray(state.inner_state[0].nu["w"], np.float64)
    g64 = np.asarray(g["w"], np.float64)
    np.testing.assert_allclose(nu, (1 - 0.999**3) * g64**2, rtol=1e-2)


# --- master weights -------------------------------------------------------------------------


def _mixed_params():
    rng = np.random.default_rng(0)
    return {
        "w": jnp.asarray(rng.normal(size=(3, 4)), BF16),
        "b": jnp.asarray(rng.normal(size=4), F16),
        "scale": jnp.asarray(rng.normal(size=2), F32),
        "z": jnp.asarray(rng.normal(size=2) + 1j * rng.normal(size=2), C64),
    }


def test_master_weights_state_layout():
    params = _mixed_params()
    tx = gradtx.master_weights(gradtx.adam(1e-3))
    state = _check_two_steps(tx, params)
    assert state.master["w"].dtype == state.master["b"].dtype == jnp.float32
    assert state.master["scale"] == gradtx.MaskedNode() == state.master["z"]
    adam_state = state.inner_state[0]
    assert adam_state.mu["w"].dtype == adam_state.nu["w"].dtype == jnp.float32
    assert adam_state.mu["b"].dtype == jnp.float32
    assert adam_state.mu["scale"].dtype == jnp.float32
    assert adam_state.mu["z"].dtype == jnp.complex64 and adam_state.nu["z"].dtype == F32
    # master_dtype=float64 copies every float32 leaf too (x64 mode).
    with jax.enable_x64(True):
        state = gradtx.master_weights(gradtx.sgd(0.1), F64).init(params)
        assert {k: v.dtype for k, v in state.master.items()} == {
            "w": F64, "b": F64, "scale": F64, "z": jnp.complex128}  # fmt: skip


def test_master_weights_follow_float32_sgd_exactly():
    """sgd(1e-3) on bfloat16 ones: the master copy is float32 SGD, the params its rounding."""
    lr, steps = np.float32(1e-3), 200
    rng = np.random.default_rng(1)
    tx = gradtx.master_weights(gradtx.sgd(1e-3))
    plain = gradtx.sgd(1e-3)
    p = jnp.ones(5, BF16)
    q = p
    state, plain_state = tx.init(p), plain.init(q)
    master = np.ones(5, np.float32)
    step = jax.jit(tx.update)
    for _ in range(steps):
        g = jnp.asarray(rng.uniform(0.5, 1.5, size=5), BF16)
        u, state = step(g, state, p)
        assert u.dtype == BF16
        p = gradtx.apply_updates(p, u)
        v, plain_state = plain.update(g, plain_state, q)
        q = gradtx.apply_updates(q, v)
        master = master + (-lr) * np.asarray(g, np.float32)  # float32 arithmetic, like XLA's
        np.testing.assert_array_equal(state.master, master)
        np.testing.assert_array_equal(
            np.asarray(p, np.float32), master.astype(ml_dtypes.bfloat16).astype(np.float32)
        )
    assert np.all(master < 0.85)
    # Without the master copy, every step of about 1e-3 rounds away next to 1.0.
    np.testing.assert_array_equal(np.asarray(q, np.float32), np.ones(5))


def test_master_weights_adam_equals_float32_adam_and_lands_on_the_rounded_master():
    params = _mixed_params()
    params32 = jax.tree.map(lambda x: x.astype(C64 if x.dtype == C64 else F32), params)
    tx = gradtx.master_weights(gradtx.adamw(1e-2, weight_decay=0.1))
    ref = gradtx.adamw(1e-2, weight_decay=0.1)
    state, ref_state = tx.init(params), ref.init(params32)
    p, p32 = params, params32
    exact = 0
    for k in range(10):
        g = example_grads(k, p)
        u, state = tx.update(g, state, p)
        assert dtype_tree(u) == dtype_tree(g)
        old, p = p, gradtx.apply_updates(p, u)
        g32 = jax.tree.map(lambda x, y: x.astype(y.dtype), g, p32)
        u32, ref_state = ref.update(g32, ref_state, p32)
        p32 = gradtx.apply_updates(p32, u32)
        for name in ("w", "b"):  # low precision: the master is the float32 run, p its rounding
            np.testing.assert_array_equal(state.master[name], p32[name])
            before = np.asarray(old[name], np.float64)
            target = np.asarray(p32[name].astype(params[name].dtype), np.float64)
            landed = np.asarray(p[name], np.float64)
            # Exact when old and new are within a factor 2 (their difference is exact) ...
            sterbenz = (before / 2 <= target) & (target <= 2 * before) | (
                (2 * before <= target) & (target <= before / 2)
            )
            np.testing.assert_array_equal(landed[sterbenz], target[sterbenz])
            exact += int(sterbenz.sum())
            # ... and otherwise within one rounding of the step.
            eps = float(ml_dtypes.finfo(params[name].dtype).eps)
            assert np.all(np.abs(landed - target) <= eps * np.abs(target - before))
        for name in ("scale", "z"):  # float32 and complex64: plain adamw
            np.testing.assert_array_equal(p[name], p32[name])
    assert exact > 0.9 * 10 * 16


def test_master_weights_recover_from_a_large_jump():
    """A jump across many binades may land one rounding off; the next update corrects it."""
    tx = gradtx.master_weights(gradtx.sgd(1.0))
    p = jnp.asarray([1e-3, -3.0, 200.0], BF16)
    state = tx.init(p)
    u, state = tx.update(jnp.asarray([-1.0009765625, 7.0, 100.5], BF16), state, p)
    p = gradtx.apply_updates(p, u)
    target = np.asarray(state.master.astype(BF16), np.float32)
    np.testing.assert_allclose(np.asarray(p, np.float32), target, rtol=2**-7)
    u, state = tx.update(jnp.zeros(3, BF16), state, p)  # a zero step: only the correction
    p = gradtx.apply_updates(p, u)
    np.testing.assert_array_equal(np.asarray(p, np.float32), target)


def test_master_weights_under_jit_and_inside_a_chain():
    params = {"w": jnp.full((2, 2), 0.5, BF16)}
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.master_weights(gradtx.adam(1e-3)))
    state = tx.init(params)
    eager_state, eager_p = state, params
    step = jax.jit(tx.update)
    p = params
    for k in range(3):
        g = example_grads(k, params)
        u, state = step(g, state, p)
        p = gradtx.apply_updates(p, u)
        eu, eager_state = tx.update(g, eager_state, eager_p)
        eager_p = gradtx.apply_updates(eager_p, eu)
    np.testing.assert_array_equal(state[1].master["w"], eager_state[1].master["w"])
    np.testing.assert_array_equal(p["w"], eager_p["w"])
    assert p["w"].dtype == BF16 and not np.array_equal(p["w"], params["w"])


def test_master_weights_errors():
    tx = gradtx.master_weights(gradtx.sgd(0.1))
    p = jnp.ones(2, BF16)
    with pytest.raises(ValueError, match=r"master_weights: update\(\) needs the current param"):
        tx.update(jnp.ones(2, BF16), tx.init(p))
    with pytest.raises(TypeError, match=r"inner must be a GradientTransformation.*gradtx.adam"):
        gradtx.master_weights(gradtx.adam)  # type: ignore[arg-type]
    for bad in (jnp.int32, jnp.complex64, "not a dtype"):
        with pytest.raises(ValueError, match=r"master_dtype must be a floating-point dtype"):
            gradtx.master_weights(gradtx.sgd(0.1), bad)
    with pytest.raises(TypeError, match=r"master_weights.init\(params\).*\['n'\] has dtype int32"):
        tx.init({"w": p, "n": jnp.arange(2)})


# --- saturating counts ----------------------------------------------------------------------

COUNT_NAMES = {"count", "gradient_step"}


def _count_paths(state):
    return [
        gradtx.tree.path_str(path)
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
        if gradtx.tree.path_str(path).split("/")[-1] in COUNT_NAMES
        and jnp.shape(leaf) == ()
        and jnp.result_type(leaf) == jnp.int32
    ]


# apply_every's count is a phase, (count + 1) mod k as in Optax, not a number of steps.
PHASES = {"apply_every"}
COUNTED = [
    c for c in CASES if c.name not in PHASES and _count_paths(c.make(c.h).init(example_params()))
]


def test_every_transform_with_a_count_is_covered():
    names = {c.name for c in COUNTED}
    assert {"scale_by_adam", "ema", "scale_by_schedule", "add_noise", "adam",
            "scale_by_rms_bias_correction",
            "MultiSteps", "inject_hyperparams", "apply_if_finite",
            "ema_params"} <= names  # fmt: skip


@pytest.mark.parametrize("case", COUNTED, ids=[c.name for c in COUNTED])
def test_counts_saturate_at_int32_max(case):
    tx = case.make(case.h)
    params = {"w": jnp.asarray([0.5, -1.5, 2.0])}
    state = tx.init(params)
    paths = _count_paths(state)
    state = gradtx.tree.map_with_path(
        lambda path, x: jnp.asarray(TOP - 2, jnp.int32) if path in paths else x, state
    )
    seen = {path: [TOP - 2] for path in paths}
    step = jax.jit(functools.partial(tx.update, **case.extra()))
    for k in range(5):
        updates, new_state = step(example_grads(k, params), state, params)
        assert dtype_tree(new_state) == dtype_tree(state)
        for leaf in jax.tree.leaves(updates):
            assert np.all(np.isfinite(np.asarray(leaf))), case.name
        state = new_state
        values = dict(
            (gradtx.tree.path_str(p), int(x))
            for p, x in jax.tree_util.tree_leaves_with_path(state)
            if gradtx.tree.path_str(p) in paths
        )
        for path in paths:
            seen[path].append(values[path])
    for path, values in seen.items():
        assert values == sorted(values), (path, values)  # never wraps to negative
        assert values[-1] == TOP, (path, values)
