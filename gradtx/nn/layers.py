r"""Layers as pairs of pure functions over dicts of arrays.

A :class:`Layer` is a NamedTuple ``(init, apply)``::

    params = layer.init(key)                                # a dict (or list) of arrays
    y = layer.apply(params, x, *, key=None, training=False)

``init`` draws the parameters from an explicit PRNG key; ``apply`` is a pure function of the
parameters and the input, so it works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``, and the
parameters are a plain pytree that every gradtx optimizer consumes. ``key`` and ``training``
are only used by layers that need them (:func:`dropout`); the others accept and ignore them,
so :func:`sequential` can hand them to every member. Parameter names are stable: ``"w"`` for
weights, ``"b"`` for biases, ``"gamma"`` and ``"beta"`` for the scale and shift of norm layers,
and :func:`decay_mask` selects the weights for weight decay.

Example:
    >>> model = gradtx.nn.mlp([2, 16, 1], activation=jnp.tanh)
    >>> params = model.init(jax.random.key(0))
    >>> jax.tree.map(jnp.shape, params)
    [{'b': (16,), 'w': (2, 16)}, {'b': (1,), 'w': (16, 1)}]
    >>> model.apply(params, jnp.ones((5, 2))).shape
    (5, 1)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, DTypeLike, Params
from gradtx.nn import initializers as _init
from gradtx.numerics import upcast

__all__ = [
    "Layer",
    "decay_mask",
    "dense",
    "dropout",
    "is_bias_or_norm",
    "mlp",
    "residual",
    "sequential",
]

Activation = Callable[[jax.Array], jax.Array]


class Layer(NamedTuple):
    """A layer: ``init(key) -> params`` and ``apply(params, x, *, key=None, training=False)``.

    Attributes:
        init: draws the parameters (a pytree of arrays) from a PRNG key.
        apply: the forward pass, a pure function of the parameters and the input.
    """

    init: Callable[[jax.Array], Params]
    apply: Callable[..., jax.Array]


def _check_features(fn: str, x: jax.Array, axis: int, expected: int) -> None:
    if jnp.ndim(x) == 0 or jnp.shape(x)[axis] != expected:
        raise ValueError(
            f"{fn}: expected inputs with {expected} features on axis {axis}, got an input of "
            f"shape {jnp.shape(x)}."
        )


def dense(
    in_features: int,
    out_features: int,
    *,
    use_bias: bool = True,
    w_init: _init.Initializer | None = None,
    b_init: _init.Initializer = _init.zeros,
    dtype: DTypeLike = jnp.float32,
) -> Layer:
    r"""A fully connected layer :math:`y = x W + b` on the last axis of ``x``.

    Args:
        in_features: size of the last axis of the input, :math:`n_{in}`.
        out_features: size of the last axis of the output, :math:`n_{out}`.
        use_bias: whether to add :math:`b`.
        w_init: initialiser of :math:`W`, shape :math:`(n_{in}, n_{out})`; default
            :func:`~gradtx.nn.initializers.lecun_normal` (:math:`\operatorname{Var} = 1/n_{in}`).
        b_init: initialiser of :math:`b`, shape :math:`(n_{out},)`; default zeros.
        dtype: dtype of the parameters.

    Returns:
        A :class:`Layer` with parameters ``{"w": W, "b": b}``.

    Example:
        >>> layer = gradtx.nn.dense(3, 2, w_init=gradtx.nn.initializers.ones)
        >>> layer.apply(layer.init(jax.random.key(0)), jnp.array([1.0, 2.0, 3.0]))
        Array([6., 6.], dtype=float32)
    """
    w_init = _init.lecun_normal() if w_init is None else w_init

    def init(key):
        w_key, b_key = jax.random.split(key)
        params = {"w": w_init(w_key, (in_features, out_features), dtype)}
        if use_bias:
            params["b"] = b_init(b_key, (out_features,), dtype)
        return params

    def apply(params, x, *, key=None, training=False):
        del key, training
        _check_features("dense", x, -1, in_features)
        y = jnp.asarray(x) @ params["w"]
        return y + params["b"] if "b" in params else y

    return Layer(init, apply)


def mlp(
    sizes: Sequence[int],
    *,
    activation: Activation = jax.nn.relu,
    final_activation: Activation | None = None,
    use_bias: bool = True,
    w_init: _init.Initializer | None = None,
    b_init: _init.Initializer = _init.zeros,
    dtype: DTypeLike = jnp.float32,
) -> Layer:
    r"""A multilayer perceptron: dense layers of widths ``sizes`` with an activation between.

    .. math::
        a^0 = x, \qquad a^l = \sigma(a^{l-1} W^l + b^l), \qquad
        y = \sigma_{final}(a^{L-1} W^L + b^L)

    Args:
        sizes: ``[n_in, hidden..., n_out]``, at least two entries.
        activation: :math:`\sigma` after every hidden layer.
        final_activation: :math:`\sigma_{final}` after the last layer; ``None`` for none (logits).
        use_bias, w_init, b_init, dtype: as in :func:`dense`, for every layer (the default
            ``lecun_normal`` suits tanh-like activations; pass
            :func:`~gradtx.nn.initializers.he_normal` for ReLU networks).

    Returns:
        A :class:`Layer` whose parameters are a list of ``{"w", "b"}`` dicts, one per layer.

    Example:
        >>> model = gradtx.nn.mlp([4, 8, 8, 3])
        >>> [p["w"].shape for p in model.init(jax.random.key(0))]
        [(4, 8), (8, 8), (8, 3)]
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(
            f"mlp(): sizes must list the input width and at least one layer width, got {sizes}."
        )
    layers = [
        dense(n_in, n_out, use_bias=use_bias, w_init=w_init, b_init=b_init, dtype=dtype)
        for n_in, n_out in itertools.pairwise(sizes)
    ]

    def init(key):
        keys = jax.random.split(key, len(layers))
        return [layer.init(k) for layer, k in zip(layers, keys, strict=True)]

    def apply(params, x, *, key=None, training=False):
        del key, training
        if len(params) != len(layers):
            raise ValueError(f"mlp: expected {len(layers)} layers of params, got {len(params)}.")
        for i, (layer, p) in enumerate(zip(layers, params, strict=True)):
            x = layer.apply(p, x)
            if i < len(layers) - 1:
                x = activation(x)
            elif final_activation is not None:
                x = final_activation(x)
        return x

    return Layer(init, apply)


