"""Lookahead (Zhang et al., 2019): k fast steps forward, one slow step back."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _checks, _registry, tree as _tree
from gradtx.base import ArrayLike, GradientTransformation, OptState, Params, as_transformation
from gradtx.numerics import upcast
from gradtx.transforms._common import as_real

__all__ = ["LookaheadParams", "LookaheadState", "lookahead"]


class LookaheadParams(NamedTuple):
    """The two copies of the parameters lookahead keeps.

    Attributes:
        fast: the parameters the fast optimizer moves; compute the gradients here.
        slow: the slowly moving parameters; evaluate and deploy these.
    """

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """Both copies equal to ``params``: the starting point of a run."""
        return cls(fast=params, slow=params)


class LookaheadState(NamedTuple):
    """State of :func:`lookahead`.

    Attributes:
        fast_state: the fast optimizer's state.
        steps_since_sync: fast steps since the last synchronisation (int32).
    """

    fast_state: OptState
    steps_since_sync: jax.Array


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: int,
    slow_step_size: ArrayLike,
    reset_state: bool = False,
) -> GradientTransformation:
    r"""Lookahead: the slow parameters move towards where the fast optimizer went.

    The parameters are a :class:`LookaheadParams` pair ``(fast, slow)``, started with
    :meth:`LookaheadParams.init_synced`. Each step moves ``fast`` with ``fast_optimizer``
    (gradients are taken at ``params.fast``); every ``sync_period``-th step, after the fast
    step,

    .. math::
        \phi \leftarrow \phi + \alpha (\theta - \phi), \qquad \theta \leftarrow \phi

    with slow parameters :math:`\phi`, fast parameters :math:`\theta` and
    ``slow_step_size`` :math:`\alpha`. Updates come back as a :class:`LookaheadParams` for
    :func:`~gradtx.apply_updates` (``apply_updates(params, updates)`` does both copies); do not
    transform them further.

    Args:
        fast_optimizer: the inner optimizer.
        sync_period: fast steps per slow step, an int >= 1.
        slow_step_size: :math:`\alpha \in [0, 1]`.
        reset_state: re-initialise the fast optimizer's state at each synchronisation.

    Returns:
        The transformation, with state :class:`LookaheadState`; ``update`` needs the
        :class:`LookaheadParams`.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = gradtx.lookahead(gradtx.sgd(1.0), sync_period=2, slow_step_size=0.5)
        >>> params = gradtx.LookaheadParams.init_synced(jnp.array([0.0]))
        >>> state = tx.init(params)
        >>> for _ in range(2):  # two fast steps of -1, then halfway back
        ...     u, state = tx.update(jnp.array([1.0]), state, params)
        ...     params = gradtx.apply_updates(params, u)
        >>> print(params.fast, params.slow)
        [-1.] [-1.]

    References:
        Zhang, Lucas, Hinton and Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        2019.
    """
    fast_optimizer = as_transformation("lookahead", "fast_optimizer", fast_optimizer)
    if isinstance(sync_period, bool) or not isinstance(sync_period, int):
        raise TypeError(f"lookahead(): sync_period must be an int >= 1, got {sync_period!r}.")
    _checks.check_range("lookahead", "sync_period", sync_period, 1)
    _checks.check_range("lookahead", "slow_step_size", slow_step_size, 0.0, 1.0)

    def init_fn(params):
        fast = params.fast if isinstance(params, LookaheadParams) else params
        return LookaheadState(
            fast_state=fast_optimizer.init(fast), steps_since_sync=jnp.zeros([], jnp.int32)
        )

    def update_fn(updates, state, params=None, **extra_args):
        if not isinstance(params, LookaheadParams):
            raise TypeError(
                "lookahead(): update needs params=LookaheadParams(fast, slow), got "
                f"{type(params).__name__}; start with "
                "gradtx.LookaheadParams.init_synced(params) and apply the updates to it."
            )
        updates, fast_state = fast_optimizer.update(
            updates, state.fast_state, params.fast, **extra_args
        )
        sync = state.steps_since_sync == sync_period - 1

        def leaf(fast, slow, u):
            # The fast step lands on fast + u; on a sync the slow copy moves alpha of the way
            # there and the fast copy jumps to the new slow one.
            fc, sc, uc = upcast(fast), upcast(slow), upcast(u)
            alpha = as_real(slow_step_size, uc)
            diff = fc + uc - sc
            slow_u = jnp.where(sync, alpha * diff, jnp.zeros_like(diff))
            fast_u = jnp.where(sync, uc - (1 - alpha) * diff, uc)
            return fast_u.astype(jnp.result_type(u)), slow_u.astype(jnp.result_type(u))

        pairs = _tree.map(
            leaf, params.fast, params.slow, updates, names=("params.fast", "params.slow", "updates")
        )
        treedef = jax.tree_util.tree_structure(updates)
        leaves = treedef.flatten_up_to(pairs)
        fast_updates = treedef.unflatten([p[0] for p in leaves])
        slow_updates = treedef.unflatten([p[1] for p in leaves])
        if reset_state:
            fresh = fast_optimizer.init(params.fast)
            fast_state = jax.tree_util.tree_map(
                lambda new, cur: jnp.where(sync, new, cur), fresh, fast_state
            )
        steps = jnp.where(sync, 0, state.steps_since_sync + 1).astype(jnp.int32)
        return LookaheadParams(fast_updates, slow_updates), LookaheadState(fast_state, steps)

    return _registry.describe(
        GradientTransformation(init_fn, update_fn), children=(fast_optimizer,)
    )
