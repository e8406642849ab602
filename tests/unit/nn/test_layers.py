"""gradtx.nn layers against NumPy forward passes and torch, under jit, vmap and grad; dropout's
statistics; the weight-decay mask; and an MLP trained with gradtx.adam on two moons."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gradtx
from gradtx import nn

KEY = jax.random.key(0)
RNG = np.random.default_rng(0)


def init(layer):
    """The layer's parameters, drawn in one compiled program (eager draws compile one by one)."""
    return jax.jit(layer.init)(KEY)


def init_apply(layer, x):
    """``(params, layer.apply(params, x))`` in one compiled program."""

    def f(key, x):
        params = layer.init(key)
        return params, layer.apply(params, x)

    return jax.jit(f)(KEY, x)


def _np_params(params):
    return jax.tree.map(lambda a: np.asarray(a, np.float64), params)


# --- dense and mlp ------------------------------------------------------------------------


def test_dense_is_x_w_plus_b():
    layer = nn.dense(3, 4, b_init=nn.initializers.normal(1.0))
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    params, y = init_apply(layer, x)
    assert sorted(params) == ["b", "w"]
    assert params["w"].shape == (3, 4) and params["b"].shape == (4,)
    p = _np_params(params)
    np.testing.assert_allclose(y, x @ p["w"] + p["b"], rtol=1e-5, atol=1e-6)
    # Without a bias, and with selectable initialisers.
    layer = nn.dense(3, 4, use_bias=False, w_init=nn.initializers.constant(0.5))
    params, y = init_apply(layer, x)
    assert list(params) == ["w"]
    np.testing.assert_allclose(y, x @ np.full((3, 4), 0.5), rtol=1e-5)


def test_dense_default_init_is_lecun_with_zero_biases():
    params = init(nn.dense(2000, 300))
    np.testing.assert_array_equal(params["b"], np.zeros(300))
    w = np.asarray(params["w"], np.float64)
    # Var[w] = 1 / n_in, within 5 standard errors (truncated-normal kurtosis < 3).
    assert abs(w.var() * 2000 - 1) < 5 * math.sqrt(2 / w.size)


def test_dense_rejects_the_wrong_input_width():
    layer = nn.dense(3, 4)
    with pytest.raises(ValueError, match=r"expected inputs with 3 features on axis -1.*\(5, 2\)"):
        layer.apply(init(layer), jnp.ones((5, 2)))


def _np_mlp(params, x, activation, final=None):
    p = _np_params(params)
    for i, layer in enumerate(p):
        x = x @ layer["w"] + layer["b"]
        if i < len(p) - 1:
            x = activation(x)
        elif final is not None:
            x = final(x)
    return x


def test_mlp_matches_a_numpy_forward_pass():
    model = nn.mlp([3, 8, 6, 2], activation=jnp.tanh, final_activation=jax.nn.sigmoid)
    x = RNG.normal(size=(7, 3)).astype(np.float32)
    params, y = init_apply(model, x)
    assert [tuple(p["w"].shape) for p in params] == [(3, 8), (8, 6), (6, 2)]
    want = _np_mlp(params, x, np.tanh, lambda z: 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    # The default is ReLU hidden layers and no final activation (logits).
    params, y = init_apply(nn.mlp([3, 8, 2]), x)
    want = _np_mlp(params, x, lambda z: np.maximum(z, 0))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_mlp_under_jit_vmap_and_grad():
    model = nn.mlp([3, 5, 2], activation=jnp.tanh)
    params = init(model)
    x = jnp.asarray(RNG.normal(size=(4, 3)), jnp.float32)
    batched = model.apply(params, x)
    np.testing.assert_allclose(jax.jit(model.apply)(params, x), batched, rtol=1e-6)
    per_example = jax.vmap(model.apply, in_axes=(None, 0))(params, x)
    np.testing.assert_allclose(per_example, batched, rtol=1e-6)

    # d/dW2 sum(tanh(x W1 + b1) W2 + b2) = h^T 1 and d/db2 = batch size.
    grads = jax.grad(lambda p: jnp.sum(model.apply(p, x)))(params)
    h = np.tanh(np.asarray(x) @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]))
    np.testing.assert_allclose(grads[1]["w"], h.T @ np.ones((4, 2)), rtol=1e-5)
    np.testing.assert_allclose(grads[1]["b"], [4.0, 4.0], rtol=1e-6)


def test_mlp_needs_two_sizes():
    with pytest.raises(ValueError, match="at least one layer width"):
        nn.mlp([3])


# --- composition -----------------------------------------------------------------------------


def test_sequential_composes_layers_and_functions():
    first, second = nn.dense(3, 4), nn.dense(4, 2)
    model = nn.sequential(first, jnp.tanh, second)
    params = init(model)
    assert len(params) == 3 and params[1] == {}
    x = jnp.asarray(RNG.normal(size=(5, 3)), jnp.float32)
    want = second.apply(params[2], jnp.tanh(first.apply(params[0], x)))
    np.testing.assert_allclose(model.apply(params, x), want, rtol=1e-6)
    with pytest.raises(ValueError, match="params for 3 layers, got 2"):
        model.apply(params[:2], x)
    with pytest.raises(TypeError, match="Stateful layers"):
        nn.sequential(nn.batch_norm(3))  # type: ignore[arg-type]


