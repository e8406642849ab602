"""Shared pieces of the named optimizers."""

from __future__ import annotations

from typing import Any

from gradtx.base import (
    ArrayLike,
    GradientTransformation,
    identity,
)
from gradtx.transforms.momentum import trace

__all__ = ["momentum_or_identity"]


def momentum_or_identity(
    fn: str, momentum: ArrayLike | None, nesterov: bool, **kwargs: Any
) -> GradientTransformation:
    """``trace(momentum, nesterov)``, or the identity when ``momentum`` is ``None``."""
    if momentum is None:
        if nesterov:
            raise ValueError(f"{fn}(): nesterov=True needs a momentum, got momentum=None.")
        return identity()
    return trace(momentum, nesterov, **kwargs)
