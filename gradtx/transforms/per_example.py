"""Clipping of per-example gradients (differentially private SGD).

These are functions, not transformations: they take gradients with a leading batch axis (one
gradient per example, as ``jax.vmap(jax.grad(loss))`` gives them), clip each example's
gradient and return the sum over the batch together with how many were clipped.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike
from gradtx.numerics import promote, upcast

__all__ = ["per_example_global_norm_clip", "per_example_layer_norm_clip"]


def _check_batch_axis(fn: str, grads: Any) -> None:
    leaves = jax.tree_util.tree_leaves(grads)
    shapes = [jnp.shape(g) for g in leaves]
    if not shapes or any(len(s) < 1 or s[0] != shapes[0][0] for s in shapes):
        raise ValueError(
            f"{fn}(): unlike transformations, it takes per-example gradients, each leaf with "
            f"the batch on axis 0 and the same batch size; got shapes {shapes}. Compute them "
            "with jax.vmap(jax.grad(loss), in_axes=(None, 0))(params, batch)."
        )


def _weighted_sum(multipliers: jax.Array, g: Any) -> jax.Array:
    """``sum_b multipliers[b] g[b]`` in the compute dtype, in ``g``'s dtype (float32 for ints)."""
    g = jnp.asarray(g)
    gc = upcast(g)
    m, gc = promote(multipliers, gc)
    out = jnp.tensordot(m, gc, axes=1)
    return out.astype(g.dtype if jnp.issubdtype(g.dtype, jnp.inexact) else out.dtype)


def per_example_global_norm_clip(grads: Any, l2_norm_clip: ArrayLike) -> tuple[Any, jax.Array]:
    r"""Clips each example's gradient to a global norm and sums over the batch.

    .. math::
        \bar g = \sum_b g_b \min\left(1, \frac{C}{\|g_b\|}\right)

    where :math:`\|g_b\|` is the norm of example :math:`b`'s gradient over all leaves (a zero
    gradient with :math:`C = 0` keeps the factor 1).

    Args:
        grads: a tree of per-example gradients, every leaf with the batch on axis 0.
        l2_norm_clip: :math:`C \ge 0`, the largest norm of an example's gradient.

    Returns:
        The sum of the clipped gradients (a tree without the batch axis) and the number of
        examples that were clipped (an int32 scalar).

    Raises:
        ValueError: when a leaf has no leading batch axis of the common size.

    Example:
        >>> import jax.numpy as jnp
        >>> grads = [jnp.array([[0.0, 0.0, 0.0], [0.0, 3.0, 4.0], [4.0, 0.0, 3.0]])]
        >>> gradtx.per_example_global_norm_clip(grads, 2.5)
        ([Array([2. , 1.5, 3.5], dtype=float32)], Array(2, dtype=int32))

    References:
        Abadi et al., `Deep Learning with Differential Privacy
        <https://arxiv.org/abs/1607.00133>`_, 2016
    """
    _checks.non_negative("per_example_global_norm_clip", l2_norm_clip=l2_norm_clip)
    _check_batch_axis("per_example_global_norm_clip", grads)
    norms = jax.vmap(_tree.norm)(grads)
    clip = jnp.asarray(l2_norm_clip, norms.dtype)
    multipliers = jnp.nan_to_num(jnp.minimum(clip / norms, 1.0), nan=1.0)
    num_clipped = jnp.sum(multipliers < 1.0, dtype=jnp.int32)
    return jax.tree_util.tree_map(lambda g: _weighted_sum(multipliers, g), grads), num_clipped


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: ArrayLike, uniform: bool = True
) -> tuple[Any, Any]:
    r"""Clips each example's gradient leaf by leaf (per layer) and sums over the batch.

    Each of the :math:`K` leaves is clipped as by :func:`per_example_global_norm_clip` with its
    own bound :math:`C_i`: :math:`C / \sqrt{K}` when ``uniform``, otherwise
    :math:`C \sqrt{D_i / D}` with :math:`D_i` the size of one example's leaf and :math:`D` the
    total, so that in both cases :math:`\sum_i C_i^2 = C^2`.

    Args:
        grads: a tree of per-example gradients, every leaf with the batch on axis 0.
        global_l2_norm_clip: :math:`C \ge 0`, the overall bound.
        uniform: the same bound for every leaf (default) or bounds by leaf size.

    Returns:
        A tree of the clipped sums and a tree of the number of clipped examples per leaf
        (int32 scalars), both with the structure of ``grads``.

    Raises:
        ValueError: when a leaf has no leading batch axis of the common size.

    Example:
        >>> import jax.numpy as jnp
        >>> grads = {"a": jnp.array([[3.0], [0.5]]), "b": jnp.array([[4.0], [0.5]])}
        >>> sums, counts = gradtx.per_example_layer_norm_clip(grads, jnp.sqrt(2.0))
        >>> sums
        {'a': Array([1.5], dtype=float32), 'b': Array([1.5], dtype=float32)}
        >>> counts["a"]
        Array(1, dtype=int32)

    References:
        McMahan et al., `Learning Differentially Private Recurrent Language Models
        <https://arxiv.org/abs/1710.06963>`_, 2017
    """
    fn = "per_example_layer_norm_clip"
    _checks.non_negative(fn, global_l2_norm_clip=global_l2_norm_clip)
    _check_batch_axis(fn, grads)
    leaves, treedef = jax.tree_util.tree_flatten(grads)
    sizes = [jnp.size(g) // jnp.shape(g)[0] for g in leaves]
    total = sum(sizes)
    fractions = [1.0 / len(leaves) if uniform else size / total for size in sizes]
    results = [
        per_example_global_norm_clip(g, global_l2_norm_clip * f**0.5)
        for g, f in zip(leaves, fractions, strict=True)
    ]
    return (
        treedef.unflatten([r[0] for r in results]),
        treedef.unflatten([r[1] for r in results]),
    )
