"""The gradient-transformation contract.

A gradient transformation is a pair of pure functions::

    init(params) -> state
    update(updates, state, params=None, **extra_args) -> (updates, state)

``init`` builds the state (a pytree of arrays) from the parameters; ``update`` maps a tree of
gradients to a tree of updates and returns the new state. Transforms compose with :func:`chain`,
and the final updates are added to the parameters with :func:`apply_updates`. Every ``update``
accepts keyword-only extra arguments (a loss ``value``, a ``value_fn``...) and ignores the ones it
does not use, so :func:`chain` can hand them to every member.

Example:
    >>> import jax.numpy as jnp
    >>> import gradtx
    >>> tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.sgd(0.1))
    >>> params = {"w": jnp.array([3.0, 4.0])}
    >>> state = tx.init(params)
    >>> updates, state = tx.update({"w": jnp.array([3.0, 4.0])}, state, params)
    >>> gradtx.apply_updates(params, updates)["w"]
    Array([2.94, 3.92], dtype=float32)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeAlias, runtime_checkable

import jax
import jax.numpy as jnp

from gradtx import _registry, tree as _tree
from gradtx.numerics import promote, promote_dtypes, upcast

__all__ = [
    "ArrayLike",
    "DTypeLike",
    "EmptyState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "MaskOrFn",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "Schedule",
    "StatefulSchedule",
    "TransformInitFn",
    "TransformUpdateExtraArgsFn",
    "TransformUpdateFn",
    "Updates",
    "apply_updates",
    "chain",
    "identity",
    "incremental_update",
    "init_empty_state",
    "named_chain",
    "periodic_update",
    "set_to_zero",
    "stateless",
    "stateless_with_tree_map",
    "with_extra_args_support",
]

ArrayLike: TypeAlias = jax.typing.ArrayLike
"""A number, a NumPy or JAX array, or a traced value: what every numeric hyperparameter takes."""
DTypeLike: TypeAlias = jax.typing.DTypeLike
"""A dtype, or anything ``jnp.dtype`` accepts (``jnp.float32``, ``"bfloat16"``)."""
Params: TypeAlias = Any
"""A pytree of arrays: the parameters being optimised."""
Updates: TypeAlias = Any
"""A pytree of arrays with the structure of the parameters (gradients or updates)."""
OptState: TypeAlias = Any
"""A pytree of arrays: the state of a transformation."""
Schedule: TypeAlias = Callable[[jax.Array], ArrayLike]
"""A function from the step count (an int32 scalar, starting at 0) to a value."""
ScalarOrSchedule: TypeAlias = "float | jax.Array | Schedule"
"""A learning rate or weight decay: a number, an array, a traced value or a schedule."""
ScheduleState: TypeAlias = Any
"""The state of a :class:`StatefulSchedule` (a pytree of arrays)."""
MaskOrFn: TypeAlias = Any
"""A mask argument (Optax's name): ``None``, a tree of booleans (or a prefix of one), a function
``params -> tree of booleans``, or, in gradtx, glob patterns on key paths (see
:func:`gradtx.masked`)."""


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule with a state of its own, for :func:`gradtx.inject_hyperparams`.

    Any object with these three methods is one (``isinstance`` checks them); its state may be
    updated from the extra keyword arguments given to ``update`` (a loss, say).
    :class:`gradtx.schedules.WrappedSchedule` turns a plain schedule into one.
    """

    def init(self) -> ScheduleState:
        """The initial state."""
        ...

    def update(self, state: ScheduleState, **extra_args: Any) -> ScheduleState:
        """The state after one more step."""
        ...

    def __call__(self, state: ScheduleState, **extra_args: Any) -> ArrayLike:
        """The value at ``state``."""
        ...


class TransformInitFn(Protocol):
    """The type of ``init``: ``init(params) -> state``."""

    def __call__(self, params: Params) -> OptState:
        """Builds the initial state from the parameters."""
        ...


class TransformUpdateFn(Protocol):
    """The type of ``update``: ``update(updates, state, params=None) -> (updates, state)``.

    In gradtx every ``update`` also accepts extra keyword arguments
    (:class:`TransformUpdateExtraArgsFn`), so the two types describe the same functions.
    """

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        """Transforms the updates and returns them with the new state."""
        ...


class TransformUpdateExtraArgsFn(Protocol):
    """The type of an ``update`` that takes extra keyword arguments (a loss ``value``...).

    It ignores the extra arguments it does not use; one it needs is keyword-only in its
    signature, so a caller who forgets it gets a clear ``TypeError``.
    """

    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        """Transforms the updates and returns them with the new state."""
        ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)``; see the module docstring for the contract.

    Attributes:
        init: ``init(params) -> state``.
        update: ``update(updates, state, params=None, **extra_args) -> (updates, state)``.
    """

    init: TransformInitFn
    update: TransformUpdateFn


GradientTransformationExtraArgs = GradientTransformation
"""Optax's name for a transformation whose ``update`` takes extra keyword arguments.

