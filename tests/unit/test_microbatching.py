"""gradtx.microbatching against direct computations (NumPy, jax.vmap, per-example jax.grad) and
against optax.microbatching on the same inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx import microbatching as mb

M = mb.AccumulationType
RNG = np.random.RandomState(0)
X = jnp.asarray(RNG.normal(size=(12, 3)), jnp.float32)
Y = jnp.asarray(RNG.normal(size=(12,)), jnp.float32)
W = jnp.asarray(RNG.normal(size=(3,)), jnp.float32)


def _optax(fn):
    """Optax's version of a microbatching call (Optax is not written for strict promotion)."""

    def run(*args, **kwargs):
        with jax.numpy_dtype_promotion("standard"):
            return fn(*args, **kwargs)

    return run


def _rows(x, microbatch_size):
    """The rows of each microbatch: microbatch j holds rows j, j + n, j + 2n, ..."""
    n = x.shape[0] // microbatch_size
    return [np.asarray(x)[j::n] for j in range(n)]


def test_reshape_batch_axis_is_column_major():
    x = jnp.arange(24).reshape(2, 12)
    got = mb.reshape_batch_axis({"a": x}, 3, axis=1)["a"]
    assert got.shape == (2, 4, 3)
    for j, rows in enumerate(_rows(np.asarray(x).T, 3)):
        np.testing.assert_array_equal(got[:, j, :], rows.T)


@pytest.mark.parametrize("size", [1, 2, 3, 6, 12])
def test_each_accumulation_against_numpy(size):
    def fun(x):
        return {"sum": jnp.sum(x**2), "rows": 2 * x, "mean": jnp.mean(x, axis=0)}

    accumulator = {"sum": M.SUM, "rows": M.CONCAT, "mean": M.MEAN}
    got = mb.microbatch(fun, 0, size, accumulator)(X)
    parts = _rows(X, size)
    np.testing.assert_allclose(got["sum"], np.sum(np.asarray(X) ** 2), rtol=1e-5)
    np.testing.assert_array_equal(got["rows"], 2 * np.asarray(X))  # the original order
    np.testing.assert_allclose(
        got["mean"], np.mean([np.mean(p, axis=0) for p in parts], axis=0), rtol=1e-6
    )
    running = mb.microbatch(fun, 0, size, M.RUNNING_MEAN)(X)
    np.testing.assert_allclose(running["sum"], np.mean([np.sum(p**2) for p in parts]), rtol=1e-5)


@pytest.mark.parametrize("kind", list(M), ids=lambda k: k.name)
def test_each_accumulation_is_optaxs(kind):
    def fun(x, scale, *, y):
        return (x * scale + y[:, None], jnp.sum(x * y[:, None]))

    ours = mb.microbatch(fun, 0, 4, kind, argnames="y")(X, 2.0, y=Y)
    theirs_kind = getattr(optax.microbatching.AccumulationType, kind.name)
    theirs = _optax(optax.microbatching.microbatch(fun, 0, 4, theirs_kind, argnames="y"))
    theirs = theirs(X, 2.0, y=Y)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_in_axes_and_custom_accumulators():
    # A max over microbatches, through the Accumulator protocol.
    maximum = mb.Accumulator(
        init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
        update=lambda carry, value, index: jnp.maximum(carry, value),
        finalize=lambda carry: carry,
        aggregate=lambda values: jnp.max(values, axis=0),
    )
    xt = X.T  # batch axis 1
    got = mb.microbatch(lambda x, y: jnp.max(x) + jnp.max(y), (0, 1), 3, maximum, in_axes=(1, 0))(
        xt, Y
    )
    parts_x, parts_y = _rows(X, 3), _rows(Y, 3)
    want = max(np.max(a) + np.max(b) for a, b in zip(parts_x, parts_y, strict=True))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_num_real_microbatches_stops_early_even_traced():
    def fun(x):
        return jnp.sum(x)

    for k in (1, 3):
        want = sum(np.sum(p) for p in _rows(X, 2)[:k])
        got = jax.jit(lambda x, k: mb.microbatch(fun, 0, 2, num_real_microbatches=k)(x))(X, k)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        running = mb.microbatch(fun, 0, 2, M.RUNNING_MEAN, num_real_microbatches=k)(X)
        np.testing.assert_allclose(running, want / k, rtol=1e-5)


