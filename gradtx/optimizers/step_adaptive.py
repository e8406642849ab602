"""Optimizers with per-coordinate step sizes: AdaDelta, Rprop and SM3."""

from __future__ import annotations

from gradtx import _checks
from gradtx.base import ArrayLike, GradientTransformation, ScalarOrSchedule, chain, identity
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale, scale_by_learning_rate
from gradtx.transforms.step_adaptive import scale_by_adadelta, scale_by_rprop, scale_by_sm3

__all__ = ["adadelta", "rprop", "sm3"]


def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask | None = None,
) -> GradientTransformation:
    r"""AdaDelta (Zeiler, 2012): coupled weight decay :math:`g + \lambda\theta`, then
    :func:`gradtx.scale_by_adadelta`, then :math:`-\eta`; ``torch.optim.Adadelta``'s algorithm.

    As in Optax, ``learning_rate=None`` applies no learning rate *and no sign flip*: the
    updates are then an ascent direction. Pass ``learning_rate=1.0`` for the paper's method.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule, or
            ``None`` (no scaling).
        rho: :math:`\rho \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda`, a number, array, traced value or schedule.
        weight_decay_mask: which leaves to decay (see :func:`gradtx.add_decayed_weights`).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adadelta(1.0, rho=0.0, eps=1.0)
        >>> p = jnp.zeros(1)
        >>> tx.update(jnp.array([0.0]), tx.init(p), p)[0]
        Array([-0.], dtype=float32)

    References:
        Zeiler, `ADADELTA: An Adaptive Learning Rate Method
        <https://arxiv.org/abs/1212.5701>`_, 2012.
    """
    lr = identity() if learning_rate is None else scale_by_learning_rate(learning_rate)
    if learning_rate is not None:
        _checks.learning_rate("adadelta", learning_rate)
    return chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_adadelta(rho=rho, eps=eps),
        lr,
    )


def rprop(
    learning_rate: ArrayLike,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step_size: ArrayLike = 1e-6,
    max_step_size: ArrayLike = 50.0,
) -> GradientTransformation:
    r"""Rprop (Riedmiller and Braun, 1993): :func:`gradtx.scale_by_rprop`, negated.

    Optax's form: each update is the step stored one iteration earlier (the first is zero),
    so the trajectory differs from ``torch.optim.Rprop``'s; see :func:`gradtx.scale_by_rprop`.

    Args:
        learning_rate: the initial step size, :math:`\ge 0` (not a schedule).
        eta_minus: the factor after a sign change.
        eta_plus: the factor while the sign is kept.
        min_step_size: the smallest step size.
        max_step_size: the largest step size.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.rprop(0.1)
        >>> _, state = tx.update(jnp.array([2.0, -3.0]), tx.init(jnp.zeros(2)))
        >>> tx.update(jnp.array([2.0, -3.0]), state)[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Riedmiller and Braun, `A Direct Adaptive Method for Faster Backpropagation Learning:
        The RPROP Algorithm <https://doi.org/10.1109/ICNN.1993.298623>`_, 1993.
    """
    return chain(
        scale_by_rprop(
            learning_rate=learning_rate,
            eta_minus=eta_minus,
            eta_plus=eta_plus,
            min_step_size=min_step_size,
            max_step_size=max_step_size,
        ),
        scale(-1.0),
    )


def sm3(learning_rate: ArrayLike, momentum: ArrayLike = 0.9) -> GradientTransformation:
    r"""SM3 (Anil et al., 2019): :func:`gradtx.scale_by_sm3` with ``b1=momentum``, times
    :math:`-\eta` (Optax's form; a number or array, not a schedule).

    Args:
        learning_rate: :math:`\eta \ge 0`.
        momentum: :math:`\beta_1 \in [0, 1)`.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.sm3(0.1, momentum=0.0)
        >>> u, _ = tx.update(jnp.array([2.0, -4.0]), tx.init(jnp.zeros(2)))
        >>> print(jnp.round(u, 4))
        [-0.1  0.1]

    References:
        Anil et al., `Memory-Efficient Adaptive Optimization
        <https://arxiv.org/abs/1901.11150>`_, NeurIPS 2019.
    """
    _checks.learning_rate("sm3", learning_rate)
    return chain(scale_by_sm3(momentum), scale(-learning_rate))
