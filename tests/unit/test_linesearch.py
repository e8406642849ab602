"""Line searches, steepest descent, L-BFGS and ``minimize`` against independent references.

References: NumPy implementations of the objectives (scipy.optimize.rosen for Rosenbrock), the
Armijo and strong Wolfe conditions evaluated in NumPy, scipy.optimize.line_search (Nocedal and
Wright's Algorithms 3.5/3.6 in MINPACK style), scipy's L-BFGS-B, Optax's backtracking line
search and L-BFGS preconditioner, a dense NumPy BFGS inverse-Hessian recursion, and the closed
forms of steepest descent on a quadratic.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

import gradtx

# --- objectives: a JAX version for gradtx and a NumPy version for the references -------------


def rosen_jax(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _quadratic(n, cond, seed):
    rs = np.random.RandomState(seed)
    q, _ = np.linalg.qr(rs.standard_normal((n, n)))
    a = q @ np.diag(np.geomspace(1.0, cond, n)) @ q.T
    return a, rs.standard_normal(n)


A5, B5 = _quadratic(5, 50.0, 0)
M3 = np.random.RandomState(1).standard_normal((7, 3))


# (name, jax objective, numpy objective, numpy gradient, dimension)
OBJECTIVES = [
    ("rosen2", rosen_jax, scipy.optimize.rosen, scipy.optimize.rosen_der, 2),
    (
        "quadratic",
        lambda x: 0.5 * x @ jnp.asarray(A5) @ x - jnp.asarray(B5) @ x,
        lambda x: 0.5 * x @ A5 @ x - B5 @ x,
        lambda x: A5 @ x - B5,
        5,
    ),
    (
        "logistic",
        lambda x: jnp.sum(jnp.logaddexp(0.0, jnp.asarray(M3) @ x)) + 0.05 * x @ x,
        lambda x: np.sum(np.logaddexp(0.0, M3 @ x)) + 0.05 * x @ x,
        lambda x: M3.T @ (1.0 / (1.0 + np.exp(-(M3 @ x)))) + 0.1 * x,
        3,
    ),
]

# Points and direction scales: small scales make the search expand its bracket, large ones
# make it backtrack or zoom.
SCALES = (1e-3, 0.1, 3.0)


def _cases():
    for name, f_jax, f_np, g_np, n in OBJECTIVES:
        for seed in range(3):
            x = np.random.RandomState(10 + seed).uniform(-1.5, 1.5, n)
            for s in SCALES:
                yield name, f_jax, f_np, g_np, x, -s * g_np(x)


CASES = list(_cases())


_JITTED: dict = {}


def _run_linesearch(tx, f_jax, x, u):
    """One update of ``tx`` at x along u (float64, jitted once per (tx, f) pair); returns
    (step size, state)."""
    key = (tx, f_jax)
    if key not in _JITTED:

        def one_update(x, u):
            value, grad = jax.value_and_grad(f_jax)(x)
            return tx.update(u, tx.init(x), x, value=value, grad=grad, value_fn=f_jax)

        _JITTED[key] = jax.jit(one_update)
    updates, state = _JITTED[key](jnp.asarray(x), jnp.asarray(u))
    assert updates.dtype == state.value.dtype == state.learning_rate.dtype == jnp.float64
    t = float(state.learning_rate)
    np.testing.assert_allclose(np.asarray(updates), t * np.asarray(u), rtol=1e-15, atol=0)
    return t, state


def _armijo(f_np, g_np, x, u, t, c1=1e-4):
    return f_np(x + t * u) <= f_np(x) + c1 * t * (g_np(x) @ u)


def _strong_wolfe(f_np, g_np, x, u, t, c1=1e-4, c2=0.9):
    slope0 = g_np(x) @ u
    curvature = abs(g_np(x + t * u) @ u) <= c2 * abs(slope0)
    return _armijo(f_np, g_np, x, u, t, c1) and curvature


# --- backtracking ------------------------------------------------------------------------------


def test_backtracking_takes_the_first_armijo_step_of_its_grid():
    """The accepted step is t0 * beta^i for the smallest i that passes Armijo (NumPy scan),
    with the value and gradient there stored; scipy's strong-Wolfe step on the same function
    passes the same Armijo test."""
    tx = gradtx.scale_by_backtracking_linesearch(60, decrease_factor=0.5, store_grad=True)
    with jax.enable_x64(True):
        for _, f_jax, f_np, g_np, x, u in CASES:
            t, state = _run_linesearch(tx, f_jax, x, u)
            expected = next(0.5**i for i in range(60) if _armijo(f_np, g_np, x, u, 0.5**i))
            assert t == expected
            assert int(state.info.num_linesearch_steps) == round(-math.log2(expected)) + 1
            assert float(state.info.decrease_error) == 0.0
            # the stored value and gradient are those at the new point
            np.testing.assert_allclose(float(state.value), f_np(x + t * u), rtol=1e-12)
            np.testing.assert_allclose(state.grad, g_np(x + t * u), rtol=1e-10, atol=1e-12)
            alpha = scipy.optimize.line_search(f_np, g_np, x, u, maxiter=40)[0]
            assert alpha is not None and _armijo(f_np, g_np, x, u, alpha)


def test_backtracking_matches_optax_step_by_step():
    """Gradient descent with backtracking on Rosenbrock: same step sizes and iterates as
    optax.scale_by_backtracking_linesearch (both start at 1 and grow by 1.5 each step)."""
    steps = 15
    with jax.enable_x64(True):
        x0 = jnp.array([-1.2, 1.0, 0.5])
        ours = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_backtracking_linesearch(60))
        theirs = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(60))
        step_ours = jax.jit(
            lambda g, s, x, v: ours.update(g, s, x, value=v, grad=g, value_fn=rosen_jax)
        )
        step_theirs = jax.jit(
            lambda g, s, x, v: theirs.update(g, s, x, value=v, grad=g, value_fn=rosen_jax)
        )
        xs, st_ours = x0, ours.init(x0)
        xt, st_theirs = x0, theirs.init(x0)
        for _ in range(steps):
            v, g = jax.value_and_grad(rosen_jax)(xs)
            u, st_ours = step_ours(g, st_ours, xs, v)
            xs = gradtx.apply_updates(xs, u)
            v, g = jax.value_and_grad(rosen_jax)(xt)
            u, st_theirs = step_theirs(g, st_theirs, xt, v)
            xt = optax.apply_updates(xt, u)
            np.testing.assert_allclose(
                float(st_ours[1].learning_rate), float(st_theirs[1].learning_rate), rtol=1e-12
            )
            np.testing.assert_allclose(xs, xt, rtol=1e-12, atol=1e-14)
        assert rosen_jax(xs) < rosen_jax(x0) / 10


def _zakharov(x):
    s = jnp.sum(0.5 * jnp.arange(1.0, x.shape[0] + 1.0, dtype=x.dtype) * x)
    return jnp.sum(x**2) + s**2 + s**4


@pytest.mark.parametrize("name", ["sgd", "lbfgs"])
@pytest.mark.parametrize("fun", [rosen_jax, _zakharov], ids=["rosenbrock", "zakharov"])
def test_zoom_matches_optax_step_by_step(name, fun):
    """Steepest descent and L-BFGS with the zoom line search take Optax's steps: the same
    bracketing, the same cubic/quadratic/bisection trials, the same accepted step."""
    lib_tx = {
        "sgd": lambda lib: lib.chain(lib.sgd(1.0), lib.scale_by_zoom_linesearch(30)),
        "lbfgs": lambda lib: lib.lbfgs(),
    }[name]
    with jax.enable_x64(True):
        x0 = jnp.array([-1.2, 1.0, 0.5, 0.3])
        runs = []
        for lib in (gradtx, optax):
            tx = lib_tx(lib)
            step = jax.jit(
                lambda g, s, x, v, tx=tx: tx.update(g, s, x, value=v, grad=g, value_fn=fun)
            )
            x, state, trace = x0, tx.init(x0), []
            with jax.numpy_dtype_promotion("standard"):  # Optax's lbfgs promotes implicitly
                for _ in range(12):
                    v, g = jax.value_and_grad(fun)(x)
                    u, state = step(g, state, x, v)
                    x = x + u
                    trace.append((float(optax.tree.get(state, "learning_rate")), x))
            runs.append(trace)
        for (lr_ours, x_ours), (lr_theirs, x_theirs) in zip(*runs, strict=True):
            np.testing.assert_allclose(lr_ours, lr_theirs, rtol=1e-10)
            np.testing.assert_allclose(x_ours, x_theirs, rtol=1e-10, atol=1e-12)
        assert fun(runs[0][-1][1]) < fun(x0) / 10


def test_backtracking_gives_no_step_when_nothing_passes():
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    tx = gradtx.scale_by_backtracking_linesearch(5, store_grad=True)
    x = jnp.array([1.0, 2.0])
    state = tx.init(x)
    updates, state = tx.update(2 * x, state, x, value_fn=f)  # an ascent direction
    np.testing.assert_array_equal(updates, np.zeros(2))
    assert float(state.info.decrease_error) > 0
    assert int(state.info.num_linesearch_steps) == 5
    np.testing.assert_allclose(state.value, 5.0)
    np.testing.assert_allclose(state.grad, [2.0, 4.0])


# --- zoom --------------------------------------------------------------------------------------


def test_zoom_satisfies_strong_wolfe_and_agrees_with_scipy():
    """Both searches start at t = 1 and double it while bracketing. Where scipy accepts a
    step of that sequence (no zoom), gradtx must return the same step; elsewhere both steps
    must satisfy the strong Wolfe conditions, checked in NumPy."""
    tx = gradtx.scale_by_zoom_linesearch(40, initial_guess_strategy="one")
    same = zoomed = 0
    with jax.enable_x64(True):
        for _, f_jax, f_np, g_np, x, u in CASES:
            t, state = _run_linesearch(tx, f_jax, x, u)
            assert _strong_wolfe(f_np, g_np, x, u, t), (t, x, u)
            assert float(state.info.decrease_error) == 0.0
            assert float(state.info.curvature_error) == 0.0
            np.testing.assert_allclose(float(state.value), f_np(x + t * u), rtol=1e-12)
            np.testing.assert_allclose(state.grad, g_np(x + t * u), rtol=1e-10, atol=1e-12)
            alpha = scipy.optimize.line_search(f_np, g_np, x, u, maxiter=40)[0]
            assert alpha is not None and _strong_wolfe(f_np, g_np, x, u, alpha)
            if math.log2(alpha).is_integer() and alpha >= 1:
                assert t == alpha
                same += 1
            else:
                zoomed += 1
    assert same >= 5 and zoomed >= 5  # both branches were exercised
    # along an ascent direction: no step, and the value and gradient at x are kept
    with jax.enable_x64(True):
        _, f_jax, f_np, g_np, x, u = CASES[0]
        t, state = _run_linesearch(tx, f_jax, x, -u)
        assert t == 0.0 and int(state.info.num_linesearch_steps) == 0
        np.testing.assert_allclose(state.grad, g_np(x), rtol=1e-12)
        np.testing.assert_allclose(float(state.value), f_np(x), rtol=1e-12)


def test_zoom_respects_max_learning_rate():
    f = lambda x: jnp.sum((x - 100.0) ** 2)  # noqa: E731
    tx = gradtx.scale_by_zoom_linesearch(30, max_learning_rate=4.0)
    x = jnp.zeros(2)
    _, state = tx.update(-jax.grad(f)(x) * 1e-3, tx.init(x), x, value_fn=f)
    assert float(state.learning_rate) == 4.0
    assert float(state.info.curvature_error) > 0


def test_extra_arguments_reach_value_fn_and_unknown_ones_raise():
    def loss(w, batch):
        return jnp.sum((w - batch) ** 2)

    tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_zoom_linesearch(20))
    w, batch = jnp.zeros(2), jnp.array([1.0, -1.0])
    g = jax.grad(loss)(w, batch)
    updates, _ = tx.update(g, tx.init(w), w, value_fn=loss, batch=batch)
    np.testing.assert_allclose(gradtx.apply_updates(w, updates), batch, rtol=1e-6)
    # As Optax: an argument value_fn does not take is refused, not dropped silently.
    searches = (gradtx.scale_by_zoom_linesearch(20), gradtx.scale_by_backtracking_linesearch(20))
    for search in searches:
        with pytest.raises(TypeError, match=r"Unexpected keyword arguments \['unrelated'\]"):
            search.update(g, search.init(w), w, value_fn=loss, batch=batch, unrelated=3)


def test_value_and_grad_from_state_reuses_the_stored_values():
    calls = []

    def f(x):
        jax.debug.callback(lambda: calls.append(1))
        return jnp.sum((x - 1.0) ** 2)

    tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_zoom_linesearch(20))
    value_and_grad = gradtx.value_and_grad_from_state(f)
    x = jnp.array([3.0, -1.0])
    state = tx.init(x)
    v, g = value_and_grad(x, state=state)  # computed: nothing stored yet
    assert len(calls) == 1
    u, state = tx.update(g, state, x, value=v, grad=g, value_fn=f)
    x = gradtx.apply_updates(x, u)
    n = len(calls)
    v, g = value_and_grad(x, state=state)
    assert len(calls) == n  # read from the state
    np.testing.assert_allclose(v, float(np.sum((np.asarray(x) - 1) ** 2)), atol=1e-6)
    np.testing.assert_allclose(g, 2 * (np.asarray(x) - 1), atol=1e-5)
    with pytest.raises(ValueError, match="store_grad=True"):
        gradtx.value_and_grad_from_state(f)(x, state=gradtx.sgd(0.1).init(x))


def test_line_search_states_are_recognised_by_type_not_by_field_names():
    from typing import NamedTuple

    from gradtx.linesearch._common import find_linesearch_state, linesearch_state

    class LookAlike(NamedTuple):  # the fields of a line-search state, but not registered
        learning_rate: jax.Array
        value: jax.Array
        grad: jax.Array
        info: tuple

    x = jnp.ones(2)
    look_alike = LookAlike(jnp.ones([]), jnp.zeros([]), x, ())
    assert find_linesearch_state((look_alike,)) is None
    for tx in (
        gradtx.scale_by_zoom_linesearch(5),
        gradtx.scale_by_backtracking_linesearch(5, store_grad=True),
        gradtx.scale_by_exact_linesearch(store_grad=True),
    ):
        state = gradtx.chain(gradtx.scale(-1.0), tx).init(x)
        assert find_linesearch_state(state, last_only=True) is state[1]
    with pytest.raises(TypeError, match="learning_rate"):
        linesearch_state(NamedTuple("Short", [("learning_rate", int), ("value", int)]))


# --- exact line search and steepest descent ----------------------------------------------------


def test_exact_linesearch_finds_the_quadratic_minimiser_along_the_line():
    """On f = x'Ax/2 - b'x along u, the minimiser is t* = -g'u / u'Au (NumPy)."""
    tx = gradtx.scale_by_exact_linesearch(tol=1e-10)
    f = next(o[1] for o in OBJECTIVES if o[0] == "quadratic")
    with jax.enable_x64(True):
        for seed in range(4):
            rs = np.random.RandomState(seed)
            x, u = rs.standard_normal(5), rs.standard_normal(5)
            g = A5 @ x - B5
            u = u if g @ u < 0 else -u
            t, state = _run_linesearch(tx, f, x, u)
            np.testing.assert_allclose(t, -(g @ u) / (u @ A5 @ u), rtol=1e-7)
            assert int(state.info.num_linesearch_steps) <= 90
        # along an ascent direction: no step, and the value at x is kept
        t, state = _run_linesearch(tx, f, x, -u)
        assert t == 0.0
        np.testing.assert_allclose(float(state.value), 0.5 * x @ A5 @ x - B5 @ x, rtol=1e-12)


def _quadratic_form(x, a):
    return 0.5 * x @ a @ x


_STEEPEST = gradtx.steepest_descent(tol=1e-10)
_STEEPEST_STEP = jax.jit(
    lambda g, s, x, a: _STEEPEST.update(g, s, x, value_fn=_quadratic_form, a=a)
)


def _steepest_descent_path(a, x0, steps):
    """Iterates of steepest descent on x'Ax/2 (float64; one compilation per dimension)."""
    x, a = jnp.asarray(x0), jnp.asarray(a)
    state, xs = _STEEPEST.init(x), [np.asarray(x0)]
    for _ in range(steps):
        u, state = _STEEPEST_STEP(a @ x, state, x, a)
        x = gradtx.apply_updates(x, u)
        xs.append(np.asarray(x))
    return xs


