"""gradtx.flatten: the grouped many-leaf path gives the numbers of the plain per-leaf path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from tests.helpers import CASES, example_grads

# Transformations that look at one leaf at a time (trust ratios, per-block and per-unit norms,
# means along axes, per-leaf random keys, masks by path) and so are not meant to be flattened;
# the rest are elementwise.
PER_LEAF = {
    "scale_by_trust_ratio",
    "clip_by_block_rms",
    "adaptive_grad_clip",
    "centralize",
    "lamb",
    "lars",
    "fromage",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_distance_over_gradients",
    # Per-leaf norms (NovoGrad), per-axis accumulators (SM3, Adafactor's factored moments).
    "scale_by_novograd",
    "novograd",
    "scale_by_sm3",
    "sm3",
    "scale_by_factored_rms",
    "adafactor",
    "add_noise",
    "noisy_sgd",
    "masked",
    "partition",
    "flatten",
}
# Global reductions: a flat sum adds the same numbers in another order.
REDUCTIONS = {
    "clip_by_global_norm",
    "normalize_by_update_norm",
    "apply_if_finite",
    "scale_by_polyak",
    "polyak_sgd",
}
ELEMENTWISE = [c for c in CASES if c.name not in PER_LEAF | REDUCTIONS]


def mixed_params():
    """Many leaves of several shapes and two dtypes, in an order that interleaves them."""
    rng = np.random.RandomState(0)
    tree = {
        "layers": [
            {
                "w": rng.normal(size=(4, 3)),
                "b": rng.normal(size=(3,)),
                "scale": rng.normal(size=()),
            }
            for _ in range(3)
        ],
        "embed": rng.normal(size=(5, 2)).astype(jnp.bfloat16),
        "head": rng.normal(size=(2, 2)),
    }
    return jax.tree.map(
        lambda x: jnp.asarray(x, x.dtype if x.dtype == jnp.bfloat16 else jnp.float32), tree
    )


def run(tx, params, steps=5):
    @jax.jit
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params, value=1.0)
        return gradtx.apply_updates(params, updates), state, updates

    state = tx.init(params)
    updates = None
    for k in range(steps):
        params, state, updates = step(params, state, example_grads(k, params))
    return params, updates


def assert_rounding_close(plain, flat, ulps=4):
    """Equal up to a few roundings of each leaf's scale (its largest magnitude).

    XLA compiles the same elementwise arithmetic into vector and scalar loops; once a leaf
    sits at another offset of a longer vector, some of its elements move between the two,
    and a division or square root may round differently in the last bit.
    """
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(flat), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = np.abs(a64).max(initial=0.0)
        np.testing.assert_allclose(
            b64, a64, rtol=0, atol=ulps * float(jnp.finfo(a.dtype).eps) * scale
        )


def assert_sum_order_close(plain, flat):
    """Equal to the rounding of a global sum taken in another order (1e-6; 1e-2 in bfloat16)."""
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(flat), strict=True):
        assert a.dtype == b.dtype
        tol = 1e-2 if a.dtype == jnp.bfloat16 else 1e-6
        np.testing.assert_allclose(
            np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol
        )


@pytest.mark.parametrize("case", ELEMENTWISE, ids=str)
def test_flatten_matches_the_plain_path_for_elementwise_transforms(case):
    params = mixed_params()
    tx = case.make(case.h)
    assert_rounding_close(run(tx, params), run(gradtx.flatten(tx), params))


@pytest.mark.parametrize("case", [c for c in CASES if c.name in REDUCTIONS], ids=str)
def test_flatten_matches_global_reductions_to_rounding(case):
    params = mixed_params()
    tx = case.make(case.h)
    assert_sum_order_close(run(tx, params), run(gradtx.flatten(tx), params))


def test_flatten_clip_adamw_chain_matches_plain_chain():
    """The benchmarked chain, with a schedule: the global norm is the only difference."""
    params = mixed_params()

    def make():
        return gradtx.chain(
            gradtx.clip_by_global_norm(1.0),
            gradtx.adamw(gradtx.warmup_cosine_decay_schedule(0.0, 3e-3, 2, 10), weight_decay=0.1),
        )

    assert_sum_order_close(
        run(make(), params, steps=8), run(gradtx.flatten(make()), params, steps=8)
    )


def test_flat_state_is_the_plain_state_concatenated_per_dtype():
    params = mixed_params()
    plain_tx, flat_tx = gradtx.adam(0.1), gradtx.flatten(gradtx.adam(0.1))
    plain_state, flat_state = plain_tx.init(params), flat_tx.init(params)
    for k in range(3):
        grads = example_grads(k, params)
        _, plain_state = plain_tx.update(grads, plain_state, params)
        _, flat_state = flat_tx.update(grads, flat_state, params)
    mu = jax.tree.leaves(plain_state[0].mu)
    assert set(flat_state[0].mu) == {"float32", "bfloat16"}
    for name in ("float32", "bfloat16"):
        expected = np.concatenate([np.ravel(m) for m in mu if m.dtype.name == name])
        got = flat_state[0].mu[name]
        assert got.dtype.name == name and got.ndim == 1
        np.testing.assert_array_equal(np.asarray(got, np.float64), expected.astype(np.float64))
    assert int(flat_state[0].count) == 3


def test_flatten_single_leaf_and_empty_tree():
    x = jnp.arange(6.0).reshape(2, 3)
    tx = gradtx.flatten(gradtx.sgd(0.5))
    updates, _ = tx.update(x, tx.init(x))
    np.testing.assert_array_equal(updates, -0.5 * np.arange(6.0).reshape(2, 3))
    assert updates.shape == (2, 3)
    empty_updates, _ = tx.update({}, tx.init({}))
    assert empty_updates == {}


def test_flatten_vmaps_over_a_hyperparameter():
    params = mixed_params()
    grads = example_grads(0, params)

    def step(lr):
        tx = gradtx.flatten(gradtx.adam(lr))
        return tx.update(grads, tx.init(params), params)[0]

    lrs = jnp.array([0.1, 0.2])
    batched = jax.vmap(step)(lrs)
    for i, lr in enumerate(lrs):
        one = gradtx.adam(lr).update(grads, gradtx.adam(lr).init(params), params)[0]
        assert_rounding_close(one, jax.tree.map(lambda x, i=i: x[i], batched))


def test_flatten_inside_partition_and_masked_sees_only_its_leaves():
    """Masked-out leaves (MaskedNode) are not part of the flat vectors."""
    params = mixed_params()
    labels = jax.tree.map(lambda x: "adam" if x.ndim == 2 else "sgd", params)

    def make(wrap):
        return gradtx.partition({"adam": wrap(gradtx.adam(0.1)), "sgd": gradtx.sgd(0.1)}, labels)

    assert_rounding_close(run(make(lambda t: t), params), run(make(gradtx.flatten), params))
    state = make(gradtx.flatten).init(params)
    n_matrix = sum(
        x.size for x in jax.tree.leaves(params) if x.ndim == 2 and x.dtype == jnp.float32
    )
    assert state.inner_states["adam"].inner_state[0].mu["float32"].shape == (n_matrix,)

    mask = jax.tree.map(lambda x: x.ndim == 2, params)
    plain = gradtx.masked(gradtx.adam(0.1), mask)
    flat = gradtx.masked(gradtx.flatten(gradtx.adam(0.1)), mask)
    assert_rounding_close(run(plain, params), run(flat, params))
