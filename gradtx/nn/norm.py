r"""Normalisation layers: batch norm (with running statistics as state), layer norm, RMS norm.

All three normalise, then scale and shift with learned :math:`\gamma` (``"gamma"``, initialised
to ones) and :math:`\beta` (``"beta"``, zeros):

.. math::
    \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta

They differ in what :math:`\mu, \sigma^2` average over: batch norm over the examples of the
minibatch (per feature), layer norm over the features of each example. Statistics are computed
in float32 for low-precision inputs and the output has the input's dtype.

Example:
    >>> ln = gradtx.nn.layer_norm(3)
    >>> ln.apply(ln.init(jax.random.key(0)), jnp.array([1.0, 2.0, 3.0]))
    Array([-1.2247,  0.    ,  1.2247], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, DTypeLike, Params
from gradtx.nn import initializers as _init
from gradtx.nn.layers import Layer
from gradtx.numerics import upcast

__all__ = ["BatchNormState", "StatefulLayer", "batch_norm", "layer_norm", "rms_norm"]


def _axes(fn: str, axis: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not all(-ndim <= a < ndim for a in axes):
        raise ValueError(f"{fn}: axis {axis} is out of range for an input with {ndim} axes.")
    return tuple(sorted(a % ndim for a in axes))


def _affine_params(key, shape, use_scale, use_bias, scale_init, bias_init, dtype) -> dict:
    s_key, b_key = jax.random.split(key)
    params = {}
    if use_scale:
        params["gamma"] = scale_init(s_key, shape, dtype)
    if use_bias:
        params["beta"] = bias_init(b_key, shape, dtype)
    return params


def _scale_shift(fn: str, params, x_hat: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``gamma * x_hat + beta`` with the parameters broadcast along ``axes`` of ``x_hat``."""
    features = tuple(x_hat.shape[a] for a in axes)
    shape = [1] * x_hat.ndim
    for a in axes:
        shape[a] = x_hat.shape[a]
    for name in ("gamma", "beta"):
        if name in params and jnp.shape(params[name]) != features:
            raise ValueError(
                f"{fn}: {name} has shape {jnp.shape(params[name])} but the input has shape "
                f"{features} on the normalised axes {axes}."
            )
    if "gamma" in params:
        x_hat = x_hat * upcast(params["gamma"]).reshape(shape)
    if "beta" in params:
        x_hat = x_hat + upcast(params["beta"]).reshape(shape)
    return x_hat


def _feature_shape(num_features: int | Sequence[int]) -> tuple[int, ...]:
    return (int(num_features),) if isinstance(num_features, int) else tuple(num_features)


def layer_norm(
    num_features: int | Sequence[int],
    *,
    axis: int | Sequence[int] = -1,
    eps: ArrayLike = 1e-5,
    use_scale: bool = True,
    use_bias: bool = True,
    scale_init: _init.Initializer = _init.ones,
    bias_init: _init.Initializer = _init.zeros,
    dtype: DTypeLike = jnp.float32,
) -> Layer:
    r"""Layer normalisation: each example normalised over its own features.

    .. math::
        \mu = \frac{1}{d}\sum_i x_i, \quad \sigma^2 = \frac{1}{d}\sum_i (x_i - \mu)^2, \quad
        y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    with the sums over the ``axis`` axes of one example. It does not depend on the other
    examples, so training and evaluation compute the same thing (``torch.nn.LayerNorm``).

    Args:
        num_features: the size (or shape) of the normalised axes; :math:`\gamma` and
            :math:`\beta` have this shape.
        axis: the axis or axes to normalise over (default the last).
        eps: :math:`\epsilon \ge 0`.
        use_scale: whether to learn :math:`\gamma`.
        use_bias: whether to learn :math:`\beta`.
        scale_init: the initialiser of :math:`\gamma` (ones).
        bias_init: the initialiser of :math:`\beta` (zeros).
        dtype: dtype of the parameters.

    Returns:
        A :class:`~gradtx.nn.Layer` with parameters ``{"gamma", "beta"}``.

    Example:
        >>> ln = gradtx.nn.layer_norm(2)
        >>> ln.apply(ln.init(jax.random.key(0)), jnp.array([[0.0, 2.0], [5.0, 1.0]]))
        Array([[-1.,  1.],
               [ 1., -1.]], dtype=float32)
    """
    _checks.non_negative("layer_norm", eps=eps)
    shape = _feature_shape(num_features)

    def init(key):
        return _affine_params(key, shape, use_scale, use_bias, scale_init, bias_init, dtype)

    def apply(params, x, *, key=None, training=False):
        del key, training
        x = jnp.asarray(x)
        axes = _axes("layer_norm", axis, x.ndim)
        xc = upcast(x)
        mean = jnp.mean(xc, axes, keepdims=True)
        var = jnp.mean(jnp.square(xc - mean), axes, keepdims=True)
        x_hat = (xc - mean) * jax.lax.rsqrt(var + eps)
        return _scale_shift("layer_norm", params, x_hat, axes).astype(x.dtype)

    return Layer(init, apply)


