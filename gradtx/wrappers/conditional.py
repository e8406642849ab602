"""Skipping steps whose gradients are not finite.

:func:`apply_if_finite` wraps an optimizer so that a step with a NaN or an Inf in its updates
changes nothing: the updates are zero and the whole inner state (step count included) is
left as it was, as if the step had not happened. :func:`skip_not_finite` and
:func:`skip_large_updates` are the matching tests for :class:`~gradtx.MultiSteps`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, _registry, tree as _tree
from gradtx.base import (
    ArrayLike,
    GradientTransformation,
    OptState,
    Params,
    Updates,
    as_transformation,
)
from gradtx.numerics import safe_increment

__all__ = [
    "ApplyIfFiniteState",
    "apply_if_finite",
    "skip_large_updates",
    "skip_not_finite",
]


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


class ApplyIfFiniteState(NamedTuple):
    """State of :func:`apply_if_finite`.

    Attributes:
        notfinite_count: non-finite steps in a row (int32); 0 after a step that was applied.
        last_finite: whether the last step's updates were all finite.
        total_notfinite: non-finite steps since ``init`` (int32, saturating), never reset.
        inner_state: the wrapped transformation's state.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: OptState


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: ArrayLike
) -> GradientTransformation:
    """Skips steps whose updates contain a NaN or an Inf.

    A skipped step returns zero updates and the inner state unchanged, bit for bit. After more
    than ``max_consecutive_errors`` non-finite steps in a row the next one is applied anyway
    (as in Optax: the failure is then not transient) and the count starts again from zero.
    Under ``jax.vmap`` each member of the batch decides for itself.

    Args:
        inner: the transformation to protect.
        max_consecutive_errors: how many non-finite steps in a row to skip (>= 0).

    Returns:
        The transformation, with state :class:`ApplyIfFiniteState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=3)
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([1.0, jnp.nan]), state)
        >>> u, state.notfinite_count, state.total_notfinite
        (Array([0., 0.], dtype=float32), Array(1, dtype=int32), Array(1, dtype=int32))
    """
    inner = as_transformation("apply_if_finite", "inner", inner)
    _checks.non_negative("apply_if_finite", max_consecutive_errors=max_consecutive_errors)

    def init_fn(params):
        return ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.array(True),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        finite = _all_finite(updates)
        failures = jnp.where(finite, 0, safe_increment(state.notfinite_count))
        apply = finite | (failures > max_consecutive_errors)

        def run(_):
            return inner.update(updates, state.inner_state, params, **extra_args)

        shapes = jax.eval_shape(run, None)

        def skip(_):
            zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes[0])
            return zeros, state.inner_state

        new_updates, inner_state = jax.lax.cond(apply, run, skip, None)
        return new_updates, ApplyIfFiniteState(
            notfinite_count=jnp.where(apply, 0, failures).astype(jnp.int32),
            last_finite=finite,
            total_notfinite=jnp.where(
                finite, state.total_notfinite, safe_increment(state.total_notfinite)
            ),
            inner_state=inner_state,
        )

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=(inner,))


def skip_not_finite(
    updates: Updates, gradient_step: jax.Array, params: Params | None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """A ``should_skip_update_fn`` for :class:`~gradtx.MultiSteps`: skip non-finite updates.

    Args:
        updates: the gradients of one micro-step.
        gradient_step: the number of optimizer steps made (unused).
        params: the parameters (unused).

    Returns:
        ``(should_skip, info)``: a boolean scalar, true when an element of ``updates`` is NaN
        or infinite, and ``{"should_skip": ..., "num_not_finite": ...}`` (stored in
        ``MultiStepsState.skip_state``).

    Example:
        >>> import jax.numpy as jnp
        >>> gradtx.skip_not_finite({"w": jnp.array([1.0, jnp.inf, jnp.nan])}, 0, None)[1]
        {'should_skip': Array(True, dtype=bool), 'num_not_finite': Array(2, dtype=int32)}
    """
    del gradient_step, params
    counts = [
        jnp.sum(~jnp.isfinite(x), dtype=jnp.int32) for x in jax.tree_util.tree_leaves(updates)
    ]
    num = sum(counts, jnp.zeros([], jnp.int32))
    should_skip = num > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num}


def skip_large_updates(
    updates: Updates, gradient_step: jax.Array, params: Params | None, max_squared_norm: ArrayLike
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """A ``should_skip_update_fn`` for :class:`~gradtx.MultiSteps`: skip updates of large norm.

    Use it with the threshold bound, e.g.
    ``functools.partial(gradtx.skip_large_updates, max_squared_norm=100.0)``.

    Args:
        updates: the gradients of one micro-step.
        gradient_step: the number of optimizer steps made (unused).
        params: the parameters (unused).
        max_squared_norm: the largest accepted squared global norm.

    Returns:
        ``(should_skip, info)``: true unless the squared norm is below ``max_squared_norm``
        (a NaN norm is skipped), and ``{"should_skip": ..., "norm_squared": ...}``.

    Example:
        >>> import jax.numpy as jnp
        >>> gradtx.skip_large_updates(jnp.array([3.0, 4.0]), 0, None, max_squared_norm=20.0)[0]
        Array(True, dtype=bool)
    """
    del gradient_step, params
    norm_sq = _tree.norm(updates, squared=True)
    should_skip = ~(norm_sq < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}
