"""Construction-time validation of hyperparameters (skipped for traced values)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array, or ``None`` when it is traced (inside jit, vmap or grad)."""
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def check_range(
    fn: str,
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> None:
    """Raises ``ValueError`` if a concrete ``value`` lies outside the interval.

    Schedules (callables) and traced values are not checked: a schedule is evaluated inside
    ``update`` and a traced value has no value yet.
    """
    if value is None or callable(value):
        return
    arr = concrete(value)
    if arr is None:
        return
    # jnp.issubdtype knows bfloat16 and the other ml_dtypes, which NumPy does not count as numbers.
    if arr.dtype == object or not jax.numpy.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{fn}(): {name} must be a number or an array, got {value!r}.")
    arr = np.real(arr)
    if not np.issubdtype(arr.dtype, np.number):  # bfloat16, float8...: compare in float64
        arr = arr.astype(np.float64)
    below = arr <= low if low_open else arr < low
    above = arr >= high if high_open else arr > high
    if np.any(np.isnan(arr)) or np.any(below) or np.any(above):
        left = "(" if low_open or low == -math.inf else "["
        right = ")" if high_open or high == math.inf else "]"
        interval = f"{left}{low:g}, {high:g}{right}"
        raise ValueError(
            f"{fn}(): {name} must be in {interval}, got {name}={value!r}."
            + (f" {hint}" if hint else "")
        )


def unit_interval(fn: str, **values: Any) -> None:
    """Checks that each value is in [0, 1) (decay rates, momenta)."""
    for name, value in values.items():
        check_range(fn, name, value, 0.0, 1.0, high_open=True)


def non_negative(fn: str, **values: Any) -> None:
    """Checks that each value is >= 0 (eps, norms, strengths)."""
    for name, value in values.items():
        check_range(fn, name, value, 0.0)


def learning_rate(fn: str, value: Any) -> None:
    check_range(
        fn,
        "learning_rate",
        value,
        0.0,
        hint="For gradient ascent use scale_by_learning_rate(lr, flip_sign=False).",
    )


def resolve(value: Any, count: jax.Array) -> Any:
    """Evaluates a schedule at ``count``; returns other values unchanged."""
    return value(count) if callable(value) else value


def is_static_zero(value: Any) -> bool:
    """True for a Python number equal to zero (decides structure, never a traced value)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


Schedule = Callable[[jax.Array], Any]
