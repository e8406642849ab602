"""Every transform and named optimizer against an independent float64 NumPy reference.

The references below are written from the formulas (the lecture notes' Algorithms 8.4 AdaGrad,
8.5 RMSProp and 8.7 Adam, the momentum rule v <- alpha v - eps g, the clipping rule
g <- g max_norm / |g|, the gradients of the weight penalties, the
docstring maths and the original papers), not from gradtx's code. They work on one flat float64
vector: the parameter tree ``{"b": (4,), "w": (3, 4)}`` flattened in key order; per-leaf rules
(trust ratio, block RMS, masks) use the leaf slices.

gradtx runs in float32 under ``jax.jit`` (compiled once per case) for 50 steps:

* transforms get fresh random gradients and parameters at every step (the gradients change
  scale from step to step so thresholds are sometimes hit and sometimes not; one leaf of the
  gradient is exactly zero at step 0 and one leaf of the parameters at step 1);
* optimizers descend a noisy quadratic: the gradient is taken at gradtx's current parameters
  (so the parameters feed back into the gradients) and given to both sides, and each side
  applies its own updates to its own parameters, which are compared after every step.

Updates (and parameters, for optimizers) must agree at every step to ``rtol=1e-5`` with an
absolute tolerance of ``1e-6`` times the largest magnitude in the leaf; the final state fields
are compared too. :func:`test_reference_detects_a_different_rule` checks that the comparison
fails when the reference implements a neighbouring rule (the other eps placement, no Nesterov,
no debiasing...), so these tests can fail.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

import gradtx
from tests.helpers import core_factories

STEPS = 50
RTOL = 1e-5
ATOL = 1e-6  # times the largest magnitude in the leaf

SHAPES = {"b": (4,), "w": (3, 4)}
KEYS = sorted(SHAPES)
_sizes = [int(np.prod(SHAPES[k])) for k in KEYS]
_offsets = np.cumsum([0, *_sizes])
SLICES = {k: slice(int(_offsets[i]), int(_offsets[i + 1])) for i, k in enumerate(KEYS)}
N = int(_offsets[-1])


def f32(x: float) -> float:
    """A decay rate as gradtx uses it: rounded to float32 (the compute dtype) before any use.

    gradtx casts hyperparameters to the compute dtype first, so that a Python number, an array
    and a traced value (vmap, inject_hyperparams) give identical results and ``1 - b`` agrees
    with the bias correction ``1 - b**t``. The reference computes everything else in float64.
    """
    return float(np.float32(x))


def to_tree(x: np.ndarray) -> dict[str, np.ndarray]:
    return {k: x[SLICES[k]].reshape(SHAPES[k]).astype(np.float32) for k in KEYS}


def to_vec(tree: Any) -> np.ndarray:
    return np.concatenate([np.asarray(tree[k], np.float64).ravel() for k in KEYS])


def value(x: Any, k: int) -> float:
    """A hyperparameter or a schedule evaluated at the 0-based step ``k``."""
    return x(k) if callable(x) else x


def lr_schedule(k):
    """Works on Python ints (reference) and int32 arrays (gradtx)."""
    return 0.1 / (1.0 + 0.2 * k)


def wd_schedule(k):
    return 0.2 * 0.9**k


# --- NumPy references on flat float64 vectors -------------------------------------------------


class Ref:
    """``update(g, w) -> u`` on flat vectors; state lives in attributes named as in the maths."""

    def init(self, w: np.ndarray) -> None:
        del w

    def update(self, g: np.ndarray, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Chain(Ref):
    def __init__(self, *refs: Ref):
        self.refs = refs

    def init(self, w):
        for r in self.refs:
            r.init(w)

    def update(self, g, w):
        for r in self.refs:
            g = r.update(g, w)
        return g

    def __getattr__(self, name):  # the members' state, for the final-state checks
        for r in self.__dict__.get("refs", ()):
            if hasattr(r, name):
                return getattr(r, name)
        raise AttributeError(name)


class Scale(Ref):
    """u = s g."""

    def __init__(self, s):
        self.s = s

    def update(self, g, w):
        return self.s * g


class Schedule(Ref):
    """u = s(k) g with k = 0, 1, ... counting the updates."""

    def __init__(self, fn):
        self.fn, self.k = fn, 0

    def update(self, g, w):
        u = self.fn(self.k) * g
        self.k += 1
        return u


def LR(lr) -> Ref:
    """The descent step -eta_k g."""
    return Schedule(lambda k: -value(lr, k))


class MinusHalfParams(Ref):
    """u = g - w / 2."""

    def update(self, g, w):
        return g - 0.5 * w


def _plain_scale(s):
    """A transformation whose update takes no extra arguments (an Optax-style one)."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda u: s * u, updates), state

    return gradtx.GradientTransformation(gradtx.init_empty_state, update)


class Sign(Ref):
    def update(self, g, w):
        return np.sign(g)


class TrustRatio(Ref):
    """Per leaf: u = g c max(|w|, m) / (max(|g|, m) + eps), ratio 1 if a norm is zero."""

    def __init__(self, min_norm=0.0, coef=1.0, eps=0.0):
        self.min_norm, self.coef, self.eps = min_norm, coef, eps

    def update(self, g, w):
        u = np.empty_like(g)
        for s in SLICES.values():
            wn = max(np.linalg.norm(w[s]), self.min_norm)
            gn = max(np.linalg.norm(g[s]), self.min_norm)
            ratio = 1.0 if wn == 0 or gn == 0 else self.coef * wn / (gn + self.eps)
            u[s] = ratio * g[s]
        return u


class Trace(Ref):
    """Momentum buffer t = beta t + (1 - d) g; u = t, or g + beta t (Nesterov)."""

    def __init__(self, beta, nesterov=False, dampening=0.0, dampen_first_step=True):
        self.beta, self.nesterov, self.d = f32(beta), nesterov, f32(dampening)
        self.t, self.k, self.dampen_first = np.zeros(N), 0, dampen_first_step

    def update(self, g, w):
        # torch.optim.SGD's rule (dampen_first_step=False): the first g enters whole.
        take = 1.0 if self.k == 0 and not self.dampen_first else 1 - self.d
        self.t, self.k = self.beta * self.t + take * g, self.k + 1
        return g + self.beta * self.t if self.nesterov else self.t


