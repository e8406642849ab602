"""Regression losses: squared error, half squared error, Huber, Gaussian negative log-likelihood."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike
from gradtx.losses import _common
from gradtx.losses._common import Reduction


def squared_error(
    predictions: ArrayLike, targets: ArrayLike | None = None, *, reduction: Reduction = "none"
) -> jax.Array:
    r"""Squared error :math:`(\hat y - y)^2`, elementwise (``optax.losses.squared_error``).

    Args:
        predictions: :math:`\hat y`.
        targets: :math:`y`, same shape; ``None`` means zeros.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum.

    Example:
        >>> gradtx.losses.squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
        Array([1., 4.], dtype=float32)
    """
    _common.check_reduction("squared_error", reduction)
    return _common.reduce(
        jnp.square(_common.residual("squared_error", predictions, targets)), reduction
    )


def l2_loss(
    predictions: ArrayLike, targets: ArrayLike | None = None, *, reduction: Reduction = "none"
) -> jax.Array:
    r"""Half the squared error, :math:`\frac12 (\hat y - y)^2` (``optax.losses.l2_loss``).

    Its gradient is the residual :math:`\hat y - y`.

    Args:
        predictions: :math:`\hat y`.
        targets: :math:`y`, same shape; ``None`` means zeros.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum.

    Example:
        >>> gradtx.losses.l2_loss(jnp.array([1.0, 2.0]), reduction="sum")
        Array(2.5, dtype=float32)
    """
    _common.check_reduction("l2_loss", reduction)
    return _common.reduce(
        0.5 * jnp.square(_common.residual("l2_loss", predictions, targets)), reduction
    )


def huber_loss(
    predictions: ArrayLike,
    targets: ArrayLike | None = None,
    *,
    delta: ArrayLike = 1.0,
    reduction: Reduction = "none",
) -> jax.Array:
    r"""Huber loss: quadratic for small residuals, linear for large ones.

    .. math::
        \ell(r) = \begin{cases} \frac12 r^2 & |r| \le \delta \\
        \delta (|r| - \frac12 \delta) & |r| > \delta \end{cases}, \qquad r = \hat y - y

    Its gradient is the residual clipped to :math:`[-\delta, \delta]`
    (``optax.losses.huber_loss``).

    Args:
        predictions: :math:`\hat y`.
        targets: :math:`y`, same shape; ``None`` means zeros.
        delta: :math:`\delta > 0`.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum.

    Example:
        >>> gradtx.losses.huber_loss(jnp.array([0.5, 3.0]), delta=1.0)
        Array([0.125, 2.5  ], dtype=float32)
    """
    _common.check_reduction("huber_loss", reduction)
    _checks.check_range("huber_loss", "delta", delta, 0.0, low_open=True)
    r = _common.residual("huber_loss", predictions, targets)
    delta = jnp.asarray(delta, r.dtype)
    abs_r = jnp.abs(r)
    quadratic = jnp.minimum(abs_r, delta)
    # Same as max(|r| - delta, 0), without doubling the gradient at |r| = delta.
    linear = abs_r - quadratic
    return _common.reduce(0.5 * jnp.square(quadratic) + delta * linear, reduction)


def gaussian_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    sigma: ArrayLike | None = None,
    *,
    log_sigma: ArrayLike | None = None,
    reduction: Reduction = "none",
) -> jax.Array:
    r"""Negative log-likelihood of ``targets`` under :math:`\mathcal N(\hat y, \sigma^2)`.

    .. math::
        -\log p(y \mid \hat y, \sigma) = \frac{(y - \hat y)^2}{2\sigma^2} + \log\sigma
        + \frac12 \log 2\pi

    With a fixed :math:`\sigma` this is :func:`l2_loss` divided by :math:`\sigma^2` plus a
    constant, so maximum likelihood is least squares. To learn :math:`\sigma` (one value, or
    one per prediction from the network's output) pass ``log_sigma``, which is unconstrained,
    instead of ``sigma``.

    Args:
        predictions: the mean :math:`\hat y`.
        targets: :math:`y`, same shape.
        sigma: the standard deviation :math:`\sigma > 0`, broadcastable to ``predictions``;
            ``None`` means 1 (unless ``log_sigma`` is given).
        log_sigma: :math:`\log\sigma` instead of ``sigma``.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum. It equals
        ``torch.nn.functional.gaussian_nll_loss(..., var=sigma**2, full=True)``.

    Example:
        >>> nll = gradtx.losses.gaussian_nll(jnp.array([0.0]), jnp.array([2.0]), sigma=2.0)
        >>> nll - jnp.log(2.0) - 0.5 * jnp.log(2 * jnp.pi)  # (y - y_hat)^2 / (2 sigma^2)
        Array([0.5], dtype=float32)
    """
    _common.check_reduction("gaussian_nll", reduction)
    r = _common.residual("gaussian_nll", predictions, targets)
    if log_sigma is not None:
        if sigma is not None:
            raise ValueError("gaussian_nll(): give either sigma or log_sigma, not both.")
        log_s = jnp.asarray(log_sigma, r.dtype)
        scaled = r * jnp.exp(-log_s)
    else:
        sigma = 1.0 if sigma is None else sigma
        _checks.check_range("gaussian_nll", "sigma", sigma, 0.0, low_open=True)
        s = jnp.asarray(sigma, r.dtype)
        log_s = jnp.log(s)
        scaled = r / s
    nll = 0.5 * jnp.square(scaled) + log_s + 0.5 * math.log(2 * math.pi)
    return _common.reduce(nll, reduction)
