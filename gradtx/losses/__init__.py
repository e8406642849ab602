r"""Loss functions as pure functions of predictions and targets.

Names, argument order and per-example values follow ``optax.losses``: each loss returns one
value per element (regression losses) or per example (the softmax cross-entropies reduce the
class axis), so code written for Optax runs unchanged. The extra keyword ``reduction`` reduces
that result: ``"none"`` (the default, as in Optax), ``"mean"`` or ``"sum"``::

    loss = gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, y, reduction="mean")

Most of them are negative log-likelihoods (maximum likelihood estimation): least squares for a
Gaussian with fixed variance, binary cross-entropy for a Bernoulli, softmax cross-entropy for a
categorical. Low-precision inputs are computed, and returned, in float32; every loss is
written to stay finite for logits of any size.

Example:
    >>> logits = jnp.array([[2.0, 0.0], [0.0, 2.0]])
    >>> gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 0]))
    Array([0.1269, 2.1269], dtype=float32)
"""

from __future__ import annotations

from gradtx.losses._classification import (
    accuracy as accuracy,
    sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy,
    softmax_cross_entropy as softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels as softmax_cross_entropy_with_integer_labels,
)
from gradtx.losses._regression import (
    gaussian_nll as gaussian_nll,
    huber_loss as huber_loss,
    l2_loss as l2_loss,
    squared_error as squared_error,
)

__all__ = [
    "accuracy",
    "gaussian_nll",
    "huber_loss",
    "l2_loss",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
]
