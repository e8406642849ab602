"""Hyperparameters that live in the optimizer state.

:func:`inject_hyperparams` wraps an optimizer factory so that its numeric hyperparameters are
0-d arrays in ``state.hyperparams``: they can be logged, changed between steps, differentiated
through and vmapped over. :func:`current_learning_rate` reports the learning rate for logging.
To read or change any other hyperparameter by name, wherever it sits in a nested state, use
:func:`gradtx.tree_get` and :func:`gradtx.tree_set` (``gradtx.tree.get``, ``gradtx.tree.set``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _registry, tree as _tree
from gradtx._mask import is_masked_node
from gradtx._schedule_state import WrappedSchedule
from gradtx.base import DTypeLike, GradientTransformation, OptState, StatefulSchedule
from gradtx.numerics import safe_increment

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "current_learning_rate",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
]

_ARRAYS = (jax.Array, np.ndarray, np.generic)
_COUNT = jax.ShapeDtypeStruct((), jnp.int32)


def _is_schedule(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` maps an int32 step count to one number (checked abstractly, no FLOPs).

    A mask or a label function (``params -> tree``), a loss or any function that cannot take
    a scalar count fails, and so does one returning a boolean or a complex number.
    """
    try:
        out = jax.eval_shape(fn, _COUNT)
    except Exception:  # whatever it raises, fn is not a schedule
        return False
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
        return False
    return jnp.issubdtype(out.dtype, jnp.floating) or jnp.issubdtype(out.dtype, jnp.integer)


def _kind(value: Any, param: inspect.Parameter, static: set[str]) -> str:
    """``"numeric"``, ``"schedule"``, ``"stateful"`` or ``"static"`` for one argument."""
    if param.name in static or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        return "static"
    if value is None or isinstance(value, (bool, str, bytes)):
        return "static"
    if callable(value) and isinstance(value, StatefulSchedule):
        return "stateful"
    if isinstance(value, _ARRAYS):  # traced values too
        return "numeric" if jnp.issubdtype(value.dtype, jnp.floating) else "static"
    if isinstance(value, float):
        return "numeric"
    if isinstance(value, int):  # a float default says the int is a value, not a count
        return "numeric" if isinstance(param.default, float) else "static"
    if isinstance(value, type):  # classes, among them dtypes such as jnp.bfloat16
        return "static"
    if callable(value):
        return "schedule" if _is_schedule(value) else "static"
    return "static"


class InjectHyperparamsState(NamedTuple):
    """State of a transformation built by :func:`inject_hyperparams` (without stateful
    schedules).

    Attributes:
        count: the number of updates made (int32, saturating); schedules are evaluated at it.
        hyperparams: a dict from argument name to the value used in the last update (for a
            schedule) or in the next one (for a constant). Write a new value here to change
            it from the next update on.
        inner_state: the wrapped transformation's state.
    """

    count: jax.Array
    hyperparams: dict[str, jax.Array]
    inner_state: OptState


class InjectStatefulHyperparamsState(NamedTuple):
    """State of a transformation built by :func:`inject_stateful_hyperparams`, or by
    :func:`inject_hyperparams` given a :class:`~gradtx.StatefulSchedule`.

    Attributes:
        count: the number of updates made (int32, saturating).
        hyperparams: a dict from argument name to the value used in the last update (for a
            schedule) or in the next one (for a constant), as in :class:`InjectHyperparamsState`.
        hyperparams_states: a dict from the name of each scheduled argument to its schedule's
            state (a :class:`~gradtx.schedules.WrappedScheduleState` for a plain schedule).
        inner_state: the wrapped transformation's state.
    """

    count: jax.Array
    hyperparams: dict[str, jax.Array]
    hyperparams_states: dict[str, Any]
    inner_state: OptState


