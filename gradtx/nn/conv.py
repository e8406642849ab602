"""A 2-d convolution layer over :func:`jax.lax.conv_general_dilated`."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from gradtx.base import DTypeLike
from gradtx.nn import initializers as _init
from gradtx.nn.layers import Layer, _check_features

__all__ = ["conv2d"]


def _pair(fn: str, name: str, value: int | Sequence[int]) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}.")
    return int(pair[0]), int(pair[1])


_KERNEL_LAYOUT = {"NHWC": "HWIO", "NCHW": "OIHW"}


def conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: str | int | Sequence[tuple[int, int]] = "SAME",
    dilation: int | Sequence[int] = 1,
    layout: str = "NHWC",
    use_bias: bool = True,
    w_init: _init.Initializer | None = None,
    b_init: _init.Initializer = _init.zeros,
    dtype: DTypeLike = jnp.float32,
) -> Layer:
    r"""A 2-d convolution, a thin wrapper over :func:`jax.lax.conv_general_dilated`.

    Args:
        in_channels: :math:`C_{in}`.
        out_channels: :math:`C_{out}`.
        kernel_size: :math:`(m, n)`, or one int for a square kernel.
        stride: window strides (int or pair).
        padding: ``"SAME"``, ``"VALID"``, an int (the same on every side) or a pair of
            ``(low, high)`` pairs.
        dilation: kernel dilation (int or pair).
        layout: ``"NHWC"`` (inputs ``(batch, height, width, C_in)``, kernel
            :math:`(m, n, C_{in}, C_{out})`, JAX's convention) or ``"NCHW"`` (inputs
            ``(batch, C_in, height, width)``, kernel :math:`(C_{out}, C_{in}, m, n)`, the lecture's
            and PyTorch's). A single unbatched image (3 axes) is accepted too.
        use_bias: whether to add a bias per output channel.
        w_init: kernel initialiser, called with the kernel shape of ``layout``. The default is
            :func:`~gradtx.nn.initializers.lecun_normal` with that layout, i.e.
            :math:`\operatorname{Var} = 1 / (C_{in} m n)`. A custom variance-scaling initialiser
            must be told the layout, e.g. ``he_normal(layout="OIHW")`` for ``"NCHW"``.
        b_init: bias initialiser, shape :math:`(C_{out},)`.
        dtype: dtype of the parameters.

    Returns:
        A :class:`Layer` with parameters ``{"w": kernel, "b": bias}``.

    Example:
        >>> conv = gradtx.nn.conv2d(3, 8, 3, layout="NCHW")
        >>> params = conv.init(jax.random.key(0))
        >>> params["w"].shape, conv.apply(params, jnp.ones((2, 3, 5, 5))).shape
        ((8, 3, 3, 3), (2, 8, 5, 5))
    """
    if layout not in _KERNEL_LAYOUT:
        raise ValueError(f"conv2d(): layout must be 'NHWC' or 'NCHW', got {layout!r}.")
    kernel_layout = _KERNEL_LAYOUT[layout]
    kh, kw = _pair("conv2d()", "kernel_size", kernel_size)
    strides = _pair("conv2d()", "stride", stride)
    dilations = _pair("conv2d()", "dilation", dilation)
    if isinstance(padding, int):
        padding = ((padding, padding), (padding, padding))
    w_init = _init.lecun_normal(layout=kernel_layout) if w_init is None else w_init
    if layout == "NHWC":
        kernel_shape = (kh, kw, in_channels, out_channels)
    else:
        kernel_shape = (out_channels, in_channels, kh, kw)
    channel_axis = -1 if layout == "NHWC" else -3

    def init(key):
        w_key, b_key = jax.random.split(key)
        params = {"w": w_init(w_key, kernel_shape, dtype)}
        if use_bias:
            params["b"] = b_init(b_key, (out_channels,), dtype)
        return params

    def apply(params, x, *, key=None, training=False):
        del key, training
        x = jnp.asarray(x)
        if x.ndim not in (3, 4):
            raise ValueError(
                f"conv2d: expected a {layout} input with 4 axes (or 3 for one image), got "
                f"shape {x.shape}."
            )
        _check_features("conv2d", x, channel_axis, in_channels)
        batched = x if x.ndim == 4 else x[None]
        y = jax.lax.conv_general_dilated(
            batched,
            params["w"],
            window_strides=strides,
            padding=padding,
            rhs_dilation=dilations,
            dimension_numbers=(layout, kernel_layout, layout),
        )
        if "b" in params:
            b = params["b"]
            y = y + (b if layout == "NHWC" else b[:, None, None])
        return y if x.ndim == 4 else y[0]

    return Layer(init, apply)
