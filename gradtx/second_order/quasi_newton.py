r"""L-BFGS: a quasi-Newton direction from the last few steps, with a Wolfe line search.

The lectures' general step :math:`x_{k+1} = x_k - \eta_k B_k^{-1} \nabla f(x_k)` with
:math:`B_k^{-1}` the limited-memory BFGS approximation of the inverse Hessian, built from the
last ``memory_size`` pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i`, and
:math:`\eta_k` from :func:`~gradtx.scale_by_zoom_linesearch`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, tree as _tree
from gradtx.base import GradientTransformation, ScalarOrSchedule, Updates, chain, identity
from gradtx.linesearch.zoom import scale_by_zoom_linesearch
from gradtx.numerics import promote_dtypes, real_dtype, safe_increment
from gradtx.transforms._common import requires_params
from gradtx.transforms.scaling import scale, scale_by_learning_rate

__all__ = ["ScaleByLBFGSState", "lbfgs", "scale_by_lbfgs"]


class ScaleByLBFGSState(NamedTuple):
    """State of :func:`scale_by_lbfgs`.

    Attributes:
        count: updates made so far (int32, saturating).
        params: the parameters at the previous update.
        updates: the gradient at the previous update.
        diff_params_memory: the stored :math:`s_i`, stacked on a leading axis of size
            ``memory_size`` (a ring buffer).
        diff_updates_memory: the stored :math:`y_i`, likewise.
        weights_memory: :math:`\\rho_i = 1 / \\langle s_i, y_i \\rangle` (0 for empty slots).
        num_pairs: pairs stored so far (the ring buffer's write position).
        identity_scale: :math:`\\gamma`, the scale of the initial inverse Hessian.
    """

    count: jax.Array
    params: Updates
    updates: Updates
    diff_params_memory: Updates
    diff_updates_memory: Updates
    weights_memory: jax.Array
    num_pairs: jax.Array
    identity_scale: jax.Array


def _dot(a: Any, b: Any) -> jax.Array:
    return jnp.real(_tree.vdot(a, b))


def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> GradientTransformation:
    r"""Multiplies the gradient by the L-BFGS inverse-Hessian approximation :math:`H_k`.

    :math:`H_k g` is computed by the two-loop recursion (Nocedal and Wright, Algorithm 7.4)
    from the stored pairs, i.e. the BFGS update

    .. math::
        H \leftarrow (I - \rho_i s_i y_i^\top)\, H\, (I - \rho_i y_i s_i^\top)
        + \rho_i s_i s_i^\top, \qquad \rho_i = 1 / y_i^\top s_i,

    applied to :math:`H = \gamma I` for the pairs from oldest to newest. A new pair is stored
    at each update from the change in parameters and gradient since the previous one, and is
    skipped when :math:`y^\top s \le \varepsilon \|s\| \|y\|` (no positive curvature), which
    keeps :math:`H_k` positive definite. With ``scale_init_precond``,
    :math:`\gamma = s^\top y / y^\top y` for the newest pair, and
    :math:`\min(1, 1/\|g\|)` at the first step (as Optax), so the first step has length at
    most 1; otherwise :math:`\gamma = 1`. The result is not negated: follow it with
    ``scale(-1.0)`` and a line search, as :func:`lbfgs` does.

    Args:
        memory_size: the number of pairs kept (a Python int >= 1; it fixes the state's shapes).
        scale_init_precond: scale the initial inverse Hessian as described above.

    Returns:
        The transformation, with state :class:`ScaleByLBFGSState`. ``update`` needs the
        parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.scale_by_lbfgs()
        >>> x = jnp.array([3.0, 4.0])
        >>> tx.update(x, tx.init(x), x)[0]  # first step: g / max(1, |g|)
        Array([0.6, 0.8], dtype=float32)

    References:
        Nocedal and Wright, *Numerical Optimization*, 2nd ed., 2006, Algorithms 7.4 and 7.5;
        Liu and Nocedal, "On the limited memory BFGS method for large scale optimization",
        1989.
    """
    fn = "scale_by_lbfgs"
    if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size < 1:
        raise ValueError(
            f"{fn}(): memory_size must be a Python int >= 1 (it sets the state's shapes), "
            f"got memory_size={memory_size!r}."
        )
    m = memory_size

    def init_fn(params):
        _tree.check_array_leaves(params, f"{fn}.init(params)")
        stacked = jax.tree_util.tree_map(
            lambda p: jnp.zeros((m, *jnp.shape(p)), jnp.result_type(p)), params
        )
        dtype = real_dtype(promote_dtypes(*jax.tree_util.tree_leaves(params)))
        return ScaleByLBFGSState(
            count=jnp.zeros([], jnp.int32),
            params=_tree.zeros_like(params),
            updates=_tree.zeros_like(params),
            diff_params_memory=stacked,
            diff_updates_memory=stacked,
            weights_memory=jnp.zeros([m], dtype),
            num_pairs=jnp.zeros([], jnp.int32),
            identity_scale=jnp.ones([], dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        requires_params(fn, params)
        dtype = state.weights_memory.dtype
        s = _tree.sub(params, state.params)
        y = _tree.sub(updates, state.updates)
        sy, yy = _dot(s, y).astype(dtype), _dot(y, y).astype(dtype)
        ss = _dot(s, s).astype(dtype)
        eps = jnp.finfo(dtype).eps
        valid = (state.count > 0) & (sy > eps * jnp.sqrt(ss * yy))
        slot = state.num_pairs % m

        def store(memory, new):
            return jax.tree_util.tree_map(
                lambda buf, x: jnp.where(valid, buf.at[slot].set(x.astype(buf.dtype)), buf),
                memory,
                new,
            )

        s_mem = store(state.diff_params_memory, s)
        y_mem = store(state.diff_updates_memory, y)
        rho = jnp.where(valid, 1.0 / jnp.where(valid, sy, 1.0), 0.0)
        weights = jnp.where(valid, state.weights_memory.at[slot].set(rho), state.weights_memory)
        num_pairs = jnp.where(valid, state.num_pairs + 1, state.num_pairs)
        if scale_init_precond:
            first = jnp.minimum(1.0, 1.0 / _tree.norm(updates).astype(dtype))
            gamma = jnp.where(valid, sy / jnp.where(valid, yy, 1.0), state.identity_scale)
            gamma = jnp.where(state.count == 0, first, gamma)
        else:
            gamma = state.identity_scale

        # Two-loop recursion: newest pair to oldest, scale by gamma, then oldest to newest.
        newest_first = (num_pairs - 1 - jnp.arange(m, dtype=num_pairs.dtype)) % m

        def pair(j):
            return (
                jax.tree_util.tree_map(lambda b: b[j], s_mem),
                jax.tree_util.tree_map(lambda b: b[j], y_mem),
            )

        def backward(q, j):
            s_j, y_j = pair(j)
            alpha = weights[j] * _dot(s_j, q)
            return _tree.map(lambda qi, yi: qi - (alpha * yi).astype(qi.dtype), q, y_j), alpha

        def forward(r, j_alpha):
            j, alpha = j_alpha
            s_j, y_j = pair(j)
            beta = weights[j] * _dot(y_j, r)
            return _tree.map(
                lambda ri, si: ri + ((alpha - beta) * si).astype(ri.dtype), r, s_j
            ), None

        q, alphas = jax.lax.scan(backward, updates, newest_first)
        r = jax.tree_util.tree_map(lambda x: (gamma * x).astype(x.dtype), q)
        r, _ = jax.lax.scan(forward, r, (newest_first[::-1], alphas[::-1]))
        new_state = ScaleByLBFGSState(
            count=safe_increment(state.count),
            params=params,
            updates=updates,
            diff_params_memory=s_mem,
            diff_updates_memory=y_mem,
            weights_memory=weights,
            num_pairs=num_pairs,
            identity_scale=gamma.astype(dtype),
        )
        return r, new_state

    return GradientTransformation(init_fn, update_fn)


# The default line search of lbfgs (a stateless pair of functions, safe to share).
_DEFAULT_LINESEARCH = scale_by_zoom_linesearch(20, initial_guess_strategy="one")


def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = _DEFAULT_LINESEARCH,
) -> GradientTransformation:
    r"""The L-BFGS optimizer: :func:`scale_by_lbfgs`, a minus sign, then a line search.

    :math:`x_{k+1} = x_k - t_k H_k \nabla f(x_k)` with :math:`t_k` from the strong-Wolfe
    line search by default (which keeps :math:`y^\top s > 0`, so every pair is used). The
    line search needs the objective: pass ``value_fn`` (and ``value``, ``grad``) to
    ``update``, or use :func:`~gradtx.minimize`, which also reuses the value and gradient the
    line search computed at the new point.

    Args:
        learning_rate: an optional fixed step size or schedule, applied before the line search
            (``None``: just the minus sign).
        memory_size: the number of pairs kept (a Python int >= 1).
        scale_init_precond: see :func:`scale_by_lbfgs`.
        linesearch: the line search (default: ``scale_by_zoom_linesearch(20,
            initial_guess_strategy="one")``; ``None`` for none, then give a ``learning_rate``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp
        >>> def rosenbrock(x):
        ...     return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        >>> result = gradtx.minimize(rosenbrock, jnp.array([-1.2, 1.0]), gradtx.lbfgs(),
        ...                          max_steps=200, tol=1e-4)
        >>> print(result.reason, result.params)
        converged: the gradient norm is at most tol [1. 1.]
    """
    if learning_rate is not None:
        _checks.learning_rate("lbfgs", learning_rate)
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond),
        scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate),
        identity() if linesearch is None else linesearch,
    )
