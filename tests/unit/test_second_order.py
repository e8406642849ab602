"""Newton's method and the curvature tools against NumPy references.

References: closed-form Hessians written in NumPy, numpy.linalg.solve / eigvalsh on them, the
lectures' quadratic analysis (damped Newton shrinks the error by 1 - eta per step; gradient
descent is stable exactly below 2 / lambda_max), a brute-force maximum over a circle for the
sharpness, and SAM's update written out by hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


def _spd(n, seed, cond=20.0):
    rs = np.random.RandomState(seed)
    q, _ = np.linalg.qr(rs.standard_normal((n, n)))
    return q @ np.diag(np.geomspace(1.0, cond, n)) @ q.T, rs.standard_normal(n)


def _symmetric(n, seed):
    m = np.random.RandomState(seed).standard_normal((n, n))
    return (m + m.T) / 2


# f(x) = x'Ax/2 + sum(cos x): Hessian A - diag(cos x), written in NumPy.
def _f_cos(a):
    return lambda x: 0.5 * x @ jnp.asarray(a) @ x + jnp.sum(jnp.cos(x))


def _hess_cos(a, x):
    return a - np.diag(np.cos(x))


def _newton_step(tx, f, x, **extra):
    """The update of ``tx`` at x (jitted), as NumPy arrays."""
    x = jax.tree.map(jnp.asarray, x)
    step = jax.jit(lambda x: tx.update(jax.grad(f)(x), tx.init(x), x, value_fn=f, **extra)[0])
    return jax.tree.map(np.asarray, step(x))


# --- Newton ------------------------------------------------------------------------------------


def test_newton_reaches_the_minimum_of_a_quadratic_in_one_step():
    """On a pytree of parameters (flattened internally), the first step lands on A^-1 b."""
    a, b = _spd(5, 0)
    x_star = np.linalg.solve(a, b)

    def f(p):
        x = jnp.concatenate([p["u"], p["v"].ravel()])
        return 0.5 * x @ jnp.asarray(a) @ x - jnp.asarray(b) @ x

    with jax.enable_x64(True):
        params = {"u": jnp.array([3.0, -1.0]), "v": jnp.array([[0.5, 2.0, -4.0]])}
        new = gradtx.apply_updates(params, _newton_step(gradtx.newton(), f, params))
        np.testing.assert_allclose(new["u"], x_star[:2], atol=1e-6)
        np.testing.assert_allclose(new["v"], x_star[2:].reshape(1, 3), atol=1e-6)
        result = gradtx.minimize(f, params, gradtx.newton(), 10, 1e-8)
        assert int(result.num_steps) == 1


def test_damped_newton_halves_the_distance_each_step():
    a, b = _spd(4, 1)
    x_star = np.linalg.solve(a, b)
    with jax.enable_x64(True):
        f = lambda x: 0.5 * x @ jnp.asarray(a) @ x - jnp.asarray(b) @ x  # noqa: E731
        tx = gradtx.newton(damping=0.5)
        step = jax.jit(lambda x: tx.update(jax.grad(f)(x), tx.init(x), x, value_fn=f)[0])
        x = jnp.zeros(4)
        for _ in range(6):
            new = gradtx.apply_updates(x, step(x))
            # x_new - x* = (1 - eta)(x - x*), the whole error vector, not just its norm
            np.testing.assert_allclose(new - x_star, 0.5 * (np.asarray(x) - x_star), atol=1e-12)
            x = new


def test_newton_matches_a_numpy_newton_step_on_a_non_quadratic():
    """Full step, damping and Levenberg regularisation (on an indefinite Hessian) against
    eta * solve(H + lambda I, g) with the Hessian and gradient written in NumPy. The
    hyperparameters are traced (one compilation for all of them)."""
    a = _symmetric(4, 2)
    x = np.random.RandomState(3).standard_normal(4)
    g = a @ x - np.sin(x)
    h = _hess_cos(a, x)
    assert np.linalg.eigvalsh(h)[0] < 0  # indefinite
    lam = 1.0 - np.linalg.eigvalsh(h)[0]
    with jax.enable_x64(True):
        f = _f_cos(a)

        @jax.jit
        def step(eta, reg, x):
            tx = gradtx.scale_by_newton(damping=eta, regularization=reg)
            return tx.update(jax.grad(f)(x), tx.init(x), x, value_fn=f)[0]

        for eta, reg in [(1.0, 0.0), (0.3, 0.0), (1.0, lam), (0.7, 2 * lam)]:
            out = step(eta, reg, jnp.asarray(x))
            np.testing.assert_allclose(
                out, eta * np.linalg.solve(h + reg * np.eye(4), g), rtol=1e-10
            )
        # a user-supplied Hessian gives the same step, with extra arguments matched by name
        tx = gradtx.scale_by_newton(lambda p, c: c * jnp.asarray(h), regularization=lam)
        out = _newton_step(tx, f, x, c=2.0)
        np.testing.assert_allclose(out, np.linalg.solve(2 * h + lam * np.eye(4), g), rtol=1e-10)


def test_regularised_newton_descends_on_an_indefinite_hessian():
    a = _symmetric(4, 2)
    x = np.random.RandomState(3).standard_normal(4)
    lam = 1.0 - np.linalg.eigvalsh(_hess_cos(a, x))[0]
    with jax.enable_x64(True):
        out = _newton_step(gradtx.newton(regularization=lam), _f_cos(a), x)
    assert out @ (a @ x - np.sin(x)) < 0


def test_newton_cg_matches_exact_newton():
    rs = np.random.RandomState(4)
    with jax.enable_x64(True):

        @jax.jit
        def steps(a, x):
            f = _f_cos(a)
            g = jax.grad(f)(x)
            dense = gradtx.scale_by_newton(damping=0.5, regularization=0.1)
            cg = gradtx.scale_by_newton_cg(damping=0.5, regularization=0.1, tol=1e-12)
            return [tx.update(g, tx.init(x), x, value_fn=f)[0] for tx in (dense, cg)]

        for seed in range(3):
            a, _ = _spd(6, 10 + seed, cond=50.0)
            # the Hessian A + 2I - diag(cos x) is positive definite
            exact, cg = steps(jnp.asarray(a + 2 * np.eye(6)), jnp.asarray(rs.standard_normal(6)))
            np.testing.assert_allclose(cg, exact, rtol=1e-8)


def test_newton_cg_falls_back_to_the_gradient_along_negative_curvature():
    f = lambda x: x[0] ** 2 - x[1] ** 2  # noqa: E731
    x = jnp.array([1.0, 0.0])  # g = (2, 0): positive curvature along g, the Newton step
    np.testing.assert_allclose(_newton_step(gradtx.scale_by_newton_cg(), f, x), [1.0, 0.0])
    x = jnp.array([0.0, 1.0])  # g = (0, -2): g'Hg < 0 at the first CG iteration
    np.testing.assert_allclose(_newton_step(gradtx.scale_by_newton_cg(), f, x), [0.0, -2.0])


def test_newton_errors():
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="value_fn=loss"):
        gradtx.scale_by_newton().update(x, gradtx.EmptyState(), x)
    wrong_shape = gradtx.scale_by_newton(lambda p: jnp.eye(3))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        wrong_shape.update(x, gradtx.EmptyState(), x)
    with pytest.raises(ValueError, match="damping"):
        gradtx.newton(damping=1.5)
    with pytest.raises(ValueError, match="regularization"):
        gradtx.newton_cg(regularization=-1.0)
    z = jnp.ones(2, jnp.complex64)
    with pytest.raises(TypeError, match="real parameters"):
        gradtx.scale_by_newton().update(z, gradtx.EmptyState(), z, value_fn=lambda p: 0.0)
    with pytest.raises(ValueError, match="needs the current parameters"):
        gradtx.scale_by_newton_cg().update(x, gradtx.EmptyState(), value_fn=jnp.sum)


def test_newton_transforms_keep_dtypes_and_vmap_over_damping():
    f = lambda p: jnp.sum(jnp.cosh(p["w"].astype(jnp.float32))) + jnp.sum(p["b"] ** 4)  # noqa: E731
    params = {"w": jnp.array([0.5, -1.0], jnp.bfloat16), "b": jnp.array([1.0, 2.0])}
    grads = jax.grad(f)(params)

    def steps(eta):
        return [
            tx.update(grads, gradtx.EmptyState(), params, value_fn=f)[0]
            for tx in (
                gradtx.scale_by_newton(damping=eta),
                gradtx.scale_by_newton_cg(damping=eta, tol=1e-7),
            )
        ]

    etas = jnp.array([0.25, 0.5, 1.0])
    batched = jax.jit(jax.vmap(steps))(etas)
    for out in batched:
        assert out["w"].dtype == jnp.bfloat16 and out["b"].dtype == jnp.float32
        np.testing.assert_allclose(out["b"], etas[:, None] * out["b"][2][None, :], rtol=1e-6)
        # b's Hessian is diag(12 b^2): the Newton step is g / (12 b^2) = b / 3
        np.testing.assert_allclose(out["b"][2], np.array([1.0, 2.0]) / 3, rtol=1e-5)
        # w's is diag(cosh w): the step is tanh(w) (to bfloat16 precision)
        np.testing.assert_allclose(out["w"][2].astype(np.float32), np.tanh([0.5, -1.0]), rtol=1e-2)


# --- hvp and eigenvalues -------------------------------------------------------------------------


def test_hvp_on_pytrees():
    a = _symmetric(5, 5)
    x = np.random.RandomState(6).standard_normal(5)
    v = np.random.RandomState(7).standard_normal(5)

    def f(p):
        return _f_cos(a)(jnp.concatenate([p["head"], p["tail"]]))

    with jax.enable_x64(True):
        out = gradtx.hvp(f, {"head": x[:2], "tail": x[2:]}, {"head": v[:2], "tail": v[2:]})
    expected = _hess_cos(a, x) @ v
    np.testing.assert_allclose(out["head"], expected[:2], rtol=1e-12)
    np.testing.assert_allclose(out["tail"], expected[2:], rtol=1e-12)


def test_top_eigenvalue_matches_eigvalsh():
    n = 9
    with jax.enable_x64(True):
        top = jax.jit(lambda a, x, key: gradtx.top_hessian_eigenvalue(_f_cos(a), x, key=key))
        for seed in range(6):
            a = 3.0 * _symmetric(n, 100 * n + seed)  # indefinite in general
            x = np.random.RandomState(seed).standard_normal(n)
            expected = np.linalg.eigvalsh(_hess_cos(a, x))[-1]
            got = top(jnp.asarray(a), jnp.asarray(x), jax.random.key(seed))
            np.testing.assert_allclose(got, expected, rtol=1e-9)
        # Hessian 2I (cos vanishes at pi/2): the Krylov space breaks down after one step and
        # Lanczos must restart from a fresh direction instead of dividing by zero.
        x = jnp.full(n, np.pi / 2)
        got = top(2 * jnp.eye(n), x, jax.random.key(0))
        np.testing.assert_allclose(got, 2.0, rtol=1e-12)


def test_top_eigenvalue_with_fewer_iterations_than_parameters():
    """Lanczos with 30 iterations on 100 parameters (a pytree): the top eigenvalue converges."""
    rs = np.random.RandomState(8)
    q, _ = np.linalg.qr(rs.standard_normal((100, 100)))
    eigenvalues = np.concatenate([[10.0, 6.0], rs.uniform(0.0, 3.0, 98)])
    h = q @ np.diag(eigenvalues) @ q.T

    def f(p):
        x = jnp.concatenate([p["v"], p["m"].ravel()])
        return 0.5 * x @ jnp.asarray(h) @ x

    with jax.enable_x64(True):
        params = {"v": jnp.zeros(40), "m": jnp.zeros((6, 10))}
        got = float(gradtx.top_hessian_eigenvalue(f, params, 30))
    assert got <= 10.0 + 1e-9  # Ritz values never exceed the largest eigenvalue
    np.testing.assert_allclose(got, 10.0, rtol=1e-8)


def test_gradient_descent_is_stable_just_below_two_over_lambda_max():
    """The lectures' bound: lr = 0.98 * 2/lambda_max converges, lr = 1.02 * 2/lambda_max
    diverges, on a quadratic with eigenvalues in [1, 10]."""
    a, b = _spd(5, 11, cond=10.0)
    x_star = np.linalg.solve(a, b)
    with jax.enable_x64(True):
        f = lambda x: 0.5 * x @ jnp.asarray(a) @ x - jnp.asarray(b) @ x  # noqa: E731
        lr_max = float(gradtx.max_stable_learning_rate(f, jnp.zeros(5)))
        np.testing.assert_allclose(lr_max, 2.0 / np.linalg.eigvalsh(a)[-1], rtol=1e-10)

        @jax.jit
        def run(lr):
            return gradtx.minimize(f, jnp.zeros(5), gradtx.sgd(lr), 400, 0.0).params

        def distance(lr):
            return np.linalg.norm(np.asarray(run(lr)) - x_star)

        start = np.linalg.norm(x_star)
        assert distance(0.98 * lr_max) < 1e-5 * start
        assert distance(1.02 * lr_max) > 1e3 * start


def test_condition_number_matches_numpy():
    with jax.enable_x64(True):
        condition = jax.jit(lambda a, x: gradtx.hessian_condition_number(_f_cos(a), x))
        for seed in range(3):
            a = _symmetric(5, 20 + seed) + 4 * np.eye(5)
            x = np.random.RandomState(seed).standard_normal(5)
            magnitudes = np.abs(np.linalg.eigvalsh(_hess_cos(a, x)))
            got = condition(jnp.asarray(a), jnp.asarray(x))
            np.testing.assert_allclose(got, magnitudes.max() / magnitudes.min(), rtol=1e-9)
        # a singular Hessian: A - diag(cos 0) = diag(0, 1, 2, 3, 4)
        assert np.isinf(condition(jnp.diag(jnp.arange(1.0, 6.0)), jnp.zeros(5)))


# --- sharpness and SAM ------------------------------------------------------------------------


def _f2(x):
    return jnp.log(jnp.exp(x[0] + 2 * x[1]) + jnp.exp(-x[0]) + jnp.exp(x[1] - 1)) + x[0] ** 2


def _f2_np(x):
    return np.log(np.exp(x[0] + 2 * x[1]) + np.exp(-x[0]) + np.exp(x[1] - 1)) + x[0] ** 2


def test_sharpness_one_step_is_sams_first_order_estimate():
    w = np.array([0.3, -0.4])
    with jax.enable_x64(True):
        g = np.asarray(jax.grad(_f2)(jnp.asarray(w)))
        eps = 0.2 * g / np.linalg.norm(g)
        np.testing.assert_allclose(gradtx.sam_perturbation(jnp.asarray(g), 0.2), eps, rtol=1e-12)
        got = gradtx.sharpness(_f2, jnp.asarray(w), 0.2)
    np.testing.assert_allclose(got, _f2_np(w + eps) - _f2_np(w), rtol=1e-10)


def test_sharpness_finds_the_maximum_over_the_ball():
    """A convex function's maximum over a disk lies on its boundary circle: compare with a
    brute-force search over 200,000 points of the circle."""
    w, rho = np.array([0.3, -0.4]), 0.5
    angles = np.linspace(0, 2 * np.pi, 200_000, endpoint=False)
    circle = w[:, None] + rho * np.stack([np.cos(angles), np.sin(angles)])
    brute = _f2_np(circle).max() - _f2_np(w)
    with jax.enable_x64(True):
        got = gradtx.sharpness(_f2, jnp.asarray(w), rho, num_steps=200)
        np.testing.assert_allclose(got, brute, rtol=1e-8)
        assert got >= gradtx.sharpness(_f2, jnp.asarray(w), rho)  # more steps, no less


def test_sharpness_at_a_minimum_is_half_rho_squared_lambda_max():
    a, _ = _spd(6, 12, cond=8.0)
    with jax.enable_x64(True):
        f = lambda x: 0.5 * x @ jnp.asarray(a) @ x  # noqa: E731
        got = gradtx.sharpness(f, jnp.zeros(6), 0.1, num_steps=300, key=1)
        assert float(gradtx.sharpness(f, jnp.zeros(6), 0.1)) == 0.0  # no gradient, no key
    np.testing.assert_allclose(got, 0.5 * 0.1**2 * np.linalg.eigvalsh(a)[-1], rtol=1e-8)


def test_sam_matches_a_hand_computed_step():
    """SAM around SGD with momentum: eps = rho g/|g|, g_sam = grad L(w + eps) from the same
    batch, then w <- w - lr (beta m + g_sam), all written out in NumPy."""
    x_batch = np.array([[1.0, 2.0], [0.5, -1.0], [-1.5, 0.3]])
    y_batch = np.array([1.0, -0.5, 2.0])

    def loss(w, batch):
        x, y = batch
        return jnp.mean((x @ w - y) ** 2)

    def grad_np(w):
        return 2 * x_batch.T @ (x_batch @ w - y_batch) / len(y_batch)

    lr, beta, rho = 0.1, 0.9, 0.05
    tx = gradtx.sam(gradtx.sgd(lr, momentum=beta), rho)
    w = np.array([0.2, -0.3])
    m = np.zeros(2)
    with jax.enable_x64(True):
        batch = (jnp.asarray(x_batch), jnp.asarray(y_batch))
        params, state = jnp.asarray(w), tx.init(jnp.asarray(w))
        for _ in range(3):
            g = jax.grad(loss)(params, batch)
            u, state = tx.update(g, state, params, value_fn=loss, batch=batch, unused=1)
            params = gradtx.apply_updates(params, u)
            g = grad_np(w)
            g_sam = grad_np(w + rho * g / np.linalg.norm(g))
            m = beta * m + g_sam
            w = w - lr * m
            np.testing.assert_allclose(params, w, rtol=1e-12)
        # a gradient function instead of the loss gives the same step
        via_grad = gradtx.sam(gradtx.sgd(lr), rho)
        g = jax.grad(loss)(params, batch)
        grad_fn = jax.grad(loss)
        a = via_grad.update(g, via_grad.init(params), params, grad_fn=grad_fn, batch=batch)[0]
        b = via_grad.update(g, via_grad.init(params), params, value_fn=loss, batch=batch)[0]
        np.testing.assert_allclose(a, b, rtol=1e-12)
        # rho = 0 is the base optimizer
        plain = gradtx.sam(gradtx.sgd(lr), 0.0)
        out = plain.update(g, plain.init(params), params, value_fn=loss, batch=batch)[0]
        np.testing.assert_allclose(out, -lr * np.asarray(g), rtol=1e-12)


def test_sam_errors():
    x = jnp.ones(2)
    tx = gradtx.sam(gradtx.sgd(0.1))
    with pytest.raises(ValueError, match="value_fn=loss"):
        tx.update(x, tx.init(x), x)
    with pytest.raises(TypeError, match=r"gradtx\.sgd instead of gradtx\.sgd\(\.\.\.\)"):
        gradtx.sam(gradtx.sgd)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rho"):
        gradtx.sam(gradtx.sgd(0.1), rho=-0.1)
