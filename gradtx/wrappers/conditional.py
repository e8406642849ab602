"""Applying a transformation at some steps only, and skipping steps that are not finite.

:func:`conditionally_transform` and :func:`conditionally_mask` call the inner transformation
only when a condition on the step count holds (the other steps pass the updates through, or
zero them). :func:`apply_if_finite` wraps an optimizer so that a step with a NaN or an Inf in
its updates changes nothing: the updates are zero and the whole inner state (step count
included) is left as it was, as if the step had not happened. :func:`skip_not_finite` and
:func:`skip_large_updates` are the matching tests for :class:`~gradtx.MultiSteps`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

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
    with_extra_args_support,
)
from gradtx.numerics import safe_increment

__all__ = [
    "ApplyIfFiniteState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "apply_if_finite",
    "conditionally_mask",
    "conditionally_transform",
    "skip_large_updates",
    "skip_not_finite",
]


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


class ConditionFn(Protocol):
    """``should_transform_fn(step, **extra_args) -> bool``, for the conditional wrappers.

    ``step`` is the number of previous calls to ``update`` (an int32 scalar); the result is a
    boolean scalar (it may be traced).
    """

    def __call__(self, step: ArrayLike, **extra_args: Any) -> ArrayLike:
        """Whether to call the inner transformation at ``step``."""
        ...


def _conditional_update(
    fn: str,
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool,
    zero_rejected: bool,
) -> Any:
    """The ``update`` shared by :func:`conditionally_transform` and :func:`conditionally_mask`:
    ``(updates, inner_state)`` after the inner ``update`` or after skipping it."""

    def run(updates, step, inner_state, params, extra_args):
        kwargs = extra_args if forward_extra_args else {}
        condition = jnp.asarray(should_transform_fn(step, **kwargs))
        if condition.shape != () or not (
            condition.dtype == jnp.bool_ or jnp.issubdtype(condition.dtype, jnp.number)
        ):
            raise ValueError(
                f"{fn}(): should_transform_fn must return a boolean scalar, got dtype "
                f"{condition.dtype} and shape {condition.shape}."
            )

        def do_update(_):
            return inner.update(updates, inner_state, params, **extra_args)

        def reject_update(_):
            if not zero_rejected:
                return updates, inner_state
            shapes = jax.eval_shape(do_update, None)[0]  # zeros shaped like inner's output
            zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
            return zeros, inner_state

        return jax.lax.cond(condition.astype(jnp.bool_), do_update, reject_update, None)

    return run


class ConditionallyTransformState(NamedTuple):
    """State of :func:`conditionally_transform`.

    Attributes:
        inner_state: the wrapped transformation's state.
        step: the number of calls to ``update`` so far (int32, saturating).
    """

    inner_state: OptState
    step: jax.Array


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Calls ``inner`` only at the steps where ``should_transform_fn`` holds.

    At the other steps the updates and the inner state pass through unchanged (to zero the
    updates instead, use :func:`conditionally_mask`). The step counter counts every call to
    ``update``, whether ``inner`` ran or not. The two branches are a ``lax.cond``, so the
    condition may depend on traced values.

    Args:
        inner: the transformation to call.
        should_transform_fn: ``f(step) -> bool``, ``step`` an int32 scalar counting the
            previous calls to ``update``.
        forward_extra_args: also pass the extra keyword arguments of ``update`` to
            ``should_transform_fn``.

    Returns:
        The transformation, with state :class:`ConditionallyTransformState`.

    Example:
        >>> tx = gradtx.conditionally_transform(gradtx.scale(10.0), lambda step: step % 2 == 0)
        >>> state = tx.init(jnp.zeros(1))
        >>> for _ in range(3):
        ...     u, state = tx.update(jnp.ones(1), state)
        ...     print(u)
        [10.]
        [1.]
        [10.]
    """
    inner = with_extra_args_support(as_transformation("conditionally_transform", "inner", inner))
    run = _conditional_update(
        "conditionally_transform", inner, should_transform_fn, forward_extra_args, False
    )

    def init_fn(params):
        return ConditionallyTransformState(
            inner_state=inner.init(params), step=jnp.zeros([], jnp.int32)
        )

    def update_fn(updates, state, params=None, **extra_args):
        updates, inner_state = run(updates, state.step, state.inner_state, params, extra_args)
        return updates, ConditionallyTransformState(inner_state, safe_increment(state.step))

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=(inner,))


class ConditionallyMaskState(NamedTuple):
    """State of :func:`conditionally_mask`.

    Attributes:
        step: the number of calls to ``update`` so far (int32, saturating).
        inner_state: the wrapped transformation's state.
    """

    step: jax.Array
    inner_state: OptState


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Calls ``inner`` only at the steps where ``should_transform_fn`` holds; zeros otherwise.

    At the other steps the updates are zero and the inner state passes through unchanged (to
    pass the updates through instead, use :func:`conditionally_transform`).

    Args:
        inner: the transformation to call.
        should_transform_fn: ``f(step) -> bool``, ``step`` an int32 scalar counting the
            previous calls to ``update``.
        forward_extra_args: also pass the extra keyword arguments of ``update`` to
            ``should_transform_fn``.

    Returns:
        The transformation, with state :class:`ConditionallyMaskState`.

    Example:
        >>> tx = gradtx.conditionally_mask(gradtx.sgd(1.0), lambda step: step >= 1)
        >>> state = tx.init(jnp.zeros(1))
        >>> for _ in range(2):
        ...     u, state = tx.update(jnp.ones(1), state)
        ...     print(u)
        [0.]
        [-1.]
    """
    inner = with_extra_args_support(as_transformation("conditionally_mask", "inner", inner))
    run = _conditional_update(
        "conditionally_mask", inner, should_transform_fn, forward_extra_args, True
    )

    def init_fn(params):
        return ConditionallyMaskState(step=jnp.zeros([], jnp.int32), inner_state=inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        updates, inner_state = run(updates, state.step, state.inner_state, params, extra_args)
        return updates, ConditionallyMaskState(safe_increment(state.step), inner_state)

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=(inner,))


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
