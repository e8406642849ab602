"""gradtx.nn.initializers: values against jax.nn.initializers, statistics against the lecture's
formulas, fan computation for dense and convolution kernels, and the lecture's claims about
variance preservation through deep networks checked numerically."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import gradtx
from gradtx.nn import initializers as ini
from tests.helpers import minimise

KEY = jax.random.key(42)

# (name, our initialiser, JAX's) for the same hyperparameters.
PAIRS = [
    ("zeros", ini.zeros, jax.nn.initializers.zeros),
    ("ones", ini.ones, jax.nn.initializers.ones),
    ("constant", ini.constant(-7.5), jax.nn.initializers.constant(-7.5)),
    ("normal", ini.normal(0.3), jax.nn.initializers.normal(0.3)),
    ("uniform", ini.uniform(2.5), jax.nn.initializers.uniform(2.5)),
    ("truncated_normal", ini.truncated_normal(0.5), jax.nn.initializers.truncated_normal(0.5)),
    (
        "truncated_normal_bounds",
        ini.truncated_normal(0.5, lower=-1.0, upper=3.0),
        jax.nn.initializers.truncated_normal(0.5, lower=-1.0, upper=3.0),
    ),
    ("glorot_normal", ini.glorot_normal(), jax.nn.initializers.glorot_normal()),
    ("glorot_uniform", ini.glorot_uniform(), jax.nn.initializers.glorot_uniform()),
    ("he_normal", ini.he_normal(), jax.nn.initializers.he_normal()),
    ("he_uniform", ini.he_uniform(), jax.nn.initializers.he_uniform()),
    ("lecun_normal", ini.lecun_normal(), jax.nn.initializers.lecun_normal()),
    ("lecun_uniform", ini.lecun_uniform(), jax.nn.initializers.lecun_uniform()),
    (
        "variance_scaling_fan_out_normal",
        ini.variance_scaling(0.7, "fan_out", "normal"),
        jax.nn.initializers.variance_scaling(0.7, "fan_out", "normal"),
    ),
    (
        "variance_scaling_geo_avg",
        ini.variance_scaling(3.0, "fan_geo_avg", "uniform"),
        jax.nn.initializers.variance_scaling(3.0, "fan_geo_avg", "uniform"),
    ),
    # The lecture's (C_out, C_in, m, n) layout is JAX's in_axis=1, out_axis=0.
    (
        "he_normal_oihw",
        ini.he_normal(layout="OIHW"),
        jax.nn.initializers.he_normal(in_axis=1, out_axis=0),
    ),
]


SHAPE = (3, 3, 8, 16)
LOW_PRECISION = ["normal", "glorot_normal", "he_uniform"]


@jax.jit
def _all_draws(key):
    """Every pair's draws, in one compiled program (eager draws compile one by one)."""
    out = {name: (ours(key, SHAPE), theirs(key, SHAPE)) for name, ours, theirs in PAIRS}
    for dtype in (jnp.bfloat16, jnp.float16):
        for name, ours, theirs in PAIRS:
            if name in LOW_PRECISION:
                out[f"{name}-{jnp.dtype(dtype).name}"] = (
                    ours(key, SHAPE, dtype),
                    theirs(key, SHAPE, dtype),
                )
    batch_axes = {"in_axis": 1, "out_axis": 0, "batch_axis": 2}
    out["glorot_uniform_batch_axis"] = (
        ini.glorot_uniform(**batch_axes)(key, SHAPE),
        jax.nn.initializers.glorot_uniform(**batch_axes)(key, SHAPE),
    )
    return out


def test_values_equal_jax_initializers():
    draws = _all_draws(KEY)
    assert len(draws) == len(PAIRS) + 2 * len(LOW_PRECISION) + 1
    for name, (got, want) in draws.items():
        dtype = name.split("-")[1] if "-" in name else "float32"
        assert got.dtype == want.dtype == jnp.dtype(dtype), name
        assert got.shape == SHAPE, name
        np.testing.assert_array_equal(
            np.asarray(got, np.float32), np.asarray(want, np.float32), err_msg=name
        )


