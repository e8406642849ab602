"""Argument checks and upcasting shared by the two Newton modules (explicit Hessian and CG)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import Params
from gradtx.numerics import upcast

__all__ = ["check_newton_args", "check_real_params", "upcast_tree"]


def upcast_tree(params: Params) -> Params:
    """The parameters with low-precision leaves in float32."""
    return jax.tree_util.tree_map(upcast, params)


def check_real_params(fn: str, params: Params) -> None:
    """Raises TypeError for complex parameters, naming the dtype and the fix."""
    for leaf in jax.tree_util.tree_leaves(params):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.complexfloating):
            raise TypeError(
                f"{fn}: Newton's method here works on real parameters, got a "
                f"{jnp.result_type(leaf)} leaf; split complex parameters into real and "
                "imaginary parts."
            )


def check_newton_args(fn: str, damping: Any, regularization: Any) -> None:
    """Validates ``damping`` in (0, 1] and ``regularization`` >= 0."""
    _checks.check_range(fn, "damping", damping, 0.0, 1.0, low_open=True)
    _checks.non_negative(fn, regularization=regularization)
