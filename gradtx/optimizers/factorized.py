"""Adafactor."""

from __future__ import annotations

import jax.numpy as jnp

from gradtx.base import ArrayLike, DTypeLike, GradientTransformation, ScalarOrSchedule, chain
from gradtx.transforms.clipping import clip_by_block_rms
from gradtx.transforms.factorized import scale_by_factored_rms
from gradtx.transforms.momentum import ema
from gradtx.transforms.regularization import Mask, add_decayed_weights
from gradtx.transforms.scaling import scale, scale_by_learning_rate, scale_by_param_block_rms

__all__ = ["adafactor"]


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ArrayLike = 0.8,
    decay_offset: ArrayLike = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: ArrayLike | None = 1.0,
    momentum: ArrayLike | None = None,
    dtype_momentum: DTypeLike = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: Mask | None = None,
) -> GradientTransformation:
    r"""Adafactor (Shazeer and Stern, 2018), Optax's chain.

    :func:`gradtx.scale_by_factored_rms`, then (each optional) the update clipping
    :func:`gradtx.clip_by_block_rms` (``clipping_threshold``), the learning rate :math:`\eta`
    (``None``: none), the relative step :func:`gradtx.scale_by_param_block_rms`
    (``multiply_by_parameter_scale``), a momentum :func:`gradtx.ema` without debiasing
    (``momentum``), a decoupled weight decay (``weight_decay_rate``, times the learning rate
    only through the preceding steps, as in Optax), and the sign flip.

    ``torch.optim.Adafactor`` is a different variant (its relative step, its decay
    :math:`1 - t^{-0.8}`, no update clipping, its eps placement and weight decay), so it is not
    an oracle for this one.

    Args:
        learning_rate: :math:`\eta \ge 0`, a number, array, traced value or schedule, or
            ``None``.
        min_dim_size_to_factor: factor only leaves whose two largest axes have at least this
            size.
        decay_rate: the exponent :math:`c` of the decay :math:`1 - (t+1)^{-c}`.
        decay_offset: subtracted from the step count in that decay (for fine-tuning).
        multiply_by_parameter_scale: scale by the RMS of the parameters (at least 1e-3).
        clipping_threshold: the update-clipping threshold :math:`d`, or ``None``.
        momentum: the momentum's decay, or ``None`` for none.
        dtype_momentum: the momentum's dtype.
        weight_decay_rate: the decoupled weight decay, or ``None``.
        eps: added to the squared gradients.
        factored: factor the second moments.
        weight_decay_mask: which leaves to decay.

    Returns:
        The optimizer; ``update`` needs the parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adafactor(0.1, multiply_by_parameter_scale=False)
        >>> p = jnp.zeros(2)
        >>> tx.update(jnp.array([3.0, -4.0]), tx.init(p), p)[0]
        Array([-0.1,  0.1], dtype=float32)

    References:
        Shazeer and Stern, `Adafactor: Adaptive Learning Rates with Sublinear Memory Cost
        <https://arxiv.org/abs/1804.04235>`_, ICML 2018.
    """
    tx = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        tx.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        tx.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        tx.append(scale_by_param_block_rms())
    if momentum is not None:
        tx.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    tx.append(scale(-1))
    return chain(*tx)
