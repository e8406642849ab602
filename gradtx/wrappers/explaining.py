"""explain(tx, params): which transformations act on which parameter leaf.

Masks, partitions and optimizers' ``mask=`` arguments decide per leaf what runs; a mistake
(weight decay on norm scales, a frozen head that still trains) is silent. :func:`explain`
walks a transformation and lists, for every leaf path, the transformations applied to it in
order.

It reads the structure that gradtx's own combinators leave behind (:func:`~gradtx.chain`
members, wrapped inner transformations, masks and labels); a transformation defined outside
gradtx shows up under the name of the function that built it.
"""

from __future__ import annotations

from typing import Any

import jax

from gradtx import tree as _tree
from gradtx.base import GradientTransformation, Params
from gradtx.wrappers.masking import MaskedNode, is_masked_node, resolve_mask

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
    name = getattr(update, "__qualname__", type(update).__name__).split(".<locals>")[0]
    if name.startswith("_"):
        # A private builder shared by several public factories keeps their name in ``fn``.
        cells = _closure(update)
        if isinstance(cells.get("fn"), str):
            return cells["fn"]
        name = name.lstrip("_")
    return name


def _closure(fn: Any) -> dict[str, Any]:
    code = getattr(fn, "__code__", None)
    closure = getattr(fn, "__closure__", None)
    if code is None or closure is None:
        return {}
    out = {}
    for name, cell in zip(code.co_freevars, closure, strict=True):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return out


def _inner_transforms(value: Any) -> list[GradientTransformation]:
    if isinstance(value, GradientTransformation):
        return [value]
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [t for v in value for t in _inner_transforms(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _inner_transforms(v)]
    return []


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

    def view(active):
        return treedef.unflatten(
            [x if a else MaskedNode() for x, a in zip(leaves, active, strict=True)]
        )

    def add(entry, active):
        for i, a in enumerate(active):
            if a:
                names[i].append(entry)

    def visit(t: GradientTransformation, active: list[bool]) -> None:
        if not any(active):
            return
        hook = getattr(t.update, "_gradtx_explain", None)
        if hook is not None:
            for entry, child, selected in hook(view(active)):
                sub = [a and s for a, s in zip(active, selected, strict=True)]
                if entry is not None:
                    add(entry, sub)
                if child is not None:
                    visit(child, sub)
            return
        cells = _closure(t.update)
        children = [c for v in cells.values() for c in _inner_transforms(v)]
        if children:
            for child in children:
                visit(child, active)
            return
        mask = cells.get("mask")
        if mask is not None:
            selected = resolve_mask(mask, view(active), "explain()")
            active = [a and s for a, s in zip(active, selected, strict=True)]
        add(_factory_name(t.update), active)

    visit(tx, [not is_masked_node(x) for x in leaves])
    return Explanation((p, tuple(n)) for p, n in zip(paths, names, strict=True))