def test_steepest_descent_zig_zags_with_orthogonal_gradients():
    """Exact line search makes each gradient orthogonal to the previous one (each step is
    tangent to a level set), on a rotated ill-conditioned quadratic."""
    a, _ = _quadratic(4, 30.0, 3)
    with jax.enable_x64(True):
        xs = _steepest_descent_path(a, np.random.RandomState(4).standard_normal(4), 12)
    grads = [a @ x for x in xs]
    for g0, g1 in itertools.pairwise(grads):
        cosine = (g0 @ g1) / (np.linalg.norm(g0) * np.linalg.norm(g1))
        assert abs(cosine) < 1e-6


def test_steepest_descent_converges_at_the_textbook_rate():
    """On f = x'Ax/2 with eigenvalues in [1, k], from x0 = k u_1 + u_k (u_i the eigenvectors
    of 1 and k), each step multiplies the A-norm error by exactly ((k-1)/(k+1))^2, the worst
    case of the bound; from other points it is at most that."""
    kappa = 10.0
    a = np.diag([1.0, kappa, 3.0, 7.0])  # condition number kappa
    rate = ((kappa - 1) / (kappa + 1)) ** 2
    energy = lambda x: x @ a @ x  # noqa: E731
    with jax.enable_x64(True):
        worst = _steepest_descent_path(a, np.array([kappa, 1.0, 0.0, 0.0]), 10)
        other = _steepest_descent_path(a, np.array([1.0, 3.0, -2.0, 0.5]), 10)
    for x0, x1 in itertools.pairwise(worst):
        np.testing.assert_allclose(energy(x1) / energy(x0), rate, rtol=1e-7)
    for x0, x1 in itertools.pairwise(other):
        assert energy(x1) / energy(x0) <= rate * (1 + 1e-7)


