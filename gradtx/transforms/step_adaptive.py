"""Per-coordinate step sizes without a learning rate's units: AdaDelta, Rprop and SM3."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, GradientTransformation, Updates
from gradtx.numerics import abs_sq, promote, real_dtype, upcast
from gradtx.transforms._common import (
    as_real,
    map_leaves,
    moving_average,
    real_full_like,
    slot_like,
)

__all__ = [
    "ScaleByAdaDeltaState",
    "ScaleByRpropState",
    "ScaleBySM3State",
    "scale_by_adadelta",
    "scale_by_rprop",
    "scale_by_sm3",
]


class ScaleByAdaDeltaState(NamedTuple):
    """State of :func:`scale_by_adadelta`: the averages of squared gradients and updates."""

    e_g: Updates
    e_x: Updates


def scale_by_adadelta(rho: ArrayLike = 0.9, eps: ArrayLike = 1e-6) -> GradientTransformation:
    r"""AdaDelta's scaling (Zeiler, 2012).

    .. math::
        E[g^2]_k = \rho E[g^2]_{k-1} + (1-\rho) g_k^2, \quad
        u_k = \frac{\sqrt{E[\Delta x^2]_{k-1} + \epsilon}}{\sqrt{E[g^2]_k + \epsilon}} g_k, \quad
        E[\Delta x^2]_k = \rho E[\Delta x^2]_{k-1} + (1-\rho) u_k^2

    Args:
        rho: :math:`\rho \in [0, 1)`, decay of both averages.
        eps: :math:`\epsilon \ge 0`.

    Returns:
        The transformation, with state :class:`ScaleByAdaDeltaState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_adadelta(rho=0.0, eps=1.0)
        >>> tx.update(jnp.array([0.0, 0.0]), tx.init(jnp.zeros(2)))[0]
        Array([0., 0.], dtype=float32)

    References:
        Zeiler, `ADADELTA: An Adaptive Learning Rate Method
        <https://arxiv.org/abs/1212.5701>`_, 2012.
    """
    _checks.unit_interval("scale_by_adadelta", rho=rho)
    _checks.non_negative("scale_by_adadelta", eps=eps)

    def init_fn(params):
        return ScaleByAdaDeltaState(e_g=real_full_like(params), e_x=real_full_like(params))

    def leaf(g, e_g, e_x):
        g = jnp.asarray(g)
        gc = upcast(g)
        new_e_g = moving_average(rho, e_g, abs_sq(gc))
        e_x_c = e_x.astype(new_e_g.dtype)
        scale = jnp.sqrt(e_x_c + eps) / jnp.sqrt(new_e_g + eps)
        u = jnp.multiply(*promote(scale, gc))
        new_e_x = moving_average(rho, e_x_c, abs_sq(u))
        return u.astype(g.dtype), new_e_g.astype(e_g.dtype), new_e_x.astype(e_x.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        updates, e_g, e_x = map_leaves(leaf, 3, updates, state.e_g, state.e_x)
        return updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

    return GradientTransformation(init_fn, update_fn)


class ScaleByRpropState(NamedTuple):
    """State of :func:`scale_by_rprop`: per-coordinate step sizes and the previous update."""

    step_sizes: Updates
    prev_updates: Updates


def scale_by_rprop(
    learning_rate: ArrayLike,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step_size: ArrayLike = 1e-6,
    max_step_size: ArrayLike = 50.0,
) -> GradientTransformation:
    r"""Rprop (Riedmiller and Braun, 1993), in Optax's variant (iRprop-, with the update of the
    previous step held back when the sign flips).

    With :math:`s_k = g_k g'_{k-1}` (:math:`g'` the previous stored direction):

    .. math::
        \delta_k = \begin{cases} \operatorname{clip}(\eta^+ \delta_{k-1}) & s_k > 0 \\
        \operatorname{clip}(\eta^- \delta_{k-1}) & s_k < 0 \\ \delta_{k-1} & s_k = 0
        \end{cases}, \quad
        g'_k = \begin{cases} 0 & s_k < 0 \\ \delta_k \operatorname{sign}(g_k) & \text{else}
        \end{cases}, \quad
        u_k = \begin{cases} 0 & s_k < 0 \\ g'_{k-1} & \text{else} \end{cases}

    with :math:`\delta_0` = ``learning_rate``, :math:`g'_0 = 0` and the clip to
    ``[min_step_size, max_step_size]``. As in Optax 0.2.8, the update of step :math:`k` is the
    direction :math:`g'_{k-1}` stored at the step before (so the first update is zero); this
    lag is why ``torch.optim.Rprop``, which moves by :math:`g'_k` at once, is a different
    trajectory. Complex leaves use :math:`s_k = \operatorname{Re}(\bar g'_{k-1} g_k)` and
    :math:`\operatorname{sign}(g) = g / |g|`. The result is an ascent direction:
    :func:`gradtx.rprop` negates it.

    Args:
        learning_rate: :math:`\delta_0 \ge 0`, the initial step size.
        eta_minus: :math:`\eta^- \ge 0`, the factor after a sign change.
        eta_plus: :math:`\eta^+ \ge 0`, the factor while the sign is kept.
        min_step_size: the smallest step size, :math:`\ge 0`.
        max_step_size: the largest step size, :math:`\ge 0`.

    Returns:
        The transformation, with state :class:`ScaleByRpropState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_rprop(0.1)
        >>> u, s = tx.update(jnp.array([2.0, -3.0]), tx.init(jnp.zeros(2)))
        >>> u  # nothing stored yet
        Array([0., 0.], dtype=float32)
        >>> u, _ = tx.update(jnp.array([1.0, 1.0]), s)
        >>> u  # the first step's direction; the second coordinate changed sign
        Array([0.1, 0. ], dtype=float32)

    References:
        Riedmiller and Braun, `A Direct Adaptive Method for Faster Backpropagation Learning:
        The RPROP Algorithm <https://doi.org/10.1109/ICNN.1993.298623>`_, 1993.
    """
    _checks.non_negative(
        "scale_by_rprop",
        learning_rate=learning_rate,
        eta_minus=eta_minus,
        eta_plus=eta_plus,
        min_step_size=min_step_size,
        max_step_size=max_step_size,
    )

    def init_fn(params):
        return ScaleByRpropState(
            step_sizes=real_full_like(params, learning_rate), prev_updates=slot_like(params, None)
        )

    def leaf(g, step, prev):
        g = jnp.asarray(g)
        gc = upcast(g)
        pc = prev.astype(gc.dtype)
        s = (jnp.conj(pc) * gc).real if jnp.iscomplexobj(gc) else pc * gc
        st = step.astype(s.dtype)
        factor = jnp.where(s > 0, as_real(eta_plus, s), as_real(eta_minus, s))
        lo, hi = as_real(min_step_size, s), as_real(max_step_size, s)
        new_step = jnp.where(s == 0, st, jnp.clip(st * factor, lo, hi))
        new_prev = jnp.where(
            s < 0, jnp.zeros_like(gc), jnp.multiply(*promote(new_step, jnp.sign(gc)))
        )
        # Optax returns the stored direction of the previous step (not the new one).
        u = jnp.where(s < 0, jnp.zeros_like(pc), pc)
        return u.astype(g.dtype), new_step.astype(step.dtype), new_prev.astype(prev.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        updates, steps, prev = map_leaves(leaf, 3, updates, state.step_sizes, state.prev_updates)
        return updates, ScaleByRpropState(step_sizes=steps, prev_updates=prev)

    return GradientTransformation(init_fn, update_fn)


class ScaleBySM3State(NamedTuple):
    """State of :func:`scale_by_sm3`: one accumulator per axis of each leaf (``mu``, a list per
    leaf) and the momentum (``nu``)."""

    mu: Updates
    nu: Updates


def _axis_shape(shape: tuple[int, ...], axis: int) -> list[int]:
    return [1] * axis + [shape[axis]] + [1] * (len(shape) - axis - 1)


def scale_by_sm3(
    b1: ArrayLike = 0.9, b2: ArrayLike = 1.0, eps: ArrayLike = 1e-8
) -> GradientTransformation:
    r"""SM3 (Anil et al., 2019): memory-efficient adaptive scaling with one accumulator per
    row, column... of each tensor.

    For a tensor with axes :math:`i = 1..d` and accumulators :math:`\mu^{(i)}`:

    .. math::
        a_k = c\, g_k^2 + \beta_2 \min_i \mu^{(i)}_{k-1}, \quad
        \mu^{(i)}_k = \max_{\text{other axes}} a_k, \quad
        \nu_k = \beta_1 \nu_{k-1} + (1-\beta_1) \frac{g_k}{\sqrt{a_k + \epsilon}}
        \ (0 \text{ where } a_k = 0), \quad u_k = \nu_k

    with :math:`c = 1 - \beta_2`, or :math:`c = 1` when :math:`\beta_2 = 1` (the paper's
    sum). Vectors and scalars keep a full accumulator.

    Args:
        b1: :math:`\beta_1 \in [0, 1)`, the momentum.
        b2: :math:`\beta_2 \in [0, 1]`, decay of the accumulators.
        eps: :math:`\epsilon \ge 0`.

    Returns:
        The transformation, with state :class:`ScaleBySM3State`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_sm3(b1=0.0, eps=0.0)
        >>> tx.update(jnp.array([2.0, -4.0]), tx.init(jnp.zeros(2)))[0]
        Array([ 1., -1.], dtype=float32)

    References:
        Anil et al., `Memory-Efficient Adaptive Optimization
        <https://arxiv.org/abs/1901.11150>`_, NeurIPS 2019.
    """
    _checks.unit_interval("scale_by_sm3", b1=b1)
    _checks.check_range("scale_by_sm3", "b2", b2, 0.0, 1.0)
    _checks.non_negative("scale_by_sm3", eps=eps)

    def init_fn(params):
        def accumulators(p):
            shape, dtype = jnp.shape(p), real_dtype(jnp.result_type(p))
            return [jnp.zeros([shape[i]], dtype) for i in range(len(shape))]

        mu = jax.tree_util.tree_map(accumulators, params)
        return ScaleBySM3State(mu=mu, nu=slot_like(params, None))

    def leaf(g, mu, nu):
        g = jnp.asarray(g)
        gc = upcast(g)
        g2 = abs_sq(gc)
        beta2 = as_real(b2, g2)
        coef = jnp.where(beta2 == 1, jnp.ones_like(beta2), 1 - beta2)
        ndim = g2.ndim
        if ndim == 0:
            prev = jnp.zeros_like(g2)
        elif ndim == 1:
            prev = mu[0].astype(g2.dtype)
        else:
            shaped = [
                jnp.reshape(m.astype(g2.dtype), _axis_shape(g2.shape, i)) for i, m in enumerate(mu)
            ]
            prev = functools.reduce(jnp.minimum, shaped)
        accum = coef * g2 + beta2 * prev
        inv = jnp.where(accum > 0, jax.lax.rsqrt(accum + eps), 0.0)
        new_nu = moving_average(b1, nu, jnp.multiply(*promote(gc, inv)))
        if ndim < 2:
            new_mu = [accum.astype(m.dtype) for m in mu]
        else:
            axes = range(ndim)
            new_mu = [
                jnp.max(accum, axis=tuple(a for a in axes if a != i)).astype(m.dtype)
                for i, m in enumerate(mu)
            ]
        return new_nu.astype(g.dtype), new_mu, new_nu.astype(nu.dtype)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        # The momentum has the updates' structure: checking it names a differing key path.
        _tree.map(lambda g, n: None, updates, state.nu, names=("updates", "state"))
        treedef = jax.tree_util.tree_structure(updates)
        out = [
            leaf(g, m, n)
            for g, m, n in zip(
                treedef.flatten_up_to(updates),
                treedef.flatten_up_to(state.mu),
                treedef.flatten_up_to(state.nu),
                strict=True,
            )
        ]
        new_updates = treedef.unflatten([o[0] for o in out])
        mu = treedef.unflatten([o[1] for o in out])
        nu = treedef.unflatten([o[2] for o in out])
        return new_updates, ScaleBySM3State(mu=mu, nu=nu)

    return GradientTransformation(init_fn, update_fn)
