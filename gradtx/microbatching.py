"""Microbatching: evaluate a function on a batch in sequential slices and combine the results.

Optax's ``optax.microbatching`` namespace, with its names and semantics: :func:`microbatch`
turns ``fun(batch)`` into a ``lax.fori_loop`` over microbatches whose outputs are combined by an
:class:`Accumulator` (sum, mean, running mean or concatenation, per output leaf);
:func:`micro_vmap` is ``jax.vmap`` with the batch processed in slices; :func:`micro_grad`
computes per-example gradients, transforms them (clipping, squaring...) and accumulates them.
Peak memory is that of one microbatch, which is what makes large batches and per-example
gradient methods (DP-SGD) fit.

Microbatch ``j`` holds the rows ``j, j + n, j + 2n, ...`` of the batch (``n`` microbatches):
the batch axis is reshaped column-major, so a batch sharded along its batch axis keeps every
microbatch sharded the same way, and concatenation restores the original order.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "AccumulationType",
    "Accumulator",
    "micro_grad",
    "micro_vmap",
    "microbatch",
    "reshape_batch_axis",
]

Function = Callable[..., Any]

# micro_grad's second output: per-example values, metrics and the function's aux output.
IndividualOutputs = collections.namedtuple("Aux", ["values", "metrics", "aux"])


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How the outputs of the microbatches combine into one result.

    For the evaluations ``x_0, ..., x_{n-1}`` of the microbatches, the result is::

        carry = init(shape_dtype_of(x_0))
        for i in range(n):
            carry = update(carry, x_i, i)
        return finalize(carry)

    Attributes:
        init: ``init(shape_dtype_struct) -> carry``, from the shape and dtype of one
            microbatch's output.
        update: ``update(carry, value, index) -> carry``.
        finalize: ``finalize(carry) -> result``.
        aggregate: ``aggregate(values) -> result`` for values stacked along axis 0 (the
            reduction :func:`micro_vmap` applies within a microbatch).
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    finalize: Callable[[Any], Any]
    aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
    """The built-in ways of combining microbatch outputs."""

    MEAN = enum.auto()
    """The mean over the microbatches (floating-point outputs only)."""
    SUM = enum.auto()
    """The sum over the microbatches."""
    RUNNING_MEAN = enum.auto()
    """The mean over the microbatches run (``num_real_microbatches`` of them)."""
    CONCAT = enum.auto()
    """The outputs concatenated along axis 0, in the order of the batch."""


def _floating_only(fn: Function) -> Function:
    def checked(value):
        if not all(jnp.issubdtype(x.dtype, jnp.floating) for x in jax.tree.leaves(value)):
            raise ValueError("MEAN and RUNNING_MEAN Accumulators require floating-point values.")
        return fn(value)

    return checked


def _zeros(struct: Any) -> jax.Array:
    return jnp.zeros(struct.shape, struct.dtype)


def _per_leaf(acc: Accumulator) -> Accumulator:
    """An accumulator of arrays applied to every leaf of a tree."""
    return Accumulator(
        init=lambda value: jax.tree.map(acc.init, value),
        update=lambda carry, value, i: jax.tree.map(lambda c, v: acc.update(c, v, i), carry, value),
        finalize=lambda carry: jax.tree.map(acc.finalize, carry),
        aggregate=lambda values: jax.tree.map(acc.aggregate, values),
    )


def _add(carry, value, index):
    del index
    return carry + value.astype(carry.dtype)


def _sum() -> Accumulator:
    return _per_leaf(Accumulator(_zeros, _add, lambda c: c, functools.partial(jnp.sum, axis=0)))


def _positive(num_microbatches: int | None) -> int:
    if num_microbatches is None or num_microbatches <= 0:
        raise ValueError(f"num_microbatches={num_microbatches} must be positive.")
    return num_microbatches


def _mean(num_microbatches: int | None) -> Accumulator:
    n = _positive(num_microbatches)
    return _per_leaf(
        Accumulator(
            _floating_only(_zeros),
            _add,
            lambda carry: carry / n,
            functools.partial(jnp.mean, axis=0),
        )
    )


def _running_mean() -> Accumulator:
    def update(carry, value, index):
        # The mean of the first index + 1 values, updated in place.
        p = (index / (index + 1)).astype(carry.dtype)
        return carry * p + value.astype(carry.dtype) * (1 - p)

    return _per_leaf(
        Accumulator(
            _floating_only(_zeros), update, lambda c: c, functools.partial(jnp.mean, axis=0)
        )
    )


def _sharding_kwargs(x: jax.Array, spec: Any) -> dict[str, Any]:
    """``out_sharding`` for a reshape of ``x`` under an explicit mesh, else nothing."""
    sharding = getattr(jax.typeof(x), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or not getattr(mesh, "are_all_axes_explicit", False):
        return {}
    return {"out_sharding": jax.sharding.NamedSharding(mesh, spec(sharding.spec))}


def _concat(num_microbatches: int | None) -> Accumulator:
    n = _positive(num_microbatches)

    def init(struct):
        return jnp.zeros((n, *struct.shape), struct.dtype)

    def update(carry, value, index):
        return carry.at[index].set(value.astype(carry.dtype))

    def finalize(carry):
        # (n, microbatch_size, ...) -> (n * microbatch_size, ...), undoing reshape_batch_axis.
        kwargs = _sharding_kwargs(carry, lambda spec: jax.sharding.PartitionSpec(*spec[1:]))
        return carry.reshape(-1, *carry.shape[2:], order="F", **kwargs)

    return _per_leaf(Accumulator(init, update, finalize, lambda values: values))


def _canonicalize(tree: Any, num_microbatches: int | None) -> Accumulator:
    """One accumulator from a tree (a prefix of the outputs) of accumulators and types."""

    def one(acc):
        if isinstance(acc, Accumulator):
            return acc
        if acc is AccumulationType.MEAN:
            return _mean(num_microbatches)
        if acc is AccumulationType.SUM:
            return _sum()
        if acc is AccumulationType.RUNNING_MEAN:
            return _running_mean()
        if acc is AccumulationType.CONCAT:
            return _concat(num_microbatches)
        raise ValueError(f"Unknown accumulator: {acc}")

    # Accumulators and types are leaves (neither is a pytree node); the accumulator tree is a
    # prefix of the outputs, so each accumulator takes the subtree it sits on.
    accs = jax.tree.map(one, tree)
    return Accumulator(
        init=lambda value: jax.tree.map(lambda a, v: a.init(v), accs, value),
        update=lambda carry, value, index: jax.tree.map(
            lambda a, c, v: a.update(c, v, index), accs, carry, value
        ),
        finalize=lambda carry: jax.tree.map(lambda a, c: a.finalize(c), accs, carry),
        aggregate=lambda values: jax.tree.map(lambda a, v: a.aggregate(v), accs, values),
    )


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Splits the batch axis of every leaf into ``(num_microbatches, microbatch_size)``.

    The reshape is column-major: microbatch ``j`` holds the rows ``j, j + n, j + 2n, ...``
    (``n`` microbatches), so a sharding of the batch axis carries over to the new
    ``microbatch_size`` axis and the ``num_microbatches`` axis is replicated.

    Args:
        tree: a pytree of arrays with a batch axis.
        microbatch_size: the number of rows in each microbatch; divides the batch size.
        axis: the batch axis.

    Returns:
        The reshaped tree; each leaf has one more axis.

    Example:
        >>> import jax.numpy as jnp
        >>> gradtx.microbatching.reshape_batch_axis(jnp.arange(6), 2)
        Array([[0, 3],
               [1, 4],
               [2, 5]], dtype=int32)
    """

    def leaf(x):
        x = jnp.asarray(x)
        shape = (*x.shape[:axis], -1, microbatch_size, *x.shape[axis + 1 :])
        sharding = getattr(jax.typeof(x), "sharding", None)
        mesh = getattr(sharding, "mesh", None)
        if mesh is not None and getattr(mesh, "are_all_axes_explicit", False):
            local = sharding.shard_shape(x.shape)
            shards = x.shape[axis] // local[axis]
            if microbatch_size % shards != 0:
                raise ValueError(f"nshards={shards} must evenly divide {microbatch_size=}.")
            spec = sharding.spec
            if len(spec) > axis:
                spec = jax.sharding.PartitionSpec(*spec[:axis], None, spec[axis], *spec[axis + 1 :])
            out = jax.sharding.NamedSharding(mesh, spec)
            return x.reshape(shape, order="F", out_sharding=out)
        return x.reshape(shape, order="F")

    return jax.tree.map(leaf, tree)


