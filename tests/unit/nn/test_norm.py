"""gradtx.nn norm layers against NumPy formulas and torch: batch norm in training and eval, its
running statistics, float32 statistics for bfloat16 inputs and cross-device statistics with
``axis_name``; layer norm and RMS norm."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from gradtx import nn

KEY = jax.random.key(0)
RNG = np.random.default_rng(0)


def _random_affine(params):
    return {
        "gamma": jnp.asarray(RNG.normal(size=params["gamma"].shape), jnp.float32),
        "beta": jnp.asarray(RNG.normal(size=params["beta"].shape), jnp.float32),
    }


def _np_batch_norm(x, gamma, beta, eps, axis):
    x = np.asarray(x, np.float64)
    reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    mean = x.mean(reduce, keepdims=True)
    var = ((x - mean) ** 2).mean(reduce, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + eps)
    return np.reshape(gamma, shape) * x_hat + np.reshape(beta, shape), mean.ravel(), var.ravel()


# --- batch norm ----------------------------------------------------------------------------


def test_batch_norm_training_output_is_standardised_per_feature():
    bn = nn.batch_norm(4)
    params, state = bn.init(KEY)
    assert sorted(params) == ["beta", "gamma"]
    np.testing.assert_array_equal(state.mean, np.zeros(4))
    np.testing.assert_array_equal(state.var, np.ones(4))
    x = RNG.normal(loc=[1.0, -3.0, 10.0, 0.0], scale=[0.5, 2.0, 5.0, 1.0], size=(64, 4))
    y, _ = bn.apply(params, state, x.astype(np.float32), training=True)
    y = np.asarray(y, np.float64)
    np.testing.assert_allclose(y.mean(0), np.zeros(4), atol=1e-5)
    # Var[x_hat] = var / (var + eps).
    var = x.var(0)
    np.testing.assert_allclose(y.var(0), var / (var + 1e-5), rtol=1e-4)


@pytest.mark.parametrize(("axis", "shape"), [(-1, (32, 5)), (1, (8, 5, 3, 4))])
def test_batch_norm_training_matches_formula_and_torch(axis, shape):
    bn = nn.batch_norm(5, axis=axis, momentum=0.8, eps=1e-3)
    params, state = bn.init(KEY)
    params = _random_affine(params)
    x = (RNG.normal(size=shape) * 3 + 1).astype(np.float32)
    y, new_state = jax.jit(lambda p, s, x: bn.apply(p, s, x, training=True))(params, state, x)
    want, mean, var = _np_batch_norm(x, params["gamma"], params["beta"], 1e-3, axis)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    # Running statistics: rho * old + (1 - rho) * batch, with the biased batch variance.
    np.testing.assert_allclose(new_state.mean, 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_state.var, 0.8 + 0.2 * var, rtol=1e-5)
    # torch.nn.functional.batch_norm with torch's momentum = 1 - rho (channel axis 1).
    xt = torch.from_numpy(np.moveaxis(x, axis, 1).copy())
    running_mean, running_var = torch.zeros(5), torch.ones(5)
    yt = torch.nn.functional.batch_norm(
        xt,
        running_mean,
        running_var,
        torch.from_numpy(np.array(params["gamma"])),
        torch.from_numpy(np.array(params["beta"])),
        training=True,
        momentum=0.2,
        eps=1e-3,
    )
    np.testing.assert_allclose(y, np.moveaxis(yt.numpy(), 1, axis), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new_state.mean, running_mean.numpy(), rtol=1e-5, atol=1e-6)
    # torch averages the unbiased variance into its running estimate.
    m = x.size // 5
    np.testing.assert_allclose(
        (np.asarray(new_state.var) - 0.8) * m / (m - 1) + 0.8, running_var.numpy(), rtol=1e-5
    )


def test_batch_norm_running_statistics_converge_and_eval_uses_them():
    mu, sigma = np.array([2.0, -1.0, 0.5]), np.array([3.0, 0.5, 1.0])
    bn = nn.batch_norm(3, momentum=0.9)
    params, state = bn.init(KEY)
    data = (mu + sigma * RNG.normal(size=(200, 256, 3))).astype(np.float32)

    @jax.jit
    def run(state, data):
        def step(state, x):
            return bn.apply(params, state, x, training=True)[1], None

        return jax.lax.scan(step, state, data)[0]

    state = run(state, data)
    # The batch variance is biased by (m - 1) / m = 0.996; the average of the last ~50 batches
    # has a relative standard error of about 1.5%.
    assert np.all(np.abs(np.asarray(state.mean) - mu) < 0.05 * sigma), state.mean
    np.testing.assert_allclose(state.var, sigma**2, rtol=0.06)

    x = (mu + sigma * RNG.normal(size=(10, 3))).astype(np.float32)
    params = _random_affine(params)
    y, eval_state = bn.apply(params, state, x, training=False)
    assert eval_state is state
    want = (x - np.asarray(state.mean)) / np.sqrt(np.asarray(state.var) + 1e-5)
    want = want * np.asarray(params["gamma"]) + np.asarray(params["beta"])
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    # The evaluation output does not depend on the rest of the batch.
    np.testing.assert_allclose(bn.apply(params, state, x[:1], training=False)[0], y[:1], rtol=1e-6)


def test_batch_norm_gradients_match_torch():
    bn = nn.batch_norm(3)
    params, state = bn.init(KEY)
    params = _random_affine(params)
    x = RNG.normal(size=(16, 3)).astype(np.float32)
    c = RNG.normal(size=(16, 3)).astype(np.float32)

    def loss(params, x):
        return jnp.sum(bn.apply(params, state, x, training=True)[0] * c)

    g_params, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, jnp.asarray(x))
    xt = torch.from_numpy(x).requires_grad_()
    gamma = torch.from_numpy(np.array(params["gamma"])).requires_grad_()
    beta = torch.from_numpy(np.array(params["beta"])).requires_grad_()
    yt = torch.nn.functional.batch_norm(xt, None, None, gamma, beta, training=True, eps=1e-5)
    (yt * torch.from_numpy(c)).sum().backward()
    assert xt.grad is not None and gamma.grad is not None and beta.grad is not None
    np.testing.assert_allclose(g_x, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_params["gamma"], gamma.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_params["beta"], beta.grad.numpy(), rtol=1e-5)


def test_batch_norm_statistics_are_float32_for_bfloat16_inputs():
    bn = nn.batch_norm(2)
    params, state = bn.init(KEY)
    # A large mean and a small spread: accumulating in bfloat16 (8 bits of mantissa) would
    # lose the spread entirely.
    x = jnp.asarray(RNG.normal(loc=100.0, scale=1.0, size=(512, 2)), jnp.bfloat16)
    y, new_state = bn.apply(params, state, x, training=True)
    assert y.dtype == jnp.bfloat16
    assert new_state.mean.dtype == new_state.var.dtype == jnp.float32
    x32 = np.asarray(x, np.float64)
    np.testing.assert_allclose(new_state.mean, 0.1 * x32.mean(0), rtol=1e-5)
    np.testing.assert_allclose(new_state.var, 0.9 + 0.1 * x32.var(0), rtol=1e-5)
    want = (x32 - x32.mean(0)) / np.sqrt(x32.var(0) + 1e-5)
    np.testing.assert_allclose(np.asarray(y, np.float64), want, atol=2e-2)


def test_batch_norm_axis_name_under_vmap_matches_the_whole_batch():
    bn = nn.batch_norm(3, axis_name="shards")
    params, state = bn.init(KEY)
    x = RNG.normal(size=(4, 8, 3)).astype(np.float32)  # 4 shards of 8 examples
    y, new_state = jax.vmap(
        lambda x: bn.apply(params, state, x, training=True), axis_name="shards"
    )(x)
    y_all, state_all = nn.batch_norm(3).apply(params, state, x.reshape(32, 3), training=True)
    np.testing.assert_allclose(y.reshape(32, 3), y_all, rtol=1e-5, atol=1e-5)
    for shard in range(4):
        np.testing.assert_allclose(new_state.mean[shard], state_all.mean, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(new_state.var[shard], state_all.var, rtol=1e-5)


MESH_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from gradtx import nn

    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((8,), ("batch",))
    bn = nn.batch_norm(3, axis_name="batch")
    params, state = bn.init(jax.random.key(0))
    params = {"gamma": params["gamma"] * 2.0, "beta": params["beta"] + 0.5}
    x = np.random.default_rng(0).normal(1.0, 2.0, size=(64, 3)).astype(np.float32)
    x_sharded = jax.device_put(x, NamedSharding(mesh, P("batch")))

    @jax.jit
    def sharded(params, state, x):
        return jax.shard_map(
            lambda p, s, x: bn.apply(p, s, x, training=True),
            mesh=mesh,
            in_specs=(P(), P(), P("batch")),
            out_specs=(P("batch"), P()),
        )(params, state, x)

    y, new_state = sharded(params, state, x_sharded)
    assert len(y.sharding.device_set) == 8
    y_one, state_one = nn.batch_norm(3).apply(params, state, x, training=True)
    np.testing.assert_allclose(y, y_one, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_state.mean, state_one.mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new_state.var, state_one.var, rtol=1e-5)
    # Without axis_name each device would normalise with its own 8 examples.
    local = jax.jit(jax.shard_map(
        lambda p, s, x: nn.batch_norm(3).apply(p, s, x, training=True)[0],
        mesh=mesh, in_specs=(P(), P(), P("batch")), out_specs=P("batch"),
    ))(params, state, x_sharded)
    assert not np.allclose(local, y_one, atol=1e-3)
    print("OK")
    """
)


