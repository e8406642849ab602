"""Step sizes without a learning rate to tune: Polyak's step and Distance over Gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import ArrayLike, DTypeLike, GradientTransformation, OptState, init_empty_state
from gradtx.numerics import (
    abs_sq,
    compute_dtype,
    promote,
    promote_dtypes,
    real_dtype,
    safe_sqrt,
    upcast,
)
from gradtx.transforms._common import map_leaves, requires_params

__all__ = [
    "ScaleByDistanceOverGradientsState",
    "scale_by_distance_over_gradients",
    "scale_by_polyak",
]

# Optax compares the denominator with the float64 machine epsilon, whatever the dtype.
_TINY = float(jnp.finfo(float).eps)


def _scaled(u: Any, factor: jax.Array) -> jax.Array:
    u = jnp.asarray(u)
    return jnp.multiply(*promote(upcast(u), factor)).astype(u.dtype)


def scale_by_polyak(
    f_min: ArrayLike = 0.0,
    max_learning_rate: ArrayLike = 1.0,
    eps: ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""Scales the updates by Polyak's step size, from the loss ``value`` given to ``update``.

    .. math::
        u \leftarrow \min\left(\frac{f(\theta) - f^\star}{\|g\|^2 + \epsilon},
        \gamma_{\max}\right) g

    with :math:`\|g\|` the norm of the whole tree of updates, and a zero step when
    :math:`\|g\|^2 + \epsilon` is below the float64 machine epsilon (as in Optax).
    ``variant="sps+"`` (Garrigos et al., 2023) uses :math:`\max(f(\theta) - f^\star, 0)`.

    ``update`` takes the loss as a keyword argument:
    ``tx.update(grads, state, params, value=loss)``; without it, a ``TypeError``.

    Args:
        f_min: :math:`f^\star`, a lower bound of the loss (0 for models that can interpolate
            the data).
        max_learning_rate: :math:`\gamma_{\max}`, the largest step.
        eps: :math:`\epsilon \ge 0`, added to the squared norm.
        variant: ``"sps"`` or ``"sps+"``.

    Returns:
        A stateless transformation whose ``update`` needs ``value``.

    Raises:
        ValueError: for another ``variant`` (Optax raises it at the first update).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum(jnp.abs(x))  # Polyak's step is exact here
        >>> tx = gradtx.scale_by_polyak()
        >>> x = jnp.array([1.0, -1.0])
        >>> value, g = jax.value_and_grad(f)(x)
        >>> u, _ = tx.update(g, tx.init(x), x, value=value)
        >>> x - u
        Array([0., 0.], dtype=float32)

    References:
        Loizou et al., `Stochastic Polyak Step-size for SGD: An Adaptive Learning Rate for Fast
        Convergence <https://arxiv.org/abs/2002.10542>`_, 2021; Garrigos et al., `Function
        value learning: Adaptive learning rates based on the Polyak stepsize and function
        splitting in ERM <https://arxiv.org/abs/2307.14528>`_, 2023
    """
    if variant not in ("sps", "sps+"):
        raise ValueError(
            f"scale_by_polyak(): variant must be 'sps' or 'sps+', got variant={variant!r}."
        )
    fn = "scale_by_polyak"
    _checks.check_range(fn, "f_min", f_min)
    _checks.check_range(fn, "max_learning_rate", max_learning_rate)
    _checks.non_negative(fn, eps=eps)

    def update_fn(updates, state, params=None, *, value, **extra_args):
        del params, extra_args
        sq_norm = _tree.norm(updates, squared=True)
        dtype = sq_norm.dtype
        v, low = promote(value, f_min)
        gap = (v - low).astype(dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        denom = sq_norm + jnp.asarray(eps, dtype)
        step = jnp.minimum(gap / denom, jnp.asarray(max_learning_rate, dtype))
        step = jnp.where(denom <= _TINY, jnp.zeros((), dtype), step)
        return jax.tree_util.tree_map(lambda u: _scaled(u, step), updates), state

    return GradientTransformation(init_empty_state, update_fn)


class ScaleByDistanceOverGradientsState(NamedTuple):
    """State of :func:`scale_by_distance_over_gradients` (Optax's fields), per parameter leaf:
    the largest distance from the start, the sum of squared gradient norms (shape ``(1,)``),
    and the starting parameters."""

    max_dist: OptState
    grad_sum_of_squares: OptState
    init_params: OptState


def scale_by_distance_over_gradients(
    reps_rel: ArrayLike = 1e-6,
    eps: ArrayLike = 1e-8,
    param_dtype: DTypeLike | None = jnp.float32,
    global_scale: ArrayLike = 1.0,
) -> GradientTransformation:
    r"""DoG, Distance over Gradients (Ivgi et al., 2023), per parameter leaf (the paper's LDoG).

    .. math::
        \bar r_k = \max\left(\bar r_{k-1}, \|\theta_k - \theta_0\|\right), \quad
        G_k = G_{k-1} + \|g_k\|^2, \quad
        u_k = s\,\frac{\bar r_k}{\sqrt{G_k + \epsilon}}\, g_k

    for each leaf, with :math:`\bar r_0 = r_\epsilon (1 + \|\theta_0\|)` and :math:`G_0 = 0`.
    The step grows with the distance travelled, so there is no learning rate; use
    ``global_scale=-1.0`` to descend (the updates are then added to the parameters), and the
    authors recommend averaging the iterates (:func:`gradtx.polyak_average`).

    Args:
        reps_rel: :math:`r_\epsilon \ge 0`, the relative size of the first step (the authors
            recommend 1e-4 for models with batch normalisation, 1e-6 otherwise).
        eps: :math:`\epsilon \ge 0`, added under the root.
        param_dtype: the dtype of the stored starting parameters (complex parameters stay
            complex; ``None``: the parameters' own dtype).
        global_scale: :math:`s`, typically 1.0 or -1.0.

    Returns:
        The transformation, with state :class:`ScaleByDistanceOverGradientsState`;
        ``update`` needs ``params``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
        >>> tx = gradtx.scale_by_distance_over_gradients(reps_rel=1e-2, global_scale=-1.0)
        >>> x = jnp.ones(2); state = tx.init(x)
        >>> for _ in range(200):
        ...     u, state = tx.update(jax.grad(f)(x), state, x)
        ...     x = gradtx.apply_updates(x, u)
        >>> print(jnp.round(x, 3))
        [3. 3.]

    References:
        Ivgi et al., `DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule
        <https://arxiv.org/abs/2302.12022>`_, 2023
    """
    fn = "scale_by_distance_over_gradients"
    _checks.non_negative(fn, reps_rel=reps_rel, eps=eps)
    _checks.check_range(fn, "global_scale", global_scale)

    def scalar_dtype(x: Any) -> Any:
        return real_dtype(compute_dtype(jnp.result_type(x)))

    def stored(x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if param_dtype is None:
            return x
        if jnp.iscomplexobj(x):
            return x.astype(promote_dtypes(param_dtype, jnp.complex64))
        return x.astype(param_dtype)

    def dist(x: Any, y: Any = None) -> jax.Array:
        xc = upcast(jnp.asarray(x))
        if y is not None:
            xc, yc = promote(xc, upcast(jnp.asarray(y)))
            xc = xc - yc
        return safe_sqrt(jnp.sum(abs_sq(xc)))

    def init_fn(params):
        _tree.check_array_leaves(params, "init(params)")

        def first_dist(x):
            d = dist(x)
            r, one, d = promote(reps_rel, 1, d)
            return (r * (one + d)).astype(scalar_dtype(x))

        return ScaleByDistanceOverGradientsState(
            max_dist=jax.tree_util.tree_map(first_dist, params),
            grad_sum_of_squares=jax.tree_util.tree_map(
                lambda x: jnp.zeros(1, scalar_dtype(x)), params
            ),
            init_params=jax.tree_util.tree_map(stored, params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params(fn, params)

        def leaf(g, d, g_sos, w, w0):
            g = jnp.asarray(g)
            gc = upcast(g)
            new_d = jnp.maximum(*promote(d, dist(w, w0))).astype(d.dtype)
            new_sos = (g_sos + jnp.sum(abs_sq(gc)).astype(g_sos.dtype)).astype(g_sos.dtype)
            s, e, r, total = promote(global_scale, eps, new_d, new_sos[0])
            eta = s * (r / jnp.sqrt(total + e))
            return _scaled(g, eta), new_d, new_sos

        updates, max_dist, g_sos = map_leaves(
            leaf, 3, updates, state.max_dist, state.grad_sum_of_squares, params, state.init_params
        )
        return updates, ScaleByDistanceOverGradientsState(
            max_dist=max_dist, grad_sum_of_squares=g_sos, init_params=state.init_params
        )

    return GradientTransformation(init_fn, update_fn)
