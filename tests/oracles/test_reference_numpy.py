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
import warnings
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


def _quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with its DeprecationWarning silenced (optimistic_adam)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fn(*args, **kwargs)


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
        loss = self.__dict__.get("value")  # set by the comparison loop for Polyak's step
        for r in self.refs:
            if loss is not None:
                r.value = loss
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

    def __init__(self, b1=0.9, b2=0.99, mode="hard", smooth_beta=1.0):
        self.b1, self.b2 = f32(b1), f32(b2)
        self.m, self.t = np.zeros(N), 0
        self.squash = {
            "hard": np.sign,
            "smooth": lambda x: np.tanh(smooth_beta * x),  # Optax's variants
            "refined": lambda x: np.where(np.abs(x) < 1, x, np.sign(x)),
        }[mode]

    def update(self, g, w):
        self.t += 1
        u = self.squash(self.b1 * self.m + (1 - self.b1) * g)
        self.m = self.b2 * self.m + (1 - self.b2) * g
        return u


class RAdam(Ref):
    """Liu et al. 2020, Algorithm 2: rho_inf = 2/(1-b2) - 1, rho_t = rho_inf - 2t b2^t/(1-b2^t);
    for rho_t >= threshold, r_t m_hat / (sqrt(v_hat) + eps), else m_hat. Nesterov as in Adam."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, nesterov=False):
        self.b1, self.b2, self.eps, self.eps_root = f32(b1), f32(b2), eps, eps_root
        self.threshold, self.nesterov = threshold, nesterov
        self.m, self.v, self.t = np.zeros(N), np.zeros(N), 0

    def update(self, g, w):
        b1, b2 = self.b1, self.b2
        self.t += 1
        t = self.t
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        if self.nesterov:
            m_hat = b1 * self.m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = self.m / (1 - b1**t)
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho < self.threshold:
            return m_hat
        r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        v_hat = self.v / (1 - b2**t)
        return r * m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps)


class Yogi(Ref):
    """Zaheer et al. 2018, Algorithm 2 (with Optax's bias corrections and m_0 = v_0 = v_init):
    v_t = v_{t-1} - (1 - b2) sign(v_{t-1} - g^2) g^2."""

    def __init__(self, b1=0.9, b2=0.999, eps=1e-3, eps_root=0.0, v_init=1e-6):
        self.b1, self.b2, self.eps, self.eps_root = f32(b1), f32(b2), eps, eps_root
        self.m, self.v, self.t = np.full(N, v_init), np.full(N, v_init), 0

    def update(self, g, w):
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.v - (1 - self.b2) * np.sign(self.v - g * g) * g * g
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps)


class Adan(Ref):
    """Xie et al. 2022, Algorithm 1 (Optax's b_i are the paper's 1 - beta_i), debiased:
    d = g - g_prev (0 at the first step), m, v, n the averages of g, d and (g + (1-b2) d)^2;
    u = (m_hat + (1 - b2) v_hat) / (sqrt(n_hat + eps_root) + eps)."""

    def __init__(self, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=0.0):
        self.b1, self.b2, self.b3 = f32(b1), f32(b2), f32(b3)
        self.eps, self.eps_root = eps, eps_root
        self.m, self.v, self.n, self.g_prev = np.zeros(N), np.zeros(N), np.zeros(N), None
        self.t = 0

    def update(self, g, w):
        d = np.zeros(N) if self.g_prev is None else g - self.g_prev
        self.g_prev = g.copy()
        self.t += 1
        t = self.t
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * d
        self.n = self.b3 * self.n + (1 - self.b3) * (g + (1 - self.b2) * d) ** 2
        m_hat, v_hat = self.m / (1 - self.b1**t), self.v / (1 - self.b2**t)
        n_hat = self.n / (1 - self.b3**t)
        return (m_hat + (1 - self.b2) * v_hat) / (np.sqrt(n_hat + self.eps_root) + self.eps)


class NovoGrad(Ref):
    """Ginsburg et al. 2019, Algorithm 1 per leaf l: v_l = |g_l|^2 at the first step, then
    b2 v_l + (1 - b2) |g_l|^2; m = b1 m + g_l / (sqrt(v_l + eps_root) + eps) + wd w (m_1 is the
    first such term); u = m."""

    def __init__(self, b1=0.9, b2=0.25, eps=1e-8, eps_root=0.0, wd=0.0):
        self.b1, self.b2, self.eps, self.eps_root, self.wd = f32(b1), f32(b2), eps, eps_root, wd
        self.m, self.v, self.t = np.zeros(N), {k: 0.0 for k in KEYS}, 0

    def update(self, g, w):
        step = np.zeros(N)
        for k, sl in SLICES.items():
            norm2 = float(np.sum(g[sl] ** 2))
            self.v[k] = norm2 if self.t == 0 else self.b2 * self.v[k] + (1 - self.b2) * norm2
            step[sl] = g[sl] / (np.sqrt(self.v[k] + self.eps_root) + self.eps) + self.wd * w[sl]
        self.m = step if self.t == 0 else self.b1 * self.m + step
        self.t += 1
        return self.m


class AdaDelta(Ref):
    """Zeiler 2012, Algorithm 1: E[g^2] = rho E[g^2] + (1-rho) g^2;
    dx = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) g; E[dx^2] = rho E[dx^2] + (1-rho) dx^2
    (a direction: the minus sign comes from the learning rate)."""

    def __init__(self, rho=0.9, eps=1e-6):
        self.rho, self.eps = f32(rho), eps
        self.e_g, self.e_x = np.zeros(N), np.zeros(N)

    def update(self, g, w):
        self.e_g = self.rho * self.e_g + (1 - self.rho) * g * g
        dx = np.sqrt(self.e_x + self.eps) / np.sqrt(self.e_g + self.eps) * g
        self.e_x = self.rho * self.e_x + (1 - self.rho) * dx * dx
        return dx


class Rprop(Ref):
    """Riedmiller and Braun 1993 (iRprop-: no step on a sign change), as Optax 0.2.8 runs it:
    s = g * d_prev; delta = clip(delta * (eta+ if s > 0, eta- if s < 0)) (kept if s = 0);
    d = 0 if s < 0 else delta sign(g); the update is 0 if s < 0, else d_prev (one step late)."""

    def __init__(self, lr, eta_minus=0.5, eta_plus=1.2, lo=1e-6, hi=50.0):
        self.eta_minus, self.eta_plus, self.lo, self.hi = eta_minus, eta_plus, lo, hi
        self.delta, self.d = np.full(N, f32(lr)), np.zeros(N)

    def update(self, g, w):
        s = g * self.d
        factor = np.where(s > 0, self.eta_plus, self.eta_minus)
        self.delta = np.where(s == 0, self.delta, np.clip(self.delta * factor, self.lo, self.hi))
        u = np.where(s < 0, 0.0, self.d)
        self.d = np.where(s < 0, 0.0, self.delta * np.sign(g))
        return u


class SM3(Ref):
    """Anil et al. 2019, SM3-II with one accumulator per row and per column of a matrix (a
    full one for a vector): nu_ij = c g_ij^2 + b2 min(mu_row_i, mu_col_j), c = 1 if b2 = 1
    else 1 - b2; mu_row_i = max_j nu_ij, mu_col_j = max_i nu_ij; the momentum of
    g / sqrt(nu + eps) (0 where nu = 0)."""

    def __init__(self, b1=0.9, b2=1.0, eps=1e-8):
        self.b1, self.b2, self.eps = f32(b1), f32(b2), eps
        self.mu = {k: [np.zeros(n) for n in SHAPES[k]] for k in KEYS}
        self.m = np.zeros(N)

    def update(self, g, w):
        c = 1.0 if self.b2 == 1.0 else 1 - self.b2
        step = np.zeros(N)
        for k, sl in SLICES.items():
            gk = g[sl].reshape(SHAPES[k])
            if gk.ndim == 1:
                prev = self.mu[k][0]
            else:
                prev = np.minimum(self.mu[k][0][:, None], self.mu[k][1][None, :])
            nu = c * gk**2 + self.b2 * prev
            if gk.ndim == 1:
                self.mu[k] = [nu]
            else:
                self.mu[k] = [nu.max(axis=1), nu.max(axis=0)]
            safe = np.where(nu > 0, nu, 1.0)
            step[sl] = np.where(nu > 0, gk / np.sqrt(safe + self.eps), 0.0).ravel()
        self.m = self.b1 * self.m + (1 - self.b1) * step
        return self.m


class RpropNoLag(Rprop):
    """Rprop moving by the new step at once (torch's form), for the mismatch test."""

    def update(self, g, w):
        super().update(g, w)
        return self.d


class SM3Full(SM3):
    """Adam-like per-coordinate accumulators instead of SM3's cover, for the mismatch test."""

    def update(self, g, w):
        c = 1.0 if self.b2 == 1.0 else 1 - self.b2
        if not hasattr(self, "acc"):
            self.acc = np.zeros(N)
        self.acc = c * g * g + self.b2 * self.acc
        step = np.where(
            self.acc > 0, g / np.sqrt(np.where(self.acc > 0, self.acc, 1.0) + self.eps), 0.0
        )
        self.m = self.b1 * self.m + (1 - self.b1) * step
        return self.m


class Factored(Ref):
    """Shazeer and Stern 2018, Algorithms 4 and 5 without the update clipping: decay
    b_t = 1 - t^(-c) (t = 1, 2, ... minus the offset), G = g^2 + eps; a (3, 4) matrix (when
    factored) keeps R = b R + (1 - b) mean_cols G and C = b C + (1 - b) mean_rows G,
    V_ij = R_i C_j / mean(R); other leaves V = b V + (1 - b) G; u = g / sqrt(V)."""

    def __init__(self, c=0.8, offset=0, eps=1e-30, factor_w=False):
        self.c, self.offset, self.eps, self.factor_w = c, offset, eps, factor_w
        self.R, self.C, self.v, self.t = np.zeros(3), np.zeros(4), np.zeros(N), 0

    def update(self, g, w):
        self.t += 1
        b = 1 - float(np.float32(self.t - self.offset)) ** -self.c
        big = g * g + self.eps
        self.v = b * self.v + (1 - b) * big
        u = g / np.sqrt(self.v)
        if self.factor_w:
            gw = big[SLICES["w"]].reshape(3, 4)
            self.R = b * self.R + (1 - b) * gw.mean(axis=1)
            self.C = b * self.C + (1 - b) * gw.mean(axis=0)
            V = np.outer(self.R, self.C) / self.R.mean()
            u[SLICES["w"]] = (g[SLICES["w"]].reshape(3, 4) / np.sqrt(V)).ravel()
        return u


class ParamBlockRms(Ref):
    """u = g max(rms(w_leaf), min_scale), per leaf (Adafactor's relative step size)."""

    def __init__(self, min_scale=1e-3):
        self.min_scale = min_scale

    def update(self, g, w):
        u = g.copy()
        for sl in SLICES.values():
            u[sl] = g[sl] * max(np.sqrt(np.mean(w[sl] ** 2)), self.min_scale)
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


def leaf(x: np.ndarray, k: str) -> np.ndarray:
    """Leaf ``k`` of a flat vector, in its shape."""
    return x[SLICES[k]].reshape(SHAPES[k])


class AdaptiveClip(Ref):
    """Brock et al.'s AGC, unit by unit: g_i <- g_i lam max(|w_i|, eps) / |g_i| when
    |g_i| >= lam max(|w_i|, eps). A unit is a column of the (3, 4) kernel (one per output)
    and the whole bias, or the slices over ``axis`` when it is given."""

    def __init__(self, lam, eps=1e-3, axis=None):
        self.lam, self.eps, self.axis = lam, eps, axis

    def _norm(self, x):
        axis = self.axis if self.axis is not None else (0 if x.ndim == 2 else None)
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=True))

    def update(self, g, w):
        u = np.empty_like(g)
        for k, s in SLICES.items():
            gk, wk = leaf(g, k), leaf(w, k)
            gn, bound = self._norm(gk), self.lam * np.maximum(self._norm(wk), self.eps)
            clipped = gk * bound / np.maximum(gn, 1e-6)
            u[s] = np.where(gn < bound, gk, clipped).ravel()
        return u


