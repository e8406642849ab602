"""What a transformation is made of, recorded by the combinators that build it.

:func:`gradtx.explain` lists, for every parameter leaf, the transformations applied to it. It
does not look inside closures: each combinator and wrapper (:func:`~gradtx.chain`,
:func:`~gradtx.masked`, :func:`~gradtx.partition`, :class:`~gradtx.MultiSteps`...) calls
:func:`describe` on the transformation it returns, saying which transformations it runs and on
which leaves. A transformation nobody described (a user's, or Optax's) is listed under the name
of the function that built it.

Descriptions are kept in a :class:`weakref.WeakKeyDictionary` keyed by the transformation's
``update`` function, so they live exactly as long as the transformation.

Example:
    >>> tx = describe(gradtx.scale(2.0), name="double")
    >>> lookup(tx).name
    'double'
    >>> lookup(gradtx.scale(2.0)) is None
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["Description", "ExplainHook", "describe", "lookup"]

ExplainHook = Callable[[Any], list[tuple[str | None, Any, list[bool]]]]
"""``hook(params) -> [(entry, transformation, selected), ...]``.

``params`` holds the leaves the transformation sees (the others are :class:`~gradtx.MaskedNode`);
``selected`` is a list of booleans over its leaves (``jax.tree_util.tree_leaves(params,
is_leaf=is_masked_node)``). For the leaves where ``selected`` holds, ``entry`` (if not None) is
listed, then ``transformation`` (if not None) is explained.
"""

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Description:
    """What :func:`gradtx.explain` needs to know about one transformation.

    Attributes:
        name: the name to list (default: the name of the function that built ``update``).
        children: transformations applied, in order, to every leaf this one sees; when given,
            they are listed instead of this transformation's own name.
        mask: which leaves the transformation acts on (any mask :func:`gradtx.masked`
            accepts); ``None`` for all of them.
        explain: an :data:`ExplainHook`, for a transformation that sends different leaves to
            different places (masks, partitions); it takes precedence over the rest.
    """

    name: str | None = None
    children: tuple[Any, ...] = ()
    mask: Any = None
    explain: ExplainHook | None = None


_DESCRIPTIONS: weakref.WeakKeyDictionary[Any, Description] = weakref.WeakKeyDictionary()


def describe(
    tx: T,
    *,
    name: str | None = None,
    children: Sequence[Any] = (),
    mask: Any = None,
    explain: ExplainHook | None = None,
) -> T:
    """Records what ``tx`` is made of, for :func:`gradtx.explain`, and returns ``tx``.

    Args:
        tx: the transformation being built (anything with an ``update``).
        name: the name to list for it.
        children: the transformations it runs on every leaf it sees, in order.
        mask: the leaves it acts on, for a leaf transformation with a ``mask`` argument.
        explain: a hook for transformations that route leaves (see :data:`ExplainHook`).

    Returns:
        ``tx`` itself.
    """
    description = Description(name, tuple(children), mask, explain)
    # An update that cannot be weakly referenced is not recorded: it is listed by its name.
    with contextlib.suppress(TypeError):
        _DESCRIPTIONS[tx.update] = description  # type: ignore[attr-defined]
    return tx


def lookup(tx: Any) -> Description | None:
    """The description recorded for ``tx``, or ``None``."""
    try:
        return _DESCRIPTIONS.get(tx.update)
    except TypeError:
        return None