class Ema(Ref):
    """m = beta m + (1 - beta) g; u = m / (1 - beta^k) when debiased."""

    def __init__(self, beta, debias=True):
        self.beta, self.debias = f32(beta), debias
        self.m, self.k = np.zeros(N), 0

    def update(self, g, w):
        self.k += 1
        self.m = self.beta * self.m + (1 - self.beta) * g
        return self.m / (1 - self.beta**self.k) if self.debias else self.m


class Rss(Ref):
    """AdaGrad's direction: r = r + g*g; g / sqrt(r + delta) or g / (delta + sqrt(r))."""

    def __init__(self, r0=0.1, delta=1e-7, eps_in_sqrt=True):
        self.delta, self.eps_in_sqrt = delta, eps_in_sqrt
        self.r = np.full(N, float(r0))

    def update(self, g, w):
        self.r = self.r + g * g
        if self.eps_in_sqrt:
            return g / np.sqrt(self.r + self.delta)
        return g / (self.delta + np.sqrt(self.r))


class Rms(Ref):
    """RMSProp's direction (Algorithm 8.5): r = rho r + (1 - rho) g*g, g / sqrt(delta + r).

    Options: delta outside the root; centred (Graves 2013: r - m^2 with m the moving mean);
    bias correction of r and m by 1 - rho^k; initial r.
    """

    def __init__(
        self, rho=0.9, delta=1e-8, r0=0.0, eps_in_sqrt=True, bias_correction=False, centered=False
    ):
        self.rho, self.delta, self.eps_in_sqrt = f32(rho), delta, eps_in_sqrt
        self.bias_correction, self.centered = bias_correction, centered
        self.r, self.m, self.k = np.full(N, float(r0)), np.zeros(N), 0

    def update(self, g, w):
        self.k += 1
        self.r = self.rho * self.r + (1 - self.rho) * g * g
        self.m = self.rho * self.m + (1 - self.rho) * g
        c = 1 - self.rho**self.k if self.bias_correction else 1.0
        a = self.r / c - (self.m / c) ** 2 if self.centered else self.r / c
        if self.eps_in_sqrt:
            return g / np.sqrt(self.delta + a)
        return g / (self.delta + np.sqrt(a))


class Adam(Ref):
    """Algorithm 8.7 (s, r: first and second moments; t: time step), direction only.

    Nesterov (Dozat 2016, Optax's NAdam): s_hat = rho1 s / (1 - rho1^(t+1))
    + (1 - rho1) g / (1 - rho1^t).
    """

    def __init__(self, rho1=0.9, rho2=0.999, delta=1e-8, delta_root=0.0, nesterov=False):
        self.rho1, self.rho2, self.delta, self.delta_root = f32(rho1), f32(rho2), delta, delta_root
        self.nesterov = nesterov
        self.s, self.r, self.t = np.zeros(N), np.zeros(N), 0

    def update(self, g, w):
        rho1, rho2, t = self.rho1, self.rho2, self.t + 1
        self.t = t
        self.s = rho1 * self.s + (1 - rho1) * g
        self.r = rho2 * self.r + (1 - rho2) * g * g
        if self.nesterov:
            s_hat = rho1 * self.s / (1 - rho1 ** (t + 1)) + (1 - rho1) * g / (1 - rho1**t)
        else:
            s_hat = self.s / (1 - rho1**t)
        r_hat = self.r / (1 - rho2**t)
        return s_hat / (np.sqrt(r_hat + self.delta_root) + self.delta)


class AmsGrad(Ref):
    """Reddi et al. 2018: divide by the running max of the second moment.

    Default: max of the bias-corrected v_hat (Optax). ``max_before``: max of the raw v, then
    divided by 1 - b2^t (torch). Each correction can be switched off (the paper has none).
    """

    def __init__(
        self, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, bc_mu=True, bc_nu=True, max_before=False
    ):
        self.b1, self.b2, self.eps, self.eps_root = f32(b1), f32(b2), eps, eps_root
        self.bc_mu, self.bc_nu, self.max_before = bc_mu, bc_nu, max_before
        self.m, self.v, self.v_max, self.t = np.zeros(N), np.zeros(N), np.zeros(N), 0

    def update(self, g, w):
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1**self.t) if self.bc_mu else self.m
        c = 1 - self.b2**self.t if self.bc_nu else 1.0
        if self.max_before:
            self.v_max = np.maximum(self.v_max, self.v)
            denom = self.v_max / c
        else:
            self.v_max = np.maximum(self.v_max, self.v / c)
            denom = self.v_max
        return m_hat / (np.sqrt(denom + self.eps_root) + self.eps)


class Adamax(Ref):
    """Kingma and Ba 2014, Alg. 2: u_inf = max(b2 u_inf, |g| + eps); m / ((1 - b1^t) u_inf)."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8):
        self.b1, self.b2, self.eps = f32(b1), f32(b2), eps
        self.m, self.u_inf, self.t = np.zeros(N), np.zeros(N), 0

    def update(self, g, w):
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.u_inf = np.maximum(self.b2 * self.u_inf, np.abs(g) + self.eps)
        return self.m / (1 - self.b1**self.t) / self.u_inf


class Belief(Ref):
    """Zhuang et al. 2020: s = b2 s + (1 - b2)(g - m)^2 + eps_root; m_hat / (sqrt(s_hat) + eps)."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, nesterov=False):
        self.b1, self.b2, self.eps, self.eps_root = f32(b1), f32(b2), eps, eps_root
        self.nesterov = nesterov
        self.m, self.s, self.t = np.zeros(N), np.zeros(N), 0

    def update(self, g, w):
        b1, t = self.b1, self.t + 1
        self.t = t
        self.m = b1 * self.m + (1 - b1) * g
        self.s = self.b2 * self.s + (1 - self.b2) * (g - self.m) ** 2 + self.eps_root
        if self.nesterov:
            m_hat = b1 * self.m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = self.m / (1 - b1**t)
        return m_hat / (np.sqrt(self.s / (1 - self.b2**t)) + self.eps)


class Lion(Ref):
    """Chen et al. 2023: u = sign(b1 m + (1 - b1) g), then m = b2 m + (1 - b2) g."""

    def __init__(self, b1=0.9, b2=0.99):
        self.b1, self.b2 = f32(b1), f32(b2)
        self.m, self.t = np.zeros(N), 0

    def update(self, g, w):
        self.t += 1
        u = np.sign(self.b1 * self.m + (1 - self.b1) * g)
        self.m = self.b2 * self.m + (1 - self.b2) * g
        return u