def dropout(rate: ArrayLike) -> Layer:
    r"""Dropout: zeroes each entry with probability ``rate`` in training, identity in eval.

    .. math::
        y = \frac{m \odot x}{1 - p}, \qquad m_i \sim \operatorname{Bernoulli}(1 - p)

    so that :math:`\mathbb E[y] = x`. The mask is drawn from the explicit ``key`` given to
    ``apply``; with ``training=False`` (the default) ``apply`` returns ``x`` unchanged.

    Args:
        rate: :math:`p \in [0, 1]`, the probability of dropping an entry (a number, an array or
            a traced value). :math:`p = 1` drops everything and returns zeros.

    Returns:
        A :class:`Layer` without parameters (``init`` returns ``{}``); ``apply(params, x, *,
        key, training)`` needs ``key`` when ``training=True``.

    Example:
        >>> drop = gradtx.nn.dropout(0.5)
        >>> x = jnp.ones(6)
        >>> drop.apply({}, x)  # eval mode
        Array([1., 1., 1., 1., 1., 1.], dtype=float32)
        >>> y = drop.apply({}, x, key=jax.random.key(0), training=True)
        >>> bool(jnp.all((y == 0) | (y == 2)))
        True
    """
    _checks.check_range("dropout", "rate", rate, 0.0, 1.0)

    def init(key):
        del key
        return {}

    def apply(params, x, *, key=None, training=False):
        del params
        x = jnp.asarray(x)
        if not training:
            return x
        if key is None:
            raise ValueError(
                "dropout: apply(params, x, key=..., training=True) needs a PRNG key to draw the "
                "mask; pass training=False for evaluation."
            )
        xc = upcast(x)
        keep = 1 - jnp.asarray(rate, xc.dtype)
        mask = jax.random.bernoulli(key, keep, x.shape)
        # 1 / keep without an inf (and a nan gradient) when everything is dropped.
        inv_keep = jnp.where(keep > 0, 1 / jnp.where(keep > 0, keep, 1), 0)
        return jnp.where(mask, xc * inv_keep, 0).astype(x.dtype)

    return Layer(init, apply)


def _as_layer(fn: str, layer: Layer | Activation) -> Layer:
    if isinstance(layer, Layer):
        return layer
    if isinstance(layer, tuple) or not callable(layer):
        raise TypeError(
            f"{fn}: expected a gradtx.nn.Layer or a parameter-free function x -> y, got "
            f"{layer!r}. Stateful layers (batch_norm) cannot be composed this way: call their "
            "apply in your own forward function and thread their state."
        )

    def init(key):
        del key
        return {}

    def apply(params, x, *, key=None, training=False):
        del params, key, training
        return layer(x)

    return Layer(init, apply)