def rms_norm(
    num_features: int | Sequence[int],
    *,
    axis: int | Sequence[int] = -1,
    eps: ArrayLike = 1e-6,
    use_scale: bool = True,
    use_bias: bool = False,
    scale_init: _init.Initializer = _init.ones,
    bias_init: _init.Initializer = _init.zeros,
    dtype: DTypeLike = jnp.float32,
) -> Layer:
    r"""RMS normalisation: layer norm without centring (Zhang and Sennrich, 2019).

    .. math::
        y = \gamma \frac{x}{\sqrt{\frac{1}{d}\sum_i x_i^2 + \epsilon}} \; (+ \beta)

    Args:
        num_features: the size (or shape) of the normalised axes.
        axis: the axis or axes to normalise over (default the last).
        eps: :math:`\epsilon \ge 0`.
        use_scale: whether to learn :math:`\gamma`.
        use_bias: whether to learn a shift :math:`\beta` (off by default).
        scale_init, bias_init: their initialisers (ones and zeros).
        dtype: dtype of the parameters.

    Returns:
        A :class:`~gradtx.nn.Layer` with parameters ``{"gamma"}`` (and ``"beta"``).

    Example:
        >>> rms = gradtx.nn.rms_norm(2, eps=0.0)
        >>> rms.apply(rms.init(jax.random.key(0)), jnp.array([3.0, 4.0]))
        Array([0.8485, 1.1314], dtype=float32)
    """
    _checks.non_negative("rms_norm", eps=eps)
    shape = _feature_shape(num_features)

    def init(key):
        return _affine_params(key, shape, use_scale, use_bias, scale_init, bias_init, dtype)

    def apply(params, x, *, key=None, training=False):
        del key, training
        x = jnp.asarray(x)
        axes = _axes("rms_norm", axis, x.ndim)
        xc = upcast(x)
        x_hat = xc * jax.lax.rsqrt(jnp.mean(jnp.square(xc), axes, keepdims=True) + eps)
        return _scale_shift("rms_norm", params, x_hat, axes).astype(x.dtype)

    return Layer(init, apply)


class StatefulLayer(NamedTuple):
    """A layer with state that is not trained (batch norm's running statistics).

    ``init(key) -> (params, state)`` and ``apply(params, state, x, *, training) ->
    (y, new_state)``. Only ``params`` go to the optimizer; carry ``state`` next to them.

    Attributes:
        init: draws the parameters and builds the initial state.
        apply: the forward pass, returning the output and the updated state.
    """

    init: Callable[[jax.Array], tuple[Params, Any]]
    apply: Callable[..., tuple[jax.Array, Any]]


class BatchNormState(NamedTuple):
    """Running statistics of :func:`batch_norm`, float32, one entry per feature."""

    mean: jax.Array
    var: jax.Array


