"""Optimizers that step along the sign of a (momentum) direction: Lion, signSGD and Signum."""

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
    scale_by_lion,
)
from gradtx.transforms.momentum import ema
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale_by_learning_rate, scale_by_sign

__all__ = ["lion", "sign_sgd", "signum"]


def lion(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Mask | None = None,
) -> GradientTransformation:
    r"""Lion (Chen et al., 2023): signed momentum with decoupled weight decay.

    .. math::
        \theta_k = \theta_{k-1} - \eta\left(\operatorname{sign}(\beta_1 m_{k-1} +
        (1-\beta_1) g_k) + \lambda\theta_{k-1}\right)

    Args:
        learning_rate: :math:`\eta \ge 0` (typically 3-10x smaller than Adam's).
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        mu_dtype: dtype of the momentum.
        weight_decay: :math:`\lambda` (any real number, as in Optax), a number, array, traced
            value or schedule.
        mask: which leaves to decay.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.lion(0.1, weight_decay=0.0)
        >>> tx.update(jnp.array([3.0, -1e-3]), tx.init(jnp.zeros(2)), jnp.zeros(2))[0]
        Array([-0.1,  0.1], dtype=float32)
    """
    _checks.learning_rate("lion", learning_rate)
    return chain(
        scale_by_lion(b1, b2, mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD (Bernstein et al., 2018): :math:`\theta \leftarrow \theta - \eta\,
    \operatorname{sign}(g)`.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.sign_sgd(0.1)
        >>> tx.update(jnp.array([3.0, -1e-3]), tx.init(jnp.zeros(2)))[0]
        Array([-0.1,  0.1], dtype=float32)
    """
    _checks.learning_rate("sign_sgd", learning_rate)
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule,
    beta: ArrayLike = 0.9,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Signum (Bernstein et al., 2018): signSGD on a moving average of the gradients.

    .. math::
        m_k = \beta\, m_{k-1} + (1 - \beta)\, g_k, \qquad
        \theta_k = \theta_{k-1} - \eta_k \operatorname{sign}(m_k)

    with :math:`m_0 = 0` (no bias correction: it would not change the sign).

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        beta: :math:`\beta \in [0, 1)`.
        accumulator_dtype: dtype of :math:`m` (default: the parameters' dtype).

    Returns:
        The optimizer, with the states of ``chain(ema, scale_by_sign, scale_by_learning_rate)``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.signum(0.1)
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([3.0, -1.0]), state)
        >>> u, _ = tx.update(jnp.array([-1.0, -1.0]), state)  # m = 0.27 - 0.1, -0.09 - 0.1
        >>> u
        Array([-0.1,  0.1], dtype=float32)

    References:
        Bernstein et al., `signSGD: Compressed Optimisation for Non-Convex Problems
        <https://arxiv.org/abs/1802.04434>`_, 2018; Zhao et al., `Deconstructing What Makes a
        Good Optimizer for Language Models <https://arxiv.org/abs/2407.07972>`_, 2024
    """
    _checks.learning_rate("signum", learning_rate)
    return chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )
