"""Layer-wise trust-ratio scaling: LAMB, LARS and Fromage."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import (
    ArrayLike,
    DTypeLike,
    GradientTransformation,
    ScalarOrSchedule,
    chain,
)
from gradtx.transforms.adam import (
    scale_by_adam,
)
from gradtx.transforms.momentum import trace
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale_by_learning_rate, scale_by_trust_ratio
from gradtx.wrappers.masking import masked

__all__ = ["fromage", "lamb", "lars"]


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask | None = None,
    *,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""LAMB (You et al., 2019): AdamW rescaled per layer by the trust ratio.

    .. math::
        r_k = \frac{\hat m_k}{\sqrt{\hat v_k + \epsilon_{root}} + \epsilon} + \lambda\theta,
        \qquad \theta_k = \theta_{k-1} - \eta \frac{\|\theta_{k-1}\|}{\|r_k\|} r_k

    per parameter leaf (ratio 1 when a norm is zero).

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        weight_decay: :math:`\lambda` (any real number, as in Optax), a number, array, traced
            value or schedule.
        mask: which leaves to decay.
        mu_dtype: dtype of the first moment (default: the parameters' dtype).
        nu_dtype: dtype of the second moment (default: the real dtype of the parameters).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.lamb(0.1)
        >>> p = jnp.array([3.0, 4.0])
        >>> tx.update(jnp.array([1.0, 1.0]), tx.init(p), p)[0]  # a step of norm 0.1 * |p|
        Array([-0.3536, -0.3536], dtype=float32)
    """
    _checks.learning_rate("lamb", learning_rate)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask = True,
    trust_coefficient: ArrayLike = 0.001,
    eps: ArrayLike = 0.0,
    trust_ratio_mask: Mask = True,
    momentum: ArrayLike = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""LARS (You et al., 2017): SGD with momentum on layer-wise trust-ratio scaled gradients.

    .. math::
        r_k = g_k + \lambda\theta_{k-1}, \qquad
        t_k = \mu\, t_{k-1} - \eta_k\, c\, \frac{\|\theta_{k-1}\|}{\|r_k\| + \epsilon}\, r_k,
        \qquad \theta_k = \theta_{k-1} + t_k

    per parameter leaf (ratio 1 when a norm is zero), as in Optax: weight decay, then the trust
    ratio, then the learning rate, then the momentum :func:`gradtx.trace` (Nesterov's with
    ``nesterov=True``).

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        weight_decay: :math:`\lambda` (any real number), a number, array, traced value or
            schedule.
        weight_decay_mask: which leaves to decay, in any form :func:`gradtx.masked` accepts
            (``True``: all).
        trust_coefficient: :math:`c \ge 0`.
        eps: :math:`\epsilon \ge 0`, added to the norm of :math:`r_k`.
        trust_ratio_mask: which leaves to scale by their trust ratio (``True``: all).
        momentum: :math:`\mu \in [0, 1)`.
        nesterov: use Nesterov's momentum.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.lars(0.1, trust_coefficient=1.0)
        >>> p = jnp.array([3.0, 4.0])
        >>> tx.update(jnp.array([0.0, 1.0]), tx.init(p), p)[0]  # a step of 0.1 * |p|
        Array([ 0. , -0.5], dtype=float32)

    References:
        You et al., `Large Batch Training of Convolutional Networks
        <https://arxiv.org/abs/1708.03888>`_, 2017
    """
    _checks.learning_rate("lars", learning_rate)
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        masked(
            scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps), trust_ratio_mask
        ),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov),
    )


def fromage(learning_rate: ScalarOrSchedule, min_norm: ArrayLike = 1e-6) -> GradientTransformation:
    r"""Fromage (Bernstein et al., 2020): Frobenius-matched gradient descent.

    Each parameter leaf takes a step of relative size :math:`\eta` along its gradient, then is
    shrunk so that its norm does not grow:

    .. math::
        \theta_k = \frac{1}{\sqrt{1 + \eta_k^2}}\left(\theta_{k-1} - \eta_k
        \frac{\|\theta_{k-1}\|}{\|g_k\|}\, g_k\right)

    with both norms bounded below by ``min_norm`` (and the ratio 1 when a norm is zero), which
    is Optax's ``chain(scale_by_trust_ratio(min_norm), scale_by_learning_rate(eta m),
    add_decayed_weights(m - 1))`` with :math:`m = 1 / \sqrt{1 + \eta^2}`.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        min_norm: the lower bound of both norms, :math:`\ge 0`.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.fromage(0.75)
        >>> p = jnp.array([3.0, 4.0])
        >>> u, _ = tx.update(jnp.array([0.0, 1.0]), tx.init(p), p)
        >>> p + u  # (p - 0.75 * 5 * [0, 1]) / 1.25
        Array([2.4, 0.2], dtype=float32)

    References:
        Bernstein et al., `On the distance between two neural networks and the stability of
        learning <https://arxiv.org/abs/2002.03432>`_, 2020
    """
    _checks.learning_rate("fromage", learning_rate)
    _checks.non_negative("fromage", min_norm=min_norm)

    def factors(lr):
        """``eta m`` and ``m - 1``, the latter without the cancellation of ``m - 1``."""
        root = (1 + lr**2) ** 0.5
        return lr / root, -(lr**2) / (root * (1 + root))

    if callable(learning_rate):
        schedule = learning_rate
        return chain(
            scale_by_trust_ratio(min_norm),
            scale_by_learning_rate(lambda count: factors(schedule(count))[0]),
            add_decayed_weights(lambda count: factors(schedule(count))[1]),
        )
    step, decay = factors(learning_rate)
    return chain(
        scale_by_trust_ratio(min_norm),
        scale_by_learning_rate(step),
        add_decayed_weights(decay),
    )
