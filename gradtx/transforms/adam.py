"""The Adam family: Adam (with Nesterov), AMSGrad, AdaMax, AdaBelief and Lion."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, DTypeLike, GradientTransformation, Updates
from gradtx.numerics import abs_sq, promote, promote_dtypes, safe_increment, upcast
from gradtx.transforms._common import (
    as_real,
    debias_factor,
    map_leaves,
    moving_average,
    per_dtype,
    real_full_like,
    slot_like,
)

__all__ = [
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLionState",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_lion",
]


def _widen(gc: jax.Array, *slots: jax.Array) -> jax.Array:
    """``gc`` in a dtype wide enough for the slots: float32 slots of a bfloat16 model compute in
    float32 (already ``gc``'s dtype), float64 slots of a float32 model compute in float64."""
    return gc.astype(promote_dtypes(gc.dtype, *(s.dtype for s in slots)))


def _first_moment_scalars(b1, count, dtype):
    """``(b1, 1 - b1**k, 1 - b1**(k + 1))`` in ``dtype``, for :func:`_first_moment_hat`."""
    return (
        as_real(b1, dtype),
        debias_factor(b1, count, dtype),
        debias_factor(b1, safe_increment(count), dtype),
    )


def _first_moment_hat(m, gc, scalars, nesterov):
    """Bias-corrected first moment; Nesterov's variant looks one step ahead (Dozat, 2016)."""
    b1, bc1, bc1_next = scalars
    if nesterov:
        b1, keep, bc1, bc1_next, m, gc = promote(b1, 1 - b1, bc1, bc1_next, m, gc)
        return b1 * m / bc1_next + keep * gc / bc1
    return jnp.divide(*promote(m, bc1))


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam` and :func:`scale_by_adamax`."""

    count: jax.Array  # int32 scalar
    mu: Updates
    nu: Updates


def scale_by_adam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adam's scaling (Kingma and Ba, 2014), as in the lectures' Algorithm 8.7.

    .. math::
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \quad
        v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k \odot g_k, \\
        \hat m_k = \frac{m_k}{1-\beta_1^k}, \quad \hat v_k = \frac{v_k}{1-\beta_2^k}, \quad
        u_k = \frac{\hat m_k}{\sqrt{\hat v_k + \epsilon_{root}} + \epsilon}

    With ``nesterov`` (NAdam, Dozat 2016) :math:`\hat m_k = \beta_1 m_k / (1-\beta_1^{k+1}) +
    (1-\beta_1) g_k / (1-\beta_1^k)`.

    Args:
        b1: :math:`\beta_1 \in [0, 1)`, decay of the first moment.
        b2: :math:`\beta_2 \in [0, 1)`, decay of the second moment.
        eps: :math:`\epsilon \ge 0`, added to the root (the lectures' :math:`\delta`).
        eps_root: :math:`\epsilon_{root} \ge 0`, added inside the root (useful when
            differentiating through the update).
        mu_dtype: dtype of the first moment (default: the parameters' dtype; complex
            parameters get the complex dtype of that precision).
        nesterov: use the Nesterov momentum form.
        nu_dtype: dtype of the second moment (default: the real dtype of the parameters).
            ``mu_dtype=jnp.float32, nu_dtype=jnp.float32`` keeps float32 moments for a
            bfloat16 model; the arithmetic is done in the widest of the gradients' compute
            dtype (at least float32) and the slot dtypes.

    Returns:
        The transformation, with state :class:`ScaleByAdamState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_adam()
        >>> u, _ = tx.update(jnp.array([0.5, -2.0]), tx.init(jnp.zeros(2)))
        >>> u  # the first step is the sign of the gradient
        Array([ 1., -1.], dtype=float32)
    """
    _checks.unit_interval("scale_by_adam", b1=b1, b2=b2)
    _checks.non_negative("scale_by_adam", eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=slot_like(params, mu_dtype),
            nu=real_full_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)

        scalars = per_dtype(
            lambda dt: (
                _first_moment_scalars(b1, count, dt),
                as_real(b2, dt),
                debias_factor(b2, count, dt),
            )
        )

        def leaf(g, m, v):
            g = jnp.asarray(g)
            gc = _widen(upcast(g), m, v)
            first, beta2, bc2 = scalars(gc.dtype)
            new_m = moving_average(first[0], m, gc)
            new_v = moving_average(beta2, v, abs_sq(gc))
            m_hat = _first_moment_hat(new_m, gc, first, nesterov)
            v_hat = new_v / bc2
            u = jnp.divide(*promote(m_hat, jnp.sqrt(v_hat + eps_root) + eps))
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByAmsgradState(NamedTuple):
    """State of :func:`scale_by_amsgrad`: Adam's moments and the running maximum."""

    count: jax.Array  # int32 scalar
    mu: Updates
    nu: Updates
    nu_max: Updates


def scale_by_amsgrad(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    max_before_bias_correction: bool = False,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AMSGrad (Reddi et al., 2018): Adam dividing by the running maximum of the second moment.

    .. math::
        \bar v_k = \max(\bar v_{k-1}, \hat v_k), \qquad
        u_k = \frac{\hat m_k}{\sqrt{\bar v_k + \epsilon_{root}} + \epsilon}

    with :math:`\hat m_k, \hat v_k` as in :func:`scale_by_adam` (Optax's definition, the
    default). ``torch.optim.Adam(amsgrad=True)`` instead keeps the maximum of the raw
    :math:`v_k` and divides it by :math:`1-\beta_2^k` afterwards; set
    ``max_before_bias_correction=True`` for that form.

    Args:
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        mu_dtype: dtype of the first moment (default: the parameters' dtype; complex
            parameters get the complex dtype of that precision).
        bias_correction_mu: debias the first moment.
        bias_correction_nu: debias the second moment.
        max_before_bias_correction: take the maximum of the raw second moment (torch's form).
        nu_dtype: dtype of the second moment and of its running maximum (default: the real
            dtype of the parameters).

    Returns:
        The transformation, with state :class:`ScaleByAmsgradState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_amsgrad()
        >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0]
        Array([1.], dtype=float32)
    """
    _checks.unit_interval("scale_by_amsgrad", b1=b1, b2=b2)
    _checks.non_negative("scale_by_amsgrad", eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByAmsgradState(
            count=jnp.zeros([], jnp.int32),
            mu=slot_like(params, mu_dtype),
            nu=real_full_like(params, dtype=nu_dtype),
            nu_max=real_full_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)

        bc1 = per_dtype(lambda dt: debias_factor(b1, count, dt))
        bc2 = per_dtype(lambda dt: debias_factor(b2, count, dt))

        def leaf(g, m, v, v_max):
            g = jnp.asarray(g)
            gc = _widen(upcast(g), m, v, v_max)
            new_m = moving_average(b1, m, gc)
            new_v = moving_average(b2, v, abs_sq(gc))
            m_hat = jnp.divide(*promote(new_m, bc1(gc.dtype))) if bias_correction_mu else new_m
            nu_corr = bc2(gc.dtype) if bias_correction_nu else 1.0
            if max_before_bias_correction:
                new_max = jnp.maximum(v_max.astype(new_v.dtype), new_v)
                denom = new_max / nu_corr
            else:
                new_max = jnp.maximum(v_max.astype(new_v.dtype), new_v / nu_corr)
                denom = new_max
            u = jnp.divide(*promote(m_hat, jnp.sqrt(denom + eps_root) + eps))
            return (
                u.astype(g.dtype),
                new_m.astype(m.dtype),
                new_v.astype(v.dtype),
                new_max.astype(v_max.dtype),
            )

        updates, mu, nu, nu_max = map_leaves(leaf, 4, updates, state.mu, state.nu, state.nu_max)
        return updates, ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init_fn, update_fn)


def scale_by_adamax(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8
) -> GradientTransformation:
    r"""AdaMax (Kingma and Ba, 2014): Adam with the infinity norm.

    .. math::
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \quad
        v_k = \max(\beta_2 v_{k-1}, |g_k| + \epsilon), \quad
        u_k = \frac{m_k}{(1-\beta_1^k)\, v_k}

    (the same placement of :math:`\epsilon` as Optax and ``torch.optim.Adamax``).

    Args:
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.

    Returns:
        The transformation, with state :class:`ScaleByAdamState` (``nu`` holds :math:`v_k`).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_adamax(eps=0.0)
        >>> tx.update(jnp.array([-4.0]), tx.init(jnp.zeros(1)))[0]
        Array([-1.], dtype=float32)
    """
    _checks.unit_interval("scale_by_adamax", b1=b1, b2=b2)
    _checks.non_negative("scale_by_adamax", eps=eps)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=_tree.zeros_like(params),
            nu=real_full_like(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)

        bc1 = per_dtype(lambda dt: debias_factor(b1, count, dt))

        def leaf(g, m, v):
            g = jnp.asarray(g)
            gc = upcast(g)
            new_m = moving_average(b1, m, gc)
            new_v = jnp.maximum(b2 * v.astype(jnp.abs(gc).dtype), jnp.abs(gc) + eps)
            mu, bc, nu = promote(new_m, bc1(gc.dtype), new_v)
            u = mu / bc / nu
            return u.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

        updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByBeliefState(NamedTuple):
    """State of :func:`scale_by_belief`: the first moment and the belief (variance) moment."""

    count: jax.Array  # int32 scalar
    mu: Updates
    nu: Updates


def scale_by_belief(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdaBelief (Zhuang et al., 2020): Adam with the variance of the gradient around its mean.

    .. math::
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \quad
        s_k = \beta_2 s_{k-1} + (1-\beta_2) (g_k - m_k)^2 + \epsilon_{root}, \quad
        u_k = \frac{m_k / (1-\beta_1^k)}{\sqrt{s_k / (1-\beta_2^k)} + \epsilon}

    Args:
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`, added to :math:`s_k` at every step.
        nesterov: use the Nesterov momentum form of :func:`scale_by_adam`.
        mu_dtype: dtype of the first moment (default: the parameters' dtype; complex
            parameters get the complex dtype of that precision).
        nu_dtype: dtype of :math:`s_k` (default: the real dtype of the parameters).

    Returns:
        The transformation, with state :class:`ScaleByBeliefState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_belief()
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 2 / |2 - 0.2|
        Array([1.1111], dtype=float32)
    """
    _checks.unit_interval("scale_by_belief", b1=b1, b2=b2)
    _checks.non_negative("scale_by_belief", eps=eps, eps_root=eps_root)

    def init_fn(params):
        return ScaleByBeliefState(
            count=jnp.zeros([], jnp.int32),
            mu=slot_like(params, mu_dtype),
            nu=real_full_like(params, dtype=nu_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count)

        scalars = per_dtype(
            lambda dt: (
                _first_moment_scalars(b1, count, dt),
                as_real(b2, dt),
                debias_factor(b2, count, dt),
            )
        )

        def leaf(g, m, s):
            g = jnp.asarray(g)
            gc = _widen(upcast(g), m, s)
            first, beta2, bc2 = scalars(gc.dtype)
            new_m = moving_average(first[0], m, gc)
            new_s = moving_average(beta2, s, abs_sq(gc - new_m)) + eps_root
            m_hat = _first_moment_hat(new_m, gc, first, nesterov)
            s_hat = new_s / bc2
            u = jnp.divide(*promote(m_hat, jnp.sqrt(s_hat) + eps))
            return u.astype(g.dtype), new_m.astype(m.dtype), new_s.astype(s.dtype)

        updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu)
        return updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)


class ScaleByLionState(NamedTuple):
    """State of :func:`scale_by_lion`: the momentum."""

    count: jax.Array  # int32 scalar
    mu: Updates


def scale_by_lion(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: DTypeLike | None = None,
    *,
    mode: str = "hard",
    smooth_beta: ArrayLike = 1.0,
) -> GradientTransformation:
    r"""Lion (Chen et al., 2023): the sign of an interpolated momentum.

    .. math::
        u_k = \operatorname{sign}(\beta_1 m_{k-1} + (1-\beta_1) g_k), \qquad
        m_k = \beta_2 m_{k-1} + (1-\beta_2) g_k

    Optax's softer variants replace the sign of :math:`x = \beta_1 m_{k-1} + (1-\beta_1) g_k`:
    ``mode="smooth"`` by :math:`\tanh(\beta_s x)`, ``mode="refined"`` by :math:`x` where
    :math:`|x| < 1` and its sign elsewhere.

    Args:
        b1: :math:`\beta_1 \in [0, 1)`, the interpolation for the update.
        b2: :math:`\beta_2 \in [0, 1)`, the decay of the momentum.
        mu_dtype: dtype of the momentum (default: the parameters' dtype; complex parameters
            get the complex dtype of that precision).
        mode: ``"hard"`` (the sign, the paper's Lion), ``"smooth"`` or ``"refined"``. An
            unknown mode raises ``ValueError`` here (Optax raises it in the first update).
        smooth_beta: :math:`\beta_s`, the sharpness of ``mode="smooth"``.

    Returns:
        The transformation, with state :class:`ScaleByLionState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_lion()
        >>> tx.update(jnp.array([0.1, -3.0]), tx.init(jnp.zeros(2)))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        Chen et al., *Symbolic Discovery of Optimization Algorithms*, NeurIPS 2023.
    """
    _checks.unit_interval("scale_by_lion", b1=b1, b2=b2)
    if mode not in ("hard", "smooth", "refined"):
        raise ValueError(
            f"scale_by_lion(): mode must be in ('hard', 'smooth', 'refined'), got mode={mode!r}."
        )

    def squash(x):
        if mode == "smooth":
            return jnp.tanh(jnp.asarray(smooth_beta, x.dtype) * x)
        if mode == "refined":
            return jnp.where(jnp.abs(x) < 1, x, jnp.sign(x))
        return jnp.sign(x)

    def init_fn(params):
        return ScaleByLionState(count=jnp.zeros([], jnp.int32), mu=slot_like(params, mu_dtype))

    def leaf(g, m):
        g = jnp.asarray(g)
        gc = _widen(upcast(g), m)
        u = squash(moving_average(b1, m, gc))
        return u.astype(g.dtype), moving_average(b2, m, gc).astype(m.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        updates, mu = map_leaves(leaf, 2, updates, state.mu)
        return updates, ScaleByLionState(count=safe_increment(state.count), mu=mu)

    return GradientTransformation(init_fn, update_fn)
