r"""Second-order methods: Newton, Newton-CG, L-BFGS, the ``minimize`` driver, and curvature.

The lectures write every gradient method as :math:`x_{k+1} = x_k - \eta_k B_k^{-1} \nabla
f(x_k)`. One module per method:

* ``dense_newton``: :func:`scale_by_newton` and :func:`newton`, :math:`B_k` the (regularised)
  Hessian, formed and solved densely;
* ``hessian_free``: :func:`scale_by_newton_cg` and :func:`newton_cg`, the same step by
  conjugate gradients on Hessian-vector products;
* ``quasi_newton``: :func:`scale_by_lbfgs` and :func:`lbfgs`, :math:`B_k` the L-BFGS
  approximation built from past steps, :math:`\eta_k` from a line search of
  :mod:`gradtx.linesearch`;
* ``minimizer``: :func:`minimize`, which runs any optimizer on a deterministic objective inside
  one ``jax.lax.while_loop``, passing the objective (``value_fn``) these methods need to
  ``update``;
* ``curvature``: the loss landscape from Hessian-vector products (:func:`hvp`): the top Hessian
  eigenvalue, the largest stable learning rate, the condition number, sharpness, and
  sharpness-aware minimisation (:func:`sam`).

(The modules are not named after their functions, so that ``gradtx.second_order.newton`` is
always the function.)

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.sum(jnp.array([1.0, 100.0]) * (x - 1.0) ** 2)
    >>> result = gradtx.minimize(f, jnp.zeros(2), gradtx.newton(), max_steps=10, tol=1e-4)
    >>> print(result.params, int(result.num_steps), result.reason)
    [1. 1.] 1 converged: the gradient norm is at most tol
"""

from __future__ import annotations

from gradtx.second_order.curvature import (
    hessian_condition_number as hessian_condition_number,
    hvp as hvp,
    max_stable_learning_rate as max_stable_learning_rate,
    sam as sam,
    sam_perturbation as sam_perturbation,
    sharpness as sharpness,
    top_hessian_eigenvalue as top_hessian_eigenvalue,
)
from gradtx.second_order.dense_newton import newton as newton, scale_by_newton as scale_by_newton
from gradtx.second_order.hessian_free import (
    newton_cg as newton_cg,
    scale_by_newton_cg as scale_by_newton_cg,
)
from gradtx.second_order.minimizer import (
    MinimizeResult as MinimizeResult,
    MinimizeStatus as MinimizeStatus,
    minimize as minimize,
)
from gradtx.second_order.quasi_newton import (
    ScaleByLBFGSState as ScaleByLBFGSState,
    lbfgs as lbfgs,
    scale_by_lbfgs as scale_by_lbfgs,
)

__all__ = [
    "MinimizeResult",
    "MinimizeStatus",
    "ScaleByLBFGSState",
    "hessian_condition_number",
    "hvp",
    "lbfgs",
    "max_stable_learning_rate",
    "minimize",
    "newton",
    "newton_cg",
    "sam",
    "sam_perturbation",
    "scale_by_lbfgs",
    "scale_by_newton",
    "scale_by_newton_cg",
    "sharpness",
    "top_hessian_eigenvalue",
]
