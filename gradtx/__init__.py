"""gradtx: composable, predictable gradient transformations for JAX.

A transformation is a pair of pure functions ``(init, update)``; optimizers are short chains of
them. Everything here works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``::

    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-3, weight_decay=1e-4))
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = gradtx.apply_updates(params, updates)
"""

from gradtx import (
    checkpoint,
    linesearch,
    losses,
    nn,
    numerics,
    schedules,
    second_order,
    sharding,
    tree,
    wrappers,
)
from gradtx.base import (
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Schedule,
    Updates,
    apply_updates,
    chain,
    identity,
    named_chain,
    set_to_zero,
    stateless,
)
from gradtx.linesearch import *  # noqa: F403
from gradtx.numerics import safe_increment
from gradtx.optimizers import (
    adabelief,
    adagrad,
    adam,
    adamax,
    adamw,
    amsgrad,
    heavy_ball,
    lamb,
    lion,
    nadam,
    nadamw,
    noisy_sgd,
    rmsprop,
    sgd,
    sign_sgd,
)
from gradtx.schedules import *  # noqa: F403
from gradtx.second_order import *  # noqa: F403
from gradtx.transforms import plateau
from gradtx.transforms.adam import (
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByBeliefState,
    ScaleByLionState,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_lion,
)
from gradtx.transforms.adaptive import (
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByRStdDevState,
    scale_by_rms,
    scale_by_rss,
)
from gradtx.transforms.clipping import clip, clip_by_block_rms, clip_by_global_norm
from gradtx.transforms.momentum import EmaState, TraceState, ema, trace
from gradtx.transforms.noise import AddNoiseState, add_noise
from gradtx.transforms.plateau import *  # noqa: F403
from gradtx.transforms.regularization import (
    AddDecayedWeightsState,
    add_decayed_weights,
    add_l1_regularization,
    add_l2_regularization,
)
from gradtx.transforms.scaling import (
    ScaleByScheduleState,
    scale,
    scale_by_learning_rate,
    scale_by_schedule,
    scale_by_sign,
    scale_by_trust_ratio,
)
from gradtx.wrappers import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    "AddDecayedWeightsState",
    "AddNoiseState",
    "EmaState",
    "EmptyState",
    "GradientTransformation",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLionState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "Schedule",
    "TraceState",
    "Updates",
    "adabelief",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "add_l1_regularization",
    "add_l2_regularization",
    "add_noise",
    "amsgrad",
    "apply_updates",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "ema",
    "heavy_ball",
    "identity",
    "lamb",
    "lion",
    "nadam",
    "nadamw",
    "named_chain",
    "noisy_sgd",
    "numerics",
    "rmsprop",
    "safe_increment",
    "scale",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_trust_ratio",
    "set_to_zero",
    "sgd",
    "sign_sgd",
    "stateless",
    "trace",
    "checkpoint",
    "linesearch",
    "losses",
    "nn",
    "schedules",
    "second_order",
    "sharding",
    "tree",
    "wrappers",
]
__all__ += linesearch.__all__
__all__ += schedules.__all__
__all__ += second_order.__all__
__all__ += plateau.__all__
__all__ += wrappers.__all__