def batch_norm(
    num_features: int,
    *,
    axis: int = -1,
    momentum: ArrayLike = 0.9,
    eps: ArrayLike = 1e-5,
    axis_name: Any = None,
    use_scale: bool = True,
    use_bias: bool = True,
    scale_init: _init.Initializer = _init.ones,
    bias_init: _init.Initializer = _init.zeros,
    dtype: DTypeLike = jnp.float32,
) -> StatefulLayer:
    r"""Batch normalisation (Ioffe and Szegedy, 2015) with running statistics as state.

    In training (``training=True``) each feature is normalised with the statistics of the
    minibatch :math:`\mathcal B = \{x_1, \dots, x_m\}`, averaged over every axis but ``axis``:

    .. math::
        \mu_{\mathcal B} = \frac{1}{m}\sum_i x_i, \quad
        \sigma^2_{\mathcal B} = \frac{1}{m}\sum_i (x_i - \mu_{\mathcal B})^2, \quad
        y_i = \gamma \frac{x_i - \mu_{\mathcal B}}{\sqrt{\sigma^2_{\mathcal B} + \epsilon}}
        + \beta

    and the running statistics move towards them,
    :math:`\bar\mu \leftarrow \rho \bar\mu + (1 - \rho) \mu_{\mathcal B}` and likewise
    :math:`\bar\sigma^2` with the (biased) :math:`\sigma^2_{\mathcal B}`, as in Flax. In
    evaluation (``training=False``) :math:`\bar\mu, \bar\sigma^2` replace the batch statistics
    and the state is returned unchanged. ``torch.nn.BatchNorm`` writes the same rule with
    ``momentum`` :math:`= 1 - \rho` and the unbiased variance in its running average.

    With ``axis_name``, the batch statistics are averaged across the devices (or vmapped
    copies) of that named axis with :func:`jax.lax.pmean`, so ``shard_map``/``pmap`` over a
    batch split into equal shards gives the statistics of the whole batch.

    Args:
        num_features: size of the feature axis.
        axis: the feature axis (``-1`` for ``(batch, features)`` and NHWC, ``1`` for NCHW).
        momentum: :math:`\rho \in [0, 1]`, the decay of the running statistics.
        eps: :math:`\epsilon \ge 0`.
        axis_name: a named mapped axis to average the batch statistics over, or ``None``.
        use_scale: whether to learn :math:`\gamma`.
        use_bias: whether to learn :math:`\beta`.
        scale_init: the initialiser of :math:`\gamma` (ones).
        bias_init: the initialiser of :math:`\beta` (zeros).
        dtype: dtype of :math:`\gamma, \beta`; the running statistics are float32.

    Returns:
        A :class:`StatefulLayer`: ``init(key) -> (params, BatchNormState)`` and
        ``apply(params, state, x, *, training) -> (y, state)``, where ``training`` (a Python
        bool) must be given.

    Example:
        >>> bn = gradtx.nn.batch_norm(1)
        >>> params, state = bn.init(jax.random.key(0))
        >>> y, state = bn.apply(params, state, jnp.array([[1.0], [3.0]]), training=True)
        >>> y[:, 0], state.mean
        (Array([-1.,  1.], dtype=float32), Array([0.2], dtype=float32))
    """
    _checks.check_range("batch_norm", "momentum", momentum, 0.0, 1.0)
    _checks.non_negative("batch_norm", eps=eps)
    num_features = int(num_features)

    def init(key):
        params = _affine_params(
            key, (num_features,), use_scale, use_bias, scale_init, bias_init, dtype
        )
        state = BatchNormState(
            jnp.zeros((num_features,), jnp.float32), jnp.ones((num_features,), jnp.float32)
        )
        return params, state

    def apply(params, state, x, *, training: bool):
        x = jnp.asarray(x)
        if x.ndim == 0 or not -x.ndim <= axis < x.ndim or x.shape[axis] != num_features:
            raise ValueError(
                f"batch_norm: expected {num_features} features on axis {axis}, got an input of "
                f"shape {x.shape}."
            )
        feature_axis = axis % x.ndim
        reduce = tuple(a for a in range(x.ndim) if a != feature_axis)
        shape = [1] * x.ndim
        shape[feature_axis] = num_features
        xc = upcast(x)
        if training:
            mean = jnp.mean(xc, reduce)
            if axis_name is not None:
                mean = jax.lax.pmean(mean, axis_name)
            var = jnp.mean(jnp.square(xc - mean.reshape(shape)), reduce)
            if axis_name is not None:
                var = jax.lax.pmean(var, axis_name)
            rho = jnp.asarray(momentum, jnp.float32)
            new_state = jax.lax.stop_gradient(
                BatchNormState(
                    rho * state.mean + (1 - rho) * mean.astype(jnp.float32),
                    rho * state.var + (1 - rho) * var.astype(jnp.float32),
                )
            )
        else:
            mean, var = state.mean.astype(xc.dtype), state.var.astype(xc.dtype)
            new_state = state
        x_hat = (xc - mean.reshape(shape)) * jax.lax.rsqrt(var.reshape(shape) + eps)
        y = _scale_shift("batch_norm", params, x_hat, (feature_axis,))
        return y.astype(x.dtype), new_state

    return StatefulLayer(init, apply)