class Clip(Ref):
    def __init__(self, delta):
        self.delta = delta

    def update(self, g, w):
        return np.minimum(np.maximum(g, -self.delta), self.delta)


class ClipGlobalNorm(Ref):
    """The lectures' rule: g <- g max_norm / |g| when |g| > max_norm."""

    def __init__(self, max_norm):
        self.max_norm = max_norm

    def update(self, g, w):
        norm = np.linalg.norm(g)
        return g * self.max_norm / norm if norm > self.max_norm else g


class ClipBlockRms(Ref):
    """Per leaf: g / max(1, rms(g) / tau)."""

    def __init__(self, tau):
        self.tau = tau

    def update(self, g, w):
        u = np.empty_like(g)
        for s in SLICES.values():
            u[s] = g[s] / max(1.0, np.sqrt(np.mean(g[s] ** 2)) / self.tau)
        return u


def mask_vec(mask: dict[str, bool] | None) -> np.ndarray:
    out = np.ones(N, bool)
    for k, keep in (mask or {}).items():
        out[SLICES[k]] = keep
    return out


class Penalty(Ref):
    """u = g + lambda_k dR/dw on the masked leaves.

    L2 (weight decay): R = lambda/2 |w|^2, dR/dw = lambda w.
    L1: R = lambda |w|_1, dR/dw = lambda sign(w) (subgradient 0 at 0).
    """

    def __init__(self, lam, kind="l2", mask=None):
        self.lam, self.kind, self.mask, self.k = lam, kind, mask_vec(mask), 0

    def update(self, g, w):
        lam = value(self.lam, self.k)
        self.k += 1
        grad_r = lam * (w if self.kind == "l2" else np.sign(w))
        return np.where(self.mask, g + grad_r, g)


class HeavyBall(Ref):
    """The lectures' momentum, with the step size of step k:

    v <- alpha v - eps_k g(theta),             theta <- theta + v;
    Nesterov: v <- alpha v - eps_k g(theta + alpha v), theta <- theta + v.

    gradtx's parameters are the point where the gradient is taken: theta for the plain form
    and theta + alpha v (the look-ahead point) for Nesterov; the returned update moves that
    point.
    """

    def __init__(self, lr, alpha, nesterov=False):
        self.lr, self.alpha, self.nesterov, self.k = lr, f32(alpha), nesterov, 0

    def init(self, w):
        self.theta, self.v = w.copy(), np.zeros(N)

    def _point(self):
        return self.theta + self.alpha * self.v if self.nesterov else self.theta

    def update(self, g, w):
        before = self._point()
        np.testing.assert_allclose(before, w, rtol=1e-12, atol=1e-12)  # g is g(point)
        self.v = self.alpha * self.v - value(self.lr, self.k) * g
        self.theta = self.theta + self.v
        self.k += 1
        return self._point() - before


class AdaGrad(Ref):
    """Algorithm 8.4: r <- r + g*g, Delta theta = -eps / (delta + sqrt(r)) g.

    With torch's lr_decay, eps_k = eps / (1 + (k - 1) lr_decay) for the k-th step (k = 1, 2...),
    an initial r0, and Optax's placement g / sqrt(r + delta) when ``eps_in_sqrt``.
    """

    def __init__(self, lr, delta=1e-7, r0=0.0, lr_decay=0.0, eps_in_sqrt=False):
        self.lr, self.delta, self.lr_decay, self.eps_in_sqrt = lr, delta, lr_decay, eps_in_sqrt
        self.r, self.k = np.full(N, float(r0)), 0

    def update(self, g, w):
        self.k += 1
        eps = value(self.lr, self.k - 1) / (1 + (self.k - 1) * self.lr_decay)
        self.r = self.r + g * g
        if self.eps_in_sqrt:
            return -eps * g / np.sqrt(self.r + self.delta)
        return -eps / (self.delta + np.sqrt(self.r)) * g


# --- cases -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], gradtx.GradientTransformation]
    ref: Callable[[], Ref]
    # (state class, {gradtx field: reference attribute}) checked after the last step.
    state: tuple[type, dict[str, str]] | None = None


MASK = {"b": False, "w": True}
ADAM_STATE = (gradtx.ScaleByAdamState, {"count": "t", "mu": "s", "nu": "r"})
AMS_STATE = (gradtx.ScaleByAmsgradState, {"count": "t", "mu": "m", "nu": "v", "nu_max": "v_max"})
ADAMAX_STATE = (gradtx.ScaleByAdamState, {"count": "t", "mu": "m", "nu": "u_inf"})
BELIEF_STATE = (gradtx.ScaleByBeliefState, {"count": "t", "mu": "m", "nu": "s"})
LION_STATE = (gradtx.ScaleByLionState, {"count": "t", "mu": "m"})
RMS_STATE = (gradtx.ScaleByRmsState, {"count": "k", "nu": "r"})
RSTD_STATE = (gradtx.ScaleByRStdDevState, {"count": "k", "mu": "m", "nu": "r"})
RSS_STATE = (gradtx.ScaleByRssState, {"sum_of_squares": "r"})
TRACE_STATE = (gradtx.TraceState, {"trace": "t"})
DAMPED_TRACE_STATE = (gradtx.DampedTraceState, {"count": "k", "trace": "t"})
SCHEDULE_STATE = (gradtx.ScaleByScheduleState, {"count": "k"})

