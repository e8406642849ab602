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

import math
from typing import Literal

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike
from gradtx.numerics import upcast

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

Reduction = Literal["none", "mean", "sum"]
_REDUCTIONS = ("none", "mean", "sum")
Axis = int | tuple[int, ...]


def _check_reduction(fn: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}.")


def _reduce(values: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    return values


def _floating(fn: str, name: str, x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: {name} must be a real floating array, got dtype {x.dtype}.")
    return upcast(x)


def _residual(fn: str, predictions: ArrayLike, targets: ArrayLike | None) -> jax.Array:
    p = _floating(fn, "predictions", predictions)
    if targets is None:
        return p
    t = jnp.asarray(targets)
    if t.shape != p.shape:
        raise ValueError(
            f"{fn}: predictions and targets need the same shape, got {p.shape} and {t.shape}."
        )
    return p - t.astype(p.dtype)


def squared_error(
    predictions: ArrayLike, targets: ArrayLike | None = None, *, reduction: Reduction = "none"
) -> jax.Array:
    r"""Squared error :math:`(\hat y - y)^2`, elementwise (``optax.losses.squared_error``).

    Args:
        predictions: :math:`\hat y`.
        targets: :math:`y`, same shape; ``None`` means zeros.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum.

    Example:
        >>> gradtx.losses.squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
        Array([1., 4.], dtype=float32)
    """
    _check_reduction("squared_error", reduction)
    return _reduce(jnp.square(_residual("squared_error", predictions, targets)), reduction)


def l2_loss(
    predictions: ArrayLike, targets: ArrayLike | None = None, *, reduction: Reduction = "none"
) -> jax.Array:
    r"""Half the squared error, :math:`\frac12 (\hat y - y)^2` (``optax.losses.l2_loss``).

    Its gradient is the residual :math:`\hat y - y`.

    Args:
        predictions: :math:`\hat y`.
        targets: :math:`y`, same shape; ``None`` means zeros.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum.

    Example:
        >>> gradtx.losses.l2_loss(jnp.array([1.0, 2.0]), reduction="sum")
        Array(2.5, dtype=float32)
    """
    _check_reduction("l2_loss", reduction)
    return _reduce(0.5 * jnp.square(_residual("l2_loss", predictions, targets)), reduction)


def gaussian_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    sigma: ArrayLike | None = None,
    *,
    log_sigma: ArrayLike | None = None,
    reduction: Reduction = "none",
) -> jax.Array:
    r"""Negative log-likelihood of ``targets`` under :math:`\mathcal N(\hat y, \sigma^2)`.

    .. math::
        -\log p(y \mid \hat y, \sigma) = \frac{(y - \hat y)^2}{2\sigma^2} + \log\sigma
        + \frac12 \log 2\pi

    With a fixed :math:`\sigma` this is :func:`l2_loss` divided by :math:`\sigma^2` plus a
    constant, so maximum likelihood is least squares. To learn :math:`\sigma` (one value, or
    one per prediction from the network's output) pass ``log_sigma``, which is unconstrained,
    instead of ``sigma``.

    Args:
        predictions: the mean :math:`\hat y`.
        targets: :math:`y`, same shape.
        sigma: the standard deviation :math:`\sigma > 0`, broadcastable to ``predictions``;
            ``None`` means 1 (unless ``log_sigma`` is given).
        log_sigma: :math:`\log\sigma` instead of ``sigma``.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum. It equals
        ``torch.nn.functional.gaussian_nll_loss(..., var=sigma**2, full=True)``.

    Example:
        >>> nll = gradtx.losses.gaussian_nll(jnp.array([0.0]), jnp.array([2.0]), sigma=2.0)
        >>> nll - jnp.log(2.0) - 0.5 * jnp.log(2 * jnp.pi)  # (y - y_hat)^2 / (2 sigma^2)
        Array([0.5], dtype=float32)
    """
    _check_reduction("gaussian_nll", reduction)
    r = _residual("gaussian_nll", predictions, targets)
    if log_sigma is not None:
        if sigma is not None:
            raise ValueError("gaussian_nll(): give either sigma or log_sigma, not both.")
        log_s = jnp.asarray(log_sigma, r.dtype)
        scaled = r * jnp.exp(-log_s)
    else:
        sigma = 1.0 if sigma is None else sigma
        _checks.check_range("gaussian_nll", "sigma", sigma, 0.0, low_open=True)
        s = jnp.asarray(sigma, r.dtype)
        log_s = jnp.log(s)
        scaled = r / s
    nll = 0.5 * jnp.square(scaled) + log_s + 0.5 * math.log(2 * math.pi)
    return _reduce(nll, reduction)


def sigmoid_binary_cross_entropy(
    logits: ArrayLike, labels: ArrayLike, *, reduction: Reduction = "none"
) -> jax.Array:
    r"""Binary cross-entropy of labels :math:`y \in [0, 1]` and :math:`p = \sigma(z)`.

    .. math::
        \ell = -y \log \sigma(z) - (1 - y) \log(1 - \sigma(z))
        = \operatorname{softplus}(z) - y z

    computed with :func:`jax.nn.log_sigmoid`, so it stays finite (and exact) for logits of
    :math:`\pm 1000`; its gradient is :math:`\sigma(z) - y`
    (``optax.losses.sigmoid_binary_cross_entropy``).

    Args:
        logits: :math:`z`.
        labels: :math:`y`, probabilities of the positive class, broadcastable to ``logits``.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum.

    Example:
        >>> gradtx.losses.sigmoid_binary_cross_entropy(jnp.array([0.0, 1000.0]), jnp.array([1, 0]))
        Array([   0.6931, 1000.    ], dtype=float32)
    """
    _check_reduction("sigmoid_binary_cross_entropy", reduction)
    z = _floating("sigmoid_binary_cross_entropy", "logits", logits)
    y = jnp.asarray(labels).astype(z.dtype)
    loss = -y * jax.nn.log_sigmoid(z) - (1 - y) * jax.nn.log_sigmoid(-z)
    return _reduce(loss, reduction)


def _where(where: ArrayLike | None, z: jax.Array, axis: Axis) -> jax.Array | None:
    """Optax's ``where``: the logits' shape, or the examples' shape (broadcast over ``axis``)."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_:
        raise TypeError(f"where must be a boolean array, got dtype {where.dtype}.")
    if where.ndim != z.ndim:
        where = jnp.expand_dims(where, axis)
    return jnp.broadcast_to(where, z.shape)


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
    *,
    reduction: Reduction = "none",
) -> jax.Array:
    r"""Cross-entropy of a target distribution :math:`y` and :math:`\operatorname{softmax}(z)`.

    .. math::
        \ell = -\sum_k y_k \log \operatorname{softmax}(z)_k
        = \sum_k y_k \left(\operatorname{logsumexp}(z) - z_k\right)

    for one-hot or probability labels along ``axis`` (``optax.losses.softmax_cross_entropy``).
    Its gradient is :math:`\operatorname{softmax}(z) - y` when :math:`\sum_k y_k = 1`.

    Args:
        logits: :math:`z`.
        labels: :math:`y`, the same shape (one-hot or probabilities).
        axis: the class axis (or axes).
        where: which logits take part (a boolean array of the logits' shape, or of the
            examples' shape to leave out whole examples, whose loss is then 0), as in Optax.
        reduction: ``"none"``, ``"mean"`` or ``"sum"`` over the examples.

    Returns:
        One loss per example (``logits`` without ``axis``), or their mean or sum.

    Example:
        >>> logits = jnp.array([[1000.0, -1000.0], [0.0, 0.0]])
        >>> gradtx.losses.softmax_cross_entropy(logits, jnp.array([[0.0, 1.0], [0.5, 0.5]]))
        Array([2000.    ,    0.6931], dtype=float32)
    """
    _check_reduction("softmax_cross_entropy", reduction)
    z = _floating("softmax_cross_entropy", "logits", logits)
    y = jnp.asarray(labels)
    if y.shape != z.shape:
        raise ValueError(
            f"softmax_cross_entropy(): labels need the shape of the logits {z.shape}, got "
            f"{y.shape}; for integer class labels use softmax_cross_entropy_with_integer_labels."
        )
    mask = _where(where, z, axis)
    log_p = jax.nn.log_softmax(z, axis=axis, where=mask)
    return _reduce(-jnp.sum(y.astype(z.dtype) * log_p, axis=axis, where=mask), reduction)


def softmax_cross_entropy_with_integer_labels(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
    *,
    reduction: Reduction = "none",
) -> jax.Array:
    r"""Softmax cross-entropy with integer class labels, via logsumexp.

    .. math::
        \ell = \operatorname{logsumexp}(z) - z_y
        = \log \sum_k e^{z_k - \max z} - (z_y - \max z)

    which is finite for logits of :math:`\pm 1000`
    (``optax.losses.softmax_cross_entropy_with_integer_labels``). Its gradient is
    :math:`\operatorname{softmax}(z) - \operatorname{onehot}(y)`.

    Args:
        logits: :math:`z`, classes along ``axis``.
        labels: integer classes :math:`y`, the shape of ``logits`` without ``axis``. For a tuple
            ``axis`` the label is the flat (C-order) index into those axes, taken in the order
            given (as Optax: ``axis=(2, 1)`` indexes axis 2 first).
        axis: the class axis (or axes).
        where: which logits take part in the normaliser (a boolean array of the logits'
            shape, or of the examples' shape); an example with none has loss 0, as in Optax.
        reduction: ``"none"``, ``"mean"`` or ``"sum"`` over the examples.

    Returns:
        One loss per example, or their mean or sum.

    Example:
        >>> logits = jnp.array([[1000.0, -1000.0], [1.0, 1.0]])
        >>> gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.array([1, 0]))
        Array([2000.    ,    0.6931], dtype=float32)
    """
    fn = "softmax_cross_entropy_with_integer_labels"
    _check_reduction(fn, reduction)
    z = _floating(fn, "logits", logits)
    y = jnp.asarray(labels)
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{fn}(): labels must be integers, got dtype {y.dtype}.")
    mask = _where(where, z, axis)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(a % z.ndim for a in axes)
    # Move the class axes to the end, in the order given, and flatten them into one.
    batch_axes = [a for a in range(z.ndim) if a not in axes]
    z = jnp.transpose(z, (*batch_axes, *axes))
    z = z.reshape(*z.shape[: len(batch_axes)], -1)
    if mask is not None:
        mask = jnp.transpose(mask, (*batch_axes, *axes)).reshape(z.shape)
    if y.shape != z.shape[:-1]:
        raise ValueError(
            f"{fn}(): labels need the shape of the logits without the class axis, "
            f"{z.shape[:-1]}, got {y.shape}."
        )
    label_logit = jnp.take_along_axis(z, y[..., None], axis=-1)[..., 0]
    loss = jax.nn.logsumexp(z, axis=-1, where=mask) - label_logit
    if mask is not None:
        loss = jnp.where(jnp.any(mask, axis=-1), loss, jnp.zeros([], loss.dtype))
    return _reduce(loss, reduction)


def huber_loss(
    predictions: ArrayLike,
    targets: ArrayLike | None = None,
    *,
    delta: ArrayLike = 1.0,
    reduction: Reduction = "none",
) -> jax.Array:
    r"""Huber loss: quadratic for small residuals, linear for large ones.

    .. math::
        \ell(r) = \begin{cases} \frac12 r^2 & |r| \le \delta \\
        \delta (|r| - \frac12 \delta) & |r| > \delta \end{cases}, \qquad r = \hat y - y

    Its gradient is the residual clipped to :math:`[-\delta, \delta]`
    (``optax.losses.huber_loss``).

    Args:
        predictions: :math:`\hat y`.
        targets: :math:`y`, same shape; ``None`` means zeros.
        delta: :math:`\delta > 0`.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The elementwise loss, or its mean or sum.

    Example:
        >>> gradtx.losses.huber_loss(jnp.array([0.5, 3.0]), delta=1.0)
        Array([0.125, 2.5  ], dtype=float32)
    """
    _check_reduction("huber_loss", reduction)
    _checks.check_range("huber_loss", "delta", delta, 0.0, low_open=True)
    r = _residual("huber_loss", predictions, targets)
    delta = jnp.asarray(delta, r.dtype)
    abs_r = jnp.abs(r)
    quadratic = jnp.minimum(abs_r, delta)
    # Same as max(|r| - delta, 0), without doubling the gradient at |r| = delta.
    linear = abs_r - quadratic
    return _reduce(0.5 * jnp.square(quadratic) + delta * linear, reduction)


def accuracy(logits: ArrayLike, labels: ArrayLike, *, reduction: Reduction = "mean") -> jax.Array:
    """The fraction of examples whose largest logit is the labelled class.

    Args:
        logits: scores (or probabilities), classes on the last axis.
        labels: integer classes with the shape of ``logits`` without the last axis, or one-hot
            (or probability) labels with the shape of ``logits``, whose argmax is the class.
        reduction: ``"mean"`` (the default here: the accuracy), ``"sum"`` (the number of
            correct examples) or ``"none"`` (1.0 for each correct example, 0.0 otherwise).

    Returns:
        A float32 value (or array for ``"none"``).

    Example:
        >>> logits = jnp.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
        >>> gradtx.losses.accuracy(logits, jnp.array([0, 1, 1]))
        Array(0.6667, dtype=float32)
    """
    _check_reduction("accuracy", reduction)
    z = jnp.asarray(logits)
    y = jnp.asarray(labels)
    if y.shape == z.shape:
        y = jnp.argmax(y, axis=-1)
    elif y.shape != z.shape[:-1]:
        raise ValueError(
            f"accuracy(): labels need shape {z.shape[:-1]} (integer classes) or {z.shape} "
            f"(one-hot), got {y.shape}."
        )
    correct = (jnp.argmax(z, axis=-1) == y).astype(jnp.float32)
    return _reduce(correct, reduction)
