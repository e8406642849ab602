"""Mapping a function over the copies of the parameters inside an optimizer state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

__all__ = ["ParamsPlaceholder", "map_params"]


@jax.tree_util.register_pytree_node_class
class ParamsPlaceholder:
    """What :func:`map_params` passes to ``init`` in place of the parameters.

    An empty pytree: the state ``init`` builds from it holds a placeholder exactly where it
    holds a copy of the parameters (a moment, a trace). Transformations whose ``init`` needs
    the parameters' structure (:func:`gradtx.masked`) pass it to their inner transformation
    unchanged.
    """

    def tree_flatten(self):
        return (), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        del aux, children
        return cls()

    def __repr__(self) -> str:
        return "ParamsPlaceholder()"


def is_placeholder(x: Any) -> bool:
    return isinstance(x, ParamsPlaceholder)


def map_params(
    initable: Any,
    f: Callable[..., Any],
    state: Any,
    /,
    *rest: Any,
    transform_non_params: Callable[[Any], Any] | None = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Applies ``f`` to every copy of the parameter tree inside an optimizer state.

    The copies are found by calling ``init`` on a :class:`ParamsPlaceholder`: where the state
    built from it holds the placeholder, ``state`` holds a tree with the parameters'
    structure, and ``f`` is mapped over its leaves (with the matching leaves of ``rest``).
    A typical use builds sharding specs for a state from those of the parameters. As
    ``optax.tree.map_params`` (``optax.tree_map_params``).

    Args:
        initable: a transformation (anything with ``init``) or an ``init`` function.
        f: called as ``f(leaf, *rest_leaves)`` on the leaves of each copy of the parameters.
        state: the state to map over.
        *rest: trees with the parameters' structure, passed to ``f`` leaf by leaf.
        transform_non_params: applied to every other leaf of the state (kept otherwise).
        is_leaf: passed to ``jax.tree.map`` over the parameter copies (e.g. to see the
            :class:`~gradtx.MaskedNode` that :func:`~gradtx.masked` puts in its state).

    Returns:
        The state with ``f`` applied to its parameter copies.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.adam(1e-3)
        >>> params = {"w": jnp.ones(3)}
        >>> specs = gradtx.tree.map_params(
        ...     tx, lambda _, spec: spec, tx.init(params), {"w": "model"},
        ...     transform_non_params=lambda _: None)
        >>> specs[0].mu, specs[0].count
        ({'w': 'model'}, None)
    """
    init = initable.init if hasattr(initable, "init") else initable
    with_placeholders = init(ParamsPlaceholder())

    def visit(marker, value):
        if is_placeholder(marker):
            return jax.tree_util.tree_map(f, value, *rest, is_leaf=is_leaf)
        if transform_non_params is not None:
            return transform_non_params(value)
        return value

    return jax.tree_util.tree_map(visit, with_placeholders, state, is_leaf=is_placeholder)
