"""Variants of Adam's moments: RAdam, Yogi, Adan and NovoGrad."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, DTypeLike, GradientTransformation, Updates
from gradtx.numerics import abs_sq, promote, safe_increment, upcast
from gradtx.transforms._common import (
    as_real,
    debias_factor,
    map_leaves,
    moving_average,
    per_dtype,
    real_full_like,
    requires_params,
    slot_like,
)
from gradtx.transforms.adam import ScaleByAdamState

__all__ = [
    "ScaleByAdanState",
    "ScaleByNovogradState",
    "scale_by_adan",
    "scale_by_novograd",
    "scale_by_radam",
    "scale_by_yogi",
]


def _radam_rho(beta2: jax.Array, k: jax.Array, bc2: jax.Array) -> jax.Array:
    r"""RAdam's :math:`\rho_k = \rho_\infty - 2k\beta_2^k / (1-\beta_2^k)` without cancellation.

    The direct formula subtracts two numbers near :math:`2/(1-\beta_2)` (2000 for
    :math:`\beta_2 = 0.999`) to get :math:`\rho_k \approx k`, losing four digits in float32
    just where the rectification starts. With :math:`a = 1-\beta_2`,
    :math:`\rho_k = 2N/(a(1-\beta_2^k)) - 1` and :math:`N = 1 - (1+ka)\beta_2^k =
    \sum_{j\ge2} -T_{j-1}\, a (k+1)(j-1)/j`, :math:`T_j = \binom{k}{j}(-a)^j`: a fast
    alternating series for :math:`ka < 1/2`, and the direct :math:`N` beyond.
    """
    a = 1 - beta2
    ka = k * a
    t = -ka  # T_1
    n_series = jnp.zeros_like(a)
    for j in range(2, 16):
        n_series = n_series - t * a * (k + 1) * (j - 1) / j
        t = t * (k - j + 1) / j * -a
    n_direct = bc2 - ka * (1 - bc2)
    n = jnp.where(ka < 0.5, n_series, n_direct)
    return 2 * n / (a * bc2) - 1


def scale_by_radam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Rectified Adam (Liu et al., 2020): Adam's step once the variance of its adaptive
    learning rate is tractable, the bias-corrected momentum before.

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1, \quad
        \rho_k = \rho_\infty - \frac{2 k \beta_2^k}{1-\beta_2^k}, \quad
        r_k = \sqrt{\frac{(\rho_k-4)(\rho_k-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_k}},
        \\
        u_k = \begin{cases} r_k \hat m_k / (\sqrt{\hat v_k + \epsilon_{root}} + \epsilon)
        & \rho_k \ge \text{threshold} \\ \hat m_k & \text{otherwise} \end{cases}

    with :math:`\hat m_k, \hat v_k` the bias-corrected moments of :func:`scale_by_adam`
    (``nesterov`` as there). The state is Adam's: Optax has no RAdam state class either.

    Args:
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        threshold: the value of :math:`\rho_k` from which the rectified step is taken.
        nesterov: use the Nesterov momentum form of :func:`scale_by_adam`.

    Returns:
        The transformation, with state :class:`ScaleByAdamState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_radam()
        >>> tx.update(jnp.array([0.5, -2.0]), tx.init(jnp.zeros(2)))[0]  # the momentum
        Array([ 0.5, -2. ], dtype=float32)

    References:
        Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond
        <https://arxiv.org/abs/1908.03265>`_, ICLR 2020.
    """
    _checks.unit_interval("scale_by_radam", b1=b1, b2=b2)
    _checks.non_negative("scale_by_radam", eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=slot_like(params, None),
            nu=real_full_like(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)

        def scalars(dt):
            beta1, beta2 = as_real(b1, dt), as_real(b2, dt)
            bc2 = debias_factor(b2, count, dt)
            ro_inf = 2 / (1 - beta2) - 1
            ro = _radam_rho(beta2, count.astype(beta2.dtype), bc2)
            rectify = ro >= as_real(threshold, dt)
            ratio = (ro - 4) * (ro - 2) * ro_inf / ((ro_inf - 4) * (ro_inf - 2) * ro)
            r = jnp.sqrt(jnp.where(rectify, ratio, 1.0))
            bc1 = debias_factor(b1, count, dt)
            bc1_next = debias_factor(b1, safe_increment(count), dt)
            return beta1, bc1, bc1_next, beta2, bc2, rectify, r

        scalars = per_dtype(scalars)

        def leaf(g, m, v):
            g = jnp.asarray(g)
            gc = upcast(g)
            beta1, bc1, bc1_next, beta2, bc2, rectify, r = scalars(gc.dtype)
            new_m = moving_average(beta1, m, gc)
            new_v = moving_average(beta2, v, abs_sq(gc))
            if nesterov:
                b, keep, c, c_next, mm, gg = promote(beta1, 1 - beta1, bc1, bc1_next, new_m, gc)
                m_hat = b * mm / c_next + keep * gg / c
            else:
                m_hat = jnp.divide(*promote(new_m, bc1))
            denom = jnp.sqrt(new_v / bc2 + eps_root) + eps
            rm, rr, d = promote(m_hat, r, denom)
            rect = rm * rr / d
            u = jnp.where(rectify, rect, rm)
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


def scale_by_yogi(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
    eps_root: ArrayLike = 0.0,
    initial_accumulator_value: ArrayLike = 1e-6,
) -> GradientTransformation:
    r"""Yogi (Zaheer et al., 2018): Adam whose second moment moves additively.

    .. math::
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \quad
        v_k = v_{k-1} - (1-\beta_2) \operatorname{sign}(v_{k-1} - g_k^2) g_k^2, \\
        u_k = \frac{m_k / (1-\beta_1^k)}{\sqrt{v_k / (1-\beta_2^k) + \epsilon_{root}} + \epsilon}

    with :math:`m_0 = v_0` = ``initial_accumulator_value`` (as in Optax).

    Args:
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        initial_accumulator_value: :math:`m_0 = v_0 \ge 0`.

    Returns:
        The transformation, with state :class:`ScaleByAdamState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_yogi(eps=0.0, initial_accumulator_value=0.0)
        >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0]
        Array([1.], dtype=float32)

    References:
        Zaheer et al., `Adaptive Methods for Nonconvex Optimization
        <https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization>`_,
        NeurIPS 2018.
    """
    _checks.unit_interval("scale_by_yogi", b1=b1, b2=b2)
    _checks.non_negative(
        "scale_by_yogi",
        eps=eps,
        eps_root=eps_root,
        initial_accumulator_value=initial_accumulator_value,
    )
    v0 = initial_accumulator_value

    def init_fn(params):
        mu = jax.tree_util.tree_map(
            lambda s: jnp.full_like(s, jnp.asarray(v0, s.real.dtype)), slot_like(params, None)
        )
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32), mu=mu, nu=real_full_like(params, v0)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)
        scalars = per_dtype(
            lambda dt: (
                as_real(b2, dt),
                debias_factor(b1, count, dt),
                debias_factor(b2, count, dt),
            )
        )

        def leaf(g, m, v):
            g = jnp.asarray(g)
            gc = upcast(g)
            beta2, bc1, bc2 = scalars(gc.dtype)
            new_m = moving_average(b1, m, gc)
            g2 = abs_sq(gc)
            vv = v.astype(g2.dtype)
            new_v = vv - (1 - beta2) * jnp.sign(vv - g2) * g2
            m_hat = jnp.divide(*promote(new_m, bc1))
            u = jnp.divide(*promote(m_hat, jnp.sqrt(new_v / bc2 + eps_root) + eps))
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByAdanState(NamedTuple):
    """State of :func:`scale_by_adan`: the three moments, the last gradient and the count."""

    m: Updates
    v: Updates
    n: Updates
    g: Updates
    t: jax.Array  # int32 scalar