class Centralize(Ref):
    """Yong et al.'s gradient centralisation: each row of a matrix minus its mean; vectors
    unchanged."""

    def __init__(self, axis=1):
        self.axis = axis

    def update(self, g, w):
        u = g.copy()
        wk = leaf(g, "w")
        u[SLICES["w"]] = (wk - wk.mean(axis=self.axis, keepdims=True)).ravel()
        return u


class NormalizeByNorm(Ref):
    """Normalised gradient descent's direction: u = s g / (|g| + eps), |g| over all leaves."""

    def __init__(self, s=1.0, eps=1e-6):
        self.s, self.eps = s, eps

    def update(self, g, w):
        return self.s * g / (np.linalg.norm(g) + self.eps)


class ZeroNans(Ref):
    def update(self, g, w):
        return np.where(np.isnan(g), 0.0, g)


class NonNegative(Ref):
    """Projection onto w >= 0 through the update: w + u = max(w + g, 0) where w >= 0, and a
    negative w is moved to 0 when w + g < 0 (u = -w)."""

    def update(self, g, w):
        return np.where(w + g < 0.0, -w, g)


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


class ParamBlock(Ref):
    """Per leaf: u = g max(size(w), m), size the Frobenius norm or the root mean square."""

    def __init__(self, kind="norm", min_scale=1e-3):
        self.kind, self.min_scale = kind, min_scale

    def update(self, g, w):
        u = np.empty_like(g)
        for s in SLICES.values():
            size = np.linalg.norm(w[s]) if self.kind == "norm" else np.sqrt(np.mean(w[s] ** 2))
            u[s] = g[s] * max(size, self.min_scale)
        return u