# fmt: off
TRANSFORMS = [
    Case("identity", gradtx.identity, lambda: Scale(1.0)),
    Case("set_to_zero", gradtx.set_to_zero, lambda: Scale(0.0)),
    Case("scale", lambda: gradtx.scale(-0.3), lambda: Scale(-0.3)),
    Case("stateless_with_tree_map",
         lambda: gradtx.stateless_with_tree_map(lambda u, p: u - 0.5 * p), MinusHalfParams),
    Case("with_extra_args_support",
         lambda: gradtx.with_extra_args_support(_plain_scale(-0.3)), lambda: Scale(-0.3)),
    Case("scale_by_learning_rate", lambda: gradtx.scale_by_learning_rate(0.05),
         lambda: Scale(-0.05)),
    Case("scale_by_learning_rate_ascent",
         lambda: gradtx.scale_by_learning_rate(0.05, flip_sign=False), lambda: Scale(0.05)),
    Case("scale_by_learning_rate_schedule",
         lambda: gradtx.scale_by_learning_rate(lr_schedule), lambda: LR(lr_schedule),
         SCHEDULE_STATE),
    Case("scale_by_schedule", lambda: gradtx.scale_by_schedule(lr_schedule),
         lambda: Schedule(lr_schedule), SCHEDULE_STATE),
    Case("scale_by_sign", gradtx.scale_by_sign, Sign),
    Case("scale_by_trust_ratio", gradtx.scale_by_trust_ratio, TrustRatio),
    Case("scale_by_trust_ratio_options",
         lambda: gradtx.scale_by_trust_ratio(min_norm=2.0, trust_coefficient=0.5, eps=0.1),
         lambda: TrustRatio(2.0, 0.5, 0.1)),
    Case("trace", lambda: gradtx.trace(0.9), lambda: Trace(0.9), TRACE_STATE),
    Case("trace_nesterov", lambda: gradtx.trace(0.9, nesterov=True),
         lambda: Trace(0.9, nesterov=True), TRACE_STATE),
    Case("trace_dampening", lambda: gradtx.trace(0.9, dampening=0.3),
         lambda: Trace(0.9, dampening=0.3), TRACE_STATE),
    Case("trace_nesterov_dampening", lambda: gradtx.trace(0.9, nesterov=True, dampening=0.3),
         lambda: Trace(0.9, nesterov=True, dampening=0.3), TRACE_STATE),
    # dampening = decay is the lectures' moving average m <- beta m + (1 - beta) g.
    Case("trace_dampening_torch", lambda: gradtx.trace(0.9, dampening=0.3,
                                                       dampen_first_step=False),
         lambda: Trace(0.9, dampening=0.3, dampen_first_step=False), DAMPED_TRACE_STATE),
    Case("trace_dampening_is_ema", lambda: gradtx.trace(0.8, dampening=0.8),
         lambda: Ema(0.8, debias=False), (gradtx.TraceState, {"trace": "m"})),
    Case("ema", lambda: gradtx.ema(0.9), lambda: Ema(0.9),
         (gradtx.EmaState, {"count": "k", "ema": "m"})),
    Case("ema_no_debias", lambda: gradtx.ema(0.9, debias=False), lambda: Ema(0.9, False),
         (gradtx.EmaState, {"count": "k", "ema": "m"})),
    Case("scale_by_rss", gradtx.scale_by_rss, Rss, RSS_STATE),
    Case("scale_by_rss_lecture", lambda: gradtx.scale_by_rss(0.0, 1e-7, eps_in_sqrt=False),
         lambda: Rss(0.0, 1e-7, eps_in_sqrt=False), RSS_STATE),
    Case("scale_by_rss_zero_init", lambda: gradtx.scale_by_rss(0.0, 1e-7),
         lambda: Rss(0.0, 1e-7), RSS_STATE),
    Case("scale_by_rss_eps_in_sqrt", lambda: gradtx.scale_by_rss(0.5, 0.3, eps_in_sqrt=True),
         lambda: Rss(0.5, 0.3, eps_in_sqrt=True), RSS_STATE),
    Case("scale_by_rss_eps_outside", lambda: gradtx.scale_by_rss(0.5, 0.3, eps_in_sqrt=False),
         lambda: Rss(0.5, 0.3, eps_in_sqrt=False), RSS_STATE),
    Case("scale_by_rms", gradtx.scale_by_rms, Rms, RMS_STATE),
    Case("scale_by_rms_eps_in_sqrt", lambda: gradtx.scale_by_rms(0.8, 0.1, eps_in_sqrt=True),
         lambda: Rms(0.8, 0.1, eps_in_sqrt=True), RMS_STATE),
    Case("scale_by_rms_eps_outside", lambda: gradtx.scale_by_rms(0.8, 0.1, eps_in_sqrt=False),
         lambda: Rms(0.8, 0.1, eps_in_sqrt=False), RMS_STATE),
    Case("scale_by_rms_initial_scale", lambda: gradtx.scale_by_rms(initial_scale=1.0),
         lambda: Rms(r0=1.0), RMS_STATE),
    Case("scale_by_rms_bias_correction", lambda: gradtx.scale_by_rms(bias_correction=True),
         lambda: Rms(bias_correction=True), RMS_STATE),
    Case("scale_by_rms_centered", lambda: gradtx.scale_by_rms(centered=True),
         lambda: Rms(centered=True), RSTD_STATE),
    Case("scale_by_rms_centered_eps_outside",
         lambda: gradtx.scale_by_rms(0.8, 0.1, eps_in_sqrt=False, centered=True),
         lambda: Rms(0.8, 0.1, eps_in_sqrt=False, centered=True), RSTD_STATE),
    Case("scale_by_rms_centered_bias_correction",
         lambda: gradtx.scale_by_rms(0.8, 0.1, 0.5, bias_correction=True, centered=True),
         lambda: Rms(0.8, 0.1, 0.5, bias_correction=True, centered=True), RSTD_STATE),
    Case("scale_by_adam", gradtx.scale_by_adam, Adam, ADAM_STATE),
    Case("scale_by_adam_nesterov", lambda: gradtx.scale_by_adam(nesterov=True),
         lambda: Adam(nesterov=True), ADAM_STATE),
    Case("scale_by_adam_eps_root",
         lambda: gradtx.scale_by_adam(0.8, 0.9, 0.1, eps_root=0.01),
         lambda: Adam(0.8, 0.9, 0.1, delta_root=0.01), ADAM_STATE),
    Case("scale_by_adam_eps_root_nesterov",
         lambda: gradtx.scale_by_adam(eps_root=1e-3, nesterov=True),
         lambda: Adam(delta_root=1e-3, nesterov=True), ADAM_STATE),
    Case("scale_by_amsgrad", gradtx.scale_by_amsgrad, AmsGrad, AMS_STATE),
    Case("scale_by_amsgrad_max_after", lambda: gradtx.scale_by_amsgrad(b2=0.9),
         lambda: AmsGrad(b2=0.9), AMS_STATE),
    Case("scale_by_amsgrad_max_before",
         lambda: gradtx.scale_by_amsgrad(b2=0.9, max_before_bias_correction=True),
         lambda: AmsGrad(b2=0.9, max_before=True), AMS_STATE),
    Case("scale_by_amsgrad_no_bias_correction",
         lambda: gradtx.scale_by_amsgrad(b2=0.9, bias_correction_mu=False,
                                         bias_correction_nu=False),
         lambda: AmsGrad(b2=0.9, bc_mu=False, bc_nu=False), AMS_STATE),
    Case("scale_by_adamax", gradtx.scale_by_adamax, Adamax, ADAMAX_STATE),
    Case("scale_by_adamax_options", lambda: gradtx.scale_by_adamax(0.8, 0.9, 0.1),
         lambda: Adamax(0.8, 0.9, 0.1), ADAMAX_STATE),
    Case("scale_by_belief", gradtx.scale_by_belief, Belief, BELIEF_STATE),
    Case("scale_by_belief_nesterov", lambda: gradtx.scale_by_belief(nesterov=True),
         lambda: Belief(nesterov=True), BELIEF_STATE),
    Case("scale_by_belief_options", lambda: gradtx.scale_by_belief(0.8, 0.9, 1e-3, 1e-4),
         lambda: Belief(0.8, 0.9, 1e-3, 1e-4), BELIEF_STATE),
    Case("scale_by_lion", gradtx.scale_by_lion, Lion, LION_STATE),
    Case("scale_by_lion_options", lambda: gradtx.scale_by_lion(0.5, 0.8),
         lambda: Lion(0.5, 0.8), LION_STATE),
    Case("clip", lambda: gradtx.clip(0.8), lambda: Clip(0.8)),
    Case("clip_by_global_norm", lambda: gradtx.clip_by_global_norm(4.0),
         lambda: ClipGlobalNorm(4.0)),
    Case("clip_by_block_rms", lambda: gradtx.clip_by_block_rms(1.0), lambda: ClipBlockRms(1.0)),
    Case("add_decayed_weights", lambda: gradtx.add_decayed_weights(0.1),
         lambda: Penalty(0.1)),
    Case("add_decayed_weights_negative", lambda: gradtx.add_decayed_weights(-0.1),
         lambda: Penalty(-0.1)),
    Case("add_decayed_weights_mask", lambda: gradtx.add_decayed_weights(0.1, mask=MASK),
         lambda: Penalty(0.1, mask=MASK)),
    Case("add_decayed_weights_schedule_callable_mask",
         lambda: gradtx.add_decayed_weights(
             wd_schedule, mask=lambda p: {k: v.ndim > 1 for k, v in p.items()}),
         lambda: Penalty(wd_schedule, mask=MASK),
         (gradtx.AddDecayedWeightsState, {"count": "k"})),
    Case("add_l2_regularization", lambda: gradtx.add_l2_regularization(0.05),
         lambda: Penalty(0.05)),
    Case("add_l2_regularization_mask",
         lambda: gradtx.add_l2_regularization(0.05, mask={"b": True, "w": False}),
         lambda: Penalty(0.05, mask={"b": True, "w": False})),
    Case("add_l1_regularization", lambda: gradtx.add_l1_regularization(0.05),
         lambda: Penalty(0.05, "l1")),
    Case("add_l1_regularization_schedule_mask",
         lambda: gradtx.add_l1_regularization(wd_schedule, mask=MASK),
         lambda: Penalty(wd_schedule, "l1", mask=MASK),
         (gradtx.AddDecayedWeightsState, {"count": "k"})),
]