def test_steepest_descent_step_count_matches_the_rate():
    """From the worst-case start the gradient norm shrinks by exactly (k-1)/(k+1) per step,
    so minimize needs ceil(log(1e-6) / log((k-1)/(k+1))) steps to reduce it a millionfold."""
    kappa = 10.0
    f = lambda x: 0.5 * (x[0] ** 2 + kappa * x[1] ** 2)  # noqa: E731
    predicted = math.log(1e-6) / math.log((kappa - 1) / (kappa + 1))
    assert 0.05 < predicted % 1 < 0.95  # not on a boundary
    with jax.enable_x64(True):
        x0 = jnp.array([kappa, 1.0])
        tol = 1e-6 * float(jnp.linalg.norm(jax.grad(f)(x0)))
        result = gradtx.minimize(f, x0, gradtx.steepest_descent(tol=1e-10), 1000, tol)
    assert result.status == gradtx.MinimizeStatus.CONVERGED
    assert int(result.num_steps) == math.ceil(predicted)


# --- L-BFGS --------------------------------------------------------------------------------------


def _lbfgs_reference(s_list, y_list, g, gamma):
    """The BFGS inverse-Hessian recursion on dense matrices, from gamma * I."""
    n = g.size
    h = gamma * np.eye(n)
    for s, y in zip(s_list, y_list, strict=True):
        rho = 1.0 / (y @ s)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h @ g