def test_lecture_names_are_the_same_initialisers():
    assert ini.xavier_normal is ini.glorot_normal
    assert ini.xavier_uniform is ini.glorot_uniform
    assert ini.kaiming_normal is ini.he_normal
    assert ini.kaiming_uniform is ini.he_uniform


def test_complex_weights_need_the_normal_distribution():
    with pytest.raises(TypeError, match="real floating dtype"):
        ini.lecun_normal()(KEY, SHAPE, jnp.complex64)  # truncated normal: real only


# --- fans ---------------------------------------------------------------------------------


def test_fans_of_a_dense_weight():
    # x @ w with w of shape (n_in, n_out).
    assert ini.compute_fans((300, 200)) == (300.0, 200.0)
    assert ini.compute_fans((300, 200), layout="IO") == (300.0, 200.0)
    # PyTorch's Linear stores (n_out, n_in).
    assert ini.compute_fans((200, 300), layout="OI") == (300.0, 200.0)


@pytest.mark.parametrize(("c_out", "c_in", "m", "n"), [(64, 3, 5, 5), (16, 32, 3, 1)])
def test_fans_of_a_convolution_kernel_follow_the_lecture(c_out, c_in, m, n):
    """(C_out, C_in, m, n) filter: n_in = C_in * m * n and n_out = C_out * m * n."""
    want = (float(c_in * m * n), float(c_out * m * n))
    assert ini.compute_fans((c_out, c_in, m, n), layout="OIHW") == want
    assert ini.compute_fans((c_out, c_in, m, n), in_axis=1, out_axis=0) == want
    # JAX's HWIO layout and the default axes give the same fans.
    assert ini.compute_fans((m, n, c_in, c_out)) == want
    assert ini.compute_fans((m, n, c_in, c_out), layout="HWIO") == want


def test_fans_leave_out_batch_axes():
    assert ini.compute_fans((10, 3, 4), batch_axis=0) == (3.0, 4.0)
    assert ini.compute_fans((10, 3, 4), layout="BIO") == (3.0, 4.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (5,)}, "at least 2 axes"),
        ({"shape": (3, 4), "layout": "IOX"}, "one letter per axis"),
        ({"shape": (3, 4), "layout": "II"}, "exactly one 'I'"),
        ({"shape": (3, 4), "layout": "IO", "in_axis": 0}, "not both"),
        ({"shape": (3, 4), "in_axis": 0, "out_axis": 0}, "different axes"),
        ({"shape": (3, 4), "in_axis": 5}, "out of range"),
    ],
)
def test_fan_errors_say_what_is_wrong(kwargs, match):
    shape = kwargs.pop("shape")
    with pytest.raises(ValueError, match=match):
        ini.compute_fans(shape, **kwargs)