def sequential(*layers: Layer | Activation) -> Layer:
    """Composes layers left to right: ``apply = f_n(... f_2(f_1(x)))``.

    A plain function ``x -> y`` (``jnp.tanh``, ``jax.nn.relu``...) counts as a layer without
    parameters. ``apply``'s ``key`` is split between the members and ``training`` is passed to
    each, so dropout layers inside draw independent masks.

    Args:
        *layers: :class:`Layer` objects or parameter-free functions.

    Returns:
        A :class:`Layer` whose parameters are a list with one entry per member (``{}`` for
        parameter-free ones).

    Example:
        >>> model = gradtx.nn.sequential(gradtx.nn.dense(2, 4), jnp.tanh, gradtx.nn.dense(4, 1))
        >>> params = model.init(jax.random.key(0))
        >>> len(params), model.apply(params, jnp.ones((3, 2))).shape
        (3, (3, 1))
    """
    members = [_as_layer("sequential()", layer) for layer in layers]

    def init(key):
        keys = jax.random.split(key, len(members))
        return [layer.init(k) for layer, k in zip(members, keys, strict=True)]

    def apply(params, x, *, key=None, training=False):
        if len(params) != len(members):
            raise ValueError(
                f"sequential: expected params for {len(members)} layers, got {len(params)}."
            )
        keys = [None] * len(members) if key is None else list(jax.random.split(key, len(members)))
        for layer, p, k in zip(members, params, keys, strict=True):
            x = layer.apply(p, x, key=k, training=training)
        return x

    return Layer(init, apply)


def residual(layer: Layer | Activation) -> Layer:
    """A residual block :math:`y = x + f(x)`; ``f`` must keep the shape of ``x``.

    Args:
        layer: :math:`f`, a :class:`Layer` (e.g. a :func:`sequential`) or a function.

    Returns:
        A :class:`Layer` with the parameters of ``layer``.

    Example:
        >>> block = gradtx.nn.residual(jnp.sin)
        >>> block.apply(block.init(jax.random.key(0)), jnp.array([0.0, jnp.pi / 2]))
        Array([0.    , 2.5708], dtype=float32)
    """
    inner = _as_layer("residual()", layer)

    def apply(params, x, *, key=None, training=False):
        x = jnp.asarray(x)
        fx = inner.apply(params, x, key=key, training=training)
        if fx.shape != x.shape:
            raise ValueError(
                f"residual: the inner layer maps shape {x.shape} to {fx.shape}; y = x + f(x) "
                "needs f to keep the shape."
            )
        return jnp.add(x, fx)

    return Layer(inner.init, apply)


_NO_DECAY = frozenset({"b", "gamma", "beta"})


def is_bias_or_norm(path: Sequence[Any]) -> bool:
    """True for a leaf whose key path ends in ``"b"``, ``"gamma"`` or ``"beta"``.

    Biases and the scale and shift of norm layers are conventionally left out of weight decay.

    Args:
        path: a key path, as given by :func:`jax.tree_util.tree_map_with_path`.

    Returns:
        Whether the leaf is a bias or a norm-layer parameter.

    Example:
        >>> from jax.tree_util import DictKey, SequenceKey
        >>> gradtx.nn.is_bias_or_norm((SequenceKey(0), DictKey("b")))
        True
    """
    if not path:
        return False
    last = path[-1]
    name = getattr(last, "key", getattr(last, "name", None))
    return name in _NO_DECAY


def decay_mask(params: Params) -> Any:
    """A tree of booleans, ``True`` for the leaves weight decay should apply to.

    Pass it as the ``mask`` of :func:`gradtx.adamw` or :func:`gradtx.add_decayed_weights` to
    decay the weights but not the biases and norm parameters (:func:`is_bias_or_norm`).

    Args:
        params: the parameters.

    Returns:
        A tree of Python booleans with the structure of ``params``.

    Example:
        >>> params = gradtx.nn.dense(2, 3).init(jax.random.key(0))
        >>> gradtx.nn.decay_mask(params)
        {'b': False, 'w': True}
    """
    return jax.tree_util.tree_map_with_path(lambda p, _: not is_bias_or_norm(p), params)
