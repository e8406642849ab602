"""Classification losses: sigmoid and softmax cross-entropies, accuracy."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx.base import ArrayLike
from gradtx.losses import _common
from gradtx.losses._common import Axis, Reduction


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
    _common.check_reduction("sigmoid_binary_cross_entropy", reduction)
    z = _common.floating("sigmoid_binary_cross_entropy", "logits", logits)
    y = jnp.asarray(labels).astype(z.dtype)
    loss = -y * jax.nn.log_sigmoid(z) - (1 - y) * jax.nn.log_sigmoid(-z)
    return _common.reduce(loss, reduction)


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
    _common.check_reduction("softmax_cross_entropy", reduction)
    z = _common.floating("softmax_cross_entropy", "logits", logits)
    y = jnp.asarray(labels)
    if y.shape != z.shape:
        raise ValueError(
            f"softmax_cross_entropy(): labels need the shape of the logits {z.shape}, got "
            f"{y.shape}; for integer class labels use softmax_cross_entropy_with_integer_labels."
        )
    mask = _where(where, z, axis)
    log_p = jax.nn.log_softmax(z, axis=axis, where=mask)
    return _common.reduce(-jnp.sum(y.astype(z.dtype) * log_p, axis=axis, where=mask), reduction)


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
    _common.check_reduction(fn, reduction)
    z = _common.floating(fn, "logits", logits)
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
    return _common.reduce(loss, reduction)


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
    _common.check_reduction("accuracy", reduction)
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
    return _common.reduce(correct, reduction)