def inject_stateful_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: DTypeLike | None = None,
) -> Callable[..., GradientTransformation]:
    """:func:`inject_hyperparams` with every schedule stateful (Optax's older name).

    The arguments are read as in :func:`inject_hyperparams`; a plain schedule is wrapped in a
    :class:`~gradtx.schedules.WrappedSchedule`, a :class:`~gradtx.StatefulSchedule` is used as
    it is, and their states live in ``state.hyperparams_states``. At each ``update`` the value
    of every schedule is taken at its current state (with the extra keyword arguments of
    ``update``), stored in ``state.hyperparams`` and used, then the schedule's state advances
    (``schedule.update(state, **extra_args)``). The state is always an
    :class:`InjectStatefulHyperparamsState`.

    Args:
        inner_factory: a function returning a :class:`~gradtx.GradientTransformation`.
        static_args: a name or names of arguments to keep static whatever their value.
        hyperparam_dtype: dtype of the stored hyperparameters (default as in
            :func:`inject_hyperparams`).

    Returns:
        A factory with ``inner_factory``'s signature.

    Example:
        >>> tx = gradtx.inject_stateful_hyperparams(gradtx.sgd)(
        ...     learning_rate=gradtx.linear_schedule(1.0, 0.0, 4))
        >>> state = tx.init(jnp.zeros(1))
        >>> _, state = tx.update(jnp.ones(1), state)
        >>> state.hyperparams_states["learning_rate"]
        WrappedScheduleState(count=Array(1, dtype=int32))
    """
    return _inject(
        inner_factory, static_args, hyperparam_dtype, "inject_stateful_hyperparams", True
    )


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: DTypeLike | None = None,
) -> Callable[..., GradientTransformation]:
    r"""Wraps a factory so that its numeric hyperparameters live in the state.

    The returned factory takes the same arguments. Numeric arguments and schedules become
    entries of ``state.hyperparams``, stored as arrays of ``hyperparam_dtype``; the
    transformation is rebuilt from them at every update, so a value written into the state is
    used from the next update on, ``jax.grad`` flows through it and ``jax.vmap`` over a state
    holding a grid runs the whole grid. A schedule is evaluated at the step count before each
    update and the value stored, so ``state.hyperparams["learning_rate"]`` is the learning
    rate actually used.

    What an argument becomes is decided by the value passed for it (or the default taken),
    never by its annotation, in this order:

    1. Static, passed to ``inner_factory`` unchanged: the arguments named in ``static_args``,
       and ``*args``/``**kwargs``.
    2. Static: ``None``, booleans, strings and bytes.
    3. An array (NumPy or JAX, concrete or traced) is a hyperparameter if its dtype is
       floating point, static otherwise (integer, boolean, complex and key arrays).
    4. A Python float is a hyperparameter.
    5. A Python int is a hyperparameter only if the factory's default for that argument is a
       float (``weight_decay=0`` for :func:`~gradtx.adamw`, whose default is ``1e-4``); any
       other int stays static: seeds, periods, counts such as ``memory_size`` or
       ``max_backtracking_steps``, and ints given for arguments without a default (pass
       ``1.0``, not ``1``, to inject a learning rate of one).
    6. Static: classes, among them dtypes (``mu_dtype=jnp.bfloat16``).
    7. A callable is a schedule if it maps an int32 step count to one real number: called
       once on an abstract count (``jax.eval_shape``, no computation), it returns a floating
       point or integer scalar (``lambda count: count`` is one, as in Optax). Other callables
       stay static: masks and label functions (``params -> tree``), losses, functions
       returning booleans, and functions that cannot be traced. Name a callable in
       ``static_args`` to keep it static whatever it returns.
    8. Anything else (sequences, dicts, transformations) is static.

    A :class:`~gradtx.StatefulSchedule` (an object with ``init``, ``update`` and
    ``__call__(state, **extra_args)``) is a hyperparameter too: the transformation is then
    built as by :func:`inject_stateful_hyperparams`, with the schedules' states in
    ``state.hyperparams_states`` (state :class:`InjectStatefulHyperparamsState`).

    Optax's rule differs in two places: it stores every Python int as an int32
    hyperparameter, and it takes every callable not named in ``static_args`` for a schedule.
    As in Optax, an array passed with its own dtype (``jnp.asarray(0.9, jnp.bfloat16)``) is
    stored in that dtype.
    Code written for Optax (``inject_hyperparams(sgd, static_args=("momentum",))``, floats
    for the learning rate and weight decay) runs unchanged.

    Every gradtx transformation casts its hyperparameters to the compute dtype before use, so
    wrapping does not change the results: a Python number and its float32 array give the same
    bits.

    Args:
        inner_factory: a function returning a :class:`~gradtx.GradientTransformation`.
        static_args: a name or names of arguments to keep static whatever their value.
        hyperparam_dtype: dtype of the stored hyperparameters. Default: an array's own dtype
            for arrays passed with one, else float32, or float64 when a parameter is float64
            or complex128 (never lower than float32, so ``b2 = 0.999`` does not become 1 with
            bfloat16 parameters, where Optax's default follows the parameters' dtype).

    Returns:
        A factory with ``inner_factory``'s signature whose transformations have state
        :class:`InjectHyperparamsState`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
        >>> state = tx.init(jnp.zeros(2))
        >>> state.hyperparams["learning_rate"]
        Array(0.1, dtype=float32)
        >>> state = gradtx.tree_set(state, learning_rate=0.5)
        >>> tx.update(jnp.ones(2), state)[0]
        Array([-0.5, -0.5], dtype=float32)
    """
    return _inject(inner_factory, static_args, hyperparam_dtype, "inject_hyperparams", False)