def test_construction_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        ini.variance_scaling(1.0, "fan_middle", "normal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distribution must be one of"):
        ini.variance_scaling(1.0, "fan_in", "cauchy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"scale must be in \(0, inf\), got scale=-1"):
        ini.variance_scaling(-1.0, "fan_in", "normal")
    with pytest.raises(ValueError, match="stddev"):
        ini.normal(-0.1)


# --- statistics against the formulas --------------------------------------------------------

N_DENSE = (600, 400)
N_CONV = (64, 32, 5, 5)  # (C_out, C_in, m, n)
DENSE_IN, DENSE_OUT = 600, 400
CONV_IN, CONV_OUT = 32 * 5 * 5, 64 * 5 * 5
TRUNC = stats.truncnorm(-2, 2)


def _kurtosis(distribution):
    return {"normal": 3.0, "uniform": 1.8, "truncated_normal": TRUNC.stats(moments="k") + 3}[
        distribution
    ]


def _check_moments(w, mean, var, kurtosis):
    """Sample mean and variance within 5 standard errors of the formulas."""
    w = np.asarray(w, np.float64).ravel()
    n = w.size
    assert abs(w.mean() - mean) < 5 * math.sqrt(var / n)
    # The sample variance has standard error var * sqrt((kurtosis - 1) / n).
    assert abs(w.var() - var) < 5 * var * math.sqrt((kurtosis - 1) / n)


# (factory, distribution, variance as a function of (fan_in, fan_out))
SCALING = [
    (ini.glorot_normal, "truncated_normal", lambda i, o: 2 / (i + o)),
    (ini.glorot_uniform, "uniform", lambda i, o: 2 / (i + o)),
    (ini.he_normal, "truncated_normal", lambda i, o: 2 / i),
    (ini.he_uniform, "uniform", lambda i, o: 2 / i),
    (ini.lecun_normal, "truncated_normal", lambda i, o: 1 / i),
    (ini.lecun_uniform, "uniform", lambda i, o: 1 / i),
]


SHAPES = {
    "dense": (N_DENSE, "IO", DENSE_IN, DENSE_OUT),
    "conv": (N_CONV, "OIHW", CONV_IN, CONV_OUT),
}


@functools.cache
def _scaling_draws():
    """Large draws of every variance-scaling initialiser for both shapes, compiled once."""

    @jax.jit
    def draw(key):
        return {
            (factory.__name__, kind): factory(layout=layout)(key, shape)
            for factory, _, _ in SCALING
            for kind, (shape, layout, _, _) in SHAPES.items()
        }

    return jax.tree.map(lambda w: np.asarray(w, np.float64), draw(KEY))


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize(
    ("factory", "distribution", "variance"), SCALING, ids=[f.__name__ for f, _, _ in SCALING]
)
def test_variance_scaling_statistics_match_the_formulas(factory, distribution, variance, kind):
    _, _, fan_in, fan_out = SHAPES[kind]
    var = variance(fan_in, fan_out)
    w = _scaling_draws()[factory.__name__, kind]
    _check_moments(w, 0.0, var, _kurtosis(distribution))
    if distribution == "uniform":
        # U(-a, a) with a = sqrt(3 var): sqrt(6 / (n_in + n_out)) for Glorot.
        bound = math.sqrt(3 * var)
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        assert np.abs(w).max() > 0.999 * bound
    else:
        # Truncated at two standard deviations of the underlying normal.
        sigma = math.sqrt(var) / TRUNC.std()
        assert np.abs(w).max() <= 2 * sigma * (1 + 1e-6)
        assert np.abs(w).max() > 1.99 * sigma


def test_glorot_uniform_bound_is_the_lectures():
    w = _scaling_draws()["glorot_uniform", "dense"]
    assert ini.xavier_uniform is ini.glorot_uniform
    limit = math.sqrt(6) / math.sqrt(DENSE_IN + DENSE_OUT)
    assert float(jnp.abs(w).max()) <= limit
    assert float(jnp.abs(w).max()) > 0.999 * limit


def test_plain_distributions_statistics():
    @jax.jit
    def draw(key):
        shape = (1000, 1000)
        return (
            ini.normal(0.3)(key, shape),
            ini.uniform(2.0)(key, shape),
            ini.truncated_normal(0.5, lower=-1.0, upper=3.0)(key, shape),
        )

    normal, w, truncated = draw(KEY)
    _check_moments(normal, 0.0, 0.09, 3.0)
    # U[0, s): mean s / 2, variance s^2 / 12.
    _check_moments(w, 1.0, 4 / 12, 1.8)
    assert float(w.min()) >= 0 and float(w.max()) < 2
    # The stddev of truncated_normal is that of the underlying normal.
    t = stats.truncnorm(-1.0, 3.0)
    w = truncated
    _check_moments(w, 0.5 * t.mean(), 0.25 * t.var(), t.stats(moments="k") + 3)
    assert float(w.min()) >= -0.5 and float(w.max()) <= 1.5
    np.testing.assert_array_equal(ini.constant(3.0)(None, (2, 2)), np.full((2, 2), 3.0))


# --- the lecture's claims through deep networks -------------------------------------------

WIDTH, DEPTH, BATCH, NETS = 256, 20, 128, 4


@functools.cache
def _layer_variances():
    """Variance of each layer's activations through DEPTH square dense layers with zero biases,
    averaged over NETS independently drawn networks, for four (init, activation) pairs."""

    def variances(key, init, activation, x_std):
        kx, kw = jax.random.split(key)
        a = x_std * jax.random.normal(kx, (BATCH, WIDTH))

        def layer(a, k):
            a = activation(a @ init(k, (WIDTH, WIDTH)))
            return a, jnp.var(a)

        return jax.lax.scan(layer, a, jax.random.split(kw, DEPTH))[1]

    cases = {
        # The lecture's derivation assumes tanh(z) ~ z near 0, i.e. small activations.
        "tanh_glorot": (ini.glorot_normal(), jnp.tanh, 0.1),
        "relu_he": (ini.he_normal(), jax.nn.relu, 1.0),
        "relu_glorot": (ini.glorot_normal(), jax.nn.relu, 1.0),
        "relu_normal_1": (ini.normal(1.0), jax.nn.relu, 1.0),
    }

    @jax.jit
    def run(keys):
        return {name: jax.vmap(lambda k: variances(k, *case))(keys) for name, case in cases.items()}

    out = run(jax.random.split(jax.random.key(0), NETS))
    return {name: np.asarray(v, np.float64).mean(0) for name, v in out.items()}


def test_glorot_keeps_tanh_activation_variance():
    v = _layer_variances()["tanh_glorot"]
    ratio = v / v[0]
    assert np.all((ratio > 0.5) & (ratio < 2)), ratio


def test_he_keeps_relu_activation_variance():
    v = _layer_variances()["relu_he"]
    ratio = v / v[0]
    assert np.all((ratio > 0.5) & (ratio < 2)), ratio
    # Glorot's variance (1/n for a square layer) loses half of it at every ReLU.
    v = _layer_variances()["relu_glorot"]
    assert v[-1] / v[0] < 1e-4


def test_too_large_normal_init_explodes():
    v = _layer_variances()["relu_normal_1"]
    # Each layer multiplies the variance by about n Var[w] / 2 = 128.
    assert not np.isfinite(v[-1]) or v[-1] / v[0] > 1e30
    assert v[4] / v[0] > 128**3


def test_constant_init_keeps_units_equal_during_training():
    """Every unit of a layer computes the same thing and gets the same gradient."""
    model = gradtx.nn.mlp(
        [3, 5, 5, 2], activation=jnp.tanh, w_init=ini.constant(0.3), b_init=ini.constant(0.1)
    )
    params = jax.jit(model.init)(KEY)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16, 3)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 2, 16))

    def loss(p):
        logits = model.apply(p, x)
        return gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, y, reduction="mean")

    params = minimise(gradtx.sgd(0.5), loss, params, 20)
    for layer in params[:-1]:
        # All columns (hidden units) of each hidden weight stay equal...
        w = np.asarray(layer["w"])
        np.testing.assert_allclose(w, np.broadcast_to(w[:, :1], w.shape), rtol=1e-6)
        assert np.ptp(np.asarray(layer["b"])) < 1e-6
    # ...so the output layer sees identical inputs: its rows stay equal.
    w = np.asarray(params[-1]["w"])
    np.testing.assert_allclose(w, np.broadcast_to(w[:1], w.shape), rtol=1e-6)
    hidden = jnp.tanh(x @ params[0]["w"] + params[0]["b"])
    np.testing.assert_allclose(hidden, np.broadcast_to(hidden[:, :1], hidden.shape), rtol=1e-6)
    # The weights did move, and a random init gives distinct units.
    assert not np.allclose(np.asarray(params[0]["w"]), 0.3)
    w = np.asarray(jax.jit(gradtx.nn.mlp([3, 5, 2]).init)(KEY)[0]["w"])
    assert np.ptp(w, axis=1).min() > 1e-3
