"""Per-coordinate adaptive step sizes from accumulated squared gradients: AdaGrad and RMSProp."""

from __future__ import annotations

from typing import Any

from gradtx import _checks
from gradtx.base import (
    ArrayLike,
    GradientTransformation,
    ScalarOrSchedule,
    chain,
)
from gradtx.numerics import promote
from gradtx.optimizers._common import momentum_or_identity
from gradtx.transforms.adaptive import scale_by_rms, scale_by_rss
from gradtx.transforms.scaling import scale_by_learning_rate

__all__ = ["adagrad", "rmsprop"]


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
    *,
    lr_decay: ArrayLike | None = None,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    r"""AdaGrad (Duchi et al., 2011), the lectures' Algorithm 8.4.

    .. math::
        r_k = r_{k-1} + g_k \odot g_k, \qquad
        \theta_k = \theta_{k-1} - \frac{\eta}{1 + (k-1)\lambda}\, \frac{g_k}{\sqrt{r_k + \delta}}

    With ``eps_in_sqrt=False`` the denominator is :math:`\delta + \sqrt{r_k}` (the lectures
    and ``torch.optim.Adagrad``, whose defaults are ``initial_accumulator_value=0`` and
    ``eps=1e-10``). :math:`\lambda` is torch's ``lr_decay``.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        initial_accumulator_value: :math:`r_0 \ge 0`.
        eps: :math:`\delta \ge 0`.
        lr_decay: :math:`\lambda \ge 0` (``None``, the default, is 0).
        eps_in_sqrt: where :math:`\delta` sits (see :func:`gradtx.scale_by_rss`).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
        >>> tx.update(jnp.array([0.2, -5.0]), tx.init(jnp.zeros(2)))[0]
        Array([-1.,  1.], dtype=float32)
    """
    _checks.learning_rate("adagrad", learning_rate)
    lr: Any = learning_rate
    # None (the default) or a Python 0: Optax's adagrad and its state, under inject_hyperparams
    # too (a None is not injected).
    if lr_decay is not None and not _checks.is_static_zero(lr_decay):
        _checks.non_negative("adagrad", lr_decay=lr_decay)

        def decayed(count):
            c, decay = promote(count, lr_decay)
            return _checks.resolve(learning_rate, count) / (1 + c * decay)

        lr = decayed

    return chain(
        scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=eps_in_sqrt),
        scale_by_learning_rate(lr),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""RMSProp (Hinton, 2012), the lectures' Algorithm 8.5, with torch's options.

    .. math::
        r_k = \rho r_{k-1} + (1-\rho) g_k \odot g_k, \qquad
        \theta_k = \theta_{k-1} - \eta \frac{g_k}{\sqrt{\delta + r_k}}

    ``eps_in_sqrt=False`` uses :math:`\delta + \sqrt{r_k}` (``torch.optim.RMSprop``);
    ``centered`` divides by the standard deviation; ``momentum`` accumulates the scaled steps
    in a buffer :math:`b_k = \mu b_{k-1} + \eta g_k / \sqrt{\cdot}` as torch does.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        decay: :math:`\rho \in [0, 1)` (torch's ``alpha``).
        eps: :math:`\delta \ge 0`.
        initial_scale: initial :math:`r_0 \ge 0`.
        eps_in_sqrt: where :math:`\delta` sits.
        centered: use :math:`r_k - m_k^2` with :math:`m_k` the moving mean of :math:`g`.
        momentum: :math:`\mu \in [0, 1)`, or ``None``.
        nesterov: Nesterov momentum.
        bias_correction: debias the moving averages.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.rmsprop(0.1, decay=0.75, eps=0.0)
        >>> tx.update(jnp.array([4.0]), tx.init(jnp.zeros(1)))[0]  # -0.1 * 4 / sqrt(4)
        Array([-0.2], dtype=float32)
    """
    _checks.learning_rate("rmsprop", learning_rate)
    _checks.unit_interval("rmsprop", momentum=momentum)
    return chain(
        scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=centered),
        scale_by_learning_rate(learning_rate),
        momentum_or_identity("rmsprop", momentum, nesterov),
    )
