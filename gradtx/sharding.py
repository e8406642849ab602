"""Sharding helpers: optimizer-state shardings derived from the parameters' shardings.

gradtx needs no communication code of its own: a jitted training step with sharded inputs is
partitioned by XLA, and the only decision left to the user is where the optimizer state
lives. :func:`state_shardings` derives it from the parameters: every state leaf that mirrors
a parameter (Adam's moments, a momentum buffer, an accumulator) gets that parameter's
sharding, and scalars (step counts, hyperparameters, random keys) are replicated. With
``zero_axis`` the state is also split across the data-parallel axis (ZeRO stage 1): each
device keeps and updates a slice of the optimizer state, and XLA gathers the parameter
updates. Results are the same either way::

    mesh = jax.make_mesh((8,), ("data",))
    params = jax.device_put(params, NamedSharding(mesh, P()))  # replicated
    state = gradtx.sharding.init_sharded(tx, params, zero_axis="data")

    @functools.partial(jax.jit, out_shardings=(params_sharding, state_sharding))
    def step(params, state, batch):  # batch sharded as NamedSharding(mesh, P("data"))
        ...

Example:
    >>> from jax.sharding import NamedSharding, PartitionSpec as P
    >>> mesh = jax.make_mesh((1,), ("data",))
    >>> params = jax.device_put({"w": jnp.zeros((4, 2))}, NamedSharding(mesh, P("data")))
    >>> shardings = gradtx.sharding.state_shardings(gradtx.adam(1e-3), params)
    >>> shardings[0].mu["w"].spec, shardings[0].count.spec
    (P('data',), P())
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec, Sharding, SingleDeviceSharding

from gradtx import tree as _tree
from gradtx.base import GradientTransformation, OptState, Params, as_transformation

__all__ = ["init_sharded", "state_shardings"]


def _param_shardings(params: Params, param_shardings: Any) -> list[Sharding]:
    leaves = jax.tree_util.tree_leaves(params)
    if param_shardings is None:
        out = []
        for path, leaf in jax.tree_util.tree_leaves_with_path(params):
            sharding = getattr(leaf, "sharding", None)
            if not isinstance(sharding, Sharding):
                where = f"at {jax.tree_util.keystr(path)}" if path else "(the params array)"
                raise ValueError(
                    f"state_shardings(): the parameter {where} has no sharding; pass "
                    "jax.Arrays placed with jax.device_put, "
                    "jax.ShapeDtypeStruct(shape, dtype, sharding=...), or param_shardings=."
                )
            out.append(sharding)
        return out
    if isinstance(param_shardings, Sharding):
        return [param_shardings] * len(leaves)
    treedef = jax.tree_util.tree_structure(params)
    try:
        out = treedef.flatten_up_to(param_shardings)
    except (ValueError, TypeError) as e:
        raise ValueError(
            "state_shardings(): param_shardings must be one Sharding or a tree of them with the "
            f"structure of params ({treedef}): {e}"
        ) from None
    for s in out:
        if not isinstance(s, Sharding):
            raise TypeError(f"state_shardings(): expected a jax.sharding.Sharding, got {s!r}.")
    return out


def _replicated(shardings: list[Sharding]) -> Sharding:
    for s in shardings:
        if isinstance(s, NamedSharding):
            return NamedSharding(s.mesh, PartitionSpec())
    devices = {d for s in shardings for d in s.device_set}
    if len(devices) == 1:
        return SingleDeviceSharding(devices.pop())
    raise TypeError(
        "state_shardings(): cannot tell how to replicate the state's scalars over "
        f"{len(devices)} devices without a mesh; place the parameters with "
        "jax.sharding.NamedSharding(mesh, spec)."
    )


def _split_over(sharding: Sharding, shape: tuple[int, ...], axis: str) -> Sharding:
    """``sharding`` with the mesh axis ``axis`` added on the first free dimension it divides."""
    if not isinstance(sharding, NamedSharding) or not shape:
        return sharding
    mesh = sharding.mesh
    if axis not in mesh.axis_names:
        raise ValueError(
            f"state_shardings(): zero_axis={axis!r} is not an axis of the mesh, whose axes are "
            f"{tuple(mesh.axis_names)}."
        )
    spec = list(sharding.spec) + [None] * (len(shape) - len(sharding.spec))
    used = {a for entry in spec if entry is not None for a in _names(entry)}
    if axis in used:
        return sharding
    size = mesh.shape[axis]
    for i, (entry, n) in enumerate(zip(spec, shape, strict=True)):
        if entry is None and n % size == 0:
            spec[i] = axis
            return NamedSharding(mesh, PartitionSpec(*spec))
    return sharding  # no dimension divides evenly: this leaf stays as it is


def _names(entry: Any) -> tuple[str, ...]:
    return tuple(entry) if isinstance(entry, (tuple, list)) else (entry,)


def _parts(path: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(_tree.path_str((k,)) for k in path)


def state_shardings(
    tx: GradientTransformation,
    params: Params,
    param_shardings: Any = None,
    *,
    zero_axis: str | None = None,
) -> Any:
    """Shardings for ``tx``'s state, derived from the parameters' shardings.

    The state's shapes come from ``jax.eval_shape(tx.init, params)`` (nothing is allocated).
    A state leaf whose key path ends with a parameter's key path and whose shape is that
    parameter's gets the parameter's sharding (the longest such path wins, so ``mu/w`` follows
    ``w``); a scalar (a step count, a hyperparameter, a random key) is replicated; any other
    leaf gets the sharding shared by all parameters of its shape, or is replicated.

    Args:
        tx: the transformation.
        params: the parameters: sharded ``jax.Array``s, or ``jax.ShapeDtypeStruct``s (with a
            ``sharding`` unless ``param_shardings`` is given).
        param_shardings: the parameters' shardings, as a tree with the structure of
            ``params`` or one sharding for all; default: each leaf's ``.sharding``.
        zero_axis: a mesh axis name (the data-parallel axis) to split the state over as well,
            ZeRO stage 1: every non-scalar state leaf is also sharded over that axis along
            its first dimension that is not sharded yet and that the axis size divides.
            Leaves with no such dimension keep the parameters' sharding.

    Returns:
        A tree of ``jax.sharding.Sharding`` with the structure of ``tx.init(params)``, for
        ``jax.jit(..., out_shardings=...)`` or ``jax.device_put``.

    Example:
        >>> from jax.sharding import NamedSharding, PartitionSpec as P
        >>> mesh = jax.make_mesh((1,), ("data",))
        >>> params = jax.device_put(jnp.zeros(8), NamedSharding(mesh, P()))
        >>> gradtx.sharding.state_shardings(gradtx.sgd(0.1, momentum=0.9), params,
        ...                                  zero_axis="data")[0].trace.spec
        P('data',)
    """
    tx = as_transformation("state_shardings", "tx", tx)
    shardings = _param_shardings(params, param_shardings)
    flat_params = jax.tree_util.tree_leaves_with_path(params)
    index = [
        (_parts(path), tuple(jnp.shape(leaf)), s)
        for (path, leaf), s in zip(flat_params, shardings, strict=True)
    ]
    replicated = _replicated(shardings) if shardings else None
    shapes = jax.eval_shape(tx.init, params)

    def choose(path: tuple[Any, ...], leaf: Any) -> Sharding:
        parts, shape = _parts(path), tuple(leaf.shape)
        best, best_len = None, -1
        for p_parts, p_shape, s in index:
            n = len(p_parts)
            if p_shape == shape and n > best_len and (n == 0 or parts[-n:] == p_parts):
                best, best_len = s, n
        if best is None and shape:
            same = {s for _, p_shape, s in index if p_shape == shape}
            if len(same) == 1:
                best = same.pop()
        if best is None:
            if replicated is None:
                raise ValueError(
                    "state_shardings(): the parameters have no leaves, so there is no device "
                    "to place the state on; use jax.jit(tx.init) directly."
                )
            best = replicated
        if zero_axis is not None:
            best = _split_over(best, shape, zero_axis)
        return best

    return jax.tree_util.tree_map_with_path(choose, shapes)


def init_sharded(
    tx: GradientTransformation,
    params: Params,
    param_shardings: Any = None,
    *,
    zero_axis: str | None = None,
) -> OptState:
    """Creates ``tx``'s state directly in the shardings of :func:`state_shardings`.

    ``jax.jit(tx.init, out_shardings=state_shardings(...))(params)``: each device allocates
    only its shards.

    Args:
        tx: the transformation.
        params: the parameters (sharded arrays, or shape structs with shardings).
        param_shardings: as in :func:`state_shardings`.
        zero_axis: as in :func:`state_shardings`.

    Returns:
        The initial state, sharded.

    Example:
        >>> from jax.sharding import NamedSharding, PartitionSpec as P
        >>> mesh = jax.make_mesh((1,), ("data",))
        >>> params = jax.device_put(jnp.ones(4), NamedSharding(mesh, P("data")))
        >>> state = gradtx.sharding.init_sharded(gradtx.adam(1e-3), params)
        >>> state[0].nu.sharding == params.sharding
        True
    """
    out = state_shardings(tx, params, param_shardings, zero_axis=zero_axis)
    return jax.jit(tx.init, out_shardings=out)(params)
