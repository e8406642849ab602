"""Adam and its relatives: AdamW, NAdam(W), AMSGrad, AdaMax, AdaBelief."""

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
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
)
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale_by_learning_rate

__all__ = ["adabelief", "adam", "adamax", "adamw", "amsgrad", "nadam", "nadamw"]


def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
    amsgrad: bool = False,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adam (Kingma and Ba, 2014), the lectures' Algorithm 8.7.

    .. math::
        \theta_k = \theta_{k-1} - \eta \frac{\hat m_k}{\sqrt{\hat v_k + \epsilon_{root}} +
        \epsilon}

    with the bias-corrected moments of :func:`gradtx.scale_by_adam`. ``amsgrad=True`` is
    ``torch.optim.Adam(amsgrad=True)``, that is :func:`amsgrad` with
    ``max_before_bias_correction=True`` (Optax has no such flag; ``gradtx.amsgrad`` defaults to
    Optax's form).

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        mu_dtype: dtype of the first moment.
        nesterov: NAdam's Nesterov momentum.
        amsgrad: divide by the running maximum of the second moment, as torch does.
        nu_dtype: dtype of the second moment (default: the real dtype of the parameters).

    Returns:
        The optimizer.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
        >>> tx = gradtx.adam(0.1)
        >>> x = jnp.zeros(2); state = tx.init(x)
        >>> for _ in range(200):
        ...     u, state = tx.update(jax.grad(f)(x), state, x)
        ...     x = gradtx.apply_updates(x, u)
        >>> print(jnp.round(x, 2))
        [3. 3.]
    """
    _checks.learning_rate("adam", learning_rate)
    if amsgrad:
        if nesterov:
            raise ValueError("adam(): nesterov=True and amsgrad=True cannot be combined.")
        return _amsgrad_chain(
            learning_rate,
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            max_before_bias_correction=True,
            nu_dtype=nu_dtype,
        )
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdamW (Loshchilov and Hutter, 2019): Adam with decoupled weight decay.

    .. math::
        \theta_k = \theta_{k-1} - \eta \left(\frac{\hat m_k}{\sqrt{\hat v_k + \epsilon_{root}}
        + \epsilon} + \lambda \theta_{k-1}\right)

    which is ``torch.optim.AdamW`` (torch multiplies by :math:`1 - \eta\lambda` first; the
    result is the same).

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        mu_dtype: dtype of the first moment.
        weight_decay: :math:`\lambda` (any real number, as in Optax), a number, array, traced
            value or schedule.
        mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).
        nesterov: NAdamW's Nesterov momentum.
        nu_dtype: dtype of the second moment (default: the real dtype of the parameters).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adamw(0.1, weight_decay=0.5)
        >>> p = jnp.array([2.0])
        >>> tx.update(jnp.array([1.0]), tx.init(p), p)[0]  # -0.1 * (1 + 0.5 * 2)
        Array([-0.2], dtype=float32)
    """
    _checks.learning_rate("adamw", learning_rate)
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = True,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""NAdam (Dozat, 2016): :func:`adam` with Nesterov momentum.

    .. math::
        \hat m_k = \frac{\beta_1 m_k}{1-\beta_1^{k+1}} + \frac{(1-\beta_1) g_k}{1-\beta_1^k}

    This is Optax's NAdam. ``torch.optim.NAdam`` adds a momentum-decay schedule
    (:math:`\psi = 0.004`) and is a different algorithm.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        mu_dtype: dtype of the first moment.
        nesterov: keep ``True``; ``False`` is plain Adam.
        nu_dtype: dtype of the second moment (default: the real dtype of the parameters).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.nadam(0.1)
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]
        Array([-0.1474], dtype=float32)
    """
    _checks.learning_rate("nadam", learning_rate)
    return adam(
        learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov, nu_dtype=nu_dtype
    )


def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask | None = None,
    *,
    nesterov: bool = True,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r""":func:`nadam` with decoupled weight decay, as :func:`adamw` is to :func:`adam`.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        mu_dtype: dtype of the first moment.
        weight_decay: :math:`\lambda` (any real number, as in Optax), a number, array, traced
            value or schedule.
        mask: which leaves to decay.
        nesterov: keep ``True``; ``False`` is :func:`adamw`.
        nu_dtype: dtype of the second moment (default: the real dtype of the parameters).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.nadamw(0.1, weight_decay=0.0)
        >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)), jnp.zeros(1))[0]
        Array([-0.1474], dtype=float32)
    """
    _checks.learning_rate("nadamw", learning_rate)
    return adamw(
        learning_rate,
        b1,
        b2,
        eps,
        eps_root,
        mu_dtype,
        weight_decay,
        mask,
        nesterov=nesterov,
        nu_dtype=nu_dtype,
    )


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    max_before_bias_correction: bool = False,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AMSGrad (Reddi et al., 2018): Adam with a non-decreasing second moment.

    See :func:`gradtx.scale_by_amsgrad`; ``max_before_bias_correction=True`` matches
    ``torch.optim.Adam(amsgrad=True)``.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        mu_dtype: dtype of the first moment.
        bias_correction_mu: debias the first moment.
        bias_correction_nu: debias the second moment.
        max_before_bias_correction: torch's placement of the maximum.
        nu_dtype: dtype of the second moment and its running maximum (default: the real dtype
            of the parameters).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.amsgrad(0.1)
        >>> tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0]
        Array([0.1], dtype=float32)
    """
    _checks.learning_rate("amsgrad", learning_rate)
    return _amsgrad_chain(
        learning_rate,
        b1,
        b2,
        eps,
        eps_root,
        mu_dtype,
        bias_correction_mu,
        bias_correction_nu,
        max_before_bias_correction=max_before_bias_correction,
        nu_dtype=nu_dtype,
    )


def _amsgrad_chain(learning_rate, *args, **kwargs) -> GradientTransformation:
    # adam(amsgrad=True) builds this too, while its argument shadows the name amsgrad.
    return chain(scale_by_amsgrad(*args, **kwargs), scale_by_learning_rate(learning_rate))


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> GradientTransformation:
    r"""AdaMax (Kingma and Ba, 2014): Adam with the infinity norm (see
    :func:`gradtx.scale_by_adamax`); the same algorithm as ``torch.optim.Adamax``.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adamax(0.1, eps=0.0)
        >>> tx.update(jnp.array([5.0]), tx.init(jnp.zeros(1)))[0]
        Array([-0.1], dtype=float32)
    """
    _checks.learning_rate("adamax", learning_rate)
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AdaBelief (Zhuang et al., 2020): Adam scaled by the belief in the gradient (see
    :func:`gradtx.scale_by_belief`).

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0`.
        nesterov: Nesterov momentum.
        mu_dtype: dtype of the first moment (default: the parameters' dtype).
        nu_dtype: dtype of the belief moment (default: the real dtype of the parameters).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adabelief(0.1)
        >>> u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
        >>> print(f"{float(u[0]):.4f}")  # -0.1 * 2 / |2 - 0.2|
        -0.1111
    """
    _checks.learning_rate("adabelief", learning_rate)
    return chain(
        scale_by_belief(
            b1, b2, eps, eps_root, nesterov=nesterov, mu_dtype=mu_dtype, nu_dtype=nu_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )
