r"""Line searches: choose a step size along the update direction.

A line search is the last member of a chain whose earlier members produce a direction
:math:`u` (``scale(-1.0)`` for steepest descent, :func:`~gradtx.scale_by_lbfgs` then
``scale(-1.0)`` for L-BFGS). It looks for a step size :math:`t` along
:math:`\phi(t) = f(x + t u)` and returns :math:`t u`, so the lectures' general form
:math:`x_{k+1} = x_k + \eta_k p_k` gets its :math:`\eta_k` from the objective itself.

The objective comes in through keyword-only extra arguments of ``update``, as in Optax::

    updates, state = tx.update(grad, state, params, value=f(params), grad=grad, value_fn=f)

* ``value_fn`` (required): the objective ``value_fn(params, **kwargs) -> scalar``. Extra keyword
  arguments of ``update`` whose names appear in its signature (a data ``batch``...) are passed
  to it; all others are ignored.
* ``value`` and ``grad``: the objective and its gradient at ``params``; computed from
  ``value_fn`` when omitted.

Each line search keeps in its state the value (and, if asked, the gradient) at the point it
accepts, so the next step need not recompute them: see :func:`value_and_grad_from_state` and
:func:`~gradtx.minimize`.

This module holds the shared machinery, :func:`scale_by_backtracking_linesearch` and
:func:`value_and_grad_from_state`, and re-exports the rest of the family:
:func:`~gradtx.scale_by_zoom_linesearch` (``gradtx.zoom_linesearch``),
:func:`~gradtx.scale_by_exact_linesearch` and :func:`~gradtx.steepest_descent`
(``gradtx.exact_linesearch``), :func:`~gradtx.scale_by_lbfgs` and :func:`~gradtx.lbfgs`
(``gradtx.quasi_newton``), and :func:`~gradtx.minimize` (``gradtx.minimizer``).

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2) + x[0] ** 4
    >>> result = gradtx.minimize(f, jnp.zeros(3), gradtx.lbfgs(), max_steps=50, tol=1e-4)
    >>> print(result.params.round(3), result.reason)
    [0.59 1.   1.  ] converged: the gradient norm is at most tol
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks
from gradtx import tree as _tree
from gradtx.base import ArrayLike, GradientTransformation, Params, Updates, apply_updates
from gradtx.numerics import compute_dtype, real_dtype
from gradtx.transforms._common import requires_params

__all__ = [
    "BacktrackingLinesearchInfo",
    "ScaleByBacktrackingLinesearchState",
    "scale_by_backtracking_linesearch",
    "value_and_grad_from_state",
]


# --- shared helpers (also used by gradtx.exact_linesearch, gradtx.second_order) --------------


def fn_kwargs(fn: Callable[..., Any], extra_args: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``extra_args`` that ``fn`` accepts by keyword (all of them for ``**kw``).

    The first positional parameter (the parameters) is never filled from ``extra_args``.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    parameters = list(sig.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(extra_args)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = {p.name for p in parameters[1:] if p.kind in kinds}
    return {k: v for k, v in extra_args.items() if k in names}


def objective(fn_name: str, value_fn: Any, extra_args: dict[str, Any]) -> Callable[[Any], Any]:
    """``params -> value_fn(params, **kwargs)``, or a clear error when ``value_fn`` is missing."""
    if value_fn is None:
        raise ValueError(
            f"{fn_name}: update() needs the objective as a keyword argument: "
            "tx.update(grads, state, params, value_fn=loss) (optionally with value=loss(params) "
            "and grad=grads, and any data loss takes by keyword, e.g. batch=batch)."
        )
    if not callable(value_fn):
        raise TypeError(f"{fn_name}: value_fn must be callable, got {value_fn!r}.")
    kwargs = fn_kwargs(value_fn, extra_args)
    return lambda p: value_fn(p, **kwargs)


def value_dtype(params: Params) -> jnp.dtype:
    """The real compute dtype of the first leaf (float32 for bfloat16, float64 for float64)."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        return jnp.dtype(jnp.float32)
    return real_dtype(compute_dtype(jnp.result_type(leaves[0])))