def scale_by_adan(
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Adan (Xie et al., 2022): adaptive Nesterov momentum, Algorithm 1 of the paper.

    .. math::
        \Delta_k = g_k - g_{k-1} \ (\Delta_1 = 0), \quad
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \quad
        v_k = \beta_2 v_{k-1} + (1-\beta_2) \Delta_k, \\
        n_k = \beta_3 n_{k-1} + (1-\beta_3) |g_k + (1-\beta_2) \Delta_k|^2, \quad
        u_k = \frac{\hat m_k + (1-\beta_2) \hat v_k}{\sqrt{\hat n_k + \epsilon_{root}} +
        \epsilon}

    with the hats the bias corrections by :math:`1-\beta_i^k` (as in Optax; Optax's names
    ``b1, b2, b3`` are the paper's :math:`1-\beta_i`).

    Args:
        b1: :math:`\beta_1 \in [0, 1)`, decay of the gradient average.
        b2: :math:`\beta_2 \in [0, 1)`, decay of the gradient-difference average.
        b3: :math:`\beta_3 \in [0, 1)`, decay of the second moment.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.

    Returns:
        The transformation, with state :class:`ScaleByAdanState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_adan(eps=0.0)
        >>> tx.update(jnp.array([2.0, -1.0]), tx.init(jnp.zeros(2)))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        Xie et al., `Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
        Models <https://arxiv.org/abs/2208.06677>`_, 2022.
    """
    _checks.unit_interval("scale_by_adan", b1=b1, b2=b2, b3=b3)
    _checks.non_negative("scale_by_adan", eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByAdanState(
            m=slot_like(params, None),
            v=slot_like(params, None),
            n=real_full_like(params),
            g=slot_like(params, None),
            t=jnp.zeros([], jnp.int32),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        first = state.t == 0
        t = safe_increment(state.t)
        scalars = per_dtype(
            lambda dt: (
                as_real(b2, dt),
                debias_factor(b1, t, dt),
                debias_factor(b2, t, dt),
                debias_factor(b3, t, dt),
            )
        )

        def leaf(g, m, v, n, g_prev):
            g = jnp.asarray(g)
            gc = upcast(g)
            beta2, bc1, bc2, bc3 = scalars(gc.dtype)
            diff = jnp.where(first, jnp.zeros_like(gc), gc - g_prev.astype(gc.dtype))
            new_m = moving_average(b1, m, gc)
            new_v = moving_average(b2, v, diff)
            keep2 = (1 - beta2).astype(gc.real.dtype)
            new_n = moving_average(b3, n, abs_sq(gc + jnp.multiply(*promote(keep2, diff))))
            num = jnp.divide(*promote(new_m, bc1)) + jnp.multiply(
                *promote(keep2, jnp.divide(*promote(new_v, bc2)))
            )
            u = jnp.divide(*promote(num, jnp.sqrt(new_n / bc3 + eps_root) + eps))
            return (
                u.astype(g.dtype),
                new_m.astype(m.dtype),
                new_v.astype(v.dtype),
                new_n.astype(n.dtype),
                g.astype(g_prev.dtype),
            )

        updates, m, v, n, g = map_leaves(leaf, 5, updates, state.m, state.v, state.n, state.g)
        return updates, ScaleByAdanState(m=m, v=v, n=n, g=g, t=t)

    return GradientTransformation(init_fn, update_fn)


class ScaleByNovogradState(NamedTuple):
    """State of :func:`scale_by_novograd`: the count, the momentum and one second moment per
    leaf (a scalar)."""

    count: jax.Array  # int32 scalar
    mu: Updates
    nu: Updates


def scale_by_novograd(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""NovoGrad (Ginsburg et al., 2019): layer-wise second moments, per-leaf normalised
    gradients in the momentum.

    .. math::
        v_k = \beta_2 v_{k-1} + (1-\beta_2) \|g_k\|^2 \ (v_1 = \|g_1\|^2), \\
        m_k = \beta_1 m_{k-1} + \frac{g_k}{\sqrt{v_k + \epsilon_{root}} + \epsilon} +
        \lambda \theta_k \ (m_0 = 0), \qquad u_k = m_k

    with one :math:`v` per leaf (as in Optax).

    Args:
        b1: :math:`\beta_1 \in [0, 1)`, decay of the momentum.
        b2: :math:`\beta_2 \in [0, 1)`, decay of the second moments.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        weight_decay: :math:`\lambda \ge 0` (a number, array, traced value or schedule).
        mu_dtype: dtype of the momentum (default: the parameters' dtype).

    Returns:
        The transformation, with state :class:`ScaleByNovogradState`; ``update`` needs the
        parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_novograd(eps=0.0)
        >>> p = jnp.zeros(2)
        >>> tx.update(jnp.array([3.0, 4.0]), tx.init(p), p)[0]  # g / |g|
        Array([0.6, 0.8], dtype=float32)

    References:
        Ginsburg et al., `Stochastic Gradient Methods with Layer-wise Adaptive Moments for
        Training of Deep Networks <https://arxiv.org/abs/1905.11286>`_, 2019.
    """
    _checks.unit_interval("scale_by_novograd", b1=b1, b2=b2)
    _checks.non_negative("scale_by_novograd", eps=eps, eps_root=eps_root, weight_decay=weight_decay)

    def init_fn(params):
        nu = jax.tree_util.tree_map(lambda v: jnp.zeros([], v.dtype), real_full_like(params))
        return ScaleByNovogradState(
            count=jnp.zeros([], jnp.int32), mu=slot_like(params, mu_dtype), nu=nu
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("scale_by_novograd", params)
        first = state.count == 0
        wd = _checks.resolve(weight_decay, state.count)
        count = safe_increment(state.count)

        def leaf(g, m, v, p):
            g = jnp.asarray(g)
            gc = upcast(g)
            norm2 = jnp.sum(abs_sq(gc))
            new_v = jnp.where(first, norm2, moving_average(b2, v, norm2))
            step = jnp.divide(*promote(gc, jnp.sqrt(new_v + eps_root) + eps))
            step = step + jnp.multiply(*promote(as_real(wd, gc), upcast(p)))
            beta1 = as_real(b1, gc)
            new_m = jnp.where(first, step, jnp.multiply(*promote(beta1, m)) + step)
            return new_m.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu, params)
        return updates, ScaleByNovogradState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)