class Optimistic(Ref):
    """Optimistic gradient (Mokhtari et al. 2019): u = (a + b) g_k - b g_{k-1}, g_0 = g_1."""

    def __init__(self, alpha=1.0, beta=1.0):
        self.alpha, self.beta, self.prev = f32(alpha), f32(beta), None

    def update(self, g, w):
        prev = g if self.prev is None else self.prev
        self.prev = g
        return (self.alpha + self.beta) * g - self.beta * prev


class Polyak(Ref):
    """Polyak's step (Loizou et al. 2021) on the whole vector, from the loss ``self.value``
    that the comparison loop sets before each update: min((f - f*) / (|g|^2 + eps), gamma) g;
    sps+ clips the gap at 0; zero when |g|^2 + eps is below the float64 epsilon."""

    def __init__(self, f_min=0.0, gamma=1.0, eps=0.0, plus=False):
        self.f_min, self.gamma, self.eps, self.plus = f_min, gamma, eps, plus
        self.value = None

    def update(self, g, w):
        gap = self.value - self.f_min
        if self.plus:
            gap = max(gap, 0.0)
        denom = float(g @ g) + self.eps
        if denom <= np.finfo(np.float64).eps:
            return np.zeros_like(g)
        return min(gap / denom, self.gamma) * g


class DoG(Ref):
    """Layer-wise DoG (Ivgi et al. 2023): per leaf, r = max(r, |w - w0|) from
    r_0 = r_eps (1 + |w0|), G = G + |g|^2, u = s r / sqrt(G + eps) g."""

    def __init__(self, r_eps=1e-6, eps=1e-8, s=1.0):
        self.r_eps, self.eps, self.s = r_eps, eps, s

    def init(self, w):
        self.w0 = w.copy()
        self.r = {k: self.r_eps * (1 + np.linalg.norm(w[sl])) for k, sl in SLICES.items()}
        self.G = dict.fromkeys(SLICES, 0.0)

    def update(self, g, w):
        u = np.empty_like(g)
        for k, sl in SLICES.items():
            self.r[k] = max(self.r[k], np.linalg.norm(w[sl] - self.w0[sl]))
            self.G[k] += float(g[sl] @ g[sl])
            u[sl] = self.s * self.r[k] / np.sqrt(self.G[k] + self.eps) * g[sl]
        return u


