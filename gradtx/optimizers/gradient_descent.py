"""Gradient descent: plain, with (Nesterov) momentum, heavy ball, with gradient noise, and with
Polyak's step size."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import (
    ArrayLike,
    DTypeLike,
    GradientTransformation,
    ScalarOrSchedule,
    chain,
)
from gradtx.optimizers._common import momentum_or_identity
from gradtx.transforms.momentum import trace
from gradtx.transforms.noise import add_noise
from gradtx.transforms.scaling import scale_by_learning_rate
from gradtx.transforms.step_sizes import scale_by_polyak

__all__ = ["heavy_ball", "noisy_sgd", "polyak_sgd", "sgd"]


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: DTypeLike | None = None,
    *,
    dampening: ArrayLike | None = None,
) -> GradientTransformation:
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    Without momentum, :math:`\theta \leftarrow \theta - \eta g`. With momentum :math:`\beta`,

    .. math::
        t_k = \beta t_{k-1} + (1 - d) g_k, \qquad
        \theta_k = \theta_{k-1} - \eta_k \begin{cases} g_k + \beta t_k & \text{nesterov}\\
        t_k & \text{otherwise} \end{cases}

    except that the first gradient enters the buffer whole, :math:`t_1 = g_1`, as in
    ``torch.optim.SGD``, which this equals step for step (``dampening > 0`` uses
    :func:`gradtx.trace` with ``dampen_first_step=False``). ``dampening=momentum`` gives the
    lectures' moving-average form :math:`m \leftarrow \beta m + (1-\beta) g` from the
    second step on; :func:`heavy_ball` gives the lectures' :math:`v \leftarrow \alpha v -
    \varepsilon g` form.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule.
        momentum: :math:`\beta \in [0, 1]` (1, accepted as in Optax, never forgets a gradient),
            or ``None`` for plain SGD.
        nesterov: Nesterov's accelerated gradient (Sutskever et al., 2013).
        accumulator_dtype: dtype of the momentum buffer (default: the parameters' dtype).
        dampening: :math:`d \in [0, 1]`; ``None`` (the default) or a Python 0 is Optax's
            ``sgd``, whose state is a ``TraceState`` (so ``inject_hyperparams(sgd)`` keeps it:
            a ``None`` is not injected), any other value torch's dampened buffer.

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
    _checks.check_range("sgd", "momentum", momentum, 0.0, 1.0)
    # With dampening, torch.optim.SGD's first step; without, Optax's sgd and its TraceState.
    if dampening is None or _checks.is_static_zero(dampening):
        dampening, damping = 0.0, {}
    else:
        damping = {"dampen_first_step": False}
    return chain(
        momentum_or_identity(
            "sgd",
            momentum,
            nesterov,
            accumulator_dtype=accumulator_dtype,
            dampening=dampening,
            **damping,
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


def polyak_sgd(
    max_learning_rate: ArrayLike = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: ArrayLike = 0.0,
    eps: ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""SGD with Polyak's step size (Loizou et al., 2021), from the loss ``value``.

    .. math::
        \theta \leftarrow \theta - \min\left(\frac{f(\theta) - f^\star}{s^2\|g\|^2 +
        \epsilon}, \gamma_{\max}\right) s\, g

    which is Optax's ``chain(sgd(scaling), scale_by_polyak(...))``: the step is computed from
    the already scaled gradient :math:`s g` (for :math:`s = 1`, the textbook rule). ``update``
    takes the loss as a keyword argument: ``tx.update(grads, state, params, value=loss)``.
    ``variant="sps+"`` uses :math:`\max(f(\theta) - f^\star, 0)`.

    Args:
        max_learning_rate: :math:`\gamma_{\max}`, the largest step.
        scaling: :math:`s \ge 0`, a number, array, traced value or schedule.
        f_min: :math:`f^\star`, a lower bound of the loss (0 for interpolating models; a bad
            guess can make the iterates diverge or stall).
        eps: :math:`\epsilon \ge 0`.
        variant: ``"sps"`` or ``"sps+"``.

    Returns:
        The optimizer; its ``update`` needs ``value``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx = gradtx.polyak_sgd()
        >>> x = jnp.array([1.0, 2.0, 3.0]); state = tx.init(x)
        >>> for _ in range(3):
        ...     value, g = jax.value_and_grad(f)(x)
        ...     u, state = tx.update(g, state, x, value=value)
        ...     x = gradtx.apply_updates(x, u)
        ...     print(f(x))
        3.5
        0.875
        0.21875

    References:
        Loizou et al., `Stochastic Polyak Step-size for SGD: An Adaptive Learning Rate for Fast
        Convergence <https://arxiv.org/abs/2002.10542>`_, 2021; Berrada et al., `Training
        Neural Networks for and by Interpolation <https://arxiv.org/abs/1906.05661>`_, 2020
    """
    return chain(
        sgd(learning_rate=scaling),
        scale_by_polyak(max_learning_rate=max_learning_rate, f_min=f_min, eps=eps, variant=variant),
    )
