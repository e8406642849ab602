"""A float32 master copy of low-precision parameters.

A bfloat16 parameter cannot hold small moves: next to 1.0 its spacing is 2**-8, so an update of
1e-3 rounds away and the parameter never changes. :func:`master_weights` keeps a float32 copy of
every low-precision parameter in the optimizer state, runs the wrapped optimizer on that copy
with float32 arithmetic and float32 state, and hands back updates that move the low-precision
parameters to the rounded master copy::

    tx = gradtx.master_weights(gradtx.adamw(1e-3))   # params and grads in bfloat16
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)  # updates in bfloat16
    params = gradtx.apply_updates(params, updates)    # == round(state.master)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _registry, tree as _tree
from gradtx.base import (
    DTypeLike,
    GradientTransformation,
    OptState,
    Params,
    apply_updates as _apply_updates,
    as_transformation,
)
from gradtx.numerics import promote_dtypes
from gradtx.transforms._common import requires_params

__all__ = ["MasterWeightsState", "master_weights"]


class NoCopy(NamedTuple):
    """An empty subtree in ``MasterWeightsState.master``: this parameter has no master copy."""


def _is_no_copy(x: Any) -> bool:
    return isinstance(x, NoCopy)


class MasterWeightsState(NamedTuple):
    """State of :func:`master_weights`.

    Attributes:
        master: the high-precision copy of each low-precision parameter, with the parameters'
            structure; a parameter already at least as precise as the master dtype has no copy
            (an empty ``NoCopy()`` in its place).
        inner_state: the wrapped transformation's state, built on the master copy.
    """

    master: Params
    inner_state: OptState


def master_weights(
    inner: GradientTransformation, master_dtype: DTypeLike = jnp.float32
) -> GradientTransformation:
    r"""Runs ``inner`` on a high-precision master copy of low-precision parameters.

    ``init`` copies every parameter whose dtype is less precise than ``master_dtype`` (bfloat16
    and float16 for the default float32) into ``state.master`` and initialises ``inner`` on the
    master copy, so its slots (Adam's moments...) are float32 too. Each ``update``

    1. casts the gradients of those parameters to the master dtype,
    2. runs ``inner`` with the master copy as its parameters (weight decay acts on it),
    3. adds ``inner``'s updates to the master copy, in the master dtype, and
    4. returns, in the gradients' dtype, the updates :math:`u = \operatorname{round}(\theta_m)
       - \theta` that move the parameters :math:`\theta` to the rounded master copy
       :math:`\theta_m`.

    The convention for the returned updates: ``apply_updates(params, updates)`` equals
    ``state.master`` rounded to the parameters' dtype, exactly whenever the step is smaller
    than the parameter (more precisely, when the old and new values are within a factor 2 of
    each other, so that their difference is exact); a larger jump can land one rounding away,
    and the next update corrects it, because every update is measured from the parameters
    passed in to the master copy, which is the reference. Parameters that are already at least
    as precise as ``master_dtype`` (float32, float64, complex64...) are passed to ``inner`` as
    they are and get ``inner``'s updates unchanged.

    Args:
        inner: the optimizer to run in high precision.
        master_dtype: the dtype of the master copy, a floating-point dtype (default float32).

    Returns:
        The transformation, with state :class:`MasterWeightsState`; ``update`` needs
        ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.master_weights(gradtx.sgd(1e-3))
        >>> p = jnp.ones(2, jnp.bfloat16)
        >>> state = tx.init(p)
        >>> for _ in range(10):
        ...     u, state = tx.update(jnp.ones(2, jnp.bfloat16), state, p)
        ...     p = gradtx.apply_updates(p, u)
        >>> state.master  # 1 - 10 * 1e-3; plain bfloat16 SGD would stay at 1.0
        Array([0.99, 0.99], dtype=float32)
        >>> p
        Array([0.988281, 0.988281], dtype=bfloat16)
    """
    inner = as_transformation("master_weights", "inner", inner)
    try:
        dtype = jnp.dtype(master_dtype)
    except TypeError:
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            "master_weights(): master_dtype must be a floating-point dtype such as jnp.float32, "
            f"got master_dtype={master_dtype!r}."
        )
    dtype = jax.dtypes.canonicalize_dtype(dtype)

    def wide(x: Any) -> Any:
        """The master dtype of a leaf, or None when the leaf needs no copy."""
        leaf_dtype = jnp.result_type(x)
        target = promote_dtypes(leaf_dtype, dtype)
        return None if target == leaf_dtype else target

    def copy(p):
        target = wide(p)
        if target is None:
            return NoCopy()
        return jnp.array(jnp.asarray(p), target, copy=True)

    def view(params, master):
        """The parameters as ``inner`` sees them: the master copy where there is one."""
        treedef = jax.tree_util.tree_structure(params)
        masters = treedef.flatten_up_to(master)
        leaves = treedef.flatten_up_to(params)
        return treedef.unflatten(
            [p if _is_no_copy(m) else m for p, m in zip(leaves, masters, strict=True)]
        )

    def init_fn(params):
        _tree.check_array_leaves(params, "master_weights.init(params)")
        master = jax.tree_util.tree_map(copy, params)
        return MasterWeightsState(master=master, inner_state=inner.init(view(params, master)))

    def update_fn(updates, state, params=None, **extra_args):
        requires_params("master_weights", params)
        treedef = jax.tree_util.tree_structure(params)
        try:
            masters = treedef.flatten_up_to(state.master)
        except (ValueError, TypeError) as e:
            raise ValueError(
                "master_weights: state.master does not have the structure of params; was the "
                f"state built by this transformation's init on these params? ({e})"
            ) from None

        _tree.map(lambda *_: None, updates, params, names=("updates", "params"))
        grad_leaves = treedef.flatten_up_to(updates)
        grads = treedef.unflatten(
            [
                g if _is_no_copy(m) else jnp.asarray(g).astype(m.dtype)
                for g, m in zip(grad_leaves, masters, strict=True)
            ]
        )
        inner_params = view(params, state.master)
        inner_updates, inner_state = inner.update(
            grads, state.inner_state, inner_params, **extra_args
        )
        new_master, out = [], []
        for g, p, m, u in zip(
            grad_leaves,
            treedef.flatten_up_to(params),
            masters,
            treedef.flatten_up_to(inner_updates),
            strict=True,
        ):
            g_dtype = jnp.result_type(g)
            if _is_no_copy(m):
                new_master.append(m)
                out.append(u)
                continue
            m = _apply_updates(m, u)
            p = jnp.asarray(p)
            # Rounding to the parameters' dtype with reduce_precision, not a pair of casts:
            # XLA on GPUs drops a convert-and-back pair (excess precision), and the update
            # would then aim at the unrounded master copy.
            info = jnp.finfo(p.dtype)
            target = jax.lax.reduce_precision(m, info.nexp, info.nmant)
            new_master.append(m)
            out.append((target - p.astype(m.dtype)).astype(g_dtype))
        return treedef.unflatten(out), MasterWeightsState(
            master=treedef.unflatten(new_master), inner_state=inner_state
        )

    return _registry.describe(GradientTransformation(init_fn, update_fn), children=(inner,))
