"""``minimize``: run an optimizer on a deterministic objective until it converges.

One ``jax.lax.while_loop``, so the whole run is a single compiled program (jit it, vmap it over
starting points or hyperparameters). The objective's value and gradient at each new point are
computed once: taken from the line search's state when the optimizer ends with a line search
that stores them, computed with ``jax.value_and_grad`` otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, GradientTransformation, Params, apply_updates, as_transformation
from gradtx.linesearch._common import cast_like, find_linesearch_state, value_dtype
from gradtx.numerics import safe_increment

__all__ = ["MinimizeResult", "MinimizeStatus", "minimize"]


class MinimizeStatus(enum.IntEnum):
    """Why :func:`minimize` stopped (the ``status`` field of :class:`MinimizeResult`).

    Attributes:
        CONVERGED: the gradient's Euclidean norm is at most ``tol``.
        MAX_STEPS: ``max_steps`` updates were made without converging.
        STALLED: an update left the parameters unchanged (a line search found no step that
            decreases the objective, typically at the limit of floating-point precision:
            loosen ``tol`` or use float64).
        NON_FINITE: the objective or its gradient became ``nan`` or infinite.
    """

    CONVERGED = 0
    MAX_STEPS = 1
    STALLED = 2
    NON_FINITE = 3


_REASONS = {
    MinimizeStatus.CONVERGED: "converged: the gradient norm is at most tol",
    MinimizeStatus.MAX_STEPS: "stopped: reached max_steps",
    MinimizeStatus.STALLED: "stalled: the last update did not change the parameters",
    MinimizeStatus.NON_FINITE: "failed: the objective or its gradient is not finite",
}
_RUNNING = -1


class MinimizeResult(NamedTuple):
    """The outcome of :func:`minimize`.

    Attributes:
        params: the last parameters.
        value: the objective there.
        grad_norm: the Euclidean norm of the gradient there.
        num_steps: the number of updates made (int32).
        status: a :class:`MinimizeStatus` code (int32 array).
    """

    params: Params
    value: jax.Array
    grad_norm: jax.Array
    num_steps: jax.Array
    status: jax.Array

    @property
    def reason(self) -> str:
        """``status`` in words (needs a concrete, unbatched result: call it outside ``jit``)."""
        return _REASONS[MinimizeStatus(int(self.status))]


def minimize(
    fun: Callable[[Params], Any],
    x0: Params,
    optimizer: GradientTransformation,
    max_steps: ArrayLike = 500,
    tol: ArrayLike = 1e-6,
) -> MinimizeResult:
    r"""Minimises ``fun`` from ``x0`` with ``optimizer`` until the gradient norm is at most tol.

    Each step calls ``optimizer.update(grad, state, params, value=value, grad=grad,
    value_fn=fun)`` and adds the updates to the parameters, so line-search optimizers
    (:func:`~gradtx.lbfgs`, :func:`~gradtx.steepest_descent`, chains ending in a line
    search) get the objective they need, and others ignore the extra arguments. When the
    optimizer's state ends with a line-search state that stores the gradient (the last member
    of the chain), the value and gradient at the new point are read from it instead of being
    recomputed.

    The loop stops at the first of: :math:`\|\nabla f\|_2 \le` ``tol`` (checked at ``x0``
    too), ``max_steps`` updates, an update that leaves the parameters unchanged, or a
    non-finite value or gradient; ``status`` says which (:class:`MinimizeStatus`).

    The run is a single ``jax.lax.while_loop``: ``fun`` and the optimizer are traced once
    whatever the number of steps, ``max_steps`` and ``tol`` may be traced values, and the whole
    call can be wrapped in ``jax.jit`` or ``jax.vmap``. Bind data to ``fun`` with a closure or
    ``functools.partial``.

    Args:
        fun: the objective, ``fun(params) -> scalar``, differentiable with JAX.
        x0: the starting parameters (a pytree of arrays).
        optimizer: any gradient transformation whose updates are added to the parameters.
        max_steps: the most updates (>= 0).
        tol: the gradient-norm tolerance (>= 0).

    Returns:
        A :class:`MinimizeResult` ``(params, value, grad_norm, num_steps, status)``;
        ``result.reason`` gives the status in words.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
        >>> result = gradtx.minimize(f, jnp.zeros(2), gradtx.sgd(0.1), max_steps=1000, tol=1e-4)
        >>> print(result.params, int(result.num_steps), result.reason)
        [3. 3.] 51 converged: the gradient norm is at most tol
    """
    _checks.check_range("minimize", "max_steps", max_steps, 0.0)
    _checks.non_negative("minimize", tol=tol)
    optimizer = as_transformation("minimize", "optimizer", optimizer)
    _tree.check_array_leaves(x0, "minimize(x0)")
    x0 = jax.tree_util.tree_map(jnp.asarray, x0)
    dtype = value_dtype(x0)
    value_and_grad = jax.value_and_grad(fun)

    def evaluate(x):
        value, grad = value_and_grad(x)
        return jnp.asarray(value, dtype), grad

    def status_of(value, grad, k, moved):
        grad_norm = _tree.norm(grad).astype(dtype)
        finite = jnp.isfinite(value) & jnp.isfinite(grad_norm)
        status = jnp.where(k >= max_steps, MinimizeStatus.MAX_STEPS, _RUNNING)
        status = jnp.where(moved, status, MinimizeStatus.STALLED)
        status = jnp.where(grad_norm <= tol, MinimizeStatus.CONVERGED, status)
        return jnp.where(finite, status, MinimizeStatus.NON_FINITE).astype(jnp.int32), grad_norm

    state = optimizer.init(x0)
    reuse = find_linesearch_state(state, last_only=True) is not None
    value, grad = evaluate(x0)
    k = jnp.zeros([], jnp.int32)
    status, grad_norm = status_of(value, grad, k, jnp.array(True))

    def cond(carry):
        return carry[-1] == _RUNNING

    def body(carry):
        x, state, value, grad, _, k, _ = carry
        updates, state = optimizer.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        new_x = apply_updates(x, updates)
        if reuse:
            found = find_linesearch_state(state, last_only=True)
            new_value, new_grad = jnp.asarray(found.value, dtype), cast_like(found.grad, grad)
        else:
            new_value, new_grad = evaluate(new_x)
        changed = _tree.map(lambda a, b: jnp.any(a != b), new_x, x)
        moved = jnp.any(jnp.array(jax.tree_util.tree_leaves(changed) or [False]))
        k = safe_increment(k)
        status, grad_norm = status_of(new_value, new_grad, k, moved)
        return new_x, state, new_value, new_grad, grad_norm, k, status

    carry = (x0, state, value, grad, grad_norm, k, status)
    x, _, value, _, grad_norm, k, status = jax.lax.while_loop(cond, body, carry)
    return MinimizeResult(x, value, grad_norm, k, status)
