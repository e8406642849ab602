"""Named optimizers: each is a short :func:`~gradtx.chain` of transforms.

Arguments and defaults follow Optax's optimizer of the same name, so Optax code runs after
changing the import; options that torch.optim and the lecture notes have and Optax lacks
(SGD's dampening, Adagrad's ``lr_decay``, Adam's ``amsgrad``) are keyword-only extras.

Every optimizer returns a :class:`~gradtx.GradientTransformation` whose updates are to be added
to the parameters with :func:`~gradtx.apply_updates` (the learning rate and the minus sign are
already applied).
"""

from __future__ import annotations

from typing import Any

from gradtx import _checks
from gradtx.base import (
    ArrayLike,
    DTypeLike,
    GradientTransformation,
    ScalarOrSchedule,
    chain,
    identity,
)
from gradtx.transforms.adam import (
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_lion,
)
from gradtx.transforms.adaptive import scale_by_rms, scale_by_rss
from gradtx.transforms.momentum import trace
from gradtx.transforms.noise import add_noise
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale_by_learning_rate, scale_by_sign, scale_by_trust_ratio

__all__ = [
    "adabelief",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "amsgrad",
    "heavy_ball",
    "lamb",
    "lion",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "rmsprop",
    "sgd",
    "sign_sgd",
]


def _momentum(
    fn: str, momentum: ArrayLike | None, nesterov: bool, **kwargs: Any
) -> GradientTransformation:
    if momentum is None:
        if nesterov:
            raise ValueError(f"{fn}(): nesterov=True needs a momentum, got momentum=None.")
        return identity()
    return trace(momentum, nesterov, **kwargs)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: DTypeLike | None = None,
    *,
    dampening: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    Without momentum, :math:`\theta \leftarrow \theta - \eta g`. With momentum :math:`\beta`,

    .. math::
        t_k = \beta t_{k-1} + (1 - d) g_k, \qquad
        \theta_k = \theta_{k-1} - \eta_k \begin{cases} g_k + \beta t_k & \text{nesterov}\\
        t_k & \text{otherwise} \end{cases}

    which is ``torch.optim.SGD`` (for ``dampening > 0`` torch starts the buffer at
    :math:`g_1`, gradtx at :math:`(1-d) g_1`). ``dampening=momentum`` gives the lectures'
    moving-average form :math:`m \leftarrow \beta m + (1-\beta) g`; :func:`heavy_ball` gives
    the lectures' :math:`v \leftarrow \alpha v - \varepsilon g` form.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        momentum: :math:`\beta \in [0, 1)`, or ``None`` for plain SGD.
        nesterov: Nesterov's accelerated gradient (Sutskever et al., 2013).
        accumulator_dtype: dtype of the momentum buffer (default: the parameters' dtype).
        dampening: :math:`d \in [0, 1]`.

    Returns:
        The optimizer.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx = gradtx.sgd(0.1, momentum=0.9)
        >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
        >>> for _ in range(100):
        ...     u, state = tx.update(jax.grad(f)(x), state, x)
        ...     x = gradtx.apply_updates(x, u)
        >>> print(f"{f(x):.1e}")
        4.1e-05

    References:
        Polyak, 1964; Sutskever et al., "On the importance of initialization and momentum in
        deep learning", 2013.
    """
    _checks.learning_rate("sgd", learning_rate)
    _checks.unit_interval("sgd", momentum=momentum)
    return chain(
        _momentum(
            "sgd", momentum, nesterov, accumulator_dtype=accumulator_dtype, dampening=dampening
        ),
        scale_by_learning_rate(learning_rate),
    )


def heavy_ball(
    learning_rate: ScalarOrSchedule, momentum: ArrayLike = 0.9, nesterov: bool = False
) -> GradientTransformation:
    r"""Polyak's heavy ball in the lectures' form: the velocity accumulates scaled gradients.

    .. math::
        v_k = \alpha v_{k-1} - \varepsilon_k g_k, \qquad \theta_k = \theta_{k-1} + v_k

    With Nesterov, :math:`\theta_k = \theta_{k-1} + \alpha v_k - \varepsilon_k g_k`, the
    look-ahead form of :math:`v \leftarrow \alpha v - \varepsilon g(\theta + \alpha v)` written
    at the shifted point (Sutskever et al., 2013). For a constant learning rate this equals
    :func:`sgd` with momentum; with a schedule, the learning rate of each step is folded into
    the velocity when the gradient enters it, as in the lectures.

    Args:
        learning_rate: :math:`\varepsilon \ge 0`, a number, array, traced value or schedule.
        momentum: :math:`\alpha \in [0, 1)`.
        nesterov: use the Nesterov form.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.heavy_ball(0.1, momentum=0.5)
        >>> state = tx.init(jnp.zeros(1))
        >>> v, state = tx.update(jnp.ones(1), state)
        >>> v, state = tx.update(jnp.ones(1), state)
        >>> v  # 0.5 * (-0.1) - 0.1
        Array([-0.15], dtype=float32)
    """
    _checks.learning_rate("heavy_ball", learning_rate)
    _checks.unit_interval("heavy_ball", momentum=momentum)
    return chain(scale_by_learning_rate(learning_rate), trace(momentum, nesterov))


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
    *,
    lr_decay: ArrayLike = 0.0,
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
        lr_decay: :math:`\lambda \ge 0`.
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
    _checks.non_negative("adagrad", lr_decay=lr_decay)
    lr: Any = learning_rate
    if not _checks.is_static_zero(lr_decay):

        def decayed(count):
            return _checks.resolve(learning_rate, count) / (1 + count * lr_decay)

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
        _momentum("rmsprop", momentum, nesterov),
    )


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
        weight_decay: :math:`\lambda \ge 0`, a number, array, traced value or schedule.
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
        weight_decay: :math:`\lambda \ge 0`, a number, array, traced value or schedule.
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
        weight_decay: :math:`\lambda \ge 0`, a number, array, traced value or schedule.
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
        weight_decay: :math:`\lambda \ge 0`, a number, array, traced value or schedule.
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


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: ArrayLike = 0.01,
    gamma: ArrayLike = 0.55,
    *,
    key: int | ArrayLike,
) -> GradientTransformation:
    r"""SGD with annealed Gaussian gradient noise (Neelakantan et al., 2015).

    .. math::
        \theta_k = \theta_{k-1} - \eta_{lr}\left(g_k + \sigma_k \xi_k\right), \qquad
        \sigma_k^2 = \frac{\eta}{k^{\gamma}}

    Args:
        learning_rate: :math:`\eta_{lr} \ge 0`, a number, array, traced value or schedule.
        eta: base noise variance :math:`\eta \ge 0`.
        gamma: annealing exponent :math:`\gamma \ge 0`.
        key: an int seed or ``jax.random.key``: the noise is reproducible from it.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.noisy_sgd(0.1, eta=0.0, key=0)
        >>> tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))[0]
        Array([-0.1], dtype=float32)
    """
    _checks.learning_rate("noisy_sgd", learning_rate)
    return chain(add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate))
