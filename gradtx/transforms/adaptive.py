"""Per-coordinate adaptive scaling: AdaGrad's sum of squares and RMSProp's moving average."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, GradientTransformation, Updates
from gradtx.numerics import abs_sq, promote, safe_increment, upcast
from gradtx.transforms._common import (
    debias_factor,
    map_leaves,
    moving_average,
    per_dtype,
    real_full_like,
)

__all__ = [
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRssState",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
]


def _inv_root(v: jax.Array, eps: ArrayLike, eps_in_sqrt: bool) -> jax.Array:
    """``1 / sqrt(v + eps)`` or ``1 / (sqrt(v) + eps)``."""
    return jax.lax.rsqrt(v + eps) if eps_in_sqrt else 1 / (jnp.sqrt(v) + eps)


class ScaleByRssState(NamedTuple):
    """State of :func:`scale_by_rss`: the running sum of squared updates."""

    sum_of_squares: Updates


def scale_by_rss(
    initial_accumulator_value: ArrayLike = 0.1, eps: ArrayLike = 1e-7, *, eps_in_sqrt: bool = True
) -> GradientTransformation:
    r"""AdaGrad's scaling by the root of the sum of squared gradients (Duchi et al., 2011).

    .. math::
        r_k = r_{k-1} + g_k \odot g_k, \qquad
        u_k = \begin{cases} g_k / \sqrt{r_k + \delta} & \text{eps\_in\_sqrt (default, Optax)}\\
        g_k / (\delta + \sqrt{r_k}) & \text{otherwise (the lectures, torch.optim.Adagrad)}
        \end{cases}

    with :math:`r_0` = ``initial_accumulator_value`` and :math:`\delta` = ``eps``. With
    ``eps_in_sqrt``, coordinates whose sum is still zero get a zero update, as in Optax.

    Args:
        initial_accumulator_value: :math:`r_0 \ge 0` (Optax 0.1; the lectures and torch 0).
        eps: :math:`\delta \ge 0`.
        eps_in_sqrt: where :math:`\delta` sits, see above.

    Returns:
        The transformation, with state :class:`ScaleByRssState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_rss(0.0, 0.0)
        >>> state = tx.init(jnp.zeros(1))
        >>> u, state = tx.update(jnp.array([3.0]), state)
        >>> u, _ = tx.update(jnp.array([4.0]), state)
        >>> u  # 4 / sqrt(9 + 16)
        Array([0.8], dtype=float32)
    """
    _checks.non_negative(
        "scale_by_rss", initial_accumulator_value=initial_accumulator_value, eps=eps
    )

    def init_fn(params):
        return ScaleByRssState(sum_of_squares=real_full_like(params, initial_accumulator_value))

    def leaf(g, r):
        g = jnp.asarray(g)
        gc = upcast(g)
        new_r = r.astype(abs_sq(gc).dtype) + abs_sq(gc)
        if eps_in_sqrt:
            scaling = jnp.where(new_r > 0, jax.lax.rsqrt(new_r + eps), 0.0)
        else:
            scaling = 1 / (jnp.sqrt(new_r) + eps)
        return jnp.multiply(*promote(gc, scaling)).astype(g.dtype), new_r.astype(r.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        updates, r = map_leaves(leaf, 2, updates, state.sum_of_squares)
        return updates, ScaleByRssState(sum_of_squares=r)

    return GradientTransformation(init_fn, update_fn)


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`: the moving average of squared updates (Optax's fields)."""

    nu: Updates


class ScaleByRmsWithCountState(NamedTuple):
    """State of :func:`scale_by_rms` with ``bias_correction``: the step count and the average."""

    count: jax.Array  # int32 scalar
    nu: Updates


class ScaleByRStdDevState(NamedTuple):
    """State of :func:`scale_by_stddev` (the centered :func:`scale_by_rms`): both moments."""

    mu: Updates
    nu: Updates


class ScaleByRStdDevWithCountState(NamedTuple):
    """State of :func:`scale_by_stddev` with ``bias_correction``: the count and both moments."""

    count: jax.Array  # int32 scalar
    mu: Updates
    nu: Updates


def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
) -> GradientTransformation:
    r"""RMSProp's scaling by a moving average of squared gradients (Hinton, 2012).

    .. math::
        r_k = \rho\, r_{k-1} + (1 - \rho)\, g_k \odot g_k, \qquad
        u_k = \begin{cases} g_k / \sqrt{\delta + r_k} & \text{eps\_in\_sqrt (default; the
        lectures, Optax)} \\ g_k / (\delta + \sqrt{r_k}) & \text{otherwise (torch.optim.RMSprop)}
        \end{cases}

    with :math:`r_0` = ``initial_scale``. ``centered`` (:func:`scale_by_stddev`) also tracks
    the mean :math:`m_k = \rho m_{k-1} + (1-\rho) g_k` and uses the variance
    :math:`r_k - m_k^2` in place of :math:`r_k` (Graves, 2013). ``bias_correction`` divides
    :math:`r_k` (and :math:`m_k`) by :math:`1 - \rho^k`, and keeps the step count :math:`k` in
    the state.

    Args:
        decay: :math:`\rho \in [0, 1)` (torch calls it ``alpha``).
        eps: :math:`\delta \ge 0`.
        initial_scale: :math:`r_0 \ge 0`.
        eps_in_sqrt: where :math:`\delta` sits, see above.
        bias_correction: debias the moving averages.
        centered: divide by the standard deviation instead of the root mean square.

    Returns:
        The transformation, with Optax's states: :class:`ScaleByRmsState`
        (:class:`ScaleByRmsWithCountState` with ``bias_correction``) or, when centered,
        :class:`ScaleByRStdDevState` (:class:`ScaleByRStdDevWithCountState`).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_rms(decay=0.75, eps=0.0)
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 2 / sqrt(0.25 * 4)
        Array([2.], dtype=float32)
    """
    fn = "scale_by_stddev" if centered else "scale_by_rms"
    _checks.unit_interval(fn, decay=decay)
    _checks.non_negative(fn, eps=eps, initial_scale=initial_scale)

    def init_fn(params):
        nu = real_full_like(params, initial_scale)
        count = jnp.zeros([], jnp.int32)
        if centered:
            mu = _tree.zeros_like(params)
            if bias_correction:
                return ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
            return ScaleByRStdDevState(mu=mu, nu=nu)
        if bias_correction:
            return ScaleByRmsWithCountState(count=count, nu=nu)
        return ScaleByRmsState(nu=nu)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        count = safe_increment(state.count) if bias_correction else None

        debias = per_dtype(lambda dt: debias_factor(decay, count, dt))

        def leaf(g, v, m=None):
            g = jnp.asarray(g)
            gc = upcast(g)
            new_v = moving_average(decay, v, abs_sq(gc))
            v_hat = new_v / debias(g.dtype) if bias_correction else new_v
            if m is None:
                u = jnp.multiply(*promote(gc, _inv_root(v_hat, eps, eps_in_sqrt)))
                return u.astype(g.dtype), new_v.astype(v.dtype)
            new_m = moving_average(decay, m, gc)
            m_hat = new_m / debias(g.dtype) if bias_correction else new_m
            # The variance is >= 0 in exact arithmetic; rounding can make it slightly negative
            # (at the first debiased step it is exactly 0), so clamp before the root.
            var = jnp.maximum(v_hat - abs_sq(m_hat), 0.0)
            u = jnp.multiply(*promote(gc, _inv_root(var, eps, eps_in_sqrt)))
            return u.astype(g.dtype), new_v.astype(v.dtype), new_m.astype(m.dtype)

        if centered:
            updates, nu, mu = map_leaves(leaf, 3, updates, state.nu, state.mu)
            if bias_correction:
                return updates, ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
            return updates, ScaleByRStdDevState(mu=mu, nu=nu)
        updates, nu = map_leaves(leaf, 2, updates, state.nu)
        if bias_correction:
            return updates, ScaleByRmsWithCountState(count=count, nu=nu)
        return updates, ScaleByRmsState(nu=nu)

    return GradientTransformation(init_fn, update_fn)


