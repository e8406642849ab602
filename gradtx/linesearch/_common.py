r"""What every line search shares: the objective, the state, the transformation around a search.

A line search is written as one function, ``search(line, state) -> SearchResult``: it gets the
:class:`Line` :math:`\phi(t) = f(x + t u)` with the value, slope (and gradient) at
:math:`t = 0`, and the previous state, and returns the step and what to store.
:func:`linesearch_transformation` turns it into a :class:`~gradtx.GradientTransformation`,
doing the part all of them share: the state's common fields, reading the objective from
``update``'s extra arguments, the value and slope at the start, and ``t u`` as the update.

A line-search state is a NamedTuple ``(learning_rate, value, grad, info)`` registered with
:func:`linesearch_state`; :func:`find_linesearch_state` looks for registered types only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import GradientTransformation, Params, Updates, apply_updates
from gradtx.numerics import compute_dtype, real_dtype
from gradtx.transforms._common import requires_params

__all__ = [
    "Line",
    "SearchResult",
    "along",
    "cast_like",
    "check_count",
    "find_linesearch_state",
    "fn_kwargs",
    "is_linesearch_state",
    "linesearch_state",
    "linesearch_transformation",
    "objective",
    "scaled",
    "slope",
    "value_and_grad_at",
    "value_and_grad_from_state",
    "value_and_slope",
    "value_dtype",
]


# --- the objective along a line ------------------------------------------------------------


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


def cond_print(pred: jax.Array, fmt: str, **values: Any) -> None:
    """``jax.debug.print(fmt, **values)`` when ``pred`` holds (works under jit and vmap)."""
    jax.lax.cond(pred, lambda: jax.debug.print(fmt, **values), lambda: None)


def objective(
    fn_name: str, value_fn: Any, extra_args: dict[str, Any], *, strict: bool = False
) -> Callable[[Any], Any]:
    """``params -> value_fn(params, **kwargs)``, or a clear error when ``value_fn`` is missing.

    With ``strict`` (the line searches, as Optax's), an entry of ``extra_args`` that
    ``value_fn`` does not take raises ``TypeError``; otherwise it is left out.
    """
    if value_fn is None:
        raise ValueError(
            f"{fn_name}: update() needs the objective as a keyword argument: "
            "tx.update(grads, state, params, value_fn=loss) (optionally with value=loss(params) "
            "and grad=grads, and any data loss takes by keyword, e.g. batch=batch)."
        )
    if not callable(value_fn):
        raise TypeError(f"{fn_name}: value_fn must be callable, got {value_fn!r}.")
    kwargs = fn_kwargs(value_fn, extra_args)
    unused = sorted(set(extra_args) - set(kwargs))
    if strict and unused:
        # As Optax: a keyword value_fn does not take is a typo or a wrong objective, and
        # dropping it silently would optimise a different function than the one meant.
        raise TypeError(
            f"{fn_name}: Unexpected keyword arguments {unused} for value_fn {value_fn!r}: "
            "update() passes its extra keyword arguments to value_fn, which does not take "
            "these."
        )
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
    """``jax.value_and_grad(f)(x)`` with the value in ``dtype``."""
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
    """Validates a number of evaluations (>= 1)."""
    _checks.check_range(fn, name, value, 1.0)


# --- the state and the transformation around a search ---------------------------------------

_STATE_FIELDS = ("learning_rate", "value", "grad", "info")
_STATE_TYPES: list[type] = []  # filled by @linesearch_state as the line-search modules load
_T = TypeVar("_T", bound=type)


def linesearch_state(cls: _T) -> _T:
    """Class decorator: registers a line-search state type for :func:`find_linesearch_state`.

    The type must be a NamedTuple with the fields ``(learning_rate, value, grad, info)``:
    the step size, the objective and (or ``None``) its gradient at the accepted point, and
    the search's diagnostics, a NamedTuple whose first field is ``num_linesearch_steps``.
    """
    fields = getattr(cls, "_fields", None)
    if not (issubclass(cls, tuple) and fields == _STATE_FIELDS):
        raise TypeError(
            f"linesearch_state: {cls.__name__} must be a NamedTuple with the fields "
            f"{_STATE_FIELDS}, got fields {fields}."
        )
    _STATE_TYPES.append(cls)
    return cls


def is_linesearch_state(x: Any) -> bool:
    """Whether ``x`` is an instance of a type registered with :func:`linesearch_state`."""
    return isinstance(x, tuple(_STATE_TYPES))


class Line(NamedTuple):
    r"""The line :math:`\phi(t) = f(x + t u)` a search runs along, and what is known at 0.

    Attributes:
        f: the objective, ``f(params) -> scalar``.
        params: the start :math:`x`.
        direction: the direction :math:`u` (the incoming updates).
        value: :math:`\phi(0) = f(x)`, in ``dtype``.
        slope: :math:`\phi'(0) = \langle \nabla f(x), u\rangle`, in ``dtype``.
        grad: :math:`\nabla f(x)` if the search stores gradients, else ``None``.
        dtype: the real dtype of values, slopes and step sizes.
    """

    f: Callable[[Any], Any]
    params: Params
    direction: Updates
    value: jax.Array
    slope: jax.Array
    grad: Updates | None
    dtype: Any


class SearchResult(NamedTuple):
    """What a search returns.

    Attributes:
        step: the multiplier of the direction in the update (0: no move).
        learning_rate: the step size to store (where the next search starts).
        value: the objective at the point moved to.
        grad: the gradient there (``None`` if the search does not store gradients).
        info: the search's diagnostics.
    """

    step: jax.Array
    learning_rate: jax.Array
    value: jax.Array
    grad: Updates | None
    info: Any


def linesearch_transformation(
    fn_name: str,
    state_type: type,
    info_type: type,
    search: Callable[[Line, Any], SearchResult],
    store_grad: bool,
) -> GradientTransformation:
    """The transformation of a line search, built around its ``search(line, state)``.

    ``init`` gives ``state_type(learning_rate=1, value=inf, grad=zeros or None, info)`` with
    ``info_type``'s ``num_linesearch_steps`` an int32 zero and its other fields zeros of the
    value dtype. ``update`` reads the objective from ``value_fn`` (and ``value``, ``grad``,
    see :mod:`gradtx.linesearch`), computes the value and slope at the start, runs ``search``
    and returns ``result.step * updates``, storing the result (the gradient cast to the
    state's dtypes).

    Args:
        fn_name: the public name, for error messages.
        state_type: a NamedTuple registered with :func:`linesearch_state`.
        info_type: the NamedTuple of diagnostics.
        search: ``search(line, state) -> SearchResult``, ``state`` the previous state.
        store_grad: whether the state holds the gradient at the accepted point (then the
            line's ``grad`` is the gradient at the start, computed if ``update`` did not get
            it).

    Returns:
        The transformation.
    """
    if state_type not in _STATE_TYPES:
        raise TypeError(f"{fn_name}: register {state_type.__name__} with @linesearch_state.")

    def init_fn(params):
        dtype = value_dtype(params)
        counts = jnp.zeros([], jnp.int32)
        return state_type(
            learning_rate=jnp.ones([], dtype),
            value=jnp.full([], jnp.inf, dtype),
            grad=_tree.zeros_like(params) if store_grad else None,
            info=info_type(counts, *(jnp.zeros([], dtype) for _ in info_type._fields[1:])),
        )

    def update_fn(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        requires_params(fn_name, params)
        f = objective(fn_name, value_fn, extra, strict=True)
        dtype = state.learning_rate.dtype
        value0, slope0, grad0 = value_and_slope(f, params, updates, value, grad, store_grad, dtype)
        result = search(Line(f, params, updates, value0, slope0, grad0, dtype), state)
        new_state = state_type(
            learning_rate=result.learning_rate,
            value=result.value,
            grad=None if result.grad is None else cast_like(result.grad, state.grad),
            info=result.info,
        )
        return scaled(result.step, updates), new_state

    return GradientTransformation(init_fn, update_fn)


# --- reusing the value and gradient ----------------------------------------------------------


def find_linesearch_state(state: Any, last_only: bool = False) -> Any:
    """The first line-search state holding a gradient inside ``state``, or ``None``.

    Line-search states are the types registered with :func:`linesearch_state`. Searches
    tuples (chains, and the fields of wrapper states) and dicts. With ``last_only``, only the
    last member of (nested) chains is considered, and wrapper states are not entered: the only
    position where the stored value is known to belong to the parameters after
    ``apply_updates``.
    """
    if is_linesearch_state(state):
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


def _all_linesearch_states(state: Any) -> list[Any]:
    """Every line-search state inside ``state`` (tuples and dicts are searched)."""
    if is_linesearch_state(state):
        return [state]
    if isinstance(state, dict):
        state = tuple(state.values())
    if not isinstance(state, tuple):
        return []
    return [found for member in state for found in _all_linesearch_states(member)]


def value_and_grad_from_state(
    value_fn: Callable[..., Any],
) -> Callable[..., tuple[jax.Array, Updates]]:
    """Like ``jax.value_and_grad(value_fn)``, reusing what a line search stored in the state.

    The returned function ``(params, *args, state, **kwargs) -> (value, grad)`` reads the value
    and gradient that the line search inside ``state`` computed at the point it accepted (the
    current ``params``, if the line search is the last transformation of the chain) and
    computes them only when the stored value is not finite (before the first update). The line
    search must store gradients: :func:`~gradtx.scale_by_zoom_linesearch` always does,
    :func:`~gradtx.scale_by_backtracking_linesearch` and
    :func:`~gradtx.scale_by_exact_linesearch` with ``store_grad=True``.

    Args:
        value_fn: the objective, ``value_fn(params, *args, **kwargs) -> scalar``.

    Returns:
        ``value_and_grad(params, *args, state, **kwargs) -> (value, grad)``; it raises
        ``ValueError`` when ``state`` holds no line search that stores gradients, and
        ``KeyError`` (as Optax) when it holds more than one line search.

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
        states = _all_linesearch_states(state)
        if len(states) > 1:
            # As Optax: which stored value belongs to ``params`` would be a guess.
            raise KeyError(
                f"value_and_grad_from_state: {len(states)} line-search states in state; "
                "keep one line search in the chain."
            )
        found = states[0] if states and states[0].grad is not None else None
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
