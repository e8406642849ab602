"""Gradient accumulation: one optimizer step every k micro-steps.

:class:`MultiSteps` wraps an optimizer and steps it once every k micro-steps;
:func:`apply_every` is the plain transformation that sums k updates and emits them once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gradtx import _checks, _registry, tree as _tree
from gradtx.base import (
    ArrayLike,
    DTypeLike,
    GradientTransformation,
    OptState,
    Params,
    Updates,
    as_transformation,
)
from gradtx.numerics import promote_dtypes, safe_increment, upcast

__all__ = ["ApplyEvery", "MultiSteps", "MultiStepsState", "ShouldSkipUpdateFunction", "apply_every"]


class ShouldSkipUpdateFunction(Protocol):
    """``should_skip_update_fn(updates, gradient_step, params) -> (should_skip, info)``.

    The type of :class:`MultiSteps`' ``should_skip_update_fn``: ``should_skip`` is a boolean
    scalar, ``info`` any pytree of arrays (stored in ``MultiStepsState.skip_state``); see
    :func:`gradtx.skip_not_finite` and :func:`gradtx.skip_large_updates`.
    """

    def __call__(
        self, updates: Updates, gradient_step: ArrayLike, params: Params | None
    ) -> tuple[ArrayLike, Any]:
        """Whether to skip this micro-step, and what to record about it."""
        ...


class ApplyEvery(NamedTuple):
    """State of :func:`apply_every` (Optax's name for it).

    Attributes:
        count: calls to ``update`` since the last emission, modulo k (int32).
        grad_acc: the sum of the updates received since the last emission (which it
            includes right after one).
    """

    count: jax.Array
    grad_acc: Updates


def apply_every(k: ArrayLike = 1) -> GradientTransformation:
    """Sums the updates of k steps and emits the sum every k-th step, zeros in between.

    Unlike :class:`MultiSteps`, this is a plain transformation: the transformations chained
    before it still run, and update their states, at every step, so k steps of batch size
    N/k are not in general the same as one of batch size N. Use :class:`MultiSteps` for that.

    Args:
        k: emit every k steps (an integer >= 1; may be traced).

    Returns:
        The transformation, with state :class:`ApplyEvery`.

    Example:
        >>> tx = gradtx.apply_every(k=2)
        >>> state = tx.init(jnp.zeros(1))
        >>> for g in [1.0, 2.0, 4.0]:
        ...     u, state = tx.update(jnp.array([g]), state)
        ...     print(u)
        [0.]
        [3.]
        [0.]
    """
    if isinstance(k, float) or (
        _checks.concrete(k) is not None and not jnp.issubdtype(jnp.result_type(k), jnp.integer)
    ):
        raise TypeError(f"apply_every(): k must be an integer, got {k!r}.")
    _checks.check_range("apply_every", "k", k, 1)

    def init_fn(params):
        return ApplyEvery(count=jnp.zeros([], jnp.int32), grad_acc=_tree.zeros_like(params))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        period = jnp.asarray(k).astype(jnp.int32)
        c = state.count % period
        accumulate = c != 0
        emit = c == period - 1

        def add(g, acc):
            total = jnp.where(accumulate, acc.astype(promote_dtypes(g, acc)) + g, g)
            return total.astype(acc.dtype)

        grad_acc = _tree.map(add, updates, state.grad_acc, names=("updates", "state.grad_acc"))
        out = jax.tree_util.tree_map(
            lambda a, g: jnp.where(emit, a, jnp.zeros_like(a)).astype(jnp.result_type(g)),
            grad_acc,
            updates,
        )
        return out, ApplyEvery(count=safe_increment(state.count) % period, grad_acc=grad_acc)

    return GradientTransformation(init_fn, update_fn)


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


def _no_skip(updates: Updates, gradient_step: jax.Array, params: Params | None) -> Any:
    del updates, gradient_step, params
    return jnp.array(False), ()


def _k_schedule(every_k_schedule: Any) -> Callable[[jax.Array], Any]:
    if callable(every_k_schedule):
        return every_k_schedule
    if isinstance(every_k_schedule, bool) or not isinstance(every_k_schedule, int):
        raise TypeError(
            "MultiSteps(): every_k_schedule must be an int or a function of the step count, "
            f"got {every_k_schedule!r}."
        )
    _checks.check_range("MultiSteps", "every_k_schedule", every_k_schedule, 1)
    return lambda step: every_k_schedule


def _accumulator_dtype(accumulator_dtype: DTypeLike) -> Any:
    dtype = jax.dtypes.canonicalize_dtype(accumulator_dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise ValueError(
            "MultiSteps(): accumulator_dtype must be a floating dtype (the gradients are "
            f"averaged in it), got {jnp.dtype(dtype).name}."
        )
    return dtype


def _multi_steps(
    opt: GradientTransformation,
    every_k_schedule: int | Callable[[jax.Array], Any],
    use_grad_mean: bool,
    should_skip_update_fn: ShouldSkipUpdateFunction | None,
    accumulator_dtype: DTypeLike,
) -> GradientTransformation:
    """The transformation :class:`MultiSteps` is made of (see its docstring)."""
    opt = as_transformation("MultiSteps", "opt", opt)
    k_schedule = _k_schedule(every_k_schedule)
    skip_fn = should_skip_update_fn or _no_skip
    acc_dtype = _accumulator_dtype(accumulator_dtype)

    def slot_dtype(p):
        # A complex gradient needs a complex accumulator of the same precision.
        if jnp.issubdtype(jnp.result_type(p), jnp.complexfloating):
            return promote_dtypes(acc_dtype, jnp.complex64)
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
        inner_updates, inner_state = opt.update(grads, state.inner_opt_state, params, **extra_args)
        emit = (n >= k - 1) & ~skip
        new_state = MultiStepsState(
            mini_step=jnp.where(skip, n, jnp.where(emit, 0, n + 1)).astype(jnp.int32),
            gradient_step=jnp.where(emit, safe_increment(state.gradient_step), state.gradient_step),
            inner_opt_state=_tree.where(emit, inner_state, state.inner_opt_state),
            acc_grads=_tree.where(
                skip, state.acc_grads, _tree.where(emit, _tree.zeros_like(acc), acc)
            ),
            skip_state=skip_state,
        )
        out = _tree.where(emit, inner_updates, _tree.zeros_like(inner_updates))
        return out, new_state

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=(opt,))


class MultiSteps(GradientTransformation):
    r"""Accumulates gradients over micro-steps and makes one optimizer step every k of them.

    On intermediate micro-steps the updates are zero; on the k-th, ``opt`` is applied to the
    mean (or sum) of the k gradients and its updates are returned. The inner optimizer's state,
    step count included, changes only then, so its schedules count optimizer steps, not
    micro-steps. ``opt`` runs at every micro-step and its result is kept or dropped with a
    select (no ``lax.cond``, so no second copy of the state for the other branch); the state
    adds one accumulator per parameter.

    A ``MultiSteps`` is a :class:`~gradtx.GradientTransformation` (``init``, ``update``) with
    Optax's extras: :attr:`inner_opt`, :meth:`has_updated` and :meth:`gradient_transformation`.

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

    __slots__ = ()

    def __new__(
        cls,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.Array], Any],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFunction | None = None,
        accumulator_dtype: DTypeLike = jnp.float32,
    ) -> MultiSteps:
        tx = _multi_steps(
            opt, every_k_schedule, use_grad_mean, should_skip_update_fn, accumulator_dtype
        )
        return super().__new__(cls, tx.init, tx.update)

    @property
    def inner_opt(self) -> GradientTransformation:
        """The wrapped optimizer."""
        description = _registry.lookup(self)
        assert description is not None  # recorded by _multi_steps
        return description.children[0]

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last call to ``update`` made an optimizer step."""
        return (state.mini_step == 0) & (state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This transformation as a plain :class:`~gradtx.GradientTransformation`."""
        return GradientTransformation(self.init, self.update)
