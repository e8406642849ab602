"""Shared helpers of the loss modules: reductions, dtype checks and residuals."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

from gradtx.base import ArrayLike
from gradtx.numerics import upcast

Reduction = Literal["none", "mean", "sum"]
_REDUCTIONS = ("none", "mean", "sum")
Axis = int | tuple[int, ...]


def check_reduction(fn: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}.")


def reduce(values: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    return values


def floating(fn: str, name: str, x: ArrayLike) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: {name} must be a real floating array, got dtype {x.dtype}.")
    return upcast(x)


def residual(fn: str, predictions: ArrayLike, targets: ArrayLike | None) -> jax.Array:
    p = floating(fn, "predictions", predictions)
    if targets is None:
        return p
    t = jnp.asarray(targets)
    if t.shape != p.shape:
        raise ValueError(
            f"{fn}: predictions and targets need the same shape, got {p.shape} and {t.shape}."
        )
    return p - t.astype(p.dtype)
