"""Gradient accumulation: one optimizer step every k micro-steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx.base import DTypeLike, GradientTransformation, OptState, Params, Updates
from gradtx.numerics import safe_increment, upcast

__all__ = ["MultiSteps", "MultiStepsState"]

ShouldSkipUpdateFn = Callable[[Updates, jax.Array, Params | None], tuple[jax.Array, Any]]


class MultiStepsState(NamedTuple):
    """State of :class:`MultiSteps`.

    Attributes:
        mini_step: micro-steps accumulated since the last optimizer step (int32).
        gradient_step: optimizer steps made (int32, saturating).
        inner_opt_state: the wrapped optimizer's state; it changes only on optimizer steps.
        acc_grads: the running mean (or sum) of this step's gradients, one slot per parameter.
        skip_state: what ``should_skip_update_fn`` returned for the last micro-step.
    """

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: OptState
    acc_grads: Updates
    skip_state: Any = ()


def _where(cond: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


class MultiSteps(GradientTransformation):
    r"""Accumulates gradients over micro-steps and makes one optimizer step every k of them.

    On intermediate micro-steps the updates are zero; on the k-th, ``opt`` is applied to the
    mean (or sum) of the k gradients and its updates are returned. The inner optimizer's state,
    step count included, changes only then, so its schedules count optimizer steps, not
    micro-steps. ``opt`` runs at every micro-step and its result is kept or dropped with a
    select (no ``lax.cond``, so no second copy of the state for the other branch); the state
    adds one accumulator per parameter.

    A ``MultiSteps`` is a :class:`~gradtx.GradientTransformation` (``init``, ``update``), with
    :meth:`has_updated` and Optax's :meth:`gradient_transformation`.

    Args:
        opt: the optimizer.
        every_k_schedule: k, an int >= 1, or a function from the optimizer step count to k
            (to grow the effective batch during training).
        use_grad_mean: average the gradients (default) instead of summing them.
        should_skip_update_fn: ``f(updates, gradient_step, params) -> (skip, info)``; a skipped
            micro-step leaves the state as it was (see :func:`gradtx.skip_not_finite`).
        accumulator_dtype: dtype of the accumulator (default float32; complex parameters get
            the complex dtype of that precision).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.MultiSteps(gradtx.sgd(1.0), every_k_schedule=2)
        >>> state = tx.init(jnp.zeros(1))
        >>> u, state = tx.update(jnp.array([1.0]), state)
        >>> print(u, tx.has_updated(state))
        [0.] False
        >>> u, state = tx.update(jnp.array([3.0]), state)
        >>> print(u, tx.has_updated(state))
        [-2.] True
    """

    inner_opt: GradientTransformation

    def __new__(
        cls,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.Array], Any],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFn | None = None,
        accumulator_dtype: DTypeLike = jnp.float32,
    ) -> MultiSteps:
        if not isinstance(opt, GradientTransformation):
            raise TypeError(f"MultiSteps(): opt must be a GradientTransformation, got {opt!r}.")
        k_schedule: Callable[[jax.Array], Any]
        if callable(every_k_schedule):
            k_schedule = every_k_schedule
        else:
            if isinstance(every_k_schedule, bool) or not isinstance(every_k_schedule, int):
                raise TypeError(
                    "MultiSteps(): every_k_schedule must be an int or a function of the step "
                    f"count, got {every_k_schedule!r}."
                )
            _checks.check_range("MultiSteps", "every_k_schedule", every_k_schedule, 1)

            k = every_k_schedule
            k_schedule = lambda step: k  # noqa: E731

        def no_skip(updates, gradient_step, params):
            del updates, gradient_step, params
            return jnp.array(False), ()

        skip_fn = should_skip_update_fn or no_skip
        acc_dtype = jax.dtypes.canonicalize_dtype(accumulator_dtype)
        if not jnp.issubdtype(acc_dtype, jnp.inexact):
            raise ValueError(
                "MultiSteps(): accumulator_dtype must be a floating dtype (the gradients are "
                f"averaged in it), got {jnp.dtype(acc_dtype).name}."
            )

        def slot_dtype(p):
            # A complex gradient needs a complex accumulator of the same precision.
            if jnp.issubdtype(jnp.result_type(p), jnp.complexfloating):
                return jnp.promote_types(acc_dtype, jnp.complex64)
            return acc_dtype

        def init_fn(params):
            zeros = jax.tree_util.tree_map(lambda p: jnp.zeros(jnp.shape(p), slot_dtype(p)), params)
            gradient_step = jnp.zeros([], jnp.int32)
            _, skip_state = skip_fn(zeros, gradient_step, params)
            return MultiStepsState(
                mini_step=jnp.zeros([], jnp.int32),
                gradient_step=gradient_step,
                inner_opt_state=opt.init(params),
                acc_grads=zeros,
                skip_state=skip_state,
            )

        def update_fn(updates, state, params=None, **extra_args):
            k = jnp.asarray(k_schedule(state.gradient_step))
            skip, skip_state = skip_fn(updates, state.gradient_step, params)
            skip = jnp.asarray(skip)
            if skip.dtype != jnp.bool_ or skip.shape != ():
                raise ValueError(
                    "MultiSteps(): should_skip_update_fn must return a boolean scalar first, "
                    f"got dtype {skip.dtype} and shape {skip.shape}."
                )
            n = state.mini_step

            def accumulate(g, acc):
                g = upcast(g).astype(acc.dtype)
                if use_grad_mean:  # Welford's running mean
                    return acc + (g - acc) / (n + 1).astype(acc.dtype)
                return acc + g

            acc = jax.tree_util.tree_map(accumulate, updates, state.acc_grads)
            grads = jax.tree_util.tree_map(lambda a, g: a.astype(jnp.result_type(g)), acc, updates)
            inner_updates, inner_state = opt.update(
                grads, state.inner_opt_state, params, **extra_args
            )
            emit = (n >= k - 1) & ~skip
            new_state = MultiStepsState(
                mini_step=jnp.where(skip, n, jnp.where(emit, 0, n + 1)).astype(jnp.int32),
                gradient_step=jnp.where(
                    emit, safe_increment(state.gradient_step), state.gradient_step
                ),
                inner_opt_state=_where(emit, inner_state, state.inner_opt_state),
                acc_grads=_where(
                    skip,
                    state.acc_grads,
                    jax.tree_util.tree_map(lambda a: jnp.where(emit, jnp.zeros_like(a), a), acc),
                ),
                skip_state=skip_state,
            )
            out = jax.tree_util.tree_map(
                lambda u: jnp.where(emit, u, jnp.zeros_like(u)), inner_updates
            )
            return out, new_state

        self = super().__new__(cls, init_fn, update_fn)
        self.inner_opt = opt
        return self

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last call to ``update`` made an optimizer step."""
        return (state.mini_step == 0) & (state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This transformation as a plain :class:`~gradtx.GradientTransformation`."""
        return GradientTransformation(self.init, self.update)