OPTIMIZERS = [
    Case("sgd", lambda: gradtx.sgd(0.05), lambda: LR(0.05)),
    Case("sgd_momentum", lambda: gradtx.sgd(0.05, 0.9),
         lambda: Chain(Trace(0.9), LR(0.05)), TRACE_STATE),
    Case("sgd_nesterov", lambda: gradtx.sgd(0.05, 0.9, nesterov=True),
         lambda: Chain(Trace(0.9, nesterov=True), LR(0.05)), TRACE_STATE),
    Case("sgd_dampening", lambda: gradtx.sgd(0.05, 0.9, dampening=0.3),
         lambda: Chain(Trace(0.9, dampening=0.3, dampen_first_step=False), LR(0.05)),
         DAMPED_TRACE_STATE),
    Case("sgd_nesterov_dampening", lambda: gradtx.sgd(0.05, 0.9, True, dampening=0.9),
         lambda: Chain(Trace(0.9, True, dampening=0.9, dampen_first_step=False), LR(0.05)),
         DAMPED_TRACE_STATE),
    Case("sgd_momentum_schedule", lambda: gradtx.sgd(lr_schedule, 0.9),
         lambda: Chain(Trace(0.9), LR(lr_schedule)), TRACE_STATE),
    Case("heavy_ball", lambda: gradtx.heavy_ball(0.05, 0.9), lambda: HeavyBall(0.05, 0.9),
         (gradtx.TraceState, {"trace": "v"})),
    Case("heavy_ball_nesterov", lambda: gradtx.heavy_ball(0.05, 0.9, nesterov=True),
         lambda: HeavyBall(0.05, 0.9, nesterov=True), (gradtx.TraceState, {"trace": "v"})),
    Case("heavy_ball_schedule", lambda: gradtx.heavy_ball(lr_schedule, 0.9),
         lambda: HeavyBall(lr_schedule, 0.9), (gradtx.TraceState, {"trace": "v"})),
    Case("heavy_ball_schedule_nesterov",
         lambda: gradtx.heavy_ball(lr_schedule, 0.9, nesterov=True),
         lambda: HeavyBall(lr_schedule, 0.9, nesterov=True),
         (gradtx.TraceState, {"trace": "v"})),
    Case("adagrad", lambda: gradtx.adagrad(0.1), lambda: AdaGrad(0.1, 1e-7, 0.1, eps_in_sqrt=True),
         RSS_STATE),
    Case("adagrad_lecture", lambda: gradtx.adagrad(0.1, 0.0, 1e-7, eps_in_sqrt=False),
         lambda: AdaGrad(0.1, 1e-7), RSS_STATE),
    Case("adagrad_large_eps", lambda: gradtx.adagrad(0.1, 0.0, 0.1, eps_in_sqrt=False),
         lambda: AdaGrad(0.1, 0.1), RSS_STATE),
    Case("adagrad_lr_decay", lambda: gradtx.adagrad(0.1, lr_decay=0.05),
         lambda: AdaGrad(0.1, 1e-7, 0.1, lr_decay=0.05, eps_in_sqrt=True), RSS_STATE),
    Case("adagrad_lecture_lr_decay",
         lambda: gradtx.adagrad(0.1, 0.0, 1e-7, lr_decay=0.05, eps_in_sqrt=False),
         lambda: AdaGrad(0.1, 1e-7, lr_decay=0.05), RSS_STATE),
    Case("adagrad_schedule_lr_decay", lambda: gradtx.adagrad(lr_schedule, lr_decay=0.05),
         lambda: AdaGrad(lr_schedule, 1e-7, 0.1, lr_decay=0.05, eps_in_sqrt=True), RSS_STATE),
    Case("rmsprop", lambda: gradtx.rmsprop(0.01), lambda: Chain(Rms(), LR(0.01)), RMS_STATE),
    Case("rmsprop_eps_outside", lambda: gradtx.rmsprop(0.01, eps=1e-3, eps_in_sqrt=False),
         lambda: Chain(Rms(delta=1e-3, eps_in_sqrt=False), LR(0.01)), RMS_STATE),
    Case("rmsprop_centered", lambda: gradtx.rmsprop(0.01, centered=True),
         lambda: Chain(Rms(centered=True), LR(0.01)), RSTD_STATE),
    # torch.optim.RMSprop's momentum: b = mu b + eta g / rms; theta -= b.
    Case("rmsprop_momentum", lambda: gradtx.rmsprop(0.01, momentum=0.9),
         lambda: Chain(Rms(), LR(0.01), Trace(0.9)), RMS_STATE),
    Case("rmsprop_nesterov", lambda: gradtx.rmsprop(0.01, momentum=0.9, nesterov=True),
         lambda: Chain(Rms(), LR(0.01), Trace(0.9, nesterov=True)), RMS_STATE),
    Case("rmsprop_torch_centered_momentum",
         lambda: gradtx.rmsprop(0.01, 0.99, 1e-3, eps_in_sqrt=False, centered=True,
                                momentum=0.5),
         lambda: Chain(Rms(0.99, 1e-3, eps_in_sqrt=False, centered=True), LR(0.01),
                       Trace(0.5)), RSTD_STATE),
    Case("rmsprop_bias_correction_initial_scale",
         lambda: gradtx.rmsprop(0.01, initial_scale=0.5, bias_correction=True),
         lambda: Chain(Rms(r0=0.5, bias_correction=True), LR(0.01)), RMS_STATE),
    Case("adam", lambda: gradtx.adam(0.01), lambda: Chain(Adam(), LR(0.01)), ADAM_STATE),
    Case("adam_eps_root", lambda: gradtx.adam(0.01, eps_root=1e-4),
         lambda: Chain(Adam(delta_root=1e-4), LR(0.01)), ADAM_STATE),
    Case("adam_nesterov", lambda: gradtx.adam(0.01, nesterov=True),
         lambda: Chain(Adam(nesterov=True), LR(0.01)), ADAM_STATE),
    Case("adam_amsgrad", lambda: gradtx.adam(0.01, amsgrad=True),
         lambda: Chain(AmsGrad(max_before=True), LR(0.01)), AMS_STATE),
    Case("adam_schedule", lambda: gradtx.adam(lr_schedule),
         lambda: Chain(Adam(), LR(lr_schedule)), ADAM_STATE),
    # AdamW: theta <- theta - eta (adam step + lambda theta), the decay outside the adaptivity.
    Case("adamw", lambda: gradtx.adamw(0.01, weight_decay=0.1),
         lambda: Chain(Adam(), Penalty(0.1), LR(0.01)), ADAM_STATE),
    Case("adamw_schedule_mask",
         lambda: gradtx.adamw(lr_schedule, weight_decay=wd_schedule, mask=MASK),
         lambda: Chain(Adam(), Penalty(wd_schedule, mask=MASK), LR(lr_schedule)), ADAM_STATE),
    Case("nadam", lambda: gradtx.nadam(0.01), lambda: Chain(Adam(nesterov=True), LR(0.01)),
         ADAM_STATE),
    Case("nadamw", lambda: gradtx.nadamw(0.01, weight_decay=0.1),
         lambda: Chain(Adam(nesterov=True), Penalty(0.1), LR(0.01)), ADAM_STATE),
    Case("amsgrad", lambda: gradtx.amsgrad(0.01), lambda: Chain(AmsGrad(), LR(0.01)),
         AMS_STATE),
    Case("amsgrad_max_before", lambda: gradtx.amsgrad(0.01, b2=0.9,
                                                      max_before_bias_correction=True),
         lambda: Chain(AmsGrad(b2=0.9, max_before=True), LR(0.01)), AMS_STATE),
    Case("adamax", lambda: gradtx.adamax(0.01), lambda: Chain(Adamax(), LR(0.01)),
         ADAMAX_STATE),
    Case("adabelief", lambda: gradtx.adabelief(0.01), lambda: Chain(Belief(), LR(0.01)),
         BELIEF_STATE),
    Case("adabelief_nesterov", lambda: gradtx.adabelief(0.01, nesterov=True),
         lambda: Chain(Belief(nesterov=True), LR(0.01)), BELIEF_STATE),
    # Lion: theta <- theta - eta (sign(b1 m + (1 - b1) g) + lambda theta).
    Case("lion", lambda: gradtx.lion(0.003), lambda: Chain(Lion(), Penalty(1e-3), LR(0.003)),
         LION_STATE),
    Case("lion_weight_decay", lambda: gradtx.lion(0.003, weight_decay=0.3),
         lambda: Chain(Lion(), Penalty(0.3), LR(0.003)), LION_STATE),
    # LAMB: r = adam step + lambda theta; theta <- theta - eta |theta| / |r| r per leaf.
    Case("lamb", lambda: gradtx.lamb(0.01),
         lambda: Chain(Adam(delta=1e-6), Penalty(0.0), TrustRatio(), LR(0.01)), ADAM_STATE),
    Case("lamb_weight_decay", lambda: gradtx.lamb(0.01, weight_decay=0.1),
         lambda: Chain(Adam(delta=1e-6), Penalty(0.1), TrustRatio(), LR(0.01)), ADAM_STATE),
    Case("sign_sgd", lambda: gradtx.sign_sgd(0.01), lambda: Chain(Sign(), LR(0.01))),
]