def test_batch_norm_axis_name_on_a_mesh_of_host_devices_matches_one_device():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", MESH_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("OK")


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\], got momentum=1.5"):
        nn.batch_norm(3, momentum=1.5)
    with pytest.raises(ValueError, match=r"eps must be in \[0, inf\)"):
        nn.batch_norm(3, eps=-1.0)
    bn = nn.batch_norm(3)
    params, state = bn.init(KEY)
    with pytest.raises(ValueError, match=r"expected 3 features on axis -1.*\(4, 2\)"):
        bn.apply(params, state, jnp.ones((4, 2)), training=True)
    with pytest.raises(TypeError, match="training"):
        bn.apply(params, state, jnp.ones((4, 3)))  # training must be given


# --- layer norm and RMS norm ---------------------------------------------------------------


def test_layer_norm_normalises_each_example_and_matches_torch():
    ln = nn.layer_norm(6)
    params = _random_affine(ln.init(KEY))
    x = (RNG.normal(size=(5, 6)) * [[1.0], [10.0], [0.1], [3.0], [1.0]] + 4).astype(np.float32)
    y = ln.apply(params, x)
    want = torch.nn.functional.layer_norm(
        torch.from_numpy(x),
        (6,),
        torch.from_numpy(np.array(params["gamma"])),
        torch.from_numpy(np.array(params["beta"])),
        eps=1e-5,
    ).numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    # Before gamma/beta: per-example mean 0 and variance 1.
    y0 = np.asarray(ln.apply(ln.init(KEY), x), np.float64)
    np.testing.assert_allclose(y0.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(y0.var(1), x.var(1) / (x.var(1) + 1e-5), rtol=1e-4)


def test_layer_norm_is_the_same_in_training_and_eval_and_per_example():
    ln = nn.layer_norm(4)
    params = _random_affine(ln.init(KEY))
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    y = ln.apply(params, x)
    np.testing.assert_array_equal(ln.apply(params, x, training=True), y)
    np.testing.assert_allclose(ln.apply(params, x[1]), y[1], rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(ln.apply, (None, 0))(params, x), y, rtol=1e-6)


def test_layer_norm_over_several_axes_matches_torch():
    ln = nn.layer_norm((3, 4), axis=(-2, -1), eps=1e-3)
    params = _random_affine(ln.init(KEY))
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    want = torch.nn.functional.layer_norm(
        torch.from_numpy(x),
        (3, 4),
        torch.from_numpy(np.array(params["gamma"])),
        torch.from_numpy(np.array(params["beta"])),
        eps=1e-3,
    ).numpy()
    np.testing.assert_allclose(ln.apply(params, x), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"gamma has shape \(3, 4\) but the input has shape"):
        ln.apply(params, x.reshape(2, 4, 3))


def test_layer_norm_bfloat16_inputs_use_float32_statistics():
    ln = nn.layer_norm(256)
    params = ln.init(KEY)
    x = jnp.asarray(RNG.normal(loc=50.0, scale=0.5, size=(4, 256)), jnp.bfloat16)
    y = ln.apply(params, x)
    assert y.dtype == jnp.bfloat16
    x64 = np.asarray(x, np.float64)
    want = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(np.asarray(y, np.float64), want, atol=3e-2)


def test_rms_norm_matches_torch():
    rms = nn.rms_norm(6, eps=1e-6)
    params = rms.init(KEY)
    assert list(params) == ["gamma"]
    params = {"gamma": jnp.asarray(RNG.normal(size=6), jnp.float32)}
    x = (RNG.normal(size=(5, 6)) + 1).astype(np.float32)
    want = torch.nn.functional.rms_norm(
        torch.from_numpy(x), (6,), torch.from_numpy(np.array(params["gamma"])), eps=1e-6
    ).numpy()
    np.testing.assert_allclose(rms.apply(params, x), want, rtol=1e-5, atol=1e-6)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(
        rms.apply(params, x),
        x64 / np.sqrt((x64**2).mean(1, keepdims=True) + 1e-6) * np.asarray(params["gamma"]),
        rtol=1e-5,
    )
