"""Adam's variants: RAdam, Yogi, Adan, NovoGrad and AdaMaxW."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import ArrayLike, GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms.adam import scale_by_adamax
from gradtx.transforms.adam_variants import (
    scale_by_adan,
    scale_by_novograd,
    scale_by_radam,
    scale_by_yogi,
)
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale_by_learning_rate

__all__ = ["adamaxw", "adan", "novograd", "radam", "yogi"]


def radam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Rectified Adam (Liu et al., 2020): :func:`gradtx.scale_by_radam` times
    :math:`-\eta`; the same algorithm as ``torch.optim.RAdam``.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        threshold: the value of :math:`\rho_k` from which the rectified step is taken.
        nesterov: Nesterov momentum.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.radam(0.1)
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # -0.1 * m_hat
        Array([-0.2], dtype=float32)

    References:
        Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond
        <https://arxiv.org/abs/1908.03265>`_, ICLR 2020.
    """
    _checks.learning_rate("radam", learning_rate)
    return chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
) -> GradientTransformation:
    r"""Yogi (Zaheer et al., 2018): :func:`gradtx.scale_by_yogi` times :math:`-\eta`.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.yogi(0.1)
        >>> u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
        >>> print(f"{float(u[0]):.3f}")
        -0.100

    References:
        Zaheer et al., `Adaptive Methods for Nonconvex Optimization
        <https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization>`_,
        NeurIPS 2018.
    """
    _checks.learning_rate("yogi", learning_rate)
    return chain(scale_by_yogi(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def adan(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask | None = None,
) -> GradientTransformation:
    r"""Adan (Xie et al., 2022): :func:`gradtx.scale_by_adan`, decoupled weight decay
    :math:`\lambda \theta`, then :math:`-\eta` (Optax's form).

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: decay of the gradient average, in :math:`[0, 1)`.
        b2: decay of the gradient-difference average, in :math:`[0, 1)`.
        b3: decay of the second moment, in :math:`[0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0` (default ``1e-8``, as in Optax's ``adan``).
        weight_decay: :math:`\lambda`, a number, array, traced value or schedule.
        mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adan(0.1, eps_root=0.0, eps=0.0)
        >>> p = jnp.zeros(1)
        >>> tx.update(jnp.array([2.0]), tx.init(p), p)[0]
        Array([-0.1], dtype=float32)

    References:
        Xie et al., `Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
        Models <https://arxiv.org/abs/2208.06677>`_, 2022.
    """
    _checks.learning_rate("adan", learning_rate)
    return chain(
        scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""NovoGrad (Ginsburg et al., 2019): :func:`gradtx.scale_by_novograd` times
    :math:`-\eta`.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0` (default ``1e-6``, as in Optax's ``novograd``).
        eps_root: :math:`\epsilon_{root} \ge 0`.
        weight_decay: :math:`\lambda \ge 0`, added inside the momentum.

    Returns:
        The optimizer; ``update`` needs the parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.novograd(0.1, eps=0.0)
        >>> p = jnp.zeros(2)
        >>> tx.update(jnp.array([3.0, 4.0]), tx.init(p), p)[0]
        Array([-0.06, -0.08], dtype=float32)

    References:
        Ginsburg et al., `Stochastic Gradient Methods with Layer-wise Adaptive Moments for
        Training of Deep Networks <https://arxiv.org/abs/1905.11286>`_, 2019.
    """
    _checks.learning_rate("novograd", learning_rate)
    return chain(
        scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
        scale_by_learning_rate(learning_rate),
    )


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask | None = None,
) -> GradientTransformation:
    r"""AdaMax with decoupled weight decay, as :func:`gradtx.adamw` is to :func:`gradtx.adam`.

    .. math::
        \theta_k = \theta_{k-1} - \eta \left(\frac{m_k}{(1-\beta_1^k) v_k} + \lambda
        \theta_{k-1}\right)

    with :math:`m_k, v_k` of :func:`gradtx.scale_by_adamax`.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda`, a number, array, traced value or schedule.
        mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adamaxw(0.1, eps=0.0, weight_decay=0.5)
        >>> p = jnp.array([2.0])
        >>> tx.update(jnp.array([5.0]), tx.init(p), p)[0]  # -0.1 * (1 + 0.5 * 2)
        Array([-0.2], dtype=float32)

    References:
        Loshchilov and Hutter, `Decoupled Weight Decay Regularization
        <https://arxiv.org/abs/1711.05101>`_, ICLR 2019.
    """
    _checks.learning_rate("adamaxw", learning_rate)
    return chain(
        scale_by_adamax(b1=b1, b2=b2, eps=eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