CASES = {c.id: c for c in TRANSFORMS + OPTIMIZERS}
TRANSFORM_IDS = {c.id for c in TRANSFORMS}

# gradtx's run of a case against the reference of a neighbouring rule: must NOT agree.
MISMATCHES = {
    "scale_by_learning_rate_sign": ("scale_by_learning_rate", lambda: Scale(0.05)),
    "scale_by_rss_eps_placement": ("scale_by_rss_eps_in_sqrt",
                                   lambda: Rss(0.5, 0.3, eps_in_sqrt=False)),
    "scale_by_rss_initial_value": ("scale_by_rss", lambda: Rss(0.0)),
    "scale_by_rms_eps_placement": ("scale_by_rms_eps_in_sqrt",
                                   lambda: Rms(0.8, 0.1, eps_in_sqrt=False)),
    "scale_by_rms_centered": ("scale_by_rms_centered", Rms),
    "scale_by_rms_bias_correction": ("scale_by_rms_bias_correction", Rms),
    "scale_by_trust_ratio_options": ("scale_by_trust_ratio_options", TrustRatio),
    "trace_nesterov": ("trace_nesterov", lambda: Trace(0.9)),
    "trace_dampening": ("trace_dampening", lambda: Trace(0.9)),
    "sgd_dampening_first_step": (
        "sgd_dampening", lambda: Chain(Trace(0.9, dampening=0.3), LR(0.05))
    ),
    "ema_debias": ("ema", lambda: Ema(0.9, debias=False)),
    "scale_by_adam_nesterov": ("scale_by_adam_nesterov", Adam),
    "scale_by_adam_eps_root": ("scale_by_adam_eps_root", lambda: Adam(0.8, 0.9, 0.1)),
    "scale_by_amsgrad_max_placement": ("scale_by_amsgrad_max_after",
                                       lambda: AmsGrad(b2=0.9, max_before=True)),
    "scale_by_amsgrad_is_not_adam": ("scale_by_amsgrad_max_after", lambda: Adam(rho2=0.9)),
    "scale_by_belief_is_not_adam": ("scale_by_belief_options",
                                    lambda: Adam(0.8, 0.9, 1e-3)),
    "scale_by_lion_b1_b2": ("scale_by_lion_options", lambda: Lion(0.8, 0.5)),
    "clip_by_global_norm_clips": ("clip_by_global_norm", lambda: Scale(1.0)),
    "clip_is_not_global_norm": ("clip", lambda: ClipGlobalNorm(0.8)),
    "add_decayed_weights_mask": ("add_decayed_weights_mask", lambda: Penalty(0.1)),
    "add_l1_is_not_l2": ("add_l1_regularization", lambda: Penalty(0.05, "l2")),
    "adagrad_eps_placement": ("adagrad_large_eps",
                              lambda: AdaGrad(0.1, 0.1, eps_in_sqrt=True)),
    "adagrad_lr_decay": ("adagrad_lr_decay", lambda: AdaGrad(0.1, 1e-7, 0.1, eps_in_sqrt=True)),
    "heavy_ball_nesterov": ("heavy_ball_nesterov", lambda: HeavyBall(0.05, 0.9)),
    # With a schedule the lectures' v <- alpha v - eps_k g differs from SGD's -eta_k t.
    "heavy_ball_schedule_is_not_sgd": ("heavy_ball_schedule",
                                       lambda: Chain(Trace(0.9), LR(lr_schedule))),
    "sgd_dampening": ("sgd_dampening", lambda: Chain(Trace(0.9), LR(0.05))),
    # Decoupled weight decay is not L2 regularisation fed through Adam.
    "adamw_is_not_adam_l2": ("adamw", lambda: Chain(Penalty(0.1), Adam(), LR(0.01))),
    "rmsprop_momentum": ("rmsprop_momentum", lambda: Chain(Rms(), LR(0.01))),
    "lamb_trust_ratio": ("lamb_weight_decay",
                         lambda: Chain(Adam(delta=1e-6), Penalty(0.1), LR(0.01))),
}
# fmt: on