Every gradtx transformation takes them, so this is :class:`GradientTransformation` itself."""


def is_transformation(value: Any) -> bool:
    """True for anything with callable ``init`` and ``update``: gradtx's, Optax's, a user's."""
    return callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))


def as_transformation(fn: str, name: str, value: Any) -> GradientTransformation:
    """``value`` as a :class:`GradientTransformation`, or a ``TypeError`` naming ``fn``.

    Combinators and wrappers call this on what they are given. Any object with callable
    ``init`` and ``update`` is accepted (an Optax transformation, a user's class), so users can
    mix libraries while they migrate. An ``update`` that does not take ``**kwargs`` (a user's
    ``GradientTransformation(init, update)``, an Optax one) receives only the extra keyword
    arguments its signature names, as Optax does for its plain transformations; gradtx's own
    transformations are returned unchanged.

    Args:
        fn: the caller's name, for the error message (``"masked"``).
        name: the argument's name there (``"inner"``).
        value: what the user passed.

    Returns:
        The transformation.

    Example:
        >>> class Halve:  # not a GradientTransformation, but it has init and update
        ...     def init(self, params):
        ...         return ()
        ...     def update(self, updates, state, params=None):
        ...         return updates / 2, state
        >>> tx = gradtx.chain(Halve(), gradtx.scale(-1.0))
        >>> tx.update(jnp.array([2.0]), tx.init(None), value=1.0)[0]
        Array([-1.], dtype=float32)
    """
    if isinstance(value, GradientTransformation):
        update = _with_extra_args(value.update)
        return value if update is value.update else GradientTransformation(value.init, update)
    if not is_transformation(value):
        hint = ""
        if callable(value):
            factory = getattr(value, "__name__", "sgd")
            hint = (
                f" Did you pass a factory without calling it: gradtx.{factory} instead of "
                f"gradtx.{factory}(...)?"
            )
        raise TypeError(
            f"{fn}(): {name} must be a GradientTransformation (an object with init and "
            f"update), got {value!r}.{hint}"
        )
    return GradientTransformation(value.init, _with_extra_args(value.update))


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformation:
    """Wraps ``tx`` so that its ``update`` accepts (and ignores) extra keyword arguments.

    A transformation whose ``update`` already takes ``**extra_args`` (every gradtx one) is
    returned unchanged. Otherwise its ``update`` is called with only the extra arguments its
    signature names (none, for ``update(updates, state, params)``).

    Args:
        tx: a transformation (any object with ``init`` and ``update``).

    Returns:
        The transformation.

    Example:
        >>> tx = gradtx.GradientTransformation(lambda p: (), lambda u, s, p=None: (u * 2, s))
        >>> tx = gradtx.with_extra_args_support(tx)
        >>> tx.update(jnp.array([1.0]), (), value=3.0)[0]
        Array([2.], dtype=float32)
    """
    if not is_transformation(tx):
        as_transformation("with_extra_args_support", "tx", tx)  # raises the TypeError
    update = _with_extra_args(tx.update)
    if isinstance(tx, GradientTransformation) and update is tx.update:
        return tx
    return GradientTransformation(tx.init, update)


def _with_extra_args(update: Callable[..., Any]) -> TransformUpdateFn:
    """``update``, called with only the extra keyword arguments its signature names."""
    try:
        parameters = list(inspect.signature(update).parameters.values())
    except (TypeError, ValueError):  # no signature to read: pass everything on
        return update
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return update
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {p.name for p in parameters[3:] if p.kind in keyword}

    @functools.wraps(update)
    def update_fn(updates, state, params=None, **extra_args):
        kept = {k: v for k, v in extra_args.items() if k in named}
        return update(updates, state, params, **kept)

    return update_fn


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


def init_empty_state(params: Params) -> EmptyState:
    """The ``init`` of every transformation that keeps no state (Optax's name).

    Example:
        >>> init_empty_state({"w": jnp.zeros(2)})
        EmptyState()
    """
    del params
    return EmptyState()


