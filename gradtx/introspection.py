"""explain(tx, params): which transformations act on which parameter leaf.

Masks, partitions and optimizers' ``mask=`` arguments decide per leaf what runs; a mistake
(weight decay on norm scales, a frozen head that still trains) is silent. :func:`explain`
walks a transformation and lists, for every leaf path, the transformations applied to it in
order.

It reads what gradtx's combinators record when they build a transformation (the members of a
:func:`~gradtx.chain`, the inner transformation of a wrapper, masks and labels); a
transformation defined outside gradtx shows up under the name of the function that built it.
"""

from __future__ import annotations

from typing import Any

import jax

from gradtx import _registry, tree as _tree
from gradtx._mask import MaskedNode, is_masked_node, resolve
from gradtx.base import GradientTransformation, Params

__all__ = ["Explanation", "explain"]


class Explanation(dict):
    """A dict from leaf path to the names of the transformations applied to it, in order.

    Printing it shows a table.
    """

    def __str__(self) -> str:
        if not self:
            return "(no leaves)"
        width = max(len("leaf"), *(len(k) for k in self))
        lines = [f"{'leaf'.ljust(width)}  transformations"]
        for path, names in self.items():
            lines.append(f"{path.ljust(width)}  {' > '.join(names) if names else '(none)'}")
        return "\n".join(lines)

    __repr__ = __str__


def _factory_name(update: Any) -> str:
    """The name of the function that built ``update``: ``scale`` for ``scale.<locals>...``."""
    name = getattr(update, "__qualname__", type(update).__name__)
    return name.split(".<locals>")[0].lstrip("_")


def explain(tx: GradientTransformation, params: Params) -> Explanation:
    """Lists, for every parameter leaf, the transformations ``tx`` applies to it.

    Args:
        tx: the transformation (an optimizer, a chain, a partition...).
        params: the parameters (arrays or ``jax.ShapeDtypeStruct``), to resolve masks and
            labels.

    Returns:
        An :class:`Explanation`: a dict from ``/``-joined leaf path to a tuple of names, in the
        order they are applied; ``partition[label]`` marks the group a leaf belongs to. Print
        it for a table.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"dense": {"w": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
        >>> print(gradtx.explain(gradtx.adamw(1e-3, mask=gradtx.by_path("*/w")), params))
        leaf        transformations
        dense/bias  scale_by_adam > scale
        dense/w     scale_by_adam > add_decayed_weights > scale
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(params, is_leaf=is_masked_node)
    paths = [_tree.path_str(p) for p, _ in flat]
    leaves = [x for _, x in flat]
    names: list[list[str]] = [[] for _ in leaves]

    def view(active: list[bool]) -> Any:
        return treedef.unflatten(
            [x if a else MaskedNode() for x, a in zip(leaves, active, strict=True)]
        )

    def add(entry: str, active: list[bool]) -> None:
        for i, a in enumerate(active):
            if a:
                names[i].append(entry)

    def visit(t: Any, active: list[bool]) -> None:
        if not any(active):
            return
        description = _registry.lookup(t) or _registry.Description()
        if description.explain is not None:
            for entry, child, selected in description.explain(view(active)):
                sub = [a and s for a, s in zip(active, selected, strict=True)]
                if entry is not None:
                    add(entry, sub)
                if child is not None:
                    visit(child, sub)
            return
        if description.children:
            for child in description.children:
                visit(child, active)
            return
        if description.mask is not None:
            selected = resolve(description.mask, view(active), "explain()")
            active = [a and s for a, s in zip(active, selected, strict=True)]
        add(description.name or _factory_name(t.update), active)

    visit(tx, [not is_masked_node(x) for x in leaves])
    return Explanation((p, tuple(n)) for p, n in zip(paths, names, strict=True))
