"""Arithmetic on pytrees of arrays, and reading or setting named nodes of a state.

Every arithmetic function works leaf by leaf on trees of the same structure, and reports a
structure mismatch by naming the first key path where the trees differ. Reductions
(:func:`vdot`, :func:`norm`, :func:`sum`) return a scalar array and are safe for complex
leaves. :func:`get` and :func:`set` (also ``gradtx.tree_get`` and ``gradtx.tree_set``) read
and replace nodes of a nested optimizer state by name. The names follow Optax's
``optax.tree``.

Example:
    >>> import jax.numpy as jnp
    >>> from gradtx import tree
    >>> a = {"w": jnp.array([3.0, 0.0]), "b": jnp.array(4.0)}
    >>> print(tree.norm(a), tree.norm(a, ord=1), tree.norm(a, ord="inf"))
    5.0 7.0 4.0
"""

from __future__ import annotations

from gradtx.tree._arithmetic import (
    add as add,
    add_scale as add_scale,
    cast as cast,
    full_like as full_like,
    ones_like as ones_like,
    scale as scale,
    sub as sub,
    where as where,
    zeros_like as zeros_like,
)
from gradtx.tree._moments import (
    bias_correction as bias_correction,
    update_infinity_moment as update_infinity_moment,
    update_moment as update_moment,
    update_moment_per_elem_norm as update_moment_per_elem_norm,
)
from gradtx.tree._params import ParamsPlaceholder as ParamsPlaceholder, map_params as map_params
from gradtx.tree._reductions import norm as norm, sum as sum, vdot as vdot
from gradtx.tree._state import tree_get as get, tree_set as set
from gradtx.tree._structure import (
    check_array_leaves as check_array_leaves,
    map as map,
    map_with_path as map_with_path,
    path_str as path_str,
)

__all__ = [
    "ParamsPlaceholder",
    "add",
    "add_scale",
    "bias_correction",
    "cast",
    "check_array_leaves",
    "full_like",
    "get",
    "map",
    "map_params",
    "map_with_path",
    "norm",
    "ones_like",
    "path_str",
    "scale",
    "set",
    "sub",
    "sum",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "vdot",
    "where",
    "zeros_like",
]