# --- the comparison loop ---------------------------------------------------------------------


def _assert_close(actual: np.ndarray, desired: np.ndarray, what: str) -> None:
    """``assert_allclose`` leaf by leaf, with ``atol`` scaled by the leaf's largest entry."""
    scales = {k: float(np.max(np.abs(desired[s]))) for k, s in SLICES.items()}
    atol = np.concatenate([np.full(s.stop - s.start, ATOL * scales[k]) for k, s in SLICES.items()])
    if np.all(np.abs(actual - desired) <= atol + RTOL * np.abs(desired)):
        return  # the fast path; assert_allclose below writes the message
    for k, s in SLICES.items():
        np.testing.assert_allclose(
            actual[s], desired[s], rtol=RTOL, atol=ATOL * scales[k], err_msg=f"{what}, leaf {k!r}"
        )


def _transform_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Gradients and parameters for each step, exactly representable in float32."""
    rng = np.random.RandomState(0)
    scales = np.exp(rng.uniform(-1.5, 1.5, size=(STEPS, 1)))
    g = rng.standard_normal((STEPS, N)) * scales
    w = rng.standard_normal((STEPS, N))
    g[0, SLICES["b"]] = 0.0  # zero branches of accumulators, sign and trust ratio
    w[1, SLICES["b"]] = 0.0  # zero parameter norm and sign(0)
    return g.astype(np.float32).astype(np.float64), w.astype(np.float32).astype(np.float64)


_RNG = np.random.RandomState(1)
CURVATURE = _RNG.uniform(0.5, 2.0, N)
TARGET = _RNG.standard_normal(N)
NOISE = 0.5 * _RNG.standard_normal((STEPS, N))
W0 = _RNG.standard_normal(N).astype(np.float32).astype(np.float64)


def _grad(w: np.ndarray, k: int) -> np.ndarray:
    """Gradient at w of the step-k loss 1/2 sum c (w - target)^2 + noise_k . w."""
    return CURVATURE * (w - TARGET) + NOISE[k]


def _check_state(state: Any, ref: Ref, spec: tuple[type, dict[str, str]] | None, what: str):
    if spec is None:
        return
    cls, fields = spec
    found = [
        s
        for s in jax.tree_util.tree_leaves(state, is_leaf=lambda x: isinstance(x, cls))
        if isinstance(s, cls)
    ]
    assert found, f"{what}: no {cls.__name__} in the state {state}"
    for field, attr in fields.items():
        got, want = getattr(found[0], field), getattr(ref, attr)
        if isinstance(want, int):
            assert int(got) == want, f"{what}: state.{field} = {got}, expected {want}"
        else:
            _assert_close(to_vec(got), want, f"{what}: final state.{field}")


@dataclasses.dataclass(frozen=True)
class Run:
    """gradtx's run of a case: the gradients it was given, its updates and parameters."""

    grads: list[np.ndarray]
    params_in: list[np.ndarray]  # transforms: the parameters given to update
    updates: list[np.ndarray]
    params_out: list[np.ndarray]  # optimizers: the parameters after each step
    state: Any


