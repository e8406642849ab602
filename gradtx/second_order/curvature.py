r"""Curvature of the loss landscape: Hessian eigenvalues, stable learning rates, sharpness, SAM.

Near a minimum :math:`w^*` the loss is :math:`L(w^*) + \tfrac12 \sum_i \lambda_i
[u_i^\top (w - w^*)]^2` (the lectures' "Loss landscape"), and a gradient step multiplies
each coordinate :math:`\alpha_i` by :math:`1 - \eta \lambda_i`. Gradient descent is therefore
stable exactly when :math:`\eta \le 2 / \lambda_{\max}`, and the slowest direction shrinks by
:math:`1 - 2 \lambda_{\min} / \lambda_{\max}` at best: the condition number
:math:`\lambda_{\max} / \lambda_{\min}` sets the speed. The tools here measure these from
Hessian-vector products (:func:`hvp`) without forming the Hessian, except
:func:`hessian_condition_number`, which is meant for small problems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from gradtx import _checks, _registry, tree as _tree
from gradtx.base import (
    ArrayLike,
    GradientTransformation,
    Params,
    Updates,
    apply_updates,
    as_transformation,
)
from gradtx.linesearch._common import cast_like, fn_kwargs, objective
from gradtx.numerics import compute_dtype, real_dtype
from gradtx.transforms._common import requires_params

__all__ = [
    "hessian_condition_number",
    "hvp",
    "max_stable_learning_rate",
    "sam",
    "sam_perturbation",
    "sharpness",
    "top_hessian_eigenvalue",
]


def hvp(fun: Callable[[Params], Any], params: Params, v: Params) -> Params:
    r"""The Hessian-vector product :math:`\nabla^2 f(x)\, v` on pytrees, without the Hessian.

    Forward-over-reverse differentiation: the directional derivative of :math:`\nabla f`
    along :math:`v` (``jax.jvp`` of ``jax.grad``), at the cost of about two gradients.

    Args:
        fun: a scalar function of the parameters.
        params: the point :math:`x`.
        v: a tree with the structure of ``params``.

    Returns:
        :math:`H v`, shaped like ``params``.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: x[0] ** 2 * x[1]
        >>> gradtx.hvp(f, jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]))  # H = [[4, 2], [2, 0]]
        Array([4., 2.], dtype=float32)
    """
    return jax.jvp(jax.grad(fun), (params,), (cast_like(v, params),))[1]


def _as_key(key: int | jax.Array) -> jax.Array:
    if isinstance(key, jax.Array):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
        return jax.random.wrap_key_data(key)  # a raw jax.random.PRNGKey
    if isinstance(key, int) and not isinstance(key, bool):
        return jax.random.key(key)
    raise TypeError(f"key must be an int seed or a JAX random key, got {key!r}.")


def _flat(params: Params) -> tuple[jax.Array, Callable[[jax.Array], Params], jnp.dtype]:
    flat, unravel = ravel_pytree(params)
    return flat, unravel, real_dtype(compute_dtype(flat.dtype))


def top_hessian_eigenvalue(
    fun: Callable[[Params], Any],
    params: Params,
    num_iterations: int = 20,
    *,
    key: int | jax.Array = 0,
) -> jax.Array:
    r"""The largest eigenvalue :math:`\lambda_{\max}` of the Hessian of ``fun`` at ``params``.

    Runs ``num_iterations`` steps of the Lanczos method (with full reorthogonalisation) on
    Hessian-vector products from a random start, and returns the largest eigenvalue of the
    resulting tridiagonal matrix. It is exact once ``num_iterations`` reaches the number of
    parameters (then capped to it), and converges fast when :math:`\lambda_{\max}` is well
    separated; it never overestimates.

    Args:
        fun: a scalar function of the parameters.
        params: the point.
        num_iterations: Lanczos steps (a Python int >= 1, one Hessian-vector product each).
        key: an int seed or a ``jax.random.key`` for the starting vector.

    Returns:
        A scalar (the algebraically largest eigenvalue; negative if the Hessian is negative
        definite).

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: 0.5 * (3.0 * x[0] ** 2 + x[1] ** 2)
        >>> print(gradtx.top_hessian_eigenvalue(f, jnp.zeros(2)))
        3.0
    """
    if isinstance(num_iterations, bool) or not isinstance(num_iterations, int):
        raise TypeError(
            f"top_hessian_eigenvalue(): num_iterations must be a Python int, got "
            f"{num_iterations!r}."
        )
    _checks.check_range("top_hessian_eigenvalue", "num_iterations", num_iterations, 1.0)
    flat, unravel, dtype = _flat(params)
    n = flat.size
    k = min(num_iterations, n)

    def matvec(v):
        return ravel_pytree(hvp(fun, params, unravel(v.astype(flat.dtype))))[0].astype(dtype)

    starts = jax.random.normal(_as_key(key), (k, n), dtype)
    eps = jnp.finfo(dtype).eps

    def orthogonalise(w, basis):
        for _ in range(2):  # twice is enough (Parlett's "twice is enough")
            w = w - basis.T @ (basis @ w)
        return w

    def step(i, carry):
        basis, q, alphas, betas, scale = carry
        basis = basis.at[i].set(q)
        w = matvec(q)
        alpha = q @ w
        w = orthogonalise(w, basis)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
        breakdown = beta <= jnp.sqrt(eps) * scale  # an invariant subspace: restart
        restart = orthogonalise(starts[jnp.minimum(i + 1, k - 1)], basis)
        q = jnp.where(
            breakdown, restart / jnp.linalg.norm(restart), w / jnp.where(breakdown, 1, beta)
        )
        beta = jnp.where(breakdown, 0.0, beta)
        return basis, q, alphas.at[i].set(alpha), betas.at[i].set(beta), scale

    q0 = starts[0] / jnp.linalg.norm(starts[0])
    zeros = jnp.zeros([k], dtype)
    carry = (jnp.zeros((k, n), dtype), q0, zeros, zeros, jnp.zeros([], dtype))
    _, _, alphas, betas, _ = jax.lax.fori_loop(0, k, step, carry)
    tridiagonal = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    return jnp.linalg.eigvalsh(tridiagonal)[-1]


def max_stable_learning_rate(
    fun: Callable[[Params], Any],
    params: Params,
    num_iterations: int = 20,
    *,
    key: int | jax.Array = 0,
) -> jax.Array:
    r"""The largest learning rate for which gradient descent is stable: :math:`2 / \lambda_{\max}`.

    From the lectures' quadratic analysis: a step multiplies the error along eigenvector
    :math:`u_i` by :math:`1 - \eta \lambda_i`, which stays in :math:`[-1, 1]` for every
    :math:`i` exactly when :math:`\eta \le 2/\lambda_{\max}`. Above it, gradient descent
    diverges along :math:`u_{\max}` (on a quadratic; near a minimum otherwise).
    :math:`\lambda_{\max}` comes from :func:`top_hessian_eigenvalue`.

    Args:
        fun: a scalar function of the parameters (the loss).
        params: the point (near a minimum, for the bound to describe the dynamics there).
        num_iterations: Lanczos steps (a Python int >= 1).
        key: an int seed or a ``jax.random.key`` for Lanczos's starting vector.

    Returns:
        :math:`2 / \lambda_{\max}` (negative if the Hessian is negative definite: no
        learning rate is stable there).

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: 0.5 * (4.0 * x[0] ** 2 + x[1] ** 2)
        >>> print(gradtx.max_stable_learning_rate(f, jnp.zeros(2)))
        0.5
    """
    return 2.0 / top_hessian_eigenvalue(fun, params, num_iterations, key=key)


def hessian_condition_number(fun: Callable[[Params], Any], params: Params) -> jax.Array:
    r"""The condition number :math:`\max_i |\lambda_i| / \min_i |\lambda_i|` of the Hessian.

    The lectures' measure of ill-conditioning (which slows gradient descent down). The full
    Hessian is formed on the flattened parameters and its eigenvalues computed exactly, so this
    is for small problems (a few thousand parameters at most). A singular Hessian gives
    ``inf``.

    Args:
        fun: a scalar function of the parameters.
        params: the point.

    Returns:
        The condition number, a scalar >= 1.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: 0.5 * (100.0 * x[0] ** 2 + x[1] ** 2)
        >>> print(gradtx.hessian_condition_number(f, jnp.zeros(2)))
        100.0
    """
    flat, unravel, dtype = _flat(params)
    hessian = jax.hessian(lambda v: fun(unravel(v)))(flat.astype(dtype))
    magnitudes = jnp.abs(jnp.linalg.eigvalsh(jnp.asarray(hessian, dtype)))
    smallest = jnp.min(magnitudes)
    return jnp.where(
        smallest > 0, jnp.max(magnitudes) / jnp.where(smallest > 0, smallest, 1), jnp.inf
    )


def sam_perturbation(grads: Updates, rho: ArrayLike) -> Updates:
    r"""SAM's ascent step :math:`\hat\epsilon = \rho\, g / \|g\|_2` (zero for a zero gradient).

    The maximiser of the first-order model :math:`L(w) + \epsilon^\top g` over the ball
    :math:`\|\epsilon\|_2 \le \rho` (Foret et al., 2021, eq. 2).

    Args:
        grads: the gradient tree :math:`g`.
        rho: the radius :math:`\rho` (a number, array or traced value).

    Returns:
        :math:`\hat\epsilon`, shaped like ``grads`` and in their dtypes.

    Example:
        >>> import jax.numpy as jnp
        >>> gradtx.sam_perturbation(jnp.array([3.0, 4.0]), 0.5)
        Array([0.3, 0.4], dtype=float32)
    """
    norm = _tree.norm(grads)
    factor = jnp.where(norm > 0, rho / jnp.where(norm > 0, norm, 1.0), 0.0)
    return jax.tree_util.tree_map(lambda g: (factor * g).astype(jnp.result_type(g)), grads)


def sharpness(
    fun: Callable[[Params], Any],
    params: Params,
    rho: ArrayLike,
    num_steps: ArrayLike = 1,
    *,
    key: int | jax.Array | None = None,
) -> jax.Array:
    r"""Sharpness: the largest loss increase within an L2 ball of radius :math:`\rho`.

    .. math::
        S_\rho(w) = \max_{\|\epsilon\|_2 \le \rho} L(w + \epsilon) - L(w),

    estimated by ``num_steps`` steps of normalised gradient ascent on the sphere,
    :math:`\epsilon \leftarrow \rho\, \nabla L(w + \epsilon) / \|\nabla L(w + \epsilon)\|`,
    whose fixed points satisfy the optimality conditions of the maximisation. From
    :math:`\epsilon = 0` the first step is SAM's :math:`\hat\epsilon` (:func:`sam_perturbation`),
    so ``num_steps=1`` gives SAM's sharpness :math:`L(w + \hat\epsilon) - L(w)`; at a critical
    point the gradient vanishes, so pass a ``key`` to start from a random point of the sphere
    (on a quadratic the iteration is then the power method, and the estimate tends to
    :math:`\tfrac12 \rho^2 \lambda_{\max}`). The estimate is a lower bound, at least 0.

    Args:
        fun: a scalar function of the parameters.
        params: the point :math:`w`.
        rho: the radius (>= 0).
        num_steps: ascent steps (>= 1).
        key: ``None`` to start at :math:`\epsilon = 0`, or an int seed or ``jax.random.key``
            for a random start on the sphere.

    Returns:
        A scalar, at least 0.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda x: 0.5 * (3.0 * x[0] ** 2 + x[1] ** 2)
        >>> print(f"{gradtx.sharpness(f, jnp.zeros(2), 0.1, num_steps=50, key=0):.4f}")
        0.0150
    """
    _checks.non_negative("sharpness", rho=rho)
    _checks.check_range("sharpness", "num_steps", num_steps, 1.0)
    grad_fn = jax.grad(fun)
    if key is None:
        eps = _tree.zeros_like(params)
    else:
        leaves, treedef = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(_as_key(key), len(leaves))
        noise = [
            jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ]
        eps = sam_perturbation(treedef.unflatten(noise), rho)

    def ascend(_, eps):
        return sam_perturbation(cast_like(grad_fn(apply_updates(params, eps)), eps), rho)

    eps = jax.lax.fori_loop(0, num_steps, ascend, eps)
    increase = fun(apply_updates(params, eps)) - fun(params)
    return jnp.maximum(increase, 0.0)


def sam(optimizer: GradientTransformation, rho: ArrayLike = 0.05) -> GradientTransformation:
    r"""Sharpness-aware minimisation (Foret et al., 2021) around any optimizer.

    Each update takes the incoming gradient :math:`g = \nabla L(w)`, moves to
    :math:`w + \hat\epsilon` with :math:`\hat\epsilon = \rho\, g / \|g\|` (the worst case in
    the ball to first order), and hands the gradient there, :math:`\nabla L(w +
    \hat\epsilon)`, to ``optimizer``: the step minimises :math:`\max_{\|\epsilon\| \le \rho}
    L(w + \epsilon)`. The second gradient needs the loss, given to ``update`` as keyword-only
    extra arguments:

    * ``value_fn=loss``: ``loss(params, **kwargs)``; extra keyword arguments of ``update``
      whose names appear in its signature are passed to it (``batch=batch``: use the same
      mini-batch as ``g``), or
    * ``grad_fn=grad_loss``: a function returning the gradient tree directly, called the same
      way (e.g. ``jax.grad(loss)``, or one that also updates batch statistics).

    ``sam`` must be the outermost transformation, so that the incoming updates are the raw
    gradient. Extra arguments are passed on to ``optimizer``. The state is ``optimizer``'s.
    Unlike ``optax.contrib.sam``, which alternates ascent and descent steps through the
    update stream, this computes both gradients in one ``update``.

    Args:
        optimizer: the base optimizer (e.g. ``gradtx.sgd(0.1)``).
        rho: the radius :math:`\rho \ge 0` (0 gives ``optimizer`` unchanged).

    Returns:
        The wrapped optimizer.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> loss = lambda w, x: jnp.sum((w * x) ** 2)
        >>> tx = gradtx.sam(gradtx.sgd(0.1), rho=0.1)
        >>> w, x = jnp.array([1.0, 0.5]), jnp.array([1.0, 2.0])
        >>> tx.update(jax.grad(loss)(w, x), tx.init(w), w, value_fn=loss, x=x)[0]
        Array([-0.2089, -0.4716], dtype=float32)

    References:
        Foret, Kleiner, Mobahi and Neyshabur, "Sharpness-Aware Minimization for Efficiently
        Improving Generalization", ICLR 2021.
    """
    optimizer = as_transformation("sam", "optimizer", optimizer)
    _checks.non_negative("sam", rho=rho)

    def update_fn(updates, state, params=None, *, value_fn=None, grad_fn=None, **extra_args):
        requires_params("sam", params)
        perturbed = apply_updates(params, sam_perturbation(updates, rho))
        if grad_fn is not None:
            grads = grad_fn(perturbed, **fn_kwargs(grad_fn, extra_args))
        else:
            grads = jax.grad(objective("sam", value_fn, extra_args))(perturbed)
        grads = cast_like(grads, updates)
        return optimizer.update(
            grads, state, params, value_fn=value_fn, grad_fn=grad_fn, **extra_args
        )

    return _registry.describe(
        GradientTransformation(optimizer.init, update_fn), children=(optimizer,)
    )
