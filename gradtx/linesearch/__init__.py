r"""Line searches: choose a step size along the update direction.

A line search is the last member of a chain whose earlier members produce a direction
:math:`u` (``scale(-1.0)`` for steepest descent, :func:`~gradtx.scale_by_lbfgs` then
``scale(-1.0)`` for L-BFGS). It looks for a step size :math:`t` along
:math:`\phi(t) = f(x + t u)` and returns :math:`t u`, so the lectures' general form
:math:`x_{k+1} = x_k + \eta_k p_k` gets its :math:`\eta_k` from the objective itself.

The objective comes in through keyword-only extra arguments of ``update``, as in Optax::

    updates, state = tx.update(grad, state, params, value=f(params), grad=grad, value_fn=f)

* ``value_fn`` (required): the objective ``value_fn(params, **kwargs) -> scalar``. Extra keyword
  arguments of ``update`` whose names appear in its signature (a data ``batch``...) are passed
  to it; all others are ignored.
* ``value`` and ``grad``: the objective and its gradient at ``params``; computed from
  ``value_fn`` when omitted.

Each line search keeps in its state, a NamedTuple ``(learning_rate, value, grad, info)``, the
step size, the value (and, if asked, the gradient) at the point it accepts, so the next step
need not recompute them: see :func:`value_and_grad_from_state` and :func:`~gradtx.minimize`.

The package has one module per search, all built on the shared state and transformation of
``gradtx.linesearch._common``: :func:`scale_by_backtracking_linesearch` (Armijo, in
``gradtx.linesearch.backtracking``), :func:`scale_by_zoom_linesearch` (strong Wolfe, in
``gradtx.linesearch.zoom``), and :func:`scale_by_exact_linesearch` and
:func:`steepest_descent` (in ``gradtx.linesearch.exact``). The methods that use them,
:func:`~gradtx.lbfgs` and :func:`~gradtx.minimize`, are in :mod:`gradtx.second_order`.

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda x: jnp.sum((x - 1.0) ** 2) + x[0] ** 4
    >>> result = gradtx.minimize(f, jnp.zeros(3), gradtx.lbfgs(), max_steps=50, tol=1e-4)
    >>> print(result.params.round(3), result.reason)
    [0.59 1.   1.  ] converged: the gradient norm is at most tol
"""

from __future__ import annotations

from gradtx.linesearch._common import value_and_grad_from_state as value_and_grad_from_state
from gradtx.linesearch.backtracking import (
    BacktrackingLinesearchInfo as BacktrackingLinesearchInfo,
    ScaleByBacktrackingLinesearchState as ScaleByBacktrackingLinesearchState,
    scale_by_backtracking_linesearch as scale_by_backtracking_linesearch,
)
from gradtx.linesearch.exact import (
    ExactLinesearchInfo as ExactLinesearchInfo,
    ScaleByExactLinesearchState as ScaleByExactLinesearchState,
    scale_by_exact_linesearch as scale_by_exact_linesearch,
    steepest_descent as steepest_descent,
)
from gradtx.linesearch.zoom import (
    ScaleByZoomLinesearchState as ScaleByZoomLinesearchState,
    ZoomLinesearchInfo as ZoomLinesearchInfo,
    scale_by_zoom_linesearch as scale_by_zoom_linesearch,
)

__all__ = [
    "BacktrackingLinesearchInfo",
    "ExactLinesearchInfo",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByExactLinesearchState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "scale_by_backtracking_linesearch",
    "scale_by_exact_linesearch",
    "scale_by_zoom_linesearch",
    "steepest_descent",
    "value_and_grad_from_state",
]