@functools.cache
def gradtx_run(case_id: str) -> Run:
    """Runs gradtx once per case (jit compiled once); the references replay the same inputs."""
    case = CASES[case_id]
    tx = case.make()
    grads, params_in, updates, params_out = [], [], [], []
    if case_id in TRANSFORM_IDS:
        gs, ws = _transform_inputs()
        update = jax.jit(tx.update)
        state = tx.init(to_tree(ws[0]))
        for k in range(STEPS):
            u, state = update(to_tree(gs[k]), state, to_tree(ws[k]))
            grads.append(gs[k])
            params_in.append(ws[k])
            updates.append(to_vec(u))
        return Run(grads, params_in, updates, params_out, state)

    @jax.jit
    def step(g, state, p):
        u, state = tx.update(g, state, p)
        return u, state, gradtx.apply_updates(p, u)

    p = to_tree(W0)
    state = tx.init(p)
    for k in range(STEPS):
        # The gradient at gradtx's current parameters, rounded to float32, is recorded and given
        # to the reference too, so that the float32 rounding of the parameters does not send
        # the two runs apart; the reference applies its own updates to its own parameters.
        g = to_vec(to_tree(_grad(to_vec(p), k)))
        u, state, p = step(to_tree(g), state, p)
        grads.append(g)
        params_in.append(None)
        updates.append(to_vec(u))
        params_out.append(to_vec(p))
    return Run(grads, params_in, updates, params_out, state)


def compare(case_id: str, ref: Ref, state_spec=None) -> None:
    """Replays the reference on gradtx's inputs and compares every step."""
    run = gradtx_run(case_id)
    optimizer = bool(run.params_out)
    w = W0.copy() if optimizer else run.params_in[0]
    ref.init(w)
    for k in range(STEPS):
        if not optimizer:
            w = run.params_in[k]
        u = ref.update(run.grads[k], w)
        _assert_close(run.updates[k], u, f"{case_id}: updates at step {k}")
        if optimizer:
            w = w + u
            _assert_close(run.params_out[k], w, f"{case_id}: params after step {k}")
    _check_state(run.state, ref, state_spec, case_id)


@pytest.mark.parametrize("case", TRANSFORMS, ids=lambda c: c.id)
def test_transform_matches_numpy_reference(case: Case) -> None:
    compare(case.id, case.ref(), case.state)


@pytest.mark.parametrize("case", OPTIMIZERS, ids=lambda c: c.id)
def test_optimizer_matches_numpy_reference(case: Case) -> None:
    compare(case.id, case.ref(), case.state)


@pytest.mark.parametrize(("case_id", "wrong_ref"), MISMATCHES.values(), ids=MISMATCHES.keys())
def test_reference_detects_a_different_rule(case_id: str, wrong_ref) -> None:
    """gradtx's run compared with the reference of a neighbouring rule must not agree."""
    with pytest.raises(AssertionError, match=r"updates at step|params after step"):
        compare(case_id, wrong_ref())


def test_adam_first_step_is_the_sign_of_the_gradient() -> None:
    """Algorithm 8.7 at t = 1 with delta = 0: s_hat = g, r_hat = g*g, the step is sign(g).

    A few float32 operations are involved, so a few ulps is all the error there should be.
    """
    g = np.array([0.5, -2.0, 3e-3, -40.0], np.float32)
    tx = gradtx.scale_by_adam(eps=0.0)
    u, _ = tx.update(g, tx.init(np.zeros(4, np.float32)))
    np.testing.assert_allclose(np.asarray(u, np.float64), np.sign(g), rtol=1e-6, atol=0)
    tx = gradtx.scale_by_amsgrad()
    _, state = tx.update(g, tx.init(np.zeros(4, np.float32)))
    np.testing.assert_allclose(
        np.asarray(state.nu_max, np.float64), g.astype(np.float64) ** 2, rtol=1e-6
    )


@pytest.mark.parametrize("eps_in_sqrt", [True, False])
def test_centered_rms_with_bias_correction_is_finite_at_the_first_step(eps_in_sqrt) -> None:
    """At k = 1 the debiased mean is g and the debiased mean square g*g: the variance is 0.

    The reference then gives g / sqrt(delta) (or g / delta); a variance that comes out
    slightly negative in float32 must not turn the update into nan.
    """
    g = np.random.RandomState(0).standard_normal(1000).astype(np.float32)
    tx = gradtx.scale_by_rms(
        0.9, 1e-8, eps_in_sqrt=eps_in_sqrt, bias_correction=True, centered=True
    )
    u, _ = tx.update(g, tx.init(np.zeros_like(g)))
    bad = int(np.sum(~np.isfinite(np.asarray(u))))
    assert bad == 0, f"{bad} of {g.size} updates are not finite"


def test_inputs_hit_both_sides_of_each_threshold() -> None:
    """The clipping cases see steps that clip and steps that do not."""
    gs, _ = _transform_inputs()
    norms = np.linalg.norm(gs, axis=1)
    assert 0 < np.sum(norms > 4.0) < STEPS  # clip_by_global_norm(4.0)
    assert 0 < np.sum(np.max(np.abs(gs), axis=1) > 0.8) < STEPS  # clip(0.8)
    assert 0 < np.sum(np.abs(gs) > 0.8) < gs.size
    for s in SLICES.values():  # clip_by_block_rms(1.0)
        rms = np.sqrt(np.mean(gs[:, s] ** 2, axis=1))
        assert 0 < np.sum(rms > 1.0) < STEPS


def test_every_public_transform_and_optimizer_is_covered() -> None:
    """Each transform and optimizer has a case, except those with random noise or no numerics.

    Wrappers, schedules, line searches and second-order methods have their own test files.
    """
    source = Path(__file__).read_text()
    factories = sorted(core_factories())
    not_numeric = ("add_noise", "noisy_sgd", "chain", "named_chain", "stateless")
    missing = [n for n in factories if f"gradtx.{n}" not in source and n not in not_numeric]
    assert len(factories) > 30
    assert not missing, f"no NumPy reference case for {missing}"
