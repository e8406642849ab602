"""Hyperparameters that live in the optimizer state, and reading or setting them by name.

:func:`inject_hyperparams` wraps an optimizer factory so that its numeric hyperparameters are
0-d arrays in ``state.hyperparams``: they can be logged, changed between steps, differentiated
through and vmapped over. :func:`tree_get` and :func:`tree_set` read and write any named node
of a nested state, and :func:`current_learning_rate` reports the learning rate for logging.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import tree as _tree
from gradtx.base import DTypeLike, GradientTransformation, OptState
from gradtx.numerics import safe_increment
from gradtx.wrappers.masking import is_masked_node, set_explain_hook

__all__ = [
    "InjectHyperparamsState",
    "current_learning_rate",
    "inject_hyperparams",
    "tree_get",
    "tree_set",
]

_NUMERIC_WORDS = {"float", "ArrayLike", "ScalarOrSchedule", "Schedule"}


def _annotation_words(param: inspect.Parameter) -> set[str]:
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        return set()
    text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
    return set(re.findall(r"\w+", text))


def _kind(name: str, value: Any, param: inspect.Parameter, static: set[str]) -> str:
    """``"numeric"``, ``"schedule"`` or ``"static"`` for one argument of the factory."""
    if name in static or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        return "static"
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return "static"
    words = _annotation_words(param)
    if callable(value) and not isinstance(value, (jax.Array, np.ndarray, np.generic)):
        # Masks, dtypes and other callables are static when the annotation says so.
        return "schedule" if not words or words & _NUMERIC_WORDS else "static"
    if isinstance(value, int):
        wants_float = isinstance(param.default, float) or (
            "int" not in words and bool(words & _NUMERIC_WORDS)
        )
        return "numeric" if wants_float else "static"
    if isinstance(value, float):
        return "numeric"
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        return "numeric" if jnp.issubdtype(value.dtype, jnp.floating) else "static"
    return "static"


class InjectHyperparamsState(NamedTuple):
    """State of a transformation built by :func:`inject_hyperparams`.

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


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: DTypeLike | None = None,
) -> Callable[..., GradientTransformation]:
    r"""Wraps a factory so that its numeric hyperparameters live in the state.

    The returned factory takes the same arguments. Floating-point arguments (Python floats,
    float arrays, traced values) and schedules become entries of ``state.hyperparams``, stored
    as arrays of ``hyperparam_dtype``; the transformation is rebuilt from them at every update,
    so a value written into the state is used from the next update on, ``jax.grad`` flows
    through it and ``jax.vmap`` over a state holding a grid runs the whole grid. A schedule is
    evaluated at the step count before each update and the value stored, so
    ``state.hyperparams["learning_rate"]`` is the learning rate actually used.

    Booleans, ``None``, strings, integer and key arrays, Python ints passed for integer
    arguments (seeds, periods: the annotation does not admit a float), and callables whose
    annotation is not numeric (masks, dtypes) stay static; ``static_args`` names others.
    Python ints given for float arguments (``weight_decay=0``) become hyperparameters.

    Every gradtx transformation casts its hyperparameters to the compute dtype before use, so
    wrapping does not change the results: a Python number and its float32 array give the same
    bits.

    Args:
        inner_factory: a function returning a :class:`~gradtx.GradientTransformation`.
        static_args: names of arguments to keep static (callables that are not schedules...).
        hyperparam_dtype: dtype of the stored hyperparameters. Default: float32, or float64
            when a parameter is float64 or complex128 (never lower than float32, so
            ``b2 = 0.999`` does not become 1 with bfloat16 parameters).

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
    if not callable(inner_factory):
        raise TypeError(
            "inject_hyperparams(): inner_factory must be a function that builds a "
            f"GradientTransformation, such as gradtx.adam, got {inner_factory!r}."
        )
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    fn = getattr(inner_factory, "__name__", "inner_factory")
    unknown = static - set(signature.parameters)
    if unknown:
        raise ValueError(
            f"inject_hyperparams({fn}): static_args {sorted(unknown)} are not arguments of "
            f"{fn}; its arguments are {list(signature.parameters)}."
        )

    @functools.wraps(inner_factory)
    def factory(*args: Any, **kwargs: Any) -> GradientTransformation:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"inject_hyperparams({fn}): {e}") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        kinds = {
            name: _kind(name, value, signature.parameters[name], static)
            for name, value in arguments.items()
        }
        numeric = {k: v for k, v in arguments.items() if kinds[k] == "numeric"}
        schedules = {k: v for k, v in arguments.items() if kinds[k] == "schedule"}

        def dtype_of(tree):
            if hyperparam_dtype is not None:
                return jax.dtypes.canonicalize_dtype(hyperparam_dtype)
            dtypes = {getattr(x, "dtype", None) for x in jax.tree_util.tree_leaves(tree)}
            wide = bool(dtypes & {jnp.dtype(jnp.float64), jnp.dtype(jnp.complex128)})
            return jax.dtypes.canonicalize_dtype(jnp.float64 if wide else jnp.float32)

        def values(stored, count, dtype):
            out = {k: jnp.asarray(stored[k], dtype) for k in numeric}
            out.update({k: jnp.asarray(s(count), dtype) for k, s in schedules.items()})
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
            return InjectHyperparamsState(zero, hyperparams, inner_state)

        def update_fn(updates, state, params=None, **extra_args):
            stored = dict(state.hyperparams)
            missing = set(numeric) - set(stored)
            extra = set(stored) - set(numeric) - set(schedules)
            if missing or extra:
                raise KeyError(
                    f"inject_hyperparams({fn}): state.hyperparams has the keys {sorted(stored)}, "
                    f"expected {sorted([*numeric, *schedules])}"
                    + (f"; unknown: {sorted(extra)}" if extra else "")
                    + (f"; missing: {sorted(missing)}" if missing else "")
                    + "."
                )
            hyperparams = values(stored, state.count, dtype_of(updates))
            updates, inner_state = build(hyperparams).update(
                updates, state.inner_state, params, **extra_args
            )
            return updates, InjectHyperparamsState(
                safe_increment(state.count), hyperparams, inner_state
            )

        def explain(params):
            n = len(jax.tree_util.tree_leaves(params, is_leaf=is_masked_node))
            return [(None, build(initial), [True] * n)]

        set_explain_hook(update_fn, explain)
        return GradientTransformation(init_fn, update_fn)

    return factory


def _children(node: Any) -> tuple[list[tuple[str, Any]], Any] | None:
    """The named children of one pytree node and its one-level treedef; None for a leaf."""
    kids, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if jax.tree_util.treedef_is_leaf(treedef):
        return None
    return [(_tree.path_str(p), child) for p, child in kids], treedef


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, node
    split = _children(node)
    if split is not None:
        for name, child in split[0]:
            yield from _walk(child, (*path, name))


def _ends_with(path: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    return len(path) >= len(parts) and path[len(path) - len(parts) :] == parts


def _hyperparameter_names(tree: Any) -> list[str]:
    return sorted({p[-1] for p, _ in _walk(tree) if len(p) >= 2 and p[-2] == "hyperparams"})


_MISSING = object()


def tree_get(tree: Any, key: str, default: Any = _MISSING) -> Any:
    """Returns the node of ``tree`` named ``key``, wherever it is.

    A node's name is its dict key, field name or index. ``key`` may be a ``/``-joined path
    suffix (``"0/hyperparams/learning_rate"``) to pick one of several nodes with the same name.

    Args:
        tree: a pytree, usually an optimizer state.
        key: the name, or a ``/``-joined suffix of the path.
        default: returned when nothing matches (otherwise a ``KeyError`` is raised).

    Returns:
        The unique matching node (a leaf or a subtree).

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-3, b2=0.99)
        >>> gradtx.tree_get(tx.init(jnp.zeros(2)), "b2")
        Array(0.99, dtype=float32)
    """
    parts = tuple(key.split("/"))
    found = [(p, node) for p, node in _walk(tree) if p and _ends_with(p, parts)]
    if not found:
        if default is not _MISSING:
            return default
        names = _hyperparameter_names(tree)
        raise KeyError(
            f"tree_get(): nothing named {key!r} in the tree"
            + (f"; its hyperparameters are {names}" if names else "")
            + ". Hyperparameters are in the state only for transformations built with "
            "gradtx.inject_hyperparams."
        )
    if len(found) > 1:
        paths = ["/".join(p) for p, _ in found]
        raise ValueError(
            f"tree_get(): {key!r} matches {len(found)} nodes, at {paths}; pass a longer path "
            f"such as {paths[0]!r}."
        )
    return found[0][1]


def tree_set(tree: Any, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
    """Returns ``tree`` with every node named by a key replaced by its value.

    Keys are names or ``/``-joined path suffixes, as in :func:`tree_get`; every matching node
    is replaced. A callable value is applied to the old node. A new value for an array leaf is
    cast to the leaf's dtype, so a jitted step does not recompile; its shape may change (write
    a grid of values into a state made by ``jax.vmap(tx.init)``).

    Args:
        tree: a pytree, usually an optimizer state.
        values: ``{key: value}`` (for keys that are not Python identifiers).
        **kwargs: more ``key=value`` pairs.

    Returns:
        The new tree; ``tree`` is not modified.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.inject_hyperparams(gradtx.sgd)(learning_rate=0.1)
        >>> state = gradtx.tree_set(tx.init(jnp.zeros(2)), learning_rate=lambda lr: lr / 2)
        >>> gradtx.current_learning_rate(state)
        Array(0.05, dtype=float32)
    """
    new_values = {**(values or {}), **kwargs}
    keys = {k: tuple(k.split("/")) for k in new_values}
    hits = dict.fromkeys(new_values, 0)

    def rebuild(node, path):
        for key, parts in keys.items():
            if path and _ends_with(path, parts):
                hits[key] += 1
                value = new_values[key]
                value = value(node) if callable(value) else value
                if isinstance(node, (jax.Array, np.ndarray, np.generic)):
                    value = jnp.asarray(value, node.dtype)
                return value
        split = _children(node)
        if split is None:
            return node
        kids, treedef = split
        return treedef.unflatten([rebuild(child, (*path, name)) for name, child in kids])

    out = rebuild(tree, ())
    missing = [k for k, n in hits.items() if n == 0]
    if missing:
        names = _hyperparameter_names(tree)
        raise KeyError(
            f"tree_set(): nothing named {missing} in the tree"
            + (f"; its hyperparameters are {names}" if names else "")
            + ". Hyperparameters are in the state only for transformations built with "
            "gradtx.inject_hyperparams."
        )
    return out


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
    found = [(p, node) for p, node in _walk(state) if p and p[-1] == "learning_rate"]
    if not found:
        raise ValueError(
            "current_learning_rate(): the state records no learning rate. Build the optimizer "
            "with gradtx.inject_hyperparams, e.g. gradtx.inject_hyperparams(gradtx.adam)"
            "(learning_rate=1e-3), so that its state holds the value used."
        )
    if len(found) > 1:
        paths = ["/".join(p) for p, _ in found]
        raise ValueError(
            f"current_learning_rate(): the state holds {len(found)} learning rates, at "
            f"{paths}; read one with gradtx.tree_get(state, {paths[0]!r})."
        )
    return found[0][1]
