"""Adafactor's factored second moments, and the scaling by the parameters' block RMS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import ArrayLike, GradientTransformation, Updates
from gradtx.numerics import abs_sq, promote, real_dtype, safe_increment, upcast
from gradtx.transforms._common import map_leaves, requires_params

__all__ = ["FactoredState", "scale_by_factored_rms"]


def _decay_rate_pow(i: ArrayLike, exponent: ArrayLike = 0.8) -> jax.Array:
    """Adafactor's second-moment decay :math:`1 - (i + 1)^{-c}` (Shazeer and Stern, 2018)."""
    # i + 1 in floating point: an int32 step at its saturation value would wrap to negative.
    t, c = promote(jnp.asarray(i, jnp.float32) + 1, jnp.asarray(exponent))
    return 1.0 - t ** (-c)


def _factored_dims(
    shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int
) -> tuple[int, int] | None:
    """The two largest axes ``(second, largest)``, or ``None`` when the leaf is not factored."""
    if not factored or len(shape) < 2:
        return None
    sorted_dims = np.argsort(shape)
    if shape[sorted_dims[-2]] < min_dim_size_to_factor:
        return None
    return int(sorted_dims[-2]), int(sorted_dims[-1])


class FactoredState(NamedTuple):
    """State of :func:`scale_by_factored_rms`.

    ``v_row``/``v_col`` hold the row and column averages of a factored leaf (a ``(1,)``
    placeholder otherwise); ``v`` the full average of a leaf that is not factored (a ``(1,)``
    placeholder otherwise).
    """

    count: jax.Array  # int32 scalar, the number of steps
    v_row: Updates
    v_col: Updates
    v: Updates


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: ArrayLike = 0.8,
    step_offset: ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: ArrayLike = 1e-30,
    decay_rate_fn: Callable[[Any, Any], Any] = _decay_rate_pow,
) -> GradientTransformation:
    r"""Scaling by a factored estimate of the gradients' RMS (Adafactor; Shazeer and Stern,
    2018), as in Optax.

    With :math:`\hat\beta_{2,t} = ` ``decay_rate_fn(t - step_offset, decay_rate)`` (default
    :math:`1 - (t+1)^{-c}`, :math:`t = 0, 1, \dots`) and :math:`G = |g|^2 + \epsilon`, a leaf
    whose two largest axes both have at least ``min_dim_size_to_factor`` entries keeps the
    averages of :math:`G` over each of them:

    .. math::
        R_t = \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t}) \operatorname{mean}_{\text{col}} G,
        \quad
        C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t}) \operatorname{mean}_{\text{row}} G,
        \quad u = g \Big/ \sqrt{\frac{R_t}{\operatorname{mean}(R_t)}\, C_t}

    (the rows run along the second-largest axis, the columns along the largest). Other leaves
    keep the full average :math:`V_t` and get :math:`u = g / \sqrt{V_t}`.

    Args:
        factored: factor the second moments of leaves with two or more axes.
        decay_rate: :math:`c`, the exponent of the default decay schedule.
        step_offset: subtracted from the step count (for fine-tuning).
        min_dim_size_to_factor: factor only when the two largest axes have at least this size.
        epsilon: :math:`\epsilon \ge 0`, added to the squared gradients.
        decay_rate_fn: ``(step, decay_rate) -> decay``, the second moment's decay schedule.

    Returns:
        The transformation, with state :class:`FactoredState`; ``update`` needs the
        parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_factored_rms()
        >>> p = jnp.zeros(2)
        >>> tx.update(jnp.array([3.0, -4.0]), tx.init(p), p)[0]  # the first step: sign(g)
        Array([ 1., -1.], dtype=float32)

    References:
        Shazeer and Stern, `Adafactor: Adaptive Learning Rates with Sublinear Memory Cost
        <https://arxiv.org/abs/1804.04235>`_, ICML 2018.
    """
    _checks.non_negative("scale_by_factored_rms", epsilon=epsilon)
    if int(min_dim_size_to_factor) != min_dim_size_to_factor:
        raise TypeError(
            "scale_by_factored_rms(): min_dim_size_to_factor must be an integer, got "
            f"{min_dim_size_to_factor!r}."
        )

    def init_leaf(p):
        shape, dtype = jnp.shape(p), real_dtype(jnp.result_type(p))
        placeholder = jnp.zeros((1,), dtype)
        dims = _factored_dims(shape, factored, min_dim_size_to_factor)
        if dims is not None:
            d1, d0 = dims
            row = tuple(s for i, s in enumerate(shape) if i != d0)
            col = tuple(s for i, s in enumerate(shape) if i != d1)
            return jnp.zeros(row, dtype), jnp.zeros(col, dtype), placeholder
        return placeholder, placeholder, jnp.zeros(shape, dtype)

    def init_fn(params):
        rows, cols, vs = map_leaves(lambda p: init_leaf(jnp.asarray(p)), 3, params)
        return FactoredState(count=jnp.zeros([], jnp.int32), v_row=rows, v_col=cols, v=vs)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("scale_by_factored_rms", params)
        if jnp.issubdtype(jnp.result_type(step_offset), jnp.integer):
            step = state.count - jnp.asarray(step_offset, jnp.int32)
        else:  # a float offset (a traced one under vmap): the step as a float too
            offset = jnp.asarray(step_offset)
            step = state.count.astype(offset.dtype) - offset
        decay = decay_rate_fn(step, decay_rate)

        def leaf(g, v_row, v_col, v, p):
            g = jnp.asarray(g)
            gc = upcast(g)
            g2 = abs_sq(gc)
            d = jnp.asarray(decay, g2.dtype)
            grad_sqr = g2 + jnp.asarray(epsilon, g2.dtype)
            dims = _factored_dims(jnp.shape(p), factored, min_dim_size_to_factor)
            if dims is not None:
                d1, d0 = dims
                new_row = d * v_row.astype(g2.dtype) + (1 - d) * jnp.mean(grad_sqr, axis=d0)
                new_col = d * v_col.astype(g2.dtype) + (1 - d) * jnp.mean(grad_sqr, axis=d1)
                # The update uses the moments before they are rounded to the state's dtype
                # (one rounding, of the result, in bfloat16 or float16).
                reduced_d1 = d1 - 1 if d1 > d0 else d1
                row_col_mean = jnp.mean(new_row, axis=reduced_d1, keepdims=True)
                row_factor = jax.lax.rsqrt(new_row / row_col_mean)
                col_factor = jax.lax.rsqrt(new_col)
                scale = jnp.expand_dims(row_factor, d0) * jnp.expand_dims(col_factor, d1)
                u = jnp.multiply(*promote(gc, scale))
                return (
                    u.astype(g.dtype),
                    new_row.astype(v_row.dtype),
                    new_col.astype(v_col.dtype),
                    v,
                )
            new_v = d * v.astype(g2.dtype) + (1 - d) * grad_sqr
            u = jnp.multiply(*promote(gc, jax.lax.rsqrt(new_v)))
            return u.astype(g.dtype), v_row, v_col, new_v.astype(v.dtype)

        out, rows, cols, vs = map_leaves(
            leaf, 4, updates, state.v_row, state.v_col, state.v, params
        )
        count = safe_increment(state.count)
        return out, FactoredState(count=count, v_row=rows, v_col=cols, v=vs)

    return GradientTransformation(init_fn, update_fn)
