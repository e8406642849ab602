"""Optimistic methods for min-max games: optimistic gradient descent and Optimistic Adam."""

from __future__ import annotations

import warnings

from gradtx import _checks
from gradtx.base import (
    ArrayLike,
    DTypeLike,
    GradientTransformation,
    ScalarOrSchedule,
    chain,
)
from gradtx.transforms.adam import scale_by_adam
from gradtx.transforms.momentum import scale_by_optimistic_gradient
from gradtx.transforms.scaling import scale_by_learning_rate

__all__ = ["optimistic_adam", "optimistic_adam_v2", "optimistic_gradient_descent"]


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule, alpha: ArrayLike = 1.0, beta: ArrayLike = 1.0
) -> GradientTransformation:
    r"""Optimistic gradient descent (OGD): a cheap approximation of the extra-gradient method.

    .. math::
        u_k = (\alpha + \beta)\, g_k - \beta\, g_{k-1}, \qquad
        \theta_k = \theta_{k-1} - \eta_k u_k

    with :math:`g_0 = g_1`. In min-max games (descend on some parameters, ascend on the others
    by negating their gradients) its last iterate converges where gradient descent cycles.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        alpha: :math:`\alpha`, the weight of the current gradient (a number or array, as in
            Optax, which types it as a schedule but multiplies it as a number).
        beta: :math:`\beta`, the weight of the negative momentum.

    Returns:
        The optimizer, with the state of :func:`gradtx.scale_by_optimistic_gradient`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda xy: xy[0] * xy[1]  # min over x, max over y: saddle at 0
        >>> def distance(tx, steps=300):
        ...     xy = jnp.array([1.0, 2.0]); state = tx.init(xy)
        ...     for _ in range(steps):
        ...         g = jax.grad(f)(xy) * jnp.array([1.0, -1.0])
        ...         u, state = tx.update(g, state, xy)
        ...         xy = gradtx.apply_updates(xy, u)
        ...     return float(jnp.linalg.norm(xy))
        >>> distance(gradtx.optimistic_gradient_descent(0.3)) < 1e-6  # spirals in
        True
        >>> distance(gradtx.sgd(0.3)) > 1e3  # spirals out
        True

    References:
        Mokhtari et al., `A Unified Analysis of Extra-gradient and Optimistic Gradient Methods
        for Saddle Point Problems: Proximal Point Approach <https://arxiv.org/abs/1901.08511>`_,
        2019
    """
    _checks.learning_rate("optimistic_gradient_descent", learning_rate)
    return chain(
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )


def optimistic_adam(
    learning_rate: ArrayLike,
    optimism: ArrayLike | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-08,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam (Daskalakis et al., 2017), with Optax's original interface.

    Deprecated in Optax, which warns with a ``DeprecationWarning`` and refuses a learning-rate
    schedule; gradtx does the same. Use :func:`optimistic_adam_v2`, which takes schedules:
    ``optimistic_adam(lr, o)`` is ``optimistic_adam_v2(1.0, alpha=lr, beta=o)``.

    .. math::
        r_k = \frac{\hat m_k}{\sqrt{\hat v_k + \bar\epsilon} + \epsilon}, \qquad
        \theta_k = \theta_{k-1} - \eta\, r_k - o\,(r_k - r_{k-1})

    with the bias-corrected moments of :func:`gradtx.scale_by_adam` (Nesterov's by default, as
    in Optax) and :math:`r_0 = r_1`.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number or array (not a schedule).
        optimism: :math:`o`; ``None`` takes :math:`\eta`, as in the paper.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\bar\epsilon \ge 0`.
        mu_dtype: dtype of the first moment.
        nesterov: use NAdam's Nesterov momentum in the Adam direction.

    Returns:
        The optimizer.

    Raises:
        ValueError: if ``learning_rate`` is a schedule.

    Example:
        >>> import warnings, jax.numpy as jnp
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     tx = gradtx.optimistic_adam(0.1, nesterov=False)
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # -lr * sign(g) at first
        Array([-0.1], dtype=float32)

    References:
        Daskalakis et al., `Training GANs with Optimism <https://arxiv.org/abs/1711.00141>`_,
        2017
    """
    warnings.warn(
        "`optimistic_adam` is deprecated, please use `optimistic_adam_v2` instead.",
        category=DeprecationWarning,
        stacklevel=2,
    )
    if callable(learning_rate):
        raise ValueError(
            "optimistic_adam(): this version does not support learning rate schedules but "
            "`optimistic_adam_v2` does: optimistic_adam_v2(schedule, alpha=1.0, beta=o) is the "
            "same optimizer."
        )
    _checks.learning_rate("optimistic_adam", learning_rate)
    if optimism is None:
        optimism = learning_rate
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
        scale_by_learning_rate(1.0),  # flips the sign
    )


def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: ArrayLike = 1.0,
    beta: ArrayLike = 1.0,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-08,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam (Daskalakis et al., 2017): the optimistic gradient of Adam's direction.

    .. math::
        r_k = \frac{\hat m_k}{\sqrt{\hat v_k + \bar\epsilon} + \epsilon}, \qquad
        \theta_k = \theta_{k-1} - \eta_k\big((\alpha + \beta)\, r_k - \beta\, r_{k-1}\big)

    with the bias-corrected moments of :func:`gradtx.scale_by_adam` (Nesterov's by default, as
    in Optax) and :math:`r_0 = r_1`. For min-max problems such as GANs, where Adam cycles.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        alpha: :math:`\alpha`, the weight of the current direction.
        beta: :math:`\beta`, the weight of the optimistic correction.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\bar\epsilon \ge 0`.
        mu_dtype: dtype of the first moment.
        nesterov: use NAdam's Nesterov momentum in the Adam direction.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.optimistic_adam_v2(0.1, nesterov=False)
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # -lr * alpha * sign(g)
        Array([-0.1], dtype=float32)

    References:
        Daskalakis et al., `Training GANs with Optimism <https://arxiv.org/abs/1711.00141>`_,
        2017
    """
    _checks.learning_rate("optimistic_adam_v2", learning_rate)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=alpha, beta=beta),
        scale_by_learning_rate(learning_rate),
    )
