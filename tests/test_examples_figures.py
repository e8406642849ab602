"""The figure-drawing examples run briefly, compute the right thing and write real PNGs."""

from __future__ import annotations

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