def scale_by_stddev(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""Centered RMSProp's scaling by a moving estimate of the standard deviation (Graves, 2013).

    .. math::
        m_k = \rho\, m_{k-1} + (1 - \rho)\, g_k, \quad
        r_k = \rho\, r_{k-1} + (1 - \rho)\, |g_k|^2, \quad
        u_k = \frac{g_k}{\sqrt{r_k - |m_k|^2 + \delta}}

    (:math:`g_k / (\sqrt{r_k - |m_k|^2} + \delta)` when not ``eps_in_sqrt``), with
    :math:`m_0 = 0`, :math:`r_0` = ``initial_scale`` and, with ``bias_correction``, both
    moments divided by :math:`1 - \rho^k`. This is ``scale_by_rms(..., centered=True)``; a
    variance that rounding makes slightly negative is taken as 0.

    Args:
        decay: :math:`\rho \in [0, 1)`.
        eps: :math:`\delta \ge 0`.
        initial_scale: :math:`r_0 \ge 0`.
        eps_in_sqrt: where :math:`\delta` sits, see above.
        bias_correction: debias both moving averages.

    Returns:
        The transformation, with state :class:`ScaleByRStdDevState`
        (:class:`ScaleByRStdDevWithCountState` with ``bias_correction``).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_stddev(decay=0.5, eps=0.0)
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 2 / sqrt(2 - 1)
        Array([2.], dtype=float32)

    References:
        Graves, `Generating Sequences With Recurrent Neural Networks
        <https://arxiv.org/abs/1308.0850>`_, 2013
    """
    return scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True)
