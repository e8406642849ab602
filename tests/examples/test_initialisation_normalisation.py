"""examples/initialisation.py and examples/normalisation.py: they run briefly, draw real PNGs,
and compute what the lectures say they do."""

from __future__ import annotations

import matplotlib.image
import numpy as np

from examples import initialisation, normalisation


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert pixels.std() > 0.05  # not a blank canvas


def numpy_variances(layers, x, activation) -> np.ndarray:
    """Var[a^l] for l = 0..depth, the forward pass in float64 NumPy."""
    a = np.asarray(x, np.float64)
    out = [a.var()]
    for p in layers:
        a = activation(a @ np.asarray(p["w"], np.float64) + np.asarray(p["b"], np.float64))
        out.append(a.var())
    return np.array(out)


NUMPY_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}


def test_initialisation_variances_follow_the_lecture(tmp_path):
    depth, width = 20, 512
    result = initialisation.main(
        ["--depth", str(depth), "--width", str(width), "--samples", "128", "--out", str(tmp_path)]
    )
    assert_png(result["figure"])
    variances, spreads = result["variances"], result["spreads"]
    x = np.asarray(result["inputs"], np.float64)
    names = {
        key: next(n for n in initialisation.INITIALISERS if n.startswith(key))
        for key in ("constant", "small normal", "glorot", "he")
    }

    # Every curve against a float64 NumPy forward pass through the same gradtx-drawn weights.
    for act, by_init in variances.items():
        for name, var in by_init.items():
            assert var.shape == (depth + 1,)
            layers = initialisation.make_layers(
                initialisation.INITIALISERS[name], result["weights_key"], depth, width
            )
            expected = numpy_variances(layers, x, NUMPY_ACTIVATIONS[act])
            np.testing.assert_allclose(var, expected, rtol=2e-3, err_msg=f"{act} {name}")

    # Constant weights c: every unit of a layer is the same number, u^1 = s(c sum_j x_j) and
    # u^l = s(c n u^(l-1)), so Var[a^l] is the variance of u^l over the examples.
    c = 0.01
    for act, s in NUMPY_ACTIVATIONS.items():
        u, expected = s(c * x.sum(1)), [x.var()]
        for _ in range(depth):
            expected.append(u.var())
            u = s(c * width * u)
        np.testing.assert_allclose(variances[act][names["constant"]], expected, rtol=1e-4)
        np.testing.assert_array_equal(spreads[act][names["constant"]][1:], 0.0)
        for key in ("small normal", "glorot", "he"):  # random weights: units differ
            assert np.all(spreads[act][names[key]] > 0.1), (act, key)

    # The lecture's Var[z^l] = n Var[w] Var[a^(l-1)]; ReLU halves it, tanh ~ identity near 0.
    relu, tanh = variances["relu"], variances["tanh"]

    def mean_ratio(var, layers):  # geometric mean of Var[a^(l+1)] / Var[a^l] over the layers
        return np.exp(np.mean(np.diff(np.log(var[layers]))))

    he = relu[names["he"]]
    assert np.all((he[1:] > he[1] / 2) & (he[1:] < 2 * he[1]))  # He keeps it: within 2x
    np.testing.assert_allclose(mean_ratio(relu[names["glorot"]], slice(1, None)), 0.5, rtol=0.05)
    np.testing.assert_allclose(
        mean_ratio(relu[names["small normal"]], slice(1, None)), width * 1e-4 / 2, rtol=0.05
    )
    np.testing.assert_allclose(
        mean_ratio(tanh[names["small normal"]], slice(1, None)), width * 1e-4, rtol=0.05
    )
    assert relu[names["small normal"]][-1] < 1e-25 and tanh[names["small normal"]][-1] < 1e-20
    assert relu[names["glorot"]][-1] < 1e-4 * relu[names["glorot"]][1]  # halves every layer
    assert relu[names["constant"]][-1] > 1e20  # c n = 5.12 > 1: explodes
    g = tanh[names["glorot"]]  # tanh with Var[w] = 1/n: the slow decay, no vanishing
    assert 1e-2 < g[-1] < g[1]


def test_normalisation_batch_norm_and_standardising_beat_raw_features(tmp_path):
    steps = 60
    result = normalisation.main(["--steps", str(steps), "--samples", "256", "--out", str(tmp_path)])
    assert_png(result["figure"])
    runs = result["results"]
    assert set(runs) == set(normalisation.VARIANTS)
    x, y = result["data"]
    x64, y64 = x.astype(np.float64), y[:, 0].astype(np.float64)

    # The lecture's setting: features five orders of magnitude apart, X^T X ill-conditioned.
    assert 1e4 < x64[:, 0].mean() / x64[:, 1].mean() < 1e6
    eigenvalues = np.linalg.eigvalsh(x64.T @ x64)
    assert eigenvalues[-1] / eigenvalues[0] > 1e10

    # References computed here: predicting the mean (loss Var[y]) and the least-squares
    # linear model on standardised features.
    variance = y64.var()
    z = (x64 - x64.mean(0)) / x64.std(0)
    design = np.c_[np.ones(len(z)), z]
    coef = np.linalg.lstsq(design, y64, rcond=None)[0]
    linear = np.mean((design @ coef - y64) ** 2)
    assert linear < 0.6 * variance  # the target is partly linear in the features

    for name, run in runs.items():
        assert run["losses"].shape == (steps, len(result["learning_rates"])), name
        assert np.isfinite(run["final_loss"]), name
    final = {name: run["final_loss"] for name, run in runs.items()}
    # In the same steps, batch norm and standardised inputs fit the nonlinear target better
    # than any linear model; raw features and layer norm do not even match the linear one.
    for good in ("batch norm", "standardised inputs"):
        assert final[good] < 0.5 * linear, (good, final)
        assert final[good] < final["raw features"] / 10, (good, final)
    for bad in ("raw features", "layer norm"):
        assert final[bad] > linear, (bad, final)

    # Raw features blow up at learning rates the standardised run uses with success.
    best_std = runs["standardised inputs"]["best"]
    raw_tail = runs["raw features"]["losses"][-5:, best_std]
    assert not np.all(np.isfinite(raw_tail)) or raw_tail.min() > 1e6
