"""Gradient transformations, one module per family; all are re-exported by :mod:`gradtx`."""

from __future__ import annotations

from gradtx.transforms.adam import (
    ScaleByAdamState as ScaleByAdamState,
    ScaleByAmsgradState as ScaleByAmsgradState,
    ScaleByBeliefState as ScaleByBeliefState,
    ScaleByLionState as ScaleByLionState,
    scale_by_adam as scale_by_adam,
    scale_by_adamax as scale_by_adamax,
    scale_by_amsgrad as scale_by_amsgrad,
    scale_by_belief as scale_by_belief,
    scale_by_lion as scale_by_lion,
)
from gradtx.transforms.adaptive import (
    ScaleByRmsState as ScaleByRmsState,
    ScaleByRmsWithCountState as ScaleByRmsWithCountState,
    ScaleByRssState as ScaleByRssState,
    ScaleByRStdDevState as ScaleByRStdDevState,
    ScaleByRStdDevWithCountState as ScaleByRStdDevWithCountState,
    scale_by_rms as scale_by_rms,
    scale_by_rss as scale_by_rss,
    scale_by_stddev as scale_by_stddev,
)
from gradtx.transforms.clipping import (
    clip as clip,
    clip_by_block_rms as clip_by_block_rms,
    clip_by_global_norm as clip_by_global_norm,
)
from gradtx.transforms.constraints import (
    keep_params_nonnegative as keep_params_nonnegative,
)
from gradtx.transforms.momentum import (
    DampedTraceState as DampedTraceState,
    EmaState as EmaState,
    ScaleByOptimisticGradientState as ScaleByOptimisticGradientState,
    TraceState as TraceState,
    ema as ema,
    scale_by_optimistic_gradient as scale_by_optimistic_gradient,
    trace as trace,
)
from gradtx.transforms.noise import (
    AddNoiseState as AddNoiseState,
    add_noise as add_noise,
)
from gradtx.transforms.plateau import (
    ReduceLROnPlateauState as ReduceLROnPlateauState,
    reduce_on_plateau as reduce_on_plateau,
)
from gradtx.transforms.regularization import (
    AddDecayedWeightsState as AddDecayedWeightsState,
    add_decayed_weights as add_decayed_weights,
    add_l1_regularization as add_l1_regularization,
    add_l2_regularization as add_l2_regularization,
)
from gradtx.transforms.scaling import (
    ScaleByScheduleState as ScaleByScheduleState,
    scale as scale,
    scale_by_learning_rate as scale_by_learning_rate,
    scale_by_param_block_norm as scale_by_param_block_norm,
    scale_by_param_block_rms as scale_by_param_block_rms,
    scale_by_schedule as scale_by_schedule,
    scale_by_sign as scale_by_sign,
    scale_by_trust_ratio as scale_by_trust_ratio,
)
from gradtx.transforms.step_sizes import (
    ScaleByDistanceOverGradientsState as ScaleByDistanceOverGradientsState,
    scale_by_distance_over_gradients as scale_by_distance_over_gradients,
    scale_by_polyak as scale_by_polyak,
)

__all__ = [
    "AddDecayedWeightsState",
    "AddNoiseState",
    "DampedTraceState",
    "EmaState",
    "ReduceLROnPlateauState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByLionState",
    "ScaleByOptimisticGradientState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "TraceState",
    "add_decayed_weights",
    "add_l1_regularization",
    "add_l2_regularization",
    "add_noise",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "ema",
    "keep_params_nonnegative",
    "reduce_on_plateau",
    "scale",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_polyak",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "trace",
]