@pytest.mark.parametrize("memory_size", [3, 10])
def test_scale_by_lbfgs_matches_dense_bfgs_and_optax(memory_size):
    """Feed the same (params, gradient) sequence from a convex quadratic to gradtx, Optax, and a
    dense BFGS recursion over the last ``memory_size`` pairs with gamma = s'y / y'y."""
    rs = np.random.RandomState(0)
    with jax.enable_x64(True):
        ours = gradtx.scale_by_lbfgs(memory_size)
        theirs = optax.scale_by_lbfgs(memory_size)
        ours_update, theirs_update = jax.jit(ours.update), jax.jit(theirs.update)
        xs = [rs.standard_normal(5) for _ in range(7)]
        gs = [A5 @ x - B5 for x in xs]
        s_ours, s_theirs = ours.init(jnp.asarray(xs[0])), theirs.init(jnp.asarray(xs[0]))
        for k, (x, g) in enumerate(zip(xs, gs, strict=True)):
            out, s_ours = ours_update(jnp.asarray(g), s_ours, jnp.asarray(x))
            with jax.numpy_dtype_promotion("standard"):  # Optax is not strict-clean
                ref, s_theirs = theirs_update(jnp.asarray(g), s_theirs, jnp.asarray(x))
            np.testing.assert_allclose(out, ref, rtol=1e-10)
            if k == 0:
                expected = g / max(1.0, np.linalg.norm(g))
            else:
                s = [xs[i + 1] - xs[i] for i in range(k)][-memory_size:]
                y = [gs[i + 1] - gs[i] for i in range(k)][-memory_size:]
                expected = _lbfgs_reference(s, y, g, (s[-1] @ y[-1]) / (y[-1] @ y[-1]))
            np.testing.assert_allclose(out, expected, rtol=1e-9)