def slope(grad: Updates, direction: Updates) -> jax.Array:
    r"""Directional derivative :math:`\operatorname{Re}\sum g\,u` (JAX's gradient convention)."""
    products = _tree.map(lambda g, u: jnp.sum(g * u), grad, direction, names=("grad", "updates"))
    return jnp.real(_tree.sum(products))


def scaled(t: jax.Array, direction: Updates) -> Updates:
    """``t * direction`` in the direction's dtypes."""
    return jax.tree_util.tree_map(lambda u: (t * u).astype(jnp.result_type(u)), direction)


def along(params: Params, t: jax.Array, direction: Updates) -> Params:
    """``apply_updates(params, t * direction)``: exactly the point the caller moves to."""
    return apply_updates(params, scaled(t, direction))


def value_and_grad_at(f: Callable[[Any], Any], x: Params, dtype: Any) -> tuple[jax.Array, Any]:
    value, grad = jax.value_and_grad(f)(x)
    return jnp.asarray(value, dtype), grad


def cast_like(tree: Any, like: Any) -> Any:
    """Casts each leaf of ``tree`` to the dtype of the matching leaf of ``like``."""
    return _tree.map(lambda x, y: jnp.asarray(x).astype(jnp.result_type(y)), tree, like)


def value_and_slope(
    f: Callable[[Any], Any],
    params: Params,
    direction: Updates,
    value: Any,
    grad: Any,
    need_grad: bool,
    dtype: Any,
) -> tuple[jax.Array, jax.Array, Any]:
    """``(f(params), slope along direction, grad or None)``, reusing what the caller gave.

    Without ``grad`` (and when the gradient is not needed) the slope costs one forward-mode pass.
    """
    if grad is None and need_grad:
        computed, grad = value_and_grad_at(f, params, dtype)
        value = computed if value is None else value
    if grad is None:
        tangent = cast_like(direction, params)
        computed, slope0 = jax.jvp(f, (params,), (tangent,))
        value = computed if value is None else value
        slope0 = jnp.real(jnp.asarray(slope0))
    else:
        slope0 = slope(grad, direction)
        value = f(params) if value is None else value
    return jnp.asarray(value, dtype), slope0.astype(dtype), grad if need_grad else None


def check_count(fn: str, name: str, value: Any) -> None:
    _checks.check_range(fn, name, value, 1.0)


# --- backtracking (Armijo) ---------------------------------------------------------------------


