"""Running a transformation on one flat vector per dtype instead of leaf by leaf."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _registry
from gradtx.base import GradientTransformation, as_transformation

__all__ = ["flatten"]


# Where a leaf sits in the flat vectors: (dtype name, start, stop, shape).
_Slot = tuple[str, int, int, tuple[int, ...]]


def _group(tree: Any) -> tuple[dict[str, jax.Array], tuple[Any, list[_Slot]]]:
    """Concatenates the leaves of ``tree`` into one 1-D array per dtype, in leaf order.

    Returns the vectors and the layout (the tree structure and each leaf's slot) that
    :func:`_ungroup` splits them back with.
    """
    leaves, treedef = jax.tree.flatten(tree)
    parts: dict[str, list[jax.Array]] = {}
    sizes: dict[str, int] = {}
    slots: list[_Slot] = []
    for leaf in leaves:
        leaf = jnp.asarray(leaf)
        name, start = leaf.dtype.name, sizes.get(leaf.dtype.name, 0)
        sizes[name] = start + leaf.size
        slots.append((name, start, start + leaf.size, leaf.shape))
        parts.setdefault(name, []).append(leaf.reshape(-1))
    flat = {name: p[0] if len(p) == 1 else jnp.concatenate(p) for name, p in parts.items()}
    return flat, (treedef, slots)


def _ungroup(flat: dict[str, jax.Array], layout: tuple[Any, list[_Slot]]) -> Any:
    """Splits the per-dtype vectors back into the tree :func:`_group` read them from."""
    treedef, slots = layout
    return treedef.unflatten(
        [
            jax.lax.slice(flat[name], (start,), (stop,)).reshape(shape)
            for name, start, stop, shape in slots
        ]
    )


def flatten(inner: GradientTransformation) -> GradientTransformation:
    """Runs ``inner`` on one flat vector per dtype instead of on each leaf.

    Before ``inner`` sees them, the gradients (and the parameters) are concatenated into a dict
    ``{dtype name: 1-D array}``, in leaf order; its updates are split back into the original
    tree. The state of ``inner`` is therefore one array per dtype, whatever the number of
    leaves, and its step is a handful of large kernels instead of a few per leaf. Leaves of
    different dtypes are never mixed (``jax.flatten_util.ravel_pytree`` would promote them).

    For elementwise transformations (``adam``, ``adamw``, ``sgd``, ``rmsprop``, ``lion``,
    weight decay, schedules, ``inject_hyperparams``...) the arithmetic per element is that of
    the plain per-leaf path, and the results agree to float32 rounding: most elements bit for
    bit, a few in the last bit where XLA's vector and scalar loops round a division or a
    square root differently. Global reductions (``clip_by_global_norm``) agree to the rounding
    of a differently ordered sum. Transformations that look at one leaf at a time see
    a single vector instead: the trust ratios of ``lamb`` and ``scale_by_trust_ratio``,
    ``clip_by_block_rms``, the per-leaf noise keys of ``add_noise``, masks and partitions by
    path. Do not wrap those (wrap the elementwise part inside a ``partition`` instead).

    When it pays: a model with many small leaves spends much of its optimizer step on
    per-leaf kernels, which grouping removes. On a 2-core CPU, 1M parameters in 1,000 leaves
    step in about half the time; at 10M parameters the flat path is 2-4 times slower, since
    the concatenated gradients and the flat updates are extra passes over memory that the
    per-leaf path, one cache-sized leaf at a time, does not make (see ``benchmarks/``). On
    accelerators kernel launches cost more and memory passes less. Flattening also gathers
    sharded parameters into one vector: keep the plain path for sharded training.

    Args:
        inner: the transformation to run on the flat vectors.

    Returns:
        The transformation; its state is ``inner``'s state over the dict of flat vectors.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
        >>> tx = gradtx.flatten(gradtx.adam(0.1))
        >>> state = tx.init(params)
        >>> state[0].mu["float32"].shape  # b (2 values), then w (4 values)
        (6,)
        >>> tx.update(params, state, params)[0]["w"]
        Array([[-0.1, -0.1],
               [-0.1, -0.1]], dtype=float32)
    """
    inner = as_transformation("flatten", "inner", inner)

    def init_fn(params):
        return inner.init(_group(params)[0])

    def update_fn(updates, state, params=None, **extra_args):
        flat_updates, layout = _group(updates)
        flat_params = None if params is None else _group(params)[0]
        flat_updates, state = inner.update(flat_updates, state, flat_params, **extra_args)
        return _ungroup(flat_updates, layout), state

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=(inner,))