def test_scale_by_lbfgs_skips_pairs_without_positive_curvature():
    tx = gradtx.scale_by_lbfgs(5)
    update = jax.jit(tx.update)
    x0, x1 = jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0])
    state = tx.init(x0)
    _, state = update(jnp.array([1.0, 1.0]), state, x0)
    g = jnp.array([0.5, 1.0])  # y = (-0.5, 0): y's = -0.5 < 0
    out, state = update(g, state, x1)
    assert int(state.num_pairs) == 0
    np.testing.assert_allclose(out, g * float(state.identity_scale), rtol=1e-6)


@pytest.mark.parametrize("n", [2, 10])
def test_lbfgs_minimises_rosenbrock_like_scipy(n):
    x0 = np.full(n, -1.0) if n > 2 else np.array([-1.2, 1.0])
    x0[0] = -1.2
    reference = scipy.optimize.minimize(
        scipy.optimize.rosen,
        x0,
        jac=scipy.optimize.rosen_der,
        method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 1000},
    )
    with jax.enable_x64(True):
        result = gradtx.minimize(rosen_jax, jnp.asarray(x0), gradtx.lbfgs(), 500, 1e-8)
        assert result.status == gradtx.MinimizeStatus.CONVERGED, result.reason
        assert result.params.dtype == result.value.dtype == jnp.float64
        np.testing.assert_allclose(result.params, np.ones(n), atol=1e-7)
        np.testing.assert_allclose(result.params, reference.x, atol=1e-5)
        assert float(result.value) <= max(reference.fun, 1e-16)
        np.testing.assert_allclose(float(result.value), scipy.optimize.rosen(result.params))
        assert int(result.num_steps) <= 2 * reference.nit


# --- minimize ----------------------------------------------------------------------------------


def test_minimize_is_jittable_and_traces_the_objective_once():
    traces = []

    def f(x):
        traces.append(None)
        return rosen_jax(x)

    @jax.jit
    def run(x0, max_steps):
        return gradtx.minimize(f, x0, gradtx.lbfgs(), max_steps, 1e-5)

    short = run(jnp.array([-1.2, 1.0]), 3)
    n_traces = len(traces)
    long = run(jnp.array([-1.2, 1.0]), 200)  # more iterations, another start: no new trace
    other = run(jnp.array([0.5, -0.3]), 200)
    assert len(traces) == n_traces <= 4  # value_and_grad at x0, in the loop, in the search
    assert int(short.num_steps) == 3 and short.status == gradtx.MinimizeStatus.MAX_STEPS
    assert long.status == gradtx.MinimizeStatus.CONVERGED
    assert int(long.num_steps) > 10
    np.testing.assert_allclose(other.params, [1.0, 1.0], atol=1e-3)