class BacktrackingLinesearchInfo(NamedTuple):
    """Diagnostics of the last :func:`scale_by_backtracking_linesearch` search.

    Attributes:
        num_linesearch_steps: objective evaluations made.
        decrease_error: how far the last trial missed the Armijo condition (0 when met).
    """

    num_linesearch_steps: jax.Array  # int32
    decrease_error: jax.Array


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """State of :func:`scale_by_backtracking_linesearch`.

    Attributes:
        learning_rate: the last step size tried; the next search starts from it.
        value: the objective at the accepted point (``inf`` before the first update).
        grad: the gradient there with ``store_grad=True``, else ``None``.
        info: :class:`BacktrackingLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates | None
    info: BacktrackingLinesearchInfo


def scale_by_backtracking_linesearch(
    max_backtracking_steps: ArrayLike,
    slope_rtol: ArrayLike = 1e-4,
    decrease_factor: ArrayLike = 0.8,
    increase_factor: ArrayLike = 1.5,
    max_learning_rate: ArrayLike = 1.0,
    atol: ArrayLike = 0.0,
    rtol: ArrayLike = 0.0,
    store_grad: bool = False,
) -> GradientTransformation:
    r"""Backtracking line search for sufficient decrease (the Armijo condition).

    Starting from :math:`t_0 = \min(\gamma\,t_{\mathrm{prev}}, t_{\max})`, tries
    :math:`t_i = t_0 \beta^i` until

    .. math::
        f(x + t u) \le f(x) + c\,t\,\langle \nabla f(x), u\rangle + \epsilon_a
        + \epsilon_r |f(x)|

    and returns :math:`t u`. If no trial passes within ``max_backtracking_steps`` evaluations
    (or the objective is not finite), the update is zero and ``info.decrease_error`` is
    positive. The direction :math:`u` must be a descent direction (e.g. ``scale(-1.0)`` of a
    gradient).

    Args:
        max_backtracking_steps: the most objective evaluations per search (>= 1).
        slope_rtol: :math:`c \in (0, 1)`.
        decrease_factor: :math:`\beta \in (0, 1)`.
        increase_factor: :math:`\gamma \ge 1`; the first trial grows the previous step by it
            (``inf`` starts every search at ``max_learning_rate``).
        max_learning_rate: :math:`t_{\max} > 0`.
        atol: :math:`\epsilon_a \ge 0`.
        rtol: :math:`\epsilon_r \ge 0`.
        store_grad: also compute and store the gradient at the accepted point (one backward
            pass per search), for :func:`value_and_grad_from_state` and
            :func:`~gradtx.minimize`.

    Returns:
        The transformation; ``update`` takes ``value_fn`` and optionally ``value`` and
        ``grad`` (see the module docstring). State: :class:`ScaleByBacktrackingLinesearchState`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_backtracking_linesearch(20))
        >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
        >>> u, state = tx.update(jax.grad(f)(x), state, x, value_fn=f)
        >>> print(state[1].learning_rate)  # t = 1 fails (f stays 5.0), t = 0.8 passes
        0.8

    References:
        Nocedal and Wright, *Numerical Optimization*, 2nd ed., 2006, Algorithm 3.1.
    """
    fn = "scale_by_backtracking_linesearch"
    check_count(fn, "max_backtracking_steps", max_backtracking_steps)
    _checks.check_range(fn, "slope_rtol", slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
    _checks.check_range(
        fn, "decrease_factor", decrease_factor, 0.0, 1.0, low_open=True, high_open=True
    )
    _checks.check_range(fn, "increase_factor", increase_factor, 1.0)
    _checks.check_range(fn, "max_learning_rate", max_learning_rate, 0.0, low_open=True)
    _checks.non_negative(fn, atol=atol, rtol=rtol)

    def init_fn(params):
        dtype = value_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.ones([], dtype),
            value=jnp.full([], jnp.inf, dtype),
            grad=_tree.zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(jnp.zeros([], jnp.int32), jnp.zeros([], dtype)),
        )

    def update_fn(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        requires_params(fn, params)
        f = objective(fn, value_fn, extra)
        dtype = state.learning_rate.dtype
        value0, slope0, grad = value_and_slope(f, params, updates, value, grad, store_grad, dtype)
        c, beta = (jnp.asarray(h, dtype) for h in (slope_rtol, decrease_factor))
        slack = jnp.asarray(atol, dtype) + jnp.asarray(rtol, dtype) * jnp.abs(value0)
        t0 = jnp.asarray(increase_factor, dtype) * state.learning_rate
        t0 = jnp.minimum(t0, jnp.asarray(max_learning_rate, dtype))

        def cond(carry):
            i, _, _, err, _ = carry
            return (err > 0) & (i < max_backtracking_steps)

        def body(carry):
            i, t, _, _, old_grad = carry
            t = jnp.where(i > 0, beta * t, t)
            x = along(params, t, updates)
            new_grad = old_grad
            if store_grad:
                raw, vjp = jax.vjp(f, x)
                new_value = jnp.asarray(raw, dtype)
            else:
                new_value = jnp.asarray(f(x), dtype)
            err = jnp.maximum(new_value - value0 - c * t * slope0 - slack, 0.0)
            err = jnp.where(jnp.isnan(err), jnp.inf, err)
            if store_grad:
                new_grad = jax.lax.cond(
                    err <= 0,
                    lambda: cast_like(vjp(jnp.ones_like(raw))[0], old_grad),
                    lambda: old_grad,
                )
            return i + 1, t, new_value, err, new_grad

        carry = (jnp.zeros([], jnp.int32), t0, value0, jnp.full([], jnp.inf, dtype), grad)
        steps, t, new_value, err, new_grad = jax.lax.while_loop(cond, body, carry)
        ok = err <= 0
        new_state = ScaleByBacktrackingLinesearchState(
            learning_rate=t,
            value=jnp.where(ok, new_value, value0),
            grad=None if new_grad is None else cast_like(new_grad, state.grad),
            info=BacktrackingLinesearchInfo(steps, err),
        )
        return scaled(jnp.where(ok, t, 0.0), updates), new_state

    return GradientTransformation(init_fn, update_fn)


# --- reusing the value and gradient ------------------------------------------------------------


def _is_linesearch_state(x: Any) -> bool:
    fields = getattr(type(x), "_fields", ())
    return isinstance(x, tuple) and {"learning_rate", "value", "grad"} <= set(fields)


def find_linesearch_state(state: Any, last_only: bool = False) -> Any:
    """The first line-search state holding a gradient inside ``state``, or ``None``.

    Searches tuples (chains, and the fields of wrapper states) and dicts. With
    ``last_only``, only the last member of (nested) chains is considered, and wrapper states
    are not entered: the only position where the stored value is known to belong to the
    parameters after ``apply_updates``.
    """
    if _is_linesearch_state(state):
        return state if state.grad is not None else None
    is_chain = isinstance(state, tuple) and not hasattr(type(state), "_fields")
    if last_only:
        if is_chain:
            members = state[-1:]
        elif isinstance(state, dict) and state:
            members = (state[list(state)[-1]],)
        else:
            return None
    elif isinstance(state, tuple):
        members = state
    elif isinstance(state, dict):
        members = tuple(state.values())
    else:
        return None
    for member in members:
        found = find_linesearch_state(member, last_only)
        if found is not None:
            return found
    return None


def value_and_grad_from_state(
    value_fn: Callable[..., Any],
) -> Callable[..., tuple[jax.Array, Updates]]:
    """Like ``jax.value_and_grad(value_fn)``, reusing what a line search stored in the state.

    The returned function ``(params, *args, state, **kwargs) -> (value, grad)`` reads the value
    and gradient that the line search inside ``state`` computed at the point it accepted (the
    current ``params``, if the line search is the last transformation of the chain) and
    computes them only when the stored value is not finite (before the first update). The line
    search must store gradients: :func:`scale_by_zoom_linesearch` always does,
    :func:`scale_by_backtracking_linesearch` and :func:`~gradtx.scale_by_exact_linesearch`
    with ``store_grad=True``.

    Args:
        value_fn: the objective, ``value_fn(params, *args, **kwargs) -> scalar``.

    Returns:
        ``value_and_grad(params, *args, state, **kwargs) -> (value, grad)``; it raises
        ``ValueError`` when ``state`` holds no line search that stores gradients.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx = gradtx.chain(gradtx.scale(-1.0), gradtx.scale_by_zoom_linesearch(20))
        >>> value_and_grad = gradtx.value_and_grad_from_state(f)
        >>> x = jnp.array([1.0, 2.0]); state = tx.init(x)
        >>> for _ in range(2):
        ...     v, g = value_and_grad(x, state=state)
        ...     u, state = tx.update(g, state, x, value=v, grad=g, value_fn=f)
        ...     x = gradtx.apply_updates(x, u)
        >>> x
        Array([0., 0.], dtype=float32)
    """

    def value_and_grad(params: Params, *args: Any, state: Any, **kwargs: Any):
        found = find_linesearch_state(state)
        if found is None:
            raise ValueError(
                "value_and_grad_from_state: no line-search state with a stored gradient in "
                "state; use scale_by_zoom_linesearch, or store_grad=True with the other line "
                "searches."
            )

        def compute():
            value, grad = jax.value_and_grad(value_fn)(params, *args, **kwargs)
            return jnp.asarray(value, found.value.dtype), cast_like(grad, found.grad)

        return jax.lax.cond(jnp.isfinite(found.value), lambda: (found.value, found.grad), compute)

    return value_and_grad


# The rest of the family lives in its own modules; re-exported here so that
# ``from gradtx.linesearch import *`` (and so ``gradtx.<name>``) reaches it. These imports come
# last because those modules import the helpers above.
from gradtx import exact_linesearch as _exact  # noqa: E402
from gradtx import minimizer as _minimizer  # noqa: E402
from gradtx import quasi_newton as _quasi_newton  # noqa: E402
from gradtx import zoom_linesearch as _zoom  # noqa: E402
from gradtx.exact_linesearch import *  # noqa: E402, F403
from gradtx.minimizer import *  # noqa: E402, F403
from gradtx.quasi_newton import *  # noqa: E402, F403
from gradtx.zoom_linesearch import *  # noqa: E402, F403

__all__ += _zoom.__all__
__all__ += _exact.__all__
__all__ += _quasi_newton.__all__
__all__ += _minimizer.__all__