def _inject(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str],
    hyperparam_dtype: DTypeLike | None,
    wrapper: str,
    always_stateful: bool,
) -> Callable[..., GradientTransformation]:
    """:func:`inject_hyperparams` (``always_stateful=False``, stateful only when given a
    stateful schedule) and :func:`inject_stateful_hyperparams` (``True``)."""
    if not callable(inner_factory):
        raise TypeError(
            f"{wrapper}(): inner_factory must be a function that builds a "
            f"GradientTransformation, such as gradtx.adam, got {inner_factory!r}."
        )
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    fn = getattr(inner_factory, "__name__", "inner_factory")
    unknown = static - set(signature.parameters)
    if unknown:
        raise ValueError(
            f"{wrapper}({fn}): static_args {sorted(unknown)} are not arguments of "
            f"{fn}; its arguments are {list(signature.parameters)}."
        )

    @functools.wraps(inner_factory)
    def factory(*args: Any, **kwargs: Any) -> GradientTransformation:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{wrapper}({fn}): {e}") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        kinds = {
            name: _kind(value, signature.parameters[name], static)
            for name, value in arguments.items()
        }
        numeric = {k: v for k, v in arguments.items() if kinds[k] == "numeric"}
        schedules = {k: v for k, v in arguments.items() if kinds[k] == "schedule"}
        stateful = {k: v for k, v in arguments.items() if kinds[k] == "stateful"}
        if stateful or always_stateful:
            stateful.update({k: WrappedSchedule(v) for k, v in schedules.items()})
            stateful = {k: stateful[k] for k in arguments if k in stateful}  # argument order
            schedules = {}

        def dtype_of(tree):
            if hyperparam_dtype is not None:
                return jax.dtypes.canonicalize_dtype(hyperparam_dtype)
            dtypes = {getattr(x, "dtype", None) for x in jax.tree_util.tree_leaves(tree)}
            wide = bool(dtypes & {jnp.dtype(jnp.float64), jnp.dtype(jnp.complex128)})
            return jax.dtypes.canonicalize_dtype(jnp.float64 if wide else jnp.float32)

        # As Optax, an array given with its own (strong) dtype keeps it.
        own_dtype = {
            k: v.dtype
            for k, v in numeric.items()
            if hyperparam_dtype is None
            and isinstance(v, _ARRAYS)
            and not getattr(v, "weak_type", False)
        }

        def values(stored, count, dtype, states=None, extra_args=None):
            out = {k: jnp.asarray(stored[k], own_dtype.get(k, dtype)) for k in numeric}
            out.update({k: jnp.asarray(s(count), dtype) for k, s in schedules.items()})
            if states is None:
                states = {k: f.init() for k, f in stateful.items()}
            out.update(
                {
                    k: jnp.asarray(f(states[k], **(extra_args or {})), dtype)
                    for k, f in stateful.items()
                }
            )
            return out

        def build(hyperparams):
            call = inspect.BoundArguments(signature, {**arguments, **hyperparams})  # type: ignore[arg-type]
            return inner_factory(*call.args, **call.kwargs)

        zero = jnp.zeros([], jnp.int32)
        initial = values(numeric, zero, dtype_of(()))
        build(initial)  # validates the arguments now, as the unwrapped factory would

        def init_fn(params):
            hyperparams = values(numeric, zero, dtype_of(params))
            inner_state = build(hyperparams).init(params)
            if not stateful:
                return InjectHyperparamsState(zero, hyperparams, inner_state)
            states = {k: f.init() for k, f in stateful.items()}
            return InjectStatefulHyperparamsState(zero, hyperparams, states, inner_state)

        def update_fn(updates, state, params=None, **extra_args):
            stored = dict(state.hyperparams)
            missing = set(numeric) - set(stored)
            extra = set(stored) - set(numeric) - set(schedules) - set(stateful)
            if missing or extra:
                raise KeyError(
                    f"{wrapper}({fn}): state.hyperparams has the keys {sorted(stored)}, "
                    f"expected {sorted([*numeric, *schedules, *stateful])}"
                    + (f"; unknown: {sorted(extra)}" if extra else "")
                    + (f"; missing: {sorted(missing)}" if missing else "")
                    + "."
                )
            states = getattr(state, "hyperparams_states", None) if stateful else None
            if stateful and states is None:
                raise TypeError(
                    f"{wrapper}({fn}): the state has no hyperparams_states; was it built by "
                    "this transformation's init?"
                )
            hyperparams = values(stored, state.count, dtype_of(updates), states, extra_args)
            updates, inner_state = build(hyperparams).update(
                updates, state.inner_state, params, **extra_args
            )
            count = safe_increment(state.count)
            if not stateful:
                return updates, InjectHyperparamsState(count, hyperparams, inner_state)
            new_states = {k: f.update(states[k], **extra_args) for k, f in stateful.items()}
            return updates, InjectStatefulHyperparamsState(
                count, hyperparams, new_states, inner_state
            )

        def explain(params):
            n = len(jax.tree_util.tree_leaves(params, is_leaf=is_masked_node))
            return [(None, build(initial), [True] * n)]

        return _registry.describe(GradientTransformation(init_fn, update_fn), explain=explain)

    return factory


