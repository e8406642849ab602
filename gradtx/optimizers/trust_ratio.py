"""Layer-wise trust-ratio scaling: LAMB."""

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
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale_by_learning_rate, scale_by_trust_ratio

__all__ = ["lamb"]


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