class Fromage(Ref):
    """Bernstein et al. 2020, per leaf: w <- (w - eta_k |w| / |g| g) / sqrt(1 + eta_k^2), the
    norms bounded below by ``min_norm`` and the ratio 1 when a norm is zero."""

    def __init__(self, lr, min_norm=1e-6):
        self.lr, self.min_norm, self.k = lr, min_norm, 0

    def update(self, g, w):
        eta = value(self.lr, self.k)
        self.k += 1
        new = np.empty_like(w)
        for sl in SLICES.values():
            wn, gn = np.linalg.norm(w[sl]), np.linalg.norm(g[sl])
            ratio = 1.0 if wn == 0 or gn == 0 else max(wn, self.min_norm) / max(gn, self.min_norm)
            new[sl] = (w[sl] - eta * ratio * g[sl]) / np.sqrt(1 + eta**2)
        return new - w


class Lars(Ref):
    """You et al. 2017: r = g + lambda w; per trust-masked leaf r <- c |w| / (|r| + eps) r
    (1 when a norm is zero); then the momentum t = mu t - eta r, u = t (Nesterov:
    u = -eta r + mu t)."""

    def __init__(self, lr, wd=0.0, wd_mask=None, coef=1e-3, eps=0.0, trust_mask=None,
                 mu=0.9, nesterov=False):  # fmt: skip
        self.lr, self.wd, self.coef, self.eps = lr, wd, coef, eps
        self.wd_mask, self.trust_mask = mask_vec(wd_mask), mask_vec(trust_mask)
        self.mu, self.nesterov, self.k = f32(mu), nesterov, 0

    def init(self, w):
        self.t = np.zeros(N)

    def update(self, g, w):
        lam, eta = value(self.wd, self.k), value(self.lr, self.k)
        self.k += 1
        r = np.where(self.wd_mask, g + lam * w, g)
        for sl in SLICES.values():
            if not self.trust_mask[sl][0]:
                continue
            wn, rn = np.linalg.norm(w[sl]), np.linalg.norm(r[sl])
            r[sl] = r[sl] * (1.0 if wn == 0 or rn == 0 else self.coef * wn / (rn + self.eps))
        self.t = self.mu * self.t - eta * r
        return -eta * r + self.mu * self.t if self.nesterov else self.t


class PolyakSGD(Ref):
    """Optax's polyak_sgd: the Polyak step of the scaled gradient s g, applied to -s g."""

    def __init__(self, gamma=1.0, scaling=1.0, f_min=0.0, eps=0.0, plus=False):
        self.polyak, self.scaling, self.k = Polyak(f_min, gamma, eps, plus), scaling, 0

    def update(self, g, w):
        self.polyak.value = self.value
        s = value(self.scaling, self.k)
        self.k += 1
        return self.polyak.update(-s * g, w)


# --- cases -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], gradtx.GradientTransformation]
    ref: Callable[[], Ref]
    # (state class, {gradtx field: reference attribute}) checked after the last step.
    state: tuple[type, dict[str, str]] | None = None
    # update takes the loss as ``value`` (Polyak's step); the reference reads ``ref.value``.
    needs_value: bool = False


MASK = {"b": False, "w": True}
ADAM_STATE = (gradtx.ScaleByAdamState, {"count": "t", "mu": "s", "nu": "r"})
AMS_STATE = (gradtx.ScaleByAmsgradState, {"count": "t", "mu": "m", "nu": "v", "nu_max": "v_max"})
ADAMAX_STATE = (gradtx.ScaleByAdamState, {"count": "t", "mu": "m", "nu": "u_inf"})
BELIEF_STATE = (gradtx.ScaleByBeliefState, {"count": "t", "mu": "m", "nu": "s"})
LION_STATE = (gradtx.ScaleByLionState, {"count": "t", "mu": "m"})
RMS_STATE = (gradtx.ScaleByRmsState, {"nu": "r"})
RMS_COUNT_STATE = (gradtx.ScaleByRmsWithCountState, {"count": "k", "nu": "r"})
RSTD_STATE = (gradtx.ScaleByRStdDevState, {"mu": "m", "nu": "r"})
RSTD_COUNT_STATE = (gradtx.ScaleByRStdDevWithCountState, {"count": "k", "mu": "m", "nu": "r"})
RSS_STATE = (gradtx.ScaleByRssState, {"sum_of_squares": "r"})
TRACE_STATE = (gradtx.TraceState, {"trace": "t"})
DAMPED_TRACE_STATE = (gradtx.DampedTraceState, {"count": "k", "trace": "t"})
ADAN_STATE = (gradtx.ScaleByAdanState, {"t": "t", "m": "m", "v": "v", "n": "n"})
NOVOGRAD_STATE = (gradtx.ScaleByNovogradState, {"count": "t", "mu": "m"})
ADADELTA_STATE = (gradtx.ScaleByAdaDeltaState, {"e_g": "e_g", "e_x": "e_x"})
RPROP_STATE = (gradtx.ScaleByRpropState, {"step_sizes": "delta", "prev_updates": "d"})
SM3_STATE = (gradtx.ScaleBySM3State, {"nu": "m"})
RADAM_STATE = (gradtx.ScaleByAdamState, {"count": "t", "mu": "m", "nu": "v"})
SCHEDULE_STATE = (gradtx.ScaleByScheduleState, {"count": "k"})
OPTIMISTIC_STATE = (gradtx.ScaleByOptimisticGradientState, {"previous_gradient": "prev"})
DOG_STATE = (gradtx.ScaleByDistanceOverGradientsState, {"init_params": "w0"})

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
         lambda: Rms(bias_correction=True), RMS_COUNT_STATE),
    Case("scale_by_rms_centered", lambda: gradtx.scale_by_rms(centered=True),
         lambda: Rms(centered=True), RSTD_STATE),
    Case("scale_by_rms_centered_eps_outside",
         lambda: gradtx.scale_by_rms(0.8, 0.1, eps_in_sqrt=False, centered=True),
         lambda: Rms(0.8, 0.1, eps_in_sqrt=False, centered=True), RSTD_STATE),
    Case("scale_by_rms_centered_bias_correction",
         lambda: gradtx.scale_by_rms(0.8, 0.1, 0.5, bias_correction=True, centered=True),
         lambda: Rms(0.8, 0.1, 0.5, bias_correction=True, centered=True), RSTD_COUNT_STATE),
    Case("scale_by_stddev", gradtx.scale_by_stddev, lambda: Rms(centered=True), RSTD_STATE),
    Case("scale_by_stddev_options",
         lambda: gradtx.scale_by_stddev(0.8, 0.1, 0.5, eps_in_sqrt=False, bias_correction=True),
         lambda: Rms(0.8, 0.1, 0.5, eps_in_sqrt=False, bias_correction=True, centered=True),
         RSTD_COUNT_STATE),
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
    Case("scale_by_lion_smooth", lambda: gradtx.scale_by_lion(0.5, 0.8, mode="smooth",
                                                              smooth_beta=2.0),
         lambda: Lion(0.5, 0.8, "smooth", 2.0), LION_STATE),
    Case("scale_by_lion_refined", lambda: gradtx.scale_by_lion(mode="refined"),
         lambda: Lion(mode="refined"), LION_STATE),
    Case("scale_by_radam", gradtx.scale_by_radam, RAdam, RADAM_STATE),
    Case("scale_by_radam_options", lambda: gradtx.scale_by_radam(0.8, 0.9, 0.1, 0.01, 4.0),
         lambda: RAdam(0.8, 0.9, 0.1, 0.01, 4.0), RADAM_STATE),
    Case("scale_by_radam_nesterov", lambda: gradtx.scale_by_radam(b2=0.99, nesterov=True),
         lambda: RAdam(b2=0.99, nesterov=True), RADAM_STATE),
    Case("scale_by_yogi", gradtx.scale_by_yogi, Yogi, RADAM_STATE),
    Case("scale_by_yogi_options", lambda: gradtx.scale_by_yogi(0.8, 0.9, 0.1, 0.01, 0.5),
         lambda: Yogi(0.8, 0.9, 0.1, 0.01, 0.5), RADAM_STATE),
    Case("scale_by_adan", gradtx.scale_by_adan, Adan, ADAN_STATE),
    Case("scale_by_adan_options", lambda: gradtx.scale_by_adan(0.9, 0.8, 0.95, 0.1, 0.01),
         lambda: Adan(0.9, 0.8, 0.95, 0.1, 0.01), ADAN_STATE),
    Case("scale_by_novograd", gradtx.scale_by_novograd, NovoGrad, NOVOGRAD_STATE),
    Case("scale_by_novograd_options",
         lambda: gradtx.scale_by_novograd(0.5, 0.8, 0.1, 0.01, 0.1),
         lambda: NovoGrad(0.5, 0.8, 0.1, 0.01, 0.1), NOVOGRAD_STATE),
    Case("scale_by_adadelta", gradtx.scale_by_adadelta, AdaDelta, ADADELTA_STATE),
    Case("scale_by_adadelta_options", lambda: gradtx.scale_by_adadelta(0.5, 0.1),
         lambda: AdaDelta(0.5, 0.1), ADADELTA_STATE),
    Case("scale_by_rprop", lambda: gradtx.scale_by_rprop(0.1), lambda: Rprop(0.1),
         RPROP_STATE),
    Case("scale_by_rprop_options", lambda: gradtx.scale_by_rprop(0.05, 0.3, 1.5, 0.01, 0.2),
         lambda: Rprop(0.05, 0.3, 1.5, 0.01, 0.2), RPROP_STATE),
    Case("scale_by_sm3", gradtx.scale_by_sm3, SM3, SM3_STATE),
    Case("scale_by_sm3_decay", lambda: gradtx.scale_by_sm3(0.5, 0.9, 0.1),
         lambda: SM3(0.5, 0.9, 0.1), SM3_STATE),
    Case("scale_by_factored_rms", gradtx.scale_by_factored_rms, Factored),
    Case("scale_by_factored_rms_factored",
         lambda: gradtx.scale_by_factored_rms(decay_rate=0.5, step_offset=-2,
                                              min_dim_size_to_factor=3, epsilon=1e-3),
         lambda: Factored(0.5, -2, 1e-3, factor_w=True)),
    Case("scale_by_param_block_rms", gradtx.scale_by_param_block_rms, ParamBlockRms),
    Case("scale_by_param_block_rms_min_scale", lambda: gradtx.scale_by_param_block_rms(1.2),
         lambda: ParamBlockRms(1.2)),
    Case("clip", lambda: gradtx.clip(0.8), lambda: Clip(0.8)),
    Case("clip_by_global_norm", lambda: gradtx.clip_by_global_norm(4.0),
         lambda: ClipGlobalNorm(4.0)),
    Case("clip_by_block_rms", lambda: gradtx.clip_by_block_rms(1.0), lambda: ClipBlockRms(1.0)),
    Case("adaptive_grad_clip", lambda: gradtx.adaptive_grad_clip(0.3),
         lambda: AdaptiveClip(0.3)),
    Case("adaptive_grad_clip_axis", lambda: gradtx.adaptive_grad_clip(0.5, 0.1, axis=-1),
         lambda: AdaptiveClip(0.5, 0.1, axis=-1)),
    Case("centralize", gradtx.centralize, Centralize),
    Case("normalize_by_update_norm", gradtx.normalize_by_update_norm, NormalizeByNorm),
    Case("normalize_by_update_norm_options",
         lambda: gradtx.normalize_by_update_norm(-0.3, 0.1), lambda: NormalizeByNorm(-0.3, 0.1)),
    Case("zero_nans", gradtx.zero_nans, ZeroNans),
    Case("keep_params_nonnegative", gradtx.keep_params_nonnegative, NonNegative),
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
    Case("scale_by_param_block_norm", gradtx.scale_by_param_block_norm, ParamBlock),
    Case("scale_by_param_block_norm_min", lambda: gradtx.scale_by_param_block_norm(3.0),
         lambda: ParamBlock("norm", 3.0)),
    Case("scale_by_optimistic_gradient", gradtx.scale_by_optimistic_gradient, Optimistic,
         OPTIMISTIC_STATE),
    Case("scale_by_optimistic_gradient_options",
         lambda: gradtx.scale_by_optimistic_gradient(0.3, -0.7), lambda: Optimistic(0.3, -0.7),
         OPTIMISTIC_STATE),
    Case("scale_by_polyak", gradtx.scale_by_polyak, Polyak, needs_value=True),
    Case("scale_by_polyak_options", lambda: gradtx.scale_by_polyak(0.5, 0.3, 0.1),
         lambda: Polyak(0.5, 0.3, 0.1), needs_value=True),
    Case("scale_by_polyak_plus", lambda: gradtx.scale_by_polyak(variant="sps+"),
         lambda: Polyak(plus=True), needs_value=True),
    Case("scale_by_distance_over_gradients", gradtx.scale_by_distance_over_gradients, DoG,
         DOG_STATE),
    Case("scale_by_distance_over_gradients_options",
         lambda: gradtx.scale_by_distance_over_gradients(1e-2, 1e-3, global_scale=-0.5),
         lambda: DoG(1e-2, 1e-3, -0.5), DOG_STATE),
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
         lambda: Chain(Rms(r0=0.5, bias_correction=True), LR(0.01)), RMS_COUNT_STATE),
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
    Case("radam", lambda: gradtx.radam(0.01, b2=0.99), lambda: Chain(RAdam(b2=0.99), LR(0.01)),
         RADAM_STATE),
    Case("radam_schedule", lambda: gradtx.radam(lr_schedule, 0.8, 0.9, threshold=4.0),
         lambda: Chain(RAdam(0.8, 0.9, threshold=4.0), LR(lr_schedule)), RADAM_STATE),
    Case("yogi", lambda: gradtx.yogi(0.01), lambda: Chain(Yogi(), LR(0.01)), RADAM_STATE),
    Case("adan", lambda: gradtx.adan(0.01, weight_decay=0.1),
         lambda: Chain(Adan(eps_root=1e-8), Penalty(0.1), LR(0.01)), ADAN_STATE),
    Case("adan_schedule_mask",
         lambda: gradtx.adan(lr_schedule, weight_decay=wd_schedule, mask=MASK),
         lambda: Chain(Adan(eps_root=1e-8), Penalty(wd_schedule, mask=MASK), LR(lr_schedule)),
         ADAN_STATE),
    Case("novograd", lambda: gradtx.novograd(0.01, weight_decay=0.1),
         lambda: Chain(NovoGrad(eps=1e-6, wd=0.1), LR(0.01)), NOVOGRAD_STATE),
    Case("adamaxw", lambda: gradtx.adamaxw(0.01, weight_decay=0.1),
         lambda: Chain(Adamax(), Penalty(0.1), LR(0.01)), ADAMAX_STATE),
    Case("adamaxw_schedule_mask",
         lambda: gradtx.adamaxw(lr_schedule, weight_decay=wd_schedule, mask=MASK),
         lambda: Chain(Adamax(), Penalty(wd_schedule, mask=MASK), LR(lr_schedule)),
         ADAMAX_STATE),
    # AdaDelta's weight decay is coupled: it enters the gradient before the scaling.
    Case("adadelta", lambda: gradtx.adadelta(1.0, weight_decay=0.1),
         lambda: Chain(Penalty(0.1), AdaDelta(), LR(1.0)), ADADELTA_STATE),
    Case("adadelta_no_learning_rate", lambda: gradtx.adadelta(rho=0.5),
         lambda: Chain(Penalty(0.0), AdaDelta(0.5)), ADADELTA_STATE),
    Case("rprop", lambda: gradtx.rprop(0.01), lambda: Chain(Rprop(0.01), Scale(-1.0)),
         RPROP_STATE),
    Case("sm3", lambda: gradtx.sm3(0.05, 0.5), lambda: Chain(SM3(0.5), Scale(-0.05)),
         SM3_STATE),
    # Adafactor: factored scaling, update clipping, the learning rate, the relative step,
    # momentum without debiasing, decoupled decay, then the sign.
    Case("adafactor", lambda: gradtx.adafactor(0.01, 3),
         lambda: Chain(Factored(factor_w=True), ClipBlockRms(1.0), Scale(0.01),
                       ParamBlockRms(), Scale(-1.0))),
    Case("adafactor_all_options",
         lambda: gradtx.adafactor(lr_schedule, 3, 0.6, -1, momentum=0.9,
                                  weight_decay_rate=0.1, eps=1e-3, weight_decay_mask=MASK),
         lambda: Chain(Factored(0.6, -1, 1e-3, factor_w=True), ClipBlockRms(1.0),
                       Schedule(lr_schedule), ParamBlockRms(), Ema(0.9, debias=False),
                       Penalty(0.1, mask=MASK), Scale(-1.0))),
    Case("sign_sgd", lambda: gradtx.sign_sgd(0.01), lambda: Chain(Sign(), LR(0.01))),
    # Signum: the sign of the (undebiased) moving average m = beta m + (1 - beta) g.
    Case("signum", lambda: gradtx.signum(0.01),
         lambda: Chain(Ema(0.9, debias=False), Sign(), LR(0.01)),
         (gradtx.EmaState, {"count": "k", "ema": "m"})),
    Case("signum_schedule", lambda: gradtx.signum(lr_schedule, 0.5),
         lambda: Chain(Ema(0.5, debias=False), Sign(), LR(lr_schedule))),
    Case("lars", lambda: gradtx.lars(0.1), lambda: Lars(0.1), TRACE_STATE),
    Case("lars_options",
         lambda: gradtx.lars(lr_schedule, wd_schedule, MASK, 0.5, 0.1, {"b": True, "w": False},
                             0.8, True),
         lambda: Lars(lr_schedule, wd_schedule, MASK, 0.5, 0.1, {"b": True, "w": False},
                      0.8, True), TRACE_STATE),
    Case("fromage", lambda: gradtx.fromage(0.1), lambda: Fromage(0.1)),
    Case("fromage_schedule_min_norm", lambda: gradtx.fromage(lr_schedule, 2.0),
         lambda: Fromage(lr_schedule, 2.0)),
    Case("optimistic_gradient_descent", lambda: gradtx.optimistic_gradient_descent(0.05),
         lambda: Chain(Optimistic(), LR(0.05)), OPTIMISTIC_STATE),
    Case("optimistic_gradient_descent_options",
         lambda: gradtx.optimistic_gradient_descent(lr_schedule, 0.5, 0.3),
         lambda: Chain(Optimistic(0.5, 0.3), LR(lr_schedule)), OPTIMISTIC_STATE),
    # optimistic_adam(lr, o): the optimistic gradient of the NAdam direction with alpha = lr and
    # beta = o (default lr), then negated.
    Case("optimistic_adam", lambda: _quiet(gradtx.optimistic_adam, 0.01),
         lambda: Chain(Adam(nesterov=True), Optimistic(0.01, 0.01), Scale(-1.0)),
         OPTIMISTIC_STATE),
    Case("optimistic_adam_options",
         lambda: _quiet(gradtx.optimistic_adam, 0.01, 0.02, 0.8, 0.99, 1e-3, 1e-4,
                        nesterov=False),
         lambda: Chain(Adam(0.8, 0.99, 1e-3, 1e-4), Optimistic(0.01, 0.02), Scale(-1.0)),
         OPTIMISTIC_STATE),
    Case("optimistic_adam_v2", lambda: gradtx.optimistic_adam_v2(0.01),
         lambda: Chain(Adam(nesterov=True), Optimistic(), LR(0.01)), OPTIMISTIC_STATE),
    Case("optimistic_adam_v2_options",
         lambda: gradtx.optimistic_adam_v2(lr_schedule, alpha=0.5, beta=2.0, b1=0.8,
                                           nesterov=False),
         lambda: Chain(Adam(0.8), Optimistic(0.5, 2.0), LR(lr_schedule)), OPTIMISTIC_STATE),
    Case("polyak_sgd", gradtx.polyak_sgd, PolyakSGD, needs_value=True),
    Case("polyak_sgd_options", lambda: gradtx.polyak_sgd(0.5, lr_schedule, -1.0, 0.01, "sps+"),
         lambda: PolyakSGD(0.5, lr_schedule, -1.0, 0.01, plus=True), needs_value=True),
]