def _take(tree: Any, index: Any, axis: int) -> Any:
    return jax.tree.map(functools.partial(jnp.take, indices=index, axis=axis), tree)


def microbatch(
    fun: Function,
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Any = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    """Evaluates ``fun`` on sequential microbatches of its batch arguments and combines them.

    The returned function takes ``fun``'s arguments. The arguments named by ``argnums`` and
    ``argnames`` carry a batch axis (``in_axes``, one per argument or one for all) of the same
    size, a multiple of ``microbatch_size``; ``fun`` runs on each microbatch in a
    ``lax.fori_loop`` (sequentially, so memory is that of one microbatch) and the outputs are
    combined by ``accumulator``.

    Args:
        fun: any function.
        argnums: the positions of the arguments with a batch axis.
        microbatch_size: rows per microbatch (``None``: ``fun`` itself, unbatched).
        accumulator: an :class:`Accumulator`, an :class:`AccumulationType`, or a tree of
            them that is a prefix of ``fun``'s output (``SUM`` by default).
        argnames: the names of keyword arguments with a batch axis.
        in_axes: the batch axis of each argument of ``argnums + argnames``, or one for all.
        num_real_microbatches: run only this many microbatches (may be traced: a variable
            batch size without recompiling).

    Returns:
        The microbatched function.

    Raises:
        ValueError: when called, if the batch axes differ in size or ``microbatch_size``
            does not divide them.

    Example:
        >>> import jax.numpy as jnp
        >>> M = gradtx.microbatching.AccumulationType
        >>> fun = lambda x: (x + 1, jnp.sum(3 * x))
        >>> gradtx.microbatch(fun, 0, 2, (M.CONCAT, M.SUM))(jnp.array([1, 2, 3, 4]))
        (Array([2, 3, 4, 5], dtype=int32), Array(30, dtype=int32))
    """
    if microbatch_size is None:
        return fun
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    argnames = (argnames,) if isinstance(argnames, str) else tuple(argnames)
    axes = (in_axes,) * (len(argnums) + len(argnames)) if isinstance(in_axes, int) else in_axes
    axes = tuple(axes)
    pos_axes, kw_axes = axes[: len(argnums)], axes[len(argnums) :]

    def microbatched(*args, **kwargs):
        batched = [args[i] for i in argnums] + [kwargs[k] for k in argnames]
        sizes = [
            x.shape[ax]
            for ax, tree in zip(axes, batched, strict=True)
            for x in jax.tree.leaves(tree)
        ]
        if len(set(sizes)) > 1:
            raise ValueError(f"Batch Arguments must have equal-size batch axes, found {sizes}.")
        batch_size = sizes[0]
        if batch_size % microbatch_size != 0:
            raise ValueError(f"{batch_size=} must be divisible by {microbatch_size=}.")
        args, kwargs = list(args), dict(kwargs)
        for i, ax in zip(argnums, pos_axes, strict=True):
            args[i] = reshape_batch_axis(args[i], microbatch_size, ax)
        for k, ax in zip(argnames, kw_axes, strict=True):
            kwargs[k] = reshape_batch_axis(kwargs[k], microbatch_size, ax)
        n = batch_size // microbatch_size
        acc = _canonicalize(accumulator, n)

        def on(index):
            a, kw = list(args), dict(kwargs)
            for i, ax in zip(argnums, pos_axes, strict=True):
                a[i] = _take(a[i], index, ax)
            for k, ax in zip(argnames, kw_axes, strict=True):
                kw[k] = _take(kw[k], index, ax)
            return fun(*a, **kw)

        carry = acc.init(jax.eval_shape(on, 0))
        steps = n if num_real_microbatches is None else num_real_microbatches
        carry = jax.lax.fori_loop(0, steps, lambda i, c: acc.update(c, on(i), i), carry)
        return acc.finalize(carry)

    return microbatched


def micro_vmap(
    fun: Function,
    in_axes: int | Sequence[int | None] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: Callable[..., Function] = jax.vmap,
    accumulator: Any = AccumulationType.CONCAT,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    """``jax.vmap`` over a batch processed ``microbatch_size`` rows at a time.

    With the default ``CONCAT`` the result is ``jax.vmap(fun, in_axes)``'s; ``SUM`` or
    ``MEAN`` reduce over the batch without ever holding every output (within a microbatch
    the accumulator's ``aggregate`` reduces the vmapped outputs, then the microbatches are
    combined). Keyword arguments are mapped along their leading axis, as in ``jax.vmap``.

    Args:
        fun: the function to map.
        in_axes: the mapped axis of each positional argument (``None``: not mapped), or one
            axis for all.
        out_axes: must be 0.
        microbatch_size: rows per microbatch (``None``: the whole batch at once).
        vmap_fn: a function with ``jax.vmap``'s signature (to pass options to vmap).
        accumulator: what to do with the mapped outputs, as in :func:`microbatch`.
        num_real_microbatches: run only this many microbatches.

    Returns:
        The mapped function.

    Raises:
        NotImplementedError: for ``out_axes`` other than 0.

    Example:
        >>> import jax.numpy as jnp
        >>> gradtx.microbatching.micro_vmap(lambda x: x**2, microbatch_size=2)(jnp.arange(6))
        Array([ 0,  1,  4,  9, 16, 25], dtype=int32)
    """
    if out_axes != 0:
        raise NotImplementedError("out_axis != 0 is not currently supported")
    in_axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)

    def vmapped_then_reduced(*args, kwargs):
        out = vmap_fn(fun, in_axes, out_axes)(*args, **kwargs)
        rows = jax.tree.leaves(out)[0].shape[0]
        return _canonicalize(accumulator, rows).aggregate(out)

    mapped = tuple(i for i, ax in enumerate(in_axes) if ax is not None)
    micro = microbatch(
        vmapped_then_reduced,
        argnums=mapped,
        argnames="kwargs",
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        in_axes=(*(ax for ax in in_axes if ax is not None), 0),
        num_real_microbatches=num_real_microbatches,
    )
    return lambda *args, **kwargs: micro(*args, kwargs=kwargs)


def micro_grad(
    fun: Function,
    has_aux: bool = False,
    argnums: int | Sequence[int] = 0,
    *,
    batch_argnums: int | Sequence[int] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Any = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda x: x,
    metrics_fn: Callable[[Any], Any] = lambda x: None,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    """Per-example gradients, transformed and accumulated over the batch.

    For each example ``i`` of the batch arguments (``batch_argnums``), the gradient
    ``g_i = grad(fun)(params, example_i, ...)`` (with respect to ``argnums``) is computed, then
    ``transform_fn(g_i)`` is accumulated (summed by default) over the batch, in microbatches
    of ``microbatch_size`` examples. Clipping each ``g_i`` before the sum is DP-SGD; returning
    ``(g, g**2)`` gives the gradient's second moment.

    Args:
        fun: ``fun(params, batch, ...)``, a scalar (or ``(scalar, aux)`` with ``has_aux``).
        has_aux: whether ``fun`` returns ``(value, aux)``.
        argnums: the argument(s) to differentiate.
        batch_argnums: the argument(s) with a leading batch axis.
        keep_batch_dim: call ``fun`` on examples with a batch axis of size 1 (as a batch of
            one); ``False``: on the examples themselves.
        microbatch_size: examples per microbatch (``None``: all at once).
        accumulator: how the transformed gradients combine, as in :func:`microbatch`.
        transform_fn: applied to each example's gradient before accumulating.
        metrics_fn: applied to each example's gradient; returned per example.
        num_real_microbatches: run only this many microbatches.

    Returns:
        A function of ``fun``'s arguments returning ``(accumulated, aux)``, ``aux`` a named
        tuple ``(values, metrics, aux)`` of per-example values, metrics and ``fun``'s aux.

    Example:
        >>> import jax.numpy as jnp
        >>> loss = lambda w, x, y: 0.5 * jnp.mean((x @ w - y) ** 2)
        >>> M = gradtx.microbatching.AccumulationType
        >>> (g, g2), aux = gradtx.microbatching.micro_grad(
        ...     loss, batch_argnums=(1, 2), accumulator=M.MEAN,
        ...     transform_fn=lambda g: (g, g**2))(jnp.zeros(1), jnp.ones((4, 1)),
        ...                                     jnp.array([0.0, 2.0, 4.0, 6.0]))
        >>> g, g2  # per-example gradients -[0, 2, 4, 6]
        (Array([-3.], dtype=float32), Array([14.], dtype=float32))
    """
    batch_argnums = (batch_argnums,) if isinstance(batch_argnums, int) else tuple(batch_argnums)
    with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
    value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

    def per_example(*args, **kwargs):
        (value, aux), grad = value_and_grad(*args, **kwargs)
        return transform_fn(grad), IndividualOutputs(value, metrics_fn(grad), aux)

    in_axes: list[int | None] = [None] * (max(batch_argnums) + 1)
    for i in batch_argnums:
        in_axes[i] = 0
    micro = micro_vmap(
        per_example,
        in_axes=in_axes,
        accumulator=(accumulator, AccumulationType.CONCAT),
        microbatch_size=microbatch_size,
        num_real_microbatches=num_real_microbatches,
    )
    if not keep_batch_dim:
        return micro

    def with_batch_of_one(*args, **kwargs):
        args = list(args)
        for i in batch_argnums:
            args[i] = jax.tree.map(lambda x: jnp.expand_dims(x, 1), args[i])
        return micro(*args, **kwargs)

    return with_batch_of_one
