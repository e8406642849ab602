"""Shared pieces of the schedules: dtypes, progress through a transition, argument checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _checks
from gradtx.base import ArrayLike
from gradtx.numerics import promote, promote_dtypes

BoundariesAndScales = Mapping[int, ArrayLike] | Sequence[tuple[ArrayLike, ArrayLike]]


# --- helpers ------------------------------------------------------------------------------


def _dtype(*values: Any) -> Any:
    """float32, or the widest floating dtype among the (array) values."""
    leaves = [v for v in jax.tree_util.tree_leaves(values) if not callable(v)]
    return promote_dtypes(jnp.float32, *leaves)


def _since(count: Any, begin: Any, dtype: Any) -> jax.Array:
    """``count - begin`` in ``dtype``; integer differences are taken exactly before the cast."""
    count, begin = promote(count, begin)
    return (count - begin).astype(dtype)


def _progress(count: Any, begin: Any, steps: Any, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """``(a, 1 - a)`` with ``a = clip((count - begin) / steps, 0, 1)``; ``(0, 1)`` when
    ``steps <= 0`` (no transition: the initial value throughout, as Optax).

    ``1 - a`` is computed as ``(steps - elapsed) / steps``, so that both are correctly rounded
    quotients: near the end of a transition ``1 - a`` computed by subtraction would carry the
    rounding error of ``a`` relative to a small number.
    """
    elapsed = _since(count, begin, dtype)
    steps = _as(steps, dtype)
    positive = steps > 0
    safe = jnp.where(positive, steps, 1)
    done = jnp.clip(elapsed, 0, safe) / safe
    left = jnp.clip(steps - elapsed, 0, safe) / safe
    return jnp.where(positive, done, 0), jnp.where(positive, left, 1)


def _as(value: Any, dtype: Any) -> jax.Array:
    """``value`` in ``dtype``; a Python int too large for int32 (1e10 steps) converts directly."""
    if isinstance(value, int) and not isinstance(value, bool):
        return jnp.asarray(float(value), dtype)
    return jnp.asarray(value).astype(dtype)


def _half_cosine(left: jax.Array) -> jax.Array:
    """``0.5 (1 + cos(pi a))`` written as ``sin(pi (1 - a) / 2)**2``, accurate near both ends."""
    return jnp.sin(0.5 * jnp.pi * left) ** 2


def _cosine(left: jax.Array, exponent: Any) -> jax.Array:
    """``(0.5 (1 + cos(pi a)))**exponent`` from ``1 - a``: 1 at ``a = 0``, 0 at ``a = 1``."""
    return _half_cosine(left) ** jnp.asarray(exponent, left.dtype)


def _steps(fn: str, *, positive: bool = False, **values: Any) -> None:
    for name, value in values.items():
        _checks.check_range(fn, name, value, 0.0, low_open=positive)


def _check_less(fn: str, small: str, small_value: Any, big: str, big_value: Any) -> None:
    a, b = _checks.concrete(small_value), _checks.concrete(big_value)
    if a is not None and b is not None and np.any(b <= a):
        raise ValueError(
            f"{fn}(): {big} must be greater than {small}, got {small}={small_value!r} and "
            f"{big}={big_value!r}."
        )


def _check_non_decreasing(fn: str, name: str, values: Sequence[Any]) -> None:
    arrays = [_checks.concrete(v) for v in values]
    for i in range(1, len(values)):
        a, b = arrays[i - 1], arrays[i]
        if a is not None and b is not None and np.any(b < a):
            raise ValueError(
                f"{fn}(): {name} must be in non-decreasing order, got {name}={list(values)!r} "
                f"({values[i]!r} after {values[i - 1]!r})."
            )


def _boundaries_and_scales(
    fn: str, boundaries_and_scales: BoundariesAndScales | None
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Validated ``(boundaries, scales)``; a dict is sorted by step, pairs must be in order."""
    if boundaries_and_scales is None:
        return (), ()
    if isinstance(boundaries_and_scales, Mapping):
        items = sorted(boundaries_and_scales.items(), key=lambda kv: kv[0])
    else:
        items = [tuple(pair) for pair in boundaries_and_scales]
        if any(len(pair) != 2 for pair in items):
            raise ValueError(
                f"{fn}(): boundaries_and_scales must be a dict {{step: scale}} or a sequence of "
                f"(step, scale) pairs, got {boundaries_and_scales!r}."
            )
    boundaries = tuple(b for b, _ in items)
    scales = tuple(s for _, s in items)
    _check_non_decreasing(fn, "boundaries_and_scales (steps)", boundaries)
    for b in boundaries:
        _checks.check_range(fn, "boundaries_and_scales (step)", b, 0.0)
    for s in scales:
        _checks.check_range(fn, "boundaries_and_scales (scale)", s, 0.0)
    return boundaries, scales


def _interpolate(kind: str, count: Any, init: Any, boundaries: Sequence[Any], scales: Any, dtype):
    """Interpolates between ``init * prod(scales[:i])`` at the boundaries ``0, b_1, ..., b_n``."""
    c = jnp.asarray(count)
    values = [jnp.asarray(init, dtype)]
    for s in scales:
        values.append(values[-1] * jnp.asarray(s, dtype))
    bounds = (0, *boundaries)
    out = values[-1]
    for i in reversed(range(len(boundaries))):
        lo, hi = jnp.asarray(bounds[i]), jnp.asarray(bounds[i + 1])
        done, left = _progress(c, lo, jnp.maximum(jnp.subtract(*promote(hi, lo)), 1), dtype)
        if kind == "cosine":
            done, left = _half_cosine(done), _half_cosine(left)
        below = jnp.less(*promote(c, hi))
        out = jnp.where(below, left * values[i] + done * values[i + 1], out)
    return jnp.broadcast_to(out, jnp.broadcast_shapes(jnp.shape(out), jnp.shape(c)))