def test_sequential_passes_independent_keys_and_the_training_flag():
    model = nn.sequential(nn.dropout(0.5), nn.dropout(0.5))
    x = jnp.ones((1000,))
    assert jnp.array_equal(model.apply(init(model), x), x)  # eval mode
    y = model.apply(init(model), x, key=KEY, training=True)
    # Two independent masks: an entry survives with probability 1/4, scaled by 4.
    assert set(np.unique(np.asarray(y)).tolist()) <= {0.0, 4.0}
    kept = float(jnp.mean(y > 0))
    assert abs(kept - 0.25) < 5 * math.sqrt(0.25 * 0.75 / 1000)


def test_residual_adds_the_input():
    inner = nn.sequential(nn.dense(4, 4), jnp.tanh)
    block = nn.residual(inner)
    params = init(block)
    x = jnp.asarray(RNG.normal(size=(3, 4)), jnp.float32)
    np.testing.assert_allclose(block.apply(params, x), x + inner.apply(params, x), rtol=1e-6)
    with pytest.raises(ValueError, match="needs f to keep the shape"):
        nn.residual(nn.dense(4, 2)).apply(init(nn.dense(4, 2)), x)


# --- dropout -------------------------------------------------------------------------------


def test_dropout_rate_is_the_probability_of_dropping():
    rate, n = 0.3, 100_000
    x = jnp.asarray(RNG.normal(size=n), jnp.float32)
    y = np.asarray(nn.dropout(rate).apply({}, x, key=KEY, training=True))
    dropped = y == 0
    assert abs(dropped.mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / n)
    # Survivors are scaled by 1 / (1 - rate), so E[y] = x.
    np.testing.assert_allclose(y[~dropped], np.asarray(x)[~dropped] / (1 - rate), rtol=1e-6)
    # Identity in eval mode, and for rate 0; zeros for rate 1.
    assert jnp.array_equal(nn.dropout(rate).apply({}, x), x)
    assert jnp.array_equal(nn.dropout(0.0).apply({}, x, key=KEY, training=True), x)
    assert not np.any(np.asarray(nn.dropout(1.0).apply({}, x, key=KEY, training=True)))


def test_dropout_gradient_jit_vmap_and_dtype():
    x = jnp.ones(8)

    def f(rate, x):
        return jnp.sum(nn.dropout(rate).apply({}, x, key=KEY, training=True))

    y = nn.dropout(0.5).apply({}, x, key=KEY, training=True)
    # d/dx sum(mask * x / (1 - p)) = mask / (1 - p), and finite when everything is dropped.
    np.testing.assert_allclose(jax.grad(f, argnums=1)(0.5, x), y, rtol=1e-6)
    np.testing.assert_array_equal(jax.grad(f, argnums=1)(1.0, x), np.zeros(8))
    np.testing.assert_allclose(jax.jit(f)(0.5, x), f(0.5, x), rtol=1e-6)
    # The rate can be traced: vmap over a grid of rates.
    sums = jax.vmap(f, in_axes=(0, None))(jnp.array([0.0, 1.0]), x)
    np.testing.assert_allclose(sums, [8.0, 0.0])
    assert nn.dropout(0.5).apply({}, x.astype(jnp.bfloat16), key=KEY, training=True).dtype == (
        jnp.bfloat16
    )


def test_dropout_errors():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\], got rate=1.5"):
        nn.dropout(1.5)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        nn.dropout(0.5).apply({}, jnp.ones(3), training=True)