def identity() -> GradientTransformation:
    """Returns the transformation that leaves updates unchanged.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = identity()
        >>> tx.update(jnp.array([1.0, -2.0]), tx.init(None))[0]
        Array([ 1., -2.], dtype=float32)
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)


def set_to_zero() -> GradientTransformation:
    """Returns a transformation that replaces every update by zeros (freezes parameters).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = set_to_zero()
        >>> tx.update({"w": jnp.array([1.0, -2.0])}, tx.init(None))[0]
        {'w': Array([0., 0.], dtype=float32)}
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return _tree.zeros_like(updates), state

    return GradientTransformation(init_empty_state, update_fn)


def stateless(f: Callable[[Updates, Params | None], Updates]) -> GradientTransformation:
    """Wraps ``f(updates, params) -> updates`` as a transformation without state.

    Args:
        f: a pure function of the updates tree and the parameters tree (``None`` when ``update``
            is called without parameters).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> halve = stateless(lambda u, p: gradtx.tree.scale(0.5, u))
        >>> halve.update(jnp.array([2.0, 4.0]), halve.init(None))[0]
        Array([1., 2.], dtype=float32)
    """

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        return f(updates, params), state

    return GradientTransformation(init_empty_state, update_fn)


def stateless_with_tree_map(
    f: Callable[[jax.Array, jax.Array | None], jax.Array],
) -> GradientTransformation:
    """Wraps ``f(update, param) -> update``, written for one array, as a stateless transformation.

    ``f`` is mapped over the leaves of the updates (and of the parameters, which are ``None``
    when ``update`` is called without them).

    Args:
        f: a pure function of one update array and the matching parameter array (or ``None``).

    Returns:
        The transformation.

    Example:
        >>> tx = stateless_with_tree_map(lambda u, p: u if p is None else u + p)
        >>> tx.update({"w": jnp.array([1.0])}, tx.init(None), {"w": jnp.array([2.0])})[0]
        {'w': Array([3.], dtype=float32)}
    """

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            return jax.tree_util.tree_map(lambda u: f(u, None), updates), state
        return _tree.map(f, updates, params, names=("updates", "params")), state

    return GradientTransformation(init_empty_state, update_fn)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies transformations one after the other.

    The state is a tuple with one entry per member; extra keyword arguments given to ``update``
    are passed to every member.

    Args:
        *transforms: the transformations, applied left to right.

    Returns:
        The chained transformation.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = chain(gradtx.scale(2.0), gradtx.scale(-0.5))
        >>> tx.update(jnp.array([1.0, 3.0]), tx.init(None))[0]
        Array([-1., -3.], dtype=float32)
    """
    transforms = tuple(
        as_transformation("chain", f"argument {i}", t) for i, t in enumerate(transforms)
    )

    def init_fn(params):
        return tuple(t.init(params) for t in transforms)

    def update_fn(updates, state, params=None, **extra_args):
        if len(state) != len(transforms):
            raise ValueError(
                f"chain(): the state has {len(state)} entries but the chain has "
                f"{len(transforms)} transformations; was it built by this chain's init?"
            )
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=transforms)


def named_chain(*transforms: tuple[str, GradientTransformation]) -> GradientTransformation:
    """Like :func:`chain`, with each member's state stored under a name.

    Args:
        *transforms: ``(name, transformation)`` pairs with unique names.

    Returns:
        The chained transformation, whose state is a dict from name to member state.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = named_chain(("clip", gradtx.clip(1.0)), ("sgd", gradtx.sgd(0.1)))
        >>> sorted(tx.init(jnp.zeros(2)))
        ['clip', 'sgd']
    """
    names = [name for name, _ in transforms]
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain(): names must be unique, got {names}.")
    inner = chain(*(t for _, t in transforms))

    def init_fn(params):
        return dict(zip(names, inner.init(params), strict=True))

    def update_fn(updates, state, params=None, **extra_args):
        updates, new = inner.update(updates, tuple(state[n] for n in names), params, **extra_args)
        return updates, dict(zip(names, new, strict=True))

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=(inner,))


def apply_updates(params: Params, updates: Updates) -> Params:
    """Adds updates to parameters, keeping each parameter's dtype.

    The sum is computed in the wider of the two dtypes and cast back, so a float32 update
    applied to a bfloat16 parameter is rounded once. A ``None`` in ``params`` stays ``None``,
    whatever ``updates`` holds there (as Optax; ``apply_updates(None, u)`` is ``None``).
    Parameters must be floating-point or complex: an integer, boolean or random-key leaf
    raises a ``TypeError`` naming its path (as ``init`` does for every transformation that
    keeps per-parameter state), instead of silently truncating the update.

    Args:
        params: the parameters.
        updates: a tree of the same structure.

    Returns:
        ``params + updates`` leaf by leaf, in the parameters' dtypes.

    Example:
        >>> import jax.numpy as jnp
        >>> p = {"w": jnp.ones(2, jnp.bfloat16)}
        >>> apply_updates(p, {"w": jnp.array([0.5, -0.5])})["w"]
        Array([1.5, 0.5], dtype=bfloat16)
    """
    _tree.check_array_leaves(params, "apply_updates(params)")

    def add(p, u):
        p, u = jnp.asarray(p), jnp.asarray(u)
        dtype = promote_dtypes(p, u)  # explicit: strict promotion refuses bfloat16 + float32
        return (p.astype(dtype) + u.astype(dtype)).astype(p.dtype)

    def is_none(x):
        return x is None

    # As Optax: a None in params stays None, whatever updates holds there.
    leaves, treedef = jax.tree_util.tree_flatten(params, is_leaf=is_none)
    try:
        update_leaves = treedef.flatten_up_to(updates)
    except (ValueError, TypeError):  # a structure mismatch: the error names the path
        return _tree.map(add, params, updates, names=("params", "updates"))
    return treedef.unflatten(
        [None if p is None else add(p, u) for p, u in zip(leaves, update_leaves, strict=True)]
    )


def incremental_update(new_tensors: Params, old_tensors: Params, step_size: ArrayLike) -> Params:
    r"""Polyak averaging: moves a running average of parameters towards their latest value.

    .. math:: \bar\theta \leftarrow s\,\theta + (1 - s)\,\bar\theta

    computed in float32 (at least) and returned in the dtypes of ``old_tensors``; ``None``
    leaves of ``new_tensors`` stay ``None``.

    Args:
        new_tensors: the latest values :math:`\theta`.
        old_tensors: the running average :math:`\bar\theta`, of the same structure.
        step_size: :math:`s`, the weight of the latest values (a number, array or traced
            value).

    Returns:
        The new average.

    Example:
        >>> import jax.numpy as jnp
        >>> incremental_update({"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}, 0.25)
        {'w': Array([0.25], dtype=float32)}

    References:
        Polyak and Juditsky, `Acceleration of stochastic approximation by averaging
        <https://epubs.siam.org/doi/10.1137/0330046>`_, 1992
    """

    def leaf(new, old):
        if new is None:
            return None
        new, old = jnp.asarray(new), jnp.asarray(old)
        s, new_c, old_c = promote(step_size, upcast(new), upcast(old))
        return (s * new_c + (1 - s) * old_c).astype(old.dtype)

    return jax.tree_util.tree_map(leaf, new_tensors, old_tensors, is_leaf=lambda x: x is None)


def periodic_update(
    new_tensors: Params, old_tensors: Params, steps: ArrayLike, update_period: ArrayLike
) -> Params:
    """A slow copy of the parameters: ``new_tensors`` every ``update_period`` steps.

    Returns ``new_tensors`` when ``steps % update_period == 0`` and ``old_tensors`` otherwise,
    chosen with ``jax.lax.cond`` so that ``steps`` may be traced (the two trees must have the
    same structure, shapes and dtypes). Target networks in reinforcement learning and the
    teachers of self-supervised learning are kept this way.

    Args:
        new_tensors: the latest parameters.
        old_tensors: the slow copy.
        steps: the number of updates made to the online parameters (an integer).
        update_period: how many steps between copies (a positive integer).

    Returns:
        The new slow copy.

    Example:
        >>> import jax.numpy as jnp
        >>> new, old = jnp.array([1.0]), jnp.array([0.0])
        >>> periodic_update(new, old, 4, 2), periodic_update(new, old, 5, 2)
        (Array([1.], dtype=float32), Array([0.], dtype=float32))

    References:
        Mnih et al., `Playing Atari with Deep Reinforcement Learning
        <https://arxiv.org/abs/1312.5602>`_, 2013;
        Grill et al., `Bootstrap your own latent <https://arxiv.org/abs/2006.07733>`_, 2020
    """
    return jax.lax.cond(
        jnp.mod(steps, update_period) == 0, lambda: new_tensors, lambda: old_tensors
    )