def test_microbatch_size_none_is_the_function_itself():
    def fun(x):
        return x

    assert mb.microbatch(fun, 0, None) is fun


def test_micro_vmap_is_vmap_and_reduces():
    def fun(x, w):
        return jnp.tanh(x @ w), jnp.sum(x)

    want = jax.vmap(fun, (0, None))(X, W)
    for size in (None, 2, 4):
        got = mb.micro_vmap(fun, in_axes=(0, None), microbatch_size=size)(X, W)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    total = mb.micro_vmap(fun, in_axes=(0, None), microbatch_size=3, accumulator=M.SUM)(X, W)
    np.testing.assert_allclose(total[0], np.sum(want[0]), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="out_axis"):
        mb.micro_vmap(fun, out_axes=1)


def _loss(w, x, y):
    return 0.5 * jnp.mean((x @ w - y) ** 2)


@pytest.mark.parametrize("size", [None, 1, 4])
def test_micro_grad_is_per_example_grad_transformed_and_summed(size):
    per_example = jax.vmap(jax.grad(_loss), (None, 0, 0))(W, X[:, None], Y[:, None])
    norms = np.linalg.norm(np.asarray(per_example), axis=1)
    clip = np.minimum(1.0, 0.5 / norms)[:, None]
    (clipped, squares), aux = mb.micro_grad(
        _loss,
        batch_argnums=(1, 2),
        microbatch_size=size,
        transform_fn=lambda g: (g * jnp.minimum(1.0, 0.5 / jnp.linalg.norm(g)), g**2),
        metrics_fn=jnp.linalg.norm,
    )(W, X, Y)
    np.testing.assert_allclose(clipped, np.sum(np.asarray(per_example) * clip, 0), rtol=1e-5)
    np.testing.assert_allclose(squares, np.sum(np.asarray(per_example) ** 2, 0), rtol=1e-5)
    np.testing.assert_allclose(aux.metrics, norms, rtol=1e-5)
    values = [float(_loss(W, X[i : i + 1], Y[i : i + 1])) for i in range(12)]
    np.testing.assert_allclose(aux.values, values, rtol=1e-5)
    assert aux.aux is None


def test_micro_grad_options_are_optaxs():
    def loss(w, x, y):
        value = 0.5 * jnp.sum((x @ w - y) ** 2)
        return value, {"pred": x @ w}

    kwargs = dict(has_aux=True, batch_argnums=(1, 2), keep_batch_dim=False, microbatch_size=3)
    ours = mb.micro_grad(loss, accumulator=M.MEAN, **kwargs)(W, X, Y)
    mean = optax.microbatching.AccumulationType.MEAN
    theirs = _optax(optax.microbatching.micro_grad(loss, accumulator=mean, **kwargs))(W, X, Y)
    assert type(ours[1]).__name__ == type(theirs[1]).__name__ == "Aux"
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # keep_batch_dim=False hands fun single examples: per-example grads, no mean over 1.
    g = jax.vmap(jax.grad(lambda w, x, y: loss(w, x, y)[0]), (None, 0, 0))(W, X, Y)
    np.testing.assert_allclose(ours[0], np.mean(np.asarray(g), 0), rtol=1e-5)


def test_errors():
    def fun(x, y):
        return jnp.sum(x) + jnp.sum(y)

    with pytest.raises(ValueError, match="equal-size batch axes"):
        mb.microbatch(fun, (0, 1), 2)(X, Y[:6])
    with pytest.raises(ValueError, match="must be divisible"):
        mb.microbatch(fun, (0, 1), 5)(X, Y)
    with pytest.raises(ValueError, match="floating-point"):
        mb.microbatch(lambda x: x, 0, 2, M.MEAN)(jnp.arange(4))
    with pytest.raises(ValueError, match="Unknown accumulator"):
        mb.microbatch(lambda x: x, 0, 2, "sum")(X)


def test_namespace_and_top_level():
    assert gradtx.microbatch is mb.microbatch
    assert set(mb.__all__) == {n for n in dir(optax.microbatching) if not n.startswith("_")}
