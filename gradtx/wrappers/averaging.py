r"""Parameter averaging: the lectures' model averaging over the iterates of one run.

Averaged parameters often generalise better than the last iterate. These transformations
pass the updates through unchanged and keep, in their state, an average of the parameters
the updates lead to; put them last in a chain and read the average with
:func:`averaged_params`::

    tx = gradtx.chain(gradtx.adam(1e-3), gradtx.ema_params(0.999))
    ...
    eval_params = gradtx.averaged_params(state)

* :func:`ema_params`: an exponential moving average, :math:`\bar\theta_k = \beta\bar\theta_{k-1}
  + (1-\beta)\theta_k`, started at the initial parameters.
* :func:`polyak_average`: the uniform (Polyak-Ruppert) average of the iterates after
  ``start_step``, :math:`\bar\theta_k = \frac{1}{k-s}\sum_{j=s+1}^{k}\theta_j`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import (
    ArrayLike,
    DTypeLike,
    GradientTransformation,
    OptState,
    Params,
    apply_updates as _apply_updates,
)
from gradtx.numerics import compute_dtype, promote, promote_dtypes, safe_increment, upcast
from gradtx.transforms._common import moving_average, requires_params

__all__ = [
    "EmaParamsState",
    "PolyakAverageState",
    "averaged_params",
    "ema_params",
    "polyak_average",
]


def _slots(params: Params, dtype: DTypeLike | None) -> Any:
    _tree.check_array_leaves(params, "init(params)")
    # A copy, so that params and state never share a buffer (jit donation of both works).
    return jax.tree_util.tree_map(
        lambda p: jnp.array(p, dtype or jnp.result_type(p), copy=True), params
    )


class EmaParamsState(NamedTuple):
    """State of :func:`ema_params`: the update count and the averaged parameters."""

    count: jax.Array  # int32 scalar
    ema: Params


def ema_params(
    decay: ArrayLike, accumulator_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""Keeps an exponential moving average of the parameters; the updates pass unchanged.

    .. math::
        \bar\theta_0 = \theta_0, \qquad
        \bar\theta_k = \beta\,\bar\theta_{k-1} + (1-\beta)\,\theta_k

    where :math:`\theta_k` is ``apply_updates(params, updates)``, the parameters after the
    step (so put this transformation last). Computed in at least float32.

    Args:
        decay: :math:`\beta \in [0, 1]` (1 keeps the initial parameters).
        accumulator_dtype: dtype of the average (default: each parameter's dtype; give
            ``jnp.float32`` for bfloat16 parameters, whose 8-bit mantissa cannot hold small
            moves).

    Returns:
        The transformation, with state :class:`EmaParamsState`; ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.ema_params(0.5)
        >>> p = jnp.array([0.0])
        >>> u, state = tx.update(jnp.array([2.0]), tx.init(p), p)
        >>> print(u, gradtx.averaged_params(state))  # 0.5 * 0 + 0.5 * 2
        [2.] [1.]
    """
    _checks.check_range("ema_params", "decay", decay, 0.0, 1.0)

    def init_fn(params):
        return EmaParamsState(count=jnp.zeros([], jnp.int32), ema=_slots(params, accumulator_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("ema_params", params)
        new_params = _apply_updates(params, updates)

        def leaf(avg, p):
            pc = upcast(p).astype(compute_dtype(promote_dtypes(avg, p)))
            return moving_average(decay, avg, pc).astype(avg.dtype)

        ema = _tree.map(leaf, state.ema, new_params, names=("state.ema", "params"))
        return updates, EmaParamsState(count=safe_increment(state.count), ema=ema)

    return GradientTransformation(init_fn, update_fn)


class PolyakAverageState(NamedTuple):
    """State of :func:`polyak_average`: the update count and the averaged parameters."""

    count: jax.Array  # int32 scalar
    average: Params


def polyak_average(
    start_step: ArrayLike = 0, accumulator_dtype: DTypeLike | None = None
) -> GradientTransformation:
    r"""Keeps the uniform average of the iterates; the updates pass unchanged.

    After update :math:`k` with parameters :math:`\theta_k` (``apply_updates(params,
    updates)``; put this transformation last),

    .. math::
        \bar\theta_k = \begin{cases} \theta_k & k \le s + 1 \\
        \bar\theta_{k-1} + (\theta_k - \bar\theta_{k-1}) / (k - s) & k > s + 1 \end{cases}

    that is, the mean of :math:`\theta_{s+1}, \dots, \theta_k` (Polyak and Juditsky, 1992),
    computed in at least float32. Before any update the average is the initial parameters.

    Args:
        start_step: :math:`s \ge 0`, the number of first iterates left out (tail averaging).
        accumulator_dtype: dtype of the average (default: each parameter's dtype).

    Returns:
        The transformation, with state :class:`PolyakAverageState`; ``update`` needs
        ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.polyak_average()
        >>> p = jnp.array([0.0]); state = tx.init(p)
        >>> for _ in range(3):  # iterates 1, 2, 3
        ...     u, state = tx.update(jnp.array([1.0]), state, p)
        ...     p = gradtx.apply_updates(p, u)
        >>> gradtx.averaged_params(state)
        Array([2.], dtype=float32)
    """
    _checks.non_negative("polyak_average", start_step=start_step)

    def init_fn(params):
        return PolyakAverageState(
            count=jnp.zeros([], jnp.int32), average=_slots(params, accumulator_dtype)
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params("polyak_average", params)
        new_params = _apply_updates(params, updates)
        count = safe_increment(state.count)
        n = count - jnp.asarray(start_step).astype(jnp.int32)

        def leaf(avg, p):
            pc = upcast(p).astype(compute_dtype(promote_dtypes(avg, p)))
            ac = avg.astype(pc.dtype)
            mean = ac + jnp.divide(*promote(pc - ac, jnp.maximum(n, 1).astype(pc.real.dtype)))
            return jnp.where(n <= 1, pc, mean).astype(avg.dtype)

        average = _tree.map(leaf, state.average, new_params, names=("state.average", "params"))
        return updates, PolyakAverageState(count=count, average=average)

    return GradientTransformation(init_fn, update_fn)


def averaged_params(state: OptState) -> Params:
    """The averaged parameters held in an optimizer state, wherever they are.

    Args:
        state: a state containing one :class:`EmaParamsState` or :class:`PolyakAverageState`
            (for example the state of ``chain(adam(...), ema_params(0.999))``).

    Returns:
        The average, a tree with the parameters' structure.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.chain(gradtx.sgd(0.1), gradtx.ema_params(0.9))
        >>> gradtx.averaged_params(tx.init({"w": jnp.ones(2)}))
        {'w': Array([1., 1.], dtype=float32)}
    """
    found: list[Any] = []

    def visit(node):
        if isinstance(node, EmaParamsState):
            found.append(node.ema)
        elif isinstance(node, PolyakAverageState):
            found.append(node.average)
        return node

    jax.tree_util.tree_map(
        visit, state, is_leaf=lambda x: isinstance(x, (EmaParamsState, PolyakAverageState))
    )
    if len(found) != 1:
        raise ValueError(
            f"averaged_params(): the state holds {len(found)} parameter averages, expected "
            "one. Add gradtx.ema_params or gradtx.polyak_average as the last member of the "
            "chain" + (", once." if found else ".")
        )
    return found[0]
