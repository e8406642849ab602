r"""Parameter initialisers: ``init(key, shape, dtype=jnp.float32) -> array``.

The lecture's principles for initialising a network: weights are i.i.d. with mean zero, their
variance is chosen so that activations (forward) and gradients (backward) keep the same variance
from layer to layer, and biases start at zero. For a layer with :math:`n_{in}` inputs and
:math:`n_{out}` outputs and an activation with :math:`\sigma(z) \approx z` near 0 (tanh):

.. math::
    \operatorname{Var}[w] = \frac{1}{n_{in}} \text{ (forward)}, \quad
    \frac{1}{n_{out}} \text{ (backward)}, \quad
    \frac{2}{n_{in} + n_{out}} \text{ (Glorot/Xavier, both)}

and :math:`2 / n_{in}` for ReLU (He/Kaiming), which halves the variance. A convolution kernel
of shape :math:`(C_{out}, C_{in}, m, n)` has :math:`n_{in} = C_{in} m n` and
:math:`n_{out} = C_{out} m n` (see :func:`compute_fans`).

Every initialiser returns the same values as the :mod:`jax.nn.initializers` function of the
same name for the same key, shape and dtype (``glorot_normal``, ``he_normal`` and
``lecun_normal`` therefore draw from a normal truncated at two standard deviations, rescaled so
that the variance is exactly the formula's). Factories (``normal(stddev)``...) return the
initialiser; ``zeros`` and ``ones`` are initialisers themselves.

Example:
    >>> w = gradtx.nn.initializers.glorot_uniform()(jax.random.key(0), (256, 256))
    >>> bool(jnp.all(jnp.abs(w) <= np.sqrt(6 / 512)))
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import ArrayLike, DTypeLike

__all__ = [
    "Initializer",
    "compute_fans",
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Initializer = Callable[..., jax.Array]
"""``init(key, shape, dtype=jnp.float32) -> array``."""

Axes = int | Sequence[int]

# The standard deviation of a standard normal truncated to [-2, 2]: dividing by it makes the
# truncated draws have the requested variance (the constant jax.nn.initializers uses).
_TRUNCATED_STD = 0.87962566103423978


def zeros(key: jax.Array | None, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
    """An array of zeros (``key`` is ignored): the lecture's bias initialisation.

    Example:
        >>> gradtx.nn.initializers.zeros(None, (2,))
        Array([0., 0.], dtype=float32)
    """
    del key
    return jnp.zeros(shape, dtype)


def ones(key: jax.Array | None, shape: Sequence[int], dtype: DTypeLike = jnp.float32) -> jax.Array:
    """An array of ones (``key`` is ignored), e.g. the scale of a norm layer.

    Example:
        >>> gradtx.nn.initializers.ones(None, (2,))
        Array([1., 1.], dtype=float32)
    """
    del key
    return jnp.ones(shape, dtype)


def constant(value: ArrayLike) -> Initializer:
    """Arrays full of ``value``.

    Initialising every weight to the same constant makes all units of a layer compute the same
    function and receive the same gradient, so they stay equal during training (the lecture's
    symmetry argument); use it for biases and norm scales, not for weights.

    Example:
        >>> gradtx.nn.initializers.constant(-7.0)(None, (2,))
        Array([-7., -7.], dtype=float32)
    """

    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.full(shape, value, dtype)

    return init


def normal(stddev: ArrayLike = 1e-2) -> Initializer:
    r"""I.i.d. :math:`\mathcal N(0, \sigma^2)` draws with :math:`\sigma` = ``stddev``.

    Example:
        >>> w = gradtx.nn.initializers.normal(2.0)(jax.random.key(0), (100_000,))
        >>> round(float(w.std()), 1)
        2.0
    """
    _checks.non_negative("normal", stddev=stddev)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.normal(key, shape, dtype) * jnp.asarray(stddev, dtype)

    return init


def uniform(scale: ArrayLike = 1e-2) -> Initializer:
    """I.i.d. draws from :math:`U[0, s)` with :math:`s` = ``scale`` (as in JAX: not centred).

    Example:
        >>> w = gradtx.nn.initializers.uniform(3.0)(jax.random.key(0), (1000,))
        >>> bool(w.min() >= 0), bool(w.max() < 3)
        (True, True)
    """

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype) * jnp.asarray(scale, dtype)

    return init


def truncated_normal(
    stddev: ArrayLike = 1e-2, *, lower: ArrayLike = -2.0, upper: ArrayLike = 2.0
) -> Initializer:
    r"""A standard normal truncated to ``[lower, upper]``, then multiplied by ``stddev``.

    ``stddev`` is that of the untruncated normal: the draws' standard deviation is smaller
    (:math:`0.88\sigma` for the default bounds). :func:`variance_scaling` corrects for this.

    Example:
        >>> w = gradtx.nn.initializers.truncated_normal(1.0)(jax.random.key(0), (1000,))
        >>> bool(jnp.all(jnp.abs(w) <= 2))
        True
    """
    _checks.non_negative("truncated_normal", stddev=stddev)

    def init(key, shape, dtype=jnp.float32):
        draws = jax.random.truncated_normal(key, lower, upper, shape, dtype)
        return draws * jnp.asarray(stddev, dtype)

    return init


def _axes(axes: Axes, ndim: int) -> tuple[int, ...]:
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"compute_fans(): axis {a} is out of range for a {ndim}-d shape.")
    return tuple(a % ndim for a in axes)


def compute_fans(
    shape: Sequence[int],
    in_axis: Axes = -2,
    out_axis: Axes = -1,
    batch_axis: Axes = (),
    *,
    layout: str | None = None,
) -> tuple[float, float]:
    r"""The fan-in :math:`n_{in}` and fan-out :math:`n_{out}` of a weight of this shape.

    .. math::
        n_{in} = C_{in} \cdot r, \qquad n_{out} = C_{out} \cdot r

    where :math:`C_{in}` and :math:`C_{out}` are the sizes of the input and output axes and
    the receptive field :math:`r` is the product of all other axes except the batch axes (the
    spatial kernel size :math:`m n` of a 2-d convolution, 1 for a dense layer). A dense weight
    used as ``x @ w`` has shape :math:`(n_{in}, n_{out})`; a convolution kernel in the lecture's
    (and PyTorch's) layout has shape :math:`(C_{out}, C_{in}, m, n)`, so
    :math:`n_{in} = C_{in} m n` and :math:`n_{out} = C_{out} m n`.

    Args:
        shape: the weight's shape.
        in_axis: axis (or axes) of the inputs; the default -2 fits ``x @ w`` dense weights and
            JAX's ``HWIO`` convolution kernels.
        out_axis: axis (or axes) of the outputs.
        batch_axis: axes of independent weights stacked together, left out of both fans.
        layout: instead of the axes, one letter per axis: ``"I"`` the input axis, ``"O"`` the
            output axis, ``"B"`` batch axes, any other letter a receptive-field axis. Common
            layouts: ``"IO"`` (dense ``x @ w``), ``"OI"`` (PyTorch ``Linear``), ``"HWIO"``
            (JAX/TensorFlow convolutions), ``"OIHW"`` (the lecture and PyTorch convolutions).

    Returns:
        ``(fan_in, fan_out)`` as floats.

    Example:
        >>> shape = (64, 3, 5, 5)  # (C_out, C_in, m, n)
        >>> gradtx.nn.initializers.compute_fans(shape, layout="OIHW")
        (75.0, 1600.0)
    """
    shape = tuple(int(s) for s in shape)
    if layout is not None:
        if (in_axis, out_axis, batch_axis) != (-2, -1, ()):
            raise ValueError(
                "compute_fans(): give either layout or in_axis/out_axis/batch_axis, not both."
            )
        if len(layout) != len(shape) or layout.count("I") != 1 or layout.count("O") != 1:
            raise ValueError(
                f"compute_fans(): layout must have one letter per axis of shape {shape} with "
                f"exactly one 'I' and one 'O' (e.g. 'IO', 'OIHW', 'HWIO'), got {layout!r}."
            )
        in_axis, out_axis = layout.index("I"), layout.index("O")
        batch_axis = tuple(i for i, c in enumerate(layout) if c == "B")
    if len(shape) < 2 and isinstance(in_axis, int) and in_axis == -2:
        raise ValueError(
            f"compute_fans(): a weight needs at least 2 axes to have a fan-in and a fan-out, got "
            f"shape {shape}; pass in_axis/out_axis or a layout for other shapes."
        )
    ins = _axes(in_axis, len(shape))
    outs = _axes(out_axis, len(shape))
    batch = _axes(batch_axis, len(shape))
    used = ins + outs + batch
    if len(set(used)) != len(used):
        raise ValueError(
            f"compute_fans(): in_axis={in_axis}, out_axis={out_axis} and batch_axis="
            f"{batch_axis} must name different axes."
        )
    receptive = math.prod(s for i, s in enumerate(shape) if i not in used)
    fan_in = math.prod(shape[i] for i in ins) * receptive
    fan_out = math.prod(shape[i] for i in outs) * receptive
    return float(fan_in), float(fan_out)


Mode = Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
Distribution = Literal["truncated_normal", "normal", "uniform"]
_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def variance_scaling(
    scale: float,
    mode: Mode,
    distribution: Distribution,
    in_axis: Axes = -2,
    out_axis: Axes = -1,
    batch_axis: Axes = (),
    *,
    layout: str | None = None,
) -> Initializer:
    r"""Zero-mean i.i.d. weights with variance :math:`s / n`, :math:`n` set by the fans.

    .. math::
        \operatorname{Var}[w] = \frac{s}{n}, \qquad n = n_{in},\ n_{out},\
        \frac{n_{in} + n_{out}}{2} \text{ or } \sqrt{n_{in} n_{out}}

    for ``mode`` = ``"fan_in"``, ``"fan_out"``, ``"fan_avg"``, ``"fan_geo_avg"``, with the fans
    from :func:`compute_fans`. ``"normal"`` draws :math:`\mathcal N(0, s/n)`; ``"uniform"``
    draws :math:`U[-\sqrt{3s/n}, \sqrt{3s/n}]`; ``"truncated_normal"`` draws a normal truncated
    at two standard deviations and rescales it so the variance is still :math:`s/n`.

    Args:
        scale: :math:`s > 0`.
        mode: which fan sets :math:`n`.
        distribution: ``"truncated_normal"``, ``"normal"`` or ``"uniform"``.
        in_axis: the input axis or axes of the shape, as in :func:`compute_fans`.
        out_axis: the output axis or axes.
        batch_axis: axes that are neither fan (stacked kernels).
        layout: a named layout (``"IO"``, ``"HWIO"``, ``"OIHW"``...) instead of the axes.

    Returns:
        An initialiser. Uniform and truncated-normal draws need a real floating dtype.

    Example:
        >>> vs = gradtx.nn.initializers.variance_scaling
        >>> init = vs(2.0, "fan_in", "normal", layout="OIHW")
        >>> w = init(jax.random.key(0), (64, 32, 3, 3))
        >>> round(float(w.var() * 32 * 3 * 3), 1)  # Var = 2 / (C_in m n)
        2.0
    """
    _checks.check_range("variance_scaling", "scale", scale, 0.0, low_open=True)
    if mode not in _MODES:
        raise ValueError(f"variance_scaling(): mode must be one of {_MODES}, got {mode!r}.")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(
            f"variance_scaling(): distribution must be one of {_DISTRIBUTIONS}, "
            f"got {distribution!r}."
        )

    def init(key, shape, dtype=jnp.float32):
        shape = tuple(int(s) for s in shape)
        fan_in, fan_out = compute_fans(shape, in_axis, out_axis, batch_axis, layout=layout)
        n = {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "fan_avg": (fan_in + fan_out) / 2,
            "fan_geo_avg": (fan_in * fan_out) ** 0.5,
        }[mode]
        if distribution != "normal" and not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"variance_scaling(): {distribution!r} draws need a real floating dtype, got "
                f"{jnp.dtype(dtype)}; use distribution='normal' for complex weights."
            )
        variance = jnp.asarray(scale / n, dtype)
        if distribution == "normal":
            return jax.random.normal(key, shape, dtype) * jnp.sqrt(variance)
        if distribution == "uniform":
            return jax.random.uniform(key, shape, dtype, -1) * jnp.sqrt(3 * variance)
        stddev = jnp.sqrt(variance) / jnp.asarray(_TRUNCATED_STD, dtype)
        return jax.random.truncated_normal(key, -2, 2, shape, dtype) * stddev

    return init


def _specialise(scale: float, mode: Mode, distribution: Distribution, name: str, doc: str):
    def factory(
        in_axis: Axes = -2,
        out_axis: Axes = -1,
        batch_axis: Axes = (),
        *,
        layout: str | None = None,
    ) -> Initializer:
        return variance_scaling(
            scale, mode, distribution, in_axis, out_axis, batch_axis, layout=layout
        )

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc + (
        "\n\n    Args:\n"
        "        in_axis, out_axis, batch_axis, layout: how to read the fans off the shape;\n"
        "            see :func:`compute_fans`.\n\n"
        "    Returns:\n"
        "        An initialiser equal to ``jax.nn.initializers." + name + "`` for the same key.\n"
    )
    return factory


glorot_normal = _specialise(
    1.0,
    "fan_avg",
    "truncated_normal",
    "glorot_normal",
    r"""Glorot (Xavier) normal: :math:`\operatorname{Var}[w] = 2 / (n_{in} + n_{out})`.

    The lecture's compromise between forward and backward variance preservation for tanh or
    sigmoid layers, drawn (as in JAX) from a truncated normal with exactly that variance.

    Example:
        >>> w = gradtx.nn.initializers.glorot_normal()(jax.random.key(0), (300, 500))
        >>> round(float(w.var() * (300 + 500) / 2), 1)
        1.0""",
)
glorot_uniform = _specialise(
    1.0,
    "fan_avg",
    "uniform",
    "glorot_uniform",
    r"""Glorot (Xavier) uniform: :math:`U[-\sqrt{6/(n_{in}+n_{out})}, \sqrt{6/(n_{in}+n_{out})}]`.

    The variance of these draws is :math:`2 / (n_{in} + n_{out})`.

    Example:
        >>> w = gradtx.nn.initializers.glorot_uniform()(jax.random.key(0), (300, 500))
        >>> bool(jnp.abs(w).max() <= np.sqrt(6 / 800))
        True""",
)
he_normal = _specialise(
    2.0,
    "fan_in",
    "truncated_normal",
    "he_normal",
    r"""He (Kaiming) normal: :math:`\operatorname{Var}[w] = 2 / n_{in}`, for ReLU layers.

    ReLU halves the second moment, so doubling LeCun's :math:`1/n_{in}` keeps the forward
    variance constant. Drawn (as in JAX) from a truncated normal with exactly that variance.

    Example:
        >>> w = gradtx.nn.initializers.he_normal()(jax.random.key(0), (400, 300))
        >>> round(float(w.var() * 400), 1)
        2.0""",
)
he_uniform = _specialise(
    2.0,
    "fan_in",
    "uniform",
    "he_uniform",
    r"""He (Kaiming) uniform: :math:`U[-\sqrt{6/n_{in}}, \sqrt{6/n_{in}}]`.

    The variance of these draws is :math:`2 / n_{in}`, as for :func:`he_normal`.

    Example:
        >>> w = gradtx.nn.initializers.he_uniform()(jax.random.key(0), (400, 300))
        >>> bool(jnp.abs(w).max() <= np.sqrt(6 / 400))
        True""",
)
lecun_normal = _specialise(
    1.0,
    "fan_in",
    "truncated_normal",
    "lecun_normal",
    r"""LeCun normal: :math:`\operatorname{Var}[w] = 1 / n_{in}` (the lecture's forward rule).

    Example:
        >>> w = gradtx.nn.initializers.lecun_normal()(jax.random.key(0), (400, 300))
        >>> round(float(w.var() * 400), 1)
        1.0""",
)
lecun_uniform = _specialise(
    1.0,
    "fan_in",
    "uniform",
    "lecun_uniform",
    r"""LeCun uniform: :math:`U[-\sqrt{3/n_{in}}, \sqrt{3/n_{in}}]`, variance :math:`1/n_{in}`.

    Example:
        >>> w = gradtx.nn.initializers.lecun_uniform()(jax.random.key(0), (400, 300))
        >>> bool(jnp.abs(w).max() <= np.sqrt(3 / 400))
        True""",
)

# The lecture's names for the same initialisers.
xavier_normal = glorot_normal
xavier_uniform = glorot_uniform
kaiming_normal = he_normal
kaiming_uniform = he_uniform
