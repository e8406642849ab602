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
from gradtx.transforms.adam_variants import (
    ScaleByAdanState as ScaleByAdanState,
    ScaleByNovogradState as ScaleByNovogradState,
    scale_by_adan as scale_by_adan,
    scale_by_novograd as scale_by_novograd,
    scale_by_radam as scale_by_radam,
    scale_by_yogi as scale_by_yogi,
)
from gradtx.transforms.adaptive import (
    ScaleByRmsState as ScaleByRmsState,
    ScaleByRssState as ScaleByRssState,
    ScaleByRStdDevState as ScaleByRStdDevState,
    scale_by_rms as scale_by_rms,
    scale_by_rss as scale_by_rss,
)
from gradtx.transforms.clipping import (
    AdaptiveGradClipState as AdaptiveGradClipState,
    ClipByGlobalNormState as ClipByGlobalNormState,
    ClipState as ClipState,
    adaptive_grad_clip as adaptive_grad_clip,
    clip as clip,
    clip_by_block_rms as clip_by_block_rms,
    clip_by_global_norm as clip_by_global_norm,
    unitwise_clip as unitwise_clip,
    unitwise_norm as unitwise_norm,
)
from gradtx.transforms.constraints import (
    NonNegativeParamsState as NonNegativeParamsState,
    ZeroNansState as ZeroNansState,
    keep_params_nonnegative as keep_params_nonnegative,
    zero_nans as zero_nans,
)
from gradtx.transforms.factorized import (
    FactoredState as FactoredState,
    scale_by_factored_rms as scale_by_factored_rms,
    scale_by_param_block_rms as scale_by_param_block_rms,
)
from gradtx.transforms.momentum import (
    DampedTraceState as DampedTraceState,
    EmaState as EmaState,
    TraceState as TraceState,
    ema as ema,
    trace as trace,
)
from gradtx.transforms.noise import (
    AddNoiseState as AddNoiseState,
    add_noise as add_noise,
)
from gradtx.transforms.per_example import (
    per_example_global_norm_clip as per_example_global_norm_clip,
    per_example_layer_norm_clip as per_example_layer_norm_clip,
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
    ScaleByTrustRatioState as ScaleByTrustRatioState,
    ScaleState as ScaleState,
    centralize as centralize,
    normalize_by_update_norm as normalize_by_update_norm,
    scale as scale,
    scale_by_learning_rate as scale_by_learning_rate,
    scale_by_schedule as scale_by_schedule,
    scale_by_sign as scale_by_sign,
    scale_by_trust_ratio as scale_by_trust_ratio,
    scale_gradient as scale_gradient,
)
from gradtx.transforms.step_adaptive import (
    ScaleByAdaDeltaState as ScaleByAdaDeltaState,
    ScaleByRpropState as ScaleByRpropState,
    ScaleBySM3State as ScaleBySM3State,
    scale_by_adadelta as scale_by_adadelta,
    scale_by_rprop as scale_by_rprop,
    scale_by_sm3 as scale_by_sm3,
)

__all__ = [
    "AdaptiveGradClipState",
    "AddDecayedWeightsState",
    "AddNoiseState",
    "ClipByGlobalNormState",
    "ClipState",
    "DampedTraceState",
    "EmaState",
    "FactoredState",
    "NonNegativeParamsState",
    "ReduceLROnPlateauState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdanState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLionState",
    "ScaleByNovogradState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleBySM3State",
    "ScaleByScheduleState",
    "ScaleByTrustRatioState",
    "ScaleState",
    "TraceState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_l1_regularization",
    "add_l2_regularization",
    "add_noise",
    "centralize",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "ema",
    "keep_params_nonnegative",
    "normalize_by_update_norm",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "reduce_on_plateau",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_factored_rms",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_novograd",
    "scale_by_param_block_rms",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_sm3",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "scale_gradient",
    "trace",
    "unitwise_clip",
    "unitwise_norm",
    "zero_nans",
]