def current_learning_rate(state: OptState) -> jax.Array:
    """The learning rate recorded in an optimizer state, for logging.

    The state must come from a transformation built with :func:`inject_hyperparams` (anywhere
    inside a chain, partition or wrapper); with a schedule this is the value used in the last
    update.

    Args:
        state: the optimizer state.

    Returns:
        The learning rate (an array; batched if the state is).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.chain(gradtx.clip(1.0),
        ...                   gradtx.inject_hyperparams(gradtx.adam)(learning_rate=3e-4))
        >>> gradtx.current_learning_rate(tx.init(jnp.zeros(2)))
        Array(0.0003, dtype=float32)
    """
    found = [
        (_tree.path_str(p), leaf)
        for p, leaf in jax.tree_util.tree_leaves_with_path(state)
        if p and _tree.path_str(p[-1:]) == "learning_rate"
    ]
    if not found:
        raise ValueError(
            "current_learning_rate(): the state records no learning rate. Build the optimizer "
            "with gradtx.inject_hyperparams, e.g. gradtx.inject_hyperparams(gradtx.adam)"
            "(learning_rate=1e-3), so that its state holds the value used."
        )
    if len(found) > 1:
        paths = [p for p, _ in found]
        raise ValueError(
            f"current_learning_rate(): the state holds {len(found)} learning rates, at "
            f"{paths}; read one with gradtx.tree_get(state, {paths[0]!r})."
        )
    return found[0][1]