def test_minimize_vmaps_over_pytree_starting_points():
    def f(p):
        return jnp.sum((p["w"] - jnp.array([1.0, -2.0])) ** 2) + (p["b"] + 2.0) ** 2

    starts = {"w": jnp.array([[0.0, 0.0], [5.0, 5.0], [-3.0, 1.0]]), "b": jnp.zeros(3)}
    tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_zoom_linesearch(20))
    results = jax.vmap(lambda p: gradtx.minimize(f, p, tx, 50, 1e-5))(starts)
    np.testing.assert_allclose(results.params["w"], np.tile([1.0, -2.0], (3, 1)), atol=1e-5)
    np.testing.assert_allclose(results.params["b"], np.full(3, -2.0), atol=1e-5)
    np.testing.assert_array_equal(results.status, [0, 0, 0])


def test_minimize_reuses_the_line_search_value_and_gradient():
    """With the line search last in the chain, each step evaluates the objective only inside
    the line search; with a member after it, minimize must evaluate once more per step."""
    calls = []

    def f(x):
        jax.debug.callback(lambda: calls.append(1))
        return rosen_jax(x)

    x0 = jnp.array([-1.2, 1.0])
    search = gradtx.scale_by_backtracking_linesearch(30, store_grad=True)
    tx = gradtx.chain(gradtx.scale(-1.0), search)
    reuse = gradtx.minimize(f, x0, tx, 30, 1e-5)
    n_reuse = len(calls)
    calls.clear()
    fresh = gradtx.minimize(f, x0, gradtx.chain(tx, gradtx.identity()), 30, 1e-5)
    np.testing.assert_allclose(reuse.params, fresh.params, rtol=1e-6)
    assert int(reuse.num_steps) == int(fresh.num_steps)
    assert len(calls) - n_reuse == int(reuse.num_steps)


def test_minimize_reports_why_it_stopped():
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    x0 = jnp.array([1.0, -1.0])
    done = gradtx.minimize(f, x0, gradtx.sgd(0.25), 100, 1e-4)
    assert done.status == gradtx.MinimizeStatus.CONVERGED
    assert done.reason.startswith("converged")
    np.testing.assert_allclose(done.value, float(np.sum(np.asarray(done.params) ** 2)))
    np.testing.assert_allclose(done.grad_norm, 2 * np.linalg.norm(done.params), rtol=1e-6)
    at_start = gradtx.minimize(f, jnp.zeros(2), gradtx.sgd(0.25), 100, 1e-4)
    assert int(at_start.num_steps) == 0 and at_start.status == gradtx.MinimizeStatus.CONVERGED
    capped = gradtx.minimize(f, x0, gradtx.sgd(0.01), 7, 1e-4)
    assert int(capped.num_steps) == 7 and capped.reason.startswith("stopped")
    stuck = gradtx.minimize(f, x0, gradtx.sgd(0.0), 100, 1e-4)
    assert int(stuck.num_steps) == 1 and stuck.status == gradtx.MinimizeStatus.STALLED
    blown = gradtx.minimize(f, x0, gradtx.sgd(1e20), 100, 1e-4)
    assert blown.status == gradtx.MinimizeStatus.NON_FINITE


# --- the transform contract for the line-search transforms ---------------------------------


def _tree_objective(p):
    # A smooth, well-conditioned objective on a small pytree: float32 rounding differences
    # between two equal computations (jit versus eager, batched versus single) stay small
    # instead of being amplified as in a narrow valley such as Rosenbrock's.
    coupling = jnp.sum(p["a"]) * jnp.sum(p["b"])
    return (
        jnp.sum(jnp.log(jnp.cosh(2.0 * (p["a"] - 0.5))))
        + jnp.sum((p["b"] + 0.5) ** 2)
        + 0.25 * coupling**2
    )


LINESEARCH_OPTIMIZERS = {
    "backtracking": lambda h: gradtx.chain(
        gradtx.scale(-1.0),
        gradtx.scale_by_backtracking_linesearch(30, slope_rtol=h, store_grad=True),
    ),
    "zoom": lambda h: gradtx.chain(
        gradtx.scale(-1.0), gradtx.scale_by_zoom_linesearch(30, slope_rtol=h)
    ),
    "exact": lambda h: gradtx.steepest_descent(tol=h),
    "lbfgs": lambda h: gradtx.lbfgs(
        memory_size=3, linesearch=gradtx.scale_by_zoom_linesearch(30, slope_rtol=h)
    ),
}