# --- conv2d ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stride", "padding", "dilation"),
    [(1, "SAME", 1), (2, 1, 2), ((2, 1), ((1, 0), (2, 1)), 1)],
)
def test_conv2d_nchw_matches_torch(stride, padding, dilation):
    conv = nn.conv2d(
        3,
        4,
        (3, 5),
        stride=stride,
        padding=padding,
        dilation=dilation,
        layout="NCHW",
        b_init=nn.initializers.normal(1.0),
    )
    x = RNG.normal(size=(2, 3, 9, 8)).astype(np.float32)
    params, got = init_apply(conv, x)
    assert params["w"].shape == (4, 3, 3, 5)  # (C_out, C_in, m, n)
    xt = torch.from_numpy(x)
    if isinstance(padding, tuple):  # torch pads symmetrically: pad the input explicitly
        (top, bottom), (left, right) = padding
        xt, t_padding = torch.nn.functional.pad(xt, (left, right, top, bottom)), 0
    else:
        t_padding = padding.lower() if isinstance(padding, str) else padding
    want = torch.nn.functional.conv2d(
        xt,
        torch.from_numpy(np.array(params["w"])),
        torch.from_numpy(np.array(params["b"])),
        stride=stride,
        padding=t_padding,
        dilation=dilation,
    ).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_conv2d_nhwc_is_nchw_transposed_and_takes_single_images():
    nchw = nn.conv2d(3, 4, 3, layout="NCHW")
    nhwc = nn.conv2d(3, 4, 3)
    p_nchw = init(nchw)
    # HWIO kernel from the OIHW one.
    p_nhwc = {"w": jnp.transpose(p_nchw["w"], (2, 3, 1, 0)), "b": p_nchw["b"] + 0.5}
    p_nchw["b"] = p_nchw["b"] + 0.5
    x = RNG.normal(size=(2, 3, 6, 5)).astype(np.float32)
    y_nchw = nchw.apply(p_nchw, x)
    y_nhwc = nhwc.apply(p_nhwc, np.transpose(x, (0, 2, 3, 1)))
    np.testing.assert_allclose(np.transpose(y_nhwc, (0, 3, 1, 2)), y_nchw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nchw.apply(p_nchw, x[0]), y_nchw[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected inputs with 3 features on axis -3"):
        nchw.apply(p_nchw, np.transpose(x, (0, 2, 3, 1)))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_conv2d_default_init_uses_the_conv_fan_in(layout):
    """Var[w] = 1 / n_in with n_in = C_in * m * n, whatever the kernel layout."""
    c_in, c_out, m, n = 16, 64, 5, 3
    # A He initialiser told the layout gives 2 / n_in.
    kernel = "OIHW" if layout == "NCHW" else "HWIO"
    he = nn.initializers.he_normal(layout=kernel)
    default, with_he = jax.jit(
        lambda k: (
            nn.conv2d(c_in, c_out, (m, n), layout=layout).init(k)["w"],
            nn.conv2d(c_in, c_out, (m, n), layout=layout, w_init=he).init(k)["w"],
        )
    )(KEY)
    w = np.asarray(default, np.float64)
    assert abs(w.var() * c_in * m * n - 1) < 5 * math.sqrt(2 / w.size)
    w = np.asarray(with_he, np.float64)
    assert abs(w.var() * c_in * m * n / 2 - 1) < 5 * math.sqrt(2 / w.size)


# --- weight-decay mask -----------------------------------------------------------------------


def test_decay_mask_excludes_biases_and_norm_parameters():
    params = jax.jit(
        lambda k: {
            "mlp": nn.mlp([2, 3, 1]).init(k),
            "ln": nn.layer_norm(3).init(k),
            "conv": nn.conv2d(1, 2, 3).init(k),
        }
    )(KEY)
    mask = nn.decay_mask(params)
    assert mask == {
        "mlp": [{"w": True, "b": False}, {"w": True, "b": False}],
        "ln": {"gamma": False, "beta": False},
        "conv": {"w": True, "b": False},
    }
    # With AdamW's mask, only the weights decay: zero gradients give updates -lr * wd * w.
    tx = gradtx.adamw(0.1, weight_decay=0.5, mask=nn.decay_mask)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = jax.jit(tx.update)(zeros, tx.init(params), params)
    for path, u in jax.tree_util.tree_leaves_with_path(updates):
        p = dict(jax.tree_util.tree_leaves_with_path(params))[path]
        want = np.zeros_like(p) if nn.is_bias_or_norm(path) else -0.05 * np.asarray(p)
        np.testing.assert_allclose(u, want, rtol=1e-6, atol=1e-8)


# --- training ----------------------------------------------------------------------------------


def two_moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    t = rng.uniform(0, np.pi, n)
    x = np.where(
        label[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    )
    x = x + rng.normal(scale=noise, size=x.shape)
    return x.astype(np.float32), label.astype(np.int32)


def test_mlp_trained_with_adam_fits_two_moons():
    x, y = two_moons(400, 0.1, seed=1)
    x, stats = nn.standardize(x)
    model = nn.mlp([2, 32, 32, 2], activation=jnp.tanh)
    tx = gradtx.adam(1e-2)

    def loss_fn(params):
        logits = model.apply(params, x)
        return gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, y, reduction="mean")

    @jax.jit
    def train(params):
        def step(carry, _):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, state = tx.update(grads, state, params)
            return (gradtx.apply_updates(params, updates), state), loss

        (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=300)
        return params, losses

    params, losses = train(init(model))
    assert losses[-1] < losses[0] / 10
    accuracy = float(gradtx.losses.accuracy(model.apply(params, x), y))
    # Independent check of the accuracy: NumPy argmax.
    want = float(np.mean(np.argmax(np.asarray(model.apply(params, x)), 1) == y))
    assert accuracy == pytest.approx(want)
    assert accuracy >= 0.95
    # Fresh points from the same distribution, standardised with the training statistics.
    x_test, y_test = two_moons(400, 0.1, seed=2)
    assert float(gradtx.losses.accuracy(model.apply(params, stats(x_test)), y_test)) >= 0.95
