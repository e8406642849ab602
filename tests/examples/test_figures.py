"""The figure-drawing examples run briefly, compute the right thing and write real PNGs."""

from __future__ import annotations

import itertools

import matplotlib.image
import numpy as np

from examples import gabor, linear_regression, schedules


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert pixels.std() > 0.05  # not a blank canvas


def test_schedules_example_draws_the_lecture_formulas(tmp_path):
    steps = 60
    result = schedules.main(["--steps", str(steps), "--out", str(tmp_path)])
    assert_png(result["figure"])
    values = result["values"]
    assert len(values) == 16
    k0 = s = steps // 10
    k = np.arange(steps)
    staircase = 0.5 ** np.maximum(0, np.floor((k - k0) / s))
    np.testing.assert_allclose(values[next(n for n in values if "staircase" in n)], staircase)
    one_over_t = 1 / (1 + np.maximum(0, np.floor((k - k0) / s)))
    np.testing.assert_allclose(values[next(n for n in values if "1/t" in n)], one_over_t)


def test_linear_regression_reaches_the_least_squares_solution(tmp_path):
    result = linear_regression.main(["--steps", "300", "--out", str(tmp_path)])
    assert_png(result["figure"])
    x, y = linear_regression.make_data()
    design = np.stack([np.ones_like(x), x], 1).astype(np.float64)
    exact = np.linalg.solve(design.T @ design, design.T @ y)
    gd, sgd = result["paths"]["gradient descent"], result["paths"]["SGD (minibatches)"]
    np.testing.assert_allclose(gd[-1], exact, atol=1e-3)
    losses = ((gd[:, :1] + gd[:, 1:] * x - y) ** 2).sum(-1)
    assert np.all(np.diff(losses) <= 1e-6)  # small steps: full-batch GD descends monotonically
    np.testing.assert_allclose(sgd[-1], exact, atol=0.1)
    assert len(sgd) == 1 + 300 // 4 * 4  # 4 minibatches of 3 per epoch, no partial batch


def test_gabor_paths_descend_from_every_start(tmp_path):
    result = gabor.main(["--steps", "40", "--out", str(tmp_path)])
    assert_png(result["figure"])
    x, y = result["data"]
    for name, paths in result["paths"].items():
        assert paths.shape == (len(gabor.STARTS), 41, 2), name
        np.testing.assert_array_equal(paths[:, 0], gabor.STARTS)
        first = np.array([float(gabor.loss(p[0], x, y)) for p in paths])
        last = np.array([float(gabor.loss(p[-1], x, y)) for p in paths])
        assert np.all(np.isfinite(last)) and np.all(last < first), name


def test_optimizer_paths_show_newton_and_the_steepest_descent_zig_zag(tmp_path):
    from examples import optimizer_paths

    result = optimizer_paths.main(["--steps", "30", "--out", str(tmp_path)])
    for figure in result["figures"].values():
        assert_png(figure)
    quad = result["paths"]["ill-conditioned quadratic"]
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rotation = np.array([[c, -s], [s, c]])
    a = rotation @ np.diag([1.0, 20.0]) @ rotation.T
    # Newton reaches the minimum of a quadratic in one step.
    np.testing.assert_allclose(quad["Newton"][1], [0.0, 0.0], atol=1e-5)
    # Steepest descent with exact line search: successive gradients are orthogonal, and the
    # loss falls by the worst-case factor ((k - 1) / (k + 1))^2 = (19 / 21)^2 per step.
    sd = quad["steepest descent (exact line search)"][:12].astype(np.float64)
    grads = sd @ a.T
    cosines = [
        g1 @ g2 / np.linalg.norm(g1) / np.linalg.norm(g2) for g1, g2 in itertools.pairwise(grads)
    ]
    np.testing.assert_allclose(cosines, 0.0, atol=2e-3)
    losses = 0.5 * np.einsum("ki,ij,kj->k", sd, a, sd)
    np.testing.assert_allclose(losses[1:] / losses[:-1], (19 / 21) ** 2, rtol=2e-2)
    # Gradient descent with lr below 2 / lambda_max descends on the quadratic.
    gd = quad["gradient descent"].astype(np.float64)
    assert np.all(np.diff(0.5 * np.einsum("ki,ij,kj->k", gd, a, gd)) < 0)
    # Newton solves Rosenbrock within the 30 steps; the first-order methods do not.
    rosen = result["paths"]["Rosenbrock"]
    np.testing.assert_allclose(rosen["Newton"][-1], [1.0, 1.0], atol=1e-4)