def _steps(tx, params, steps):
    state = tx.init(params)
    for _ in range(steps):
        v, g = jax.value_and_grad(_tree_objective)(params)
        u, new_state = tx.update(g, state, params, value=v, grad=g, value_fn=_tree_objective)
        assert jax.tree.structure(new_state) == jax.tree.structure(state)
        assert [x.dtype for x in jax.tree.leaves(new_state)] == [
            x.dtype for x in jax.tree.leaves(state)
        ]
        assert jax.tree.map(lambda x: x.dtype, u) == jax.tree.map(lambda x: x.dtype, g)
        params, state = gradtx.apply_updates(params, u), new_state
    return params


# One update per run: its output state must match init's. Later updates, which consume the
# state, are compared step by step with Optax and NumPy references above.
STEPS = 1


@pytest.mark.parametrize("name", sorted(LINESEARCH_OPTIMIZERS))
def test_contract(name):
    """jit + vmap over a hyperparameter agrees with separate eager runs; the state keeps its
    structure and dtypes; no retrace on a second call. (float64 runs keep float64: the scipy
    and Optax comparisons above run in float64.)

    The exact line search compares objective values only, so it resolves the step to about
    sqrt(eps) (3e-4 in float32, as its docstring says): in float32, rounding differences
    between two equal computations legitimately move its step by that much, so its
    comparisons run in float64.
    """
    with jax.enable_x64(name == "exact"):
        # lbfgs is scale_by_lbfgs (jnp operations and two scans) before the zoom search, which
        # is checked eagerly on its own; lbfgs's separate runs are jitted, which is cheaper
        # than compiling its many small operations one by one.
        _check_contract(
            LINESEARCH_OPTIMIZERS[name],
            jnp.float64 if name == "exact" else None,
            check_eager=name != "lbfgs",
        )


def _check_contract(make, dtype, check_eager):
    params = {"a": jnp.array([-1.2, 1.0], dtype), "b": jnp.array([[0.5, -0.5]], dtype)}
    traces = []

    def run(h):
        traces.append(None)
        return _steps(make(h), params, STEPS)

    grid = jnp.array([1e-5, 1e-4, 1e-3])
    batched_run = jax.jit(jax.vmap(run))
    batched = batched_run(grid)
    batched_run(2 * grid)
    assert len(traces) == 1  # the second call does not retrace
    if check_eager:
        with jax.disable_jit():  # op by op, while loops as Python loops
            singles = [run(float(h)) for h in grid]
    else:
        singles = [jax.jit(run)(h) for h in grid]
    for i, single in enumerate(singles):
        assert _tree_objective(single) < _tree_objective(params)
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_allclose(b[i], s, rtol=1e-5, atol=1e-6)


# --- errors ------------------------------------------------------------------------------------