CASES = {c.id: c for c in TRANSFORMS + OPTIMIZERS}
TRANSFORM_IDS = {c.id for c in TRANSFORMS}

# gradtx's run of a case against the reference of a neighbouring rule: must NOT agree.
MISMATCHES = {
    "scale_by_radam_is_not_adam": ("scale_by_radam_nesterov",
                                   lambda: Adam(rho2=0.99, nesterov=True)),
    "scale_by_yogi_is_not_adam": ("scale_by_yogi_options",
                                  lambda: Adam(0.8, 0.9, 0.1, delta_root=0.01)),
    "scale_by_adan_difference_term": ("scale_by_adan_options",
                                      lambda: Adan(0.9, 0.0, 0.95, 0.1, 0.01)),
    "scale_by_rprop_no_lag": ("scale_by_rprop", lambda: RpropNoLag(0.1)),
    "scale_by_sm3_full_accumulator": ("scale_by_sm3_decay", lambda: SM3Full(0.5, 0.9, 0.1)),
    "adadelta_decoupled_decay": ("adadelta",
                                 lambda: Chain(AdaDelta(), Penalty(0.1), LR(1.0))),
    "scale_by_factored_rms_factors": ("scale_by_factored_rms_factored",
                                      lambda: Factored(0.5, -2, 1e-3)),
    "adafactor_no_clipping": ("adafactor",
                              lambda: Chain(Factored(factor_w=True), Scale(0.01),
                                            ParamBlockRms(), Scale(-1.0))),
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
    "adaptive_grad_clip_units": ("adaptive_grad_clip", lambda: AdaptiveClip(0.3, axis=-1)),
    "adaptive_grad_clip_clips": ("adaptive_grad_clip", lambda: Scale(1.0)),
    "centralize_axis": ("centralize", lambda: Centralize(axis=0)),
    "normalize_by_update_norm_eps": ("normalize_by_update_norm_options",
                                     lambda: NormalizeByNorm(-0.3, 0.0)),
    "keep_params_nonnegative_projects": ("keep_params_nonnegative", lambda: Scale(1.0)),
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
    "scale_by_stddev_is_centered": ("scale_by_stddev", Rms),
    "scale_by_param_block_norm_is_not_rms": ("scale_by_param_block_norm",
                                             lambda: ParamBlock("rms")),
    "scale_by_optimistic_gradient_first_step": ("scale_by_optimistic_gradient_options",
                                                lambda: Optimistic(1.0, -0.7)),
    "scale_by_polyak_plus": ("scale_by_polyak_plus", Polyak),
    "scale_by_polyak_max": ("scale_by_polyak_options", lambda: Polyak(0.5, 1e9, 0.1)),
    "scale_by_distance_over_gradients_start": ("scale_by_distance_over_gradients_options",
                                               lambda: DoG(1e-3, 1e-3, -0.5)),
    "signum_is_not_sign_sgd": ("signum", lambda: Chain(Sign(), LR(0.01))),
    "lars_momentum": ("lars", lambda: Lars(0.1, mu=0.0)),
    "fromage_shrinks": ("fromage", lambda: Chain(TrustRatio(1e-6), LR(0.1))),
    "optimistic_adam_is_not_nadam": ("optimistic_adam_v2",
                                     lambda: Chain(Adam(nesterov=True), LR(0.01))),
    "polyak_sgd_scaling": ("polyak_sgd_options",
                           lambda: Chain(Polyak(-1.0, 0.5, 0.01, plus=True), LR(lr_schedule))),
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


def _loss(w: np.ndarray, k: int) -> float:
    return float(0.5 * np.sum(CURVATURE * (w - TARGET) ** 2) + NOISE[k] @ w)


# Loss values for the transforms that take one: some below f_min = 0, some large.
TRANSFORM_VALUES = np.random.RandomState(2).uniform(-0.5, 3.0, STEPS).astype(np.float32)


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
    values: list[float | None]  # the loss values given to update (None: not given)


@functools.cache
def gradtx_run(case_id: str) -> Run:
    """Runs gradtx once per case (jit compiled once); the references replay the same inputs."""
    case = CASES[case_id]
    tx = case.make()
    grads, params_in, updates, params_out, values = [], [], [], [], []

    def extra(loss):
        return {"value": loss} if case.needs_value else {}

    if case_id in TRANSFORM_IDS:
        gs, ws = _transform_inputs()
        update = jax.jit(lambda g, s, p, loss: tx.update(g, s, p, **extra(loss)))
        state = tx.init(to_tree(ws[0]))
        for k in range(STEPS):
            loss = TRANSFORM_VALUES[k]
            u, state = update(to_tree(gs[k]), state, to_tree(ws[k]), loss)
            grads.append(gs[k])
            params_in.append(ws[k])
            updates.append(to_vec(u))
            values.append(float(loss) if case.needs_value else None)
        return Run(grads, params_in, updates, params_out, state, values)

    @jax.jit
    def step(g, state, p, loss):
        u, state = tx.update(g, state, p, **extra(loss))
        return u, state, gradtx.apply_updates(p, u)

    p = to_tree(W0)
    state = tx.init(p)
    for k in range(STEPS):
        # The gradient at gradtx's current parameters, rounded to float32, is recorded and given
        # to the reference too, so that the float32 rounding of the parameters does not send
        # the two runs apart; the reference applies its own updates to its own parameters.
        g = to_vec(to_tree(_grad(to_vec(p), k)))
        loss = np.float32(_loss(to_vec(p), k))  # like g: at gradtx's parameters, in float32
        u, state, p = step(to_tree(g), state, p, loss)
        grads.append(g)
        params_in.append(None)
        updates.append(to_vec(u))
        params_out.append(to_vec(p))
        values.append(float(loss) if case.needs_value else None)
    return Run(grads, params_in, updates, params_out, state, values)


def compare(case_id: str, ref: Ref, state_spec=None) -> None:
    """Replays the reference on gradtx's inputs and compares every step."""
    run = gradtx_run(case_id)
    optimizer = bool(run.params_out)
    w = W0.copy() if optimizer else run.params_in[0]
    ref.init(w)
    for k in range(STEPS):
        if not optimizer:
            w = run.params_in[k]
        if run.values[k] is not None:
            ref.value = run.values[k]
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
    gs, ws = _transform_inputs()  # adaptive_grad_clip(0.3): units below and above the bound
    for k in KEYS:
        ref = AdaptiveClip(0.3)
        clipped = [~np.isclose(ref.update(g, w), g)[SLICES[k]] for g, w in zip(gs, ws, strict=True)]
        assert 0 < np.sum(clipped) < STEPS * (SLICES[k].stop - SLICES[k].start)


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