def test_missing_value_fn_is_a_clear_error():
    x = jnp.ones(2)
    for tx in (
        gradtx.scale_by_backtracking_linesearch(10),
        gradtx.scale_by_zoom_linesearch(10),
        gradtx.scale_by_exact_linesearch(),
    ):
        with pytest.raises(ValueError, match="value_fn=loss"):
            tx.update(x, tx.init(x), x)


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (gradtx.scale_by_backtracking_linesearch, {"max_backtracking_steps": 0}, "max_backt"),
        (gradtx.scale_by_backtracking_linesearch, {"max_backtracking_steps": 5,
                                                   "decrease_factor": 1.0}, "decrease_factor"),
        (gradtx.scale_by_zoom_linesearch, {"max_linesearch_steps": 5, "curv_rtol": 1.5},
         "curv_rtol"),
        (gradtx.scale_by_exact_linesearch, {"tol": 0.0}, "tol"),
        (gradtx.scale_by_lbfgs, {"memory_size": 0}, "memory_size"),
        (gradtx.lbfgs, {"memory_size": 2.5}, "memory_size"),
    ],
)  # fmt: skip
def test_invalid_hyperparameters_are_rejected_by_name(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


def test_unknown_initial_guess_strategy_is_rejected():
    with pytest.raises(ValueError, match="initial_guess_strategy"):
        gradtx.scale_by_zoom_linesearch(5, initial_guess_strategy="two")


def test_an_uncalled_factory_is_named_in_the_error():
    with pytest.raises(TypeError, match=r"gradtx\.lbfgs instead of gradtx\.lbfgs\(\.\.\.\)"):
        gradtx.minimize(jnp.sum, jnp.ones(2), gradtx.lbfgs)  # type: ignore[arg-type]


# --- Optax's options: verbose diagnostics, approximate Wolfe test, the looser ranges ----------


def _zoom_once(tx, f, w, u):
    value, grad = jax.value_and_grad(f)(w)
    return tx.update(u, tx.init(w), w, value=value, grad=grad, value_fn=f)[1]


def test_zoom_verbose_prints_optax_failure_messages(capfd):
    from optax._src import linesearch as optax_ls  # Optax's own wording is the reference

    f = lambda w: jnp.dot(w, w)  # noqa: E731
    u = jnp.array([1.0, 0.0])
    # not a descent direction: no step
    state = _zoom_once(gradtx.scale_by_zoom_linesearch(18, curv_rtol=0.5, verbose=True),
                       f, 60 * u, u)  # fmt: skip
    out = capfd.readouterr().out
    assert float(state.learning_rate) == 0.0
    assert optax_ls.FLAG_NOT_A_DESCENT_DIRECTION in out and optax_ls.FLAG_NO_STEPSIZE_FOUND in out
    # the smallest Wolfe step is 30 and the largest allowed is 10
    tx = gradtx.scale_by_zoom_linesearch(10, 10.0, curv_rtol=0.5, verbose=True)
    state = jax.jit(lambda w: _zoom_once(tx, f, w, u))(-60 * u)
    out = capfd.readouterr().out
    assert float(state.learning_rate) == 10.0
    assert optax_ls.FLAG_INTERVAL_NOT_FOUND in out
    assert optax_ls.FLAG_CURVATURE_COND_NOT_SATISFIED in out
    assert optax_ls.FLAG_NOT_A_DESCENT_DIRECTION not in out
    # a flat function: the bracket shrinks below the precision
    flat = lambda x: jnp.exp(-1 / x**2)  # noqa: E731
    w = jnp.asarray(-0.2)
    _zoom_once(gradtx.scale_by_zoom_linesearch(30, verbose=True), flat, w, -jax.grad(flat)(w))
    assert optax_ls.FLAG_INTERVAL_TOO_SMALL in capfd.readouterr().out
    # a successful search prints nothing
    _zoom_once(gradtx.scale_by_zoom_linesearch(30, verbose=True), f, -60 * u, 30 * u)
    assert capfd.readouterr().out == ""


def test_zoom_approximate_decrease_accepts_steps_below_rounding():
    """f = 1000 + (x - 1)^2 in float32 near x = 1: f changes by less than its rounding, so the
    Armijo test cannot pass; Hager and Zhang's test (checked in NumPy) accepts the minimiser."""
    f = lambda x: 1000.0 + jnp.sum((x - 1.0) ** 2)  # noqa: E731
    w = jnp.array([1.0 - 1e-3])
    u = -jax.grad(f)(w)
    approx = _zoom_once(gradtx.scale_by_zoom_linesearch(30, initial_guess_strategy="one"),
                        f, w, u)  # fmt: skip
    plain = _zoom_once(
        gradtx.scale_by_zoom_linesearch(30, approx_dec_rtol=None, initial_guess_strategy="one"),
        f, w, u,
    )  # fmt: skip
    assert float(plain.info.decrease_error) > 0 or float(plain.learning_rate) == 0.0
    t = float(approx.learning_rate)
    assert float(approx.info.decrease_error) == 0.0 and t > 0
    u64, w64 = np.float64(u[0]), np.float64(w[0])
    slope0, slope_t = 2 * (w64 - 1) * u64, 2 * (w64 + t * u64 - 1) * u64
    assert slope_t <= (2 * 1e-4 - 1) * slope0  # Hager and Zhang's eq. 23
    assert abs(w64 + t * u64 - 1.0) < abs(w64 - 1.0)  # closer to the minimiser


def test_backtracking_takes_optax_ranges_and_prints_failures(capfd):
    f = lambda x: jnp.sum((x - 3.0) ** 2)  # noqa: E731
    x = jnp.zeros(2)
    u = -jax.grad(f)(x)
    for kwargs in ({"slope_rtol": 0.0}, {"increase_factor": 0.5}):
        ours = gradtx.scale_by_backtracking_linesearch(30, **kwargs)
        theirs = optax.scale_by_backtracking_linesearch(30, **kwargs)
        s_ours, s_theirs = ours.init(x), theirs.init(x)
        for _ in range(3):
            u_ours, s_ours = ours.update(u, s_ours, x, value=f(x), grad=-u, value_fn=f)
            u_theirs, s_theirs = theirs.update(u, s_theirs, x, value=f(x), grad=-u, value_fn=f)
            np.testing.assert_allclose(u_ours, u_theirs, rtol=1e-6)
    tx = gradtx.scale_by_backtracking_linesearch(2, verbose=True)
    tx.update(u * 100, tx.init(x), x, value_fn=f)
    assert "Backtracking linesearch failed" in capfd.readouterr().out


def test_value_and_grad_from_state_refuses_two_line_searches():
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    tx = gradtx.chain(
        gradtx.scale_by_backtracking_linesearch(5), gradtx.scale_by_backtracking_linesearch(5)
    )
    x = jnp.ones(2)
    with pytest.raises(KeyError, match="2 line-search states"):
        gradtx.value_and_grad_from_state(f)(x, state=tx.init(x))
