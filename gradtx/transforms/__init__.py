"""Gradient transformations, one module per family; all are re-exported by :mod:`gradtx`."""

from __future__ import annotations

from gradtx.base import (
    chain as chain,
    named_chain as named_chain,
)
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
    ScaleByRssState as ScaleByRssState,
    ScaleByRStdDevState as ScaleByRStdDevState,
    scale_by_rms as scale_by_rms,
    scale_by_rss as scale_by_rss,
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
    TraceState as TraceState,
    ema as ema,
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
    scale_by_schedule as scale_by_schedule,
    scale_by_sign as scale_by_sign,
    scale_by_trust_ratio as scale_by_trust_ratio,
)
from gradtx.wrappers.accumulation import (
    MultiSteps as MultiSteps,
    MultiStepsState as MultiStepsState,
    ShouldSkipUpdateFunction as ShouldSkipUpdateFunction,
)
from gradtx.wrappers.conditional import (
    ApplyIfFiniteState as ApplyIfFiniteState,
    ConditionallyMaskState as ConditionallyMaskState,
    ConditionallyTransformState as ConditionallyTransformState,
    ConditionFn as ConditionFn,
    apply_if_finite as apply_if_finite,
    conditionally_mask as conditionally_mask,
    conditionally_transform as conditionally_transform,
    skip_large_updates as skip_large_updates,
    skip_not_finite as skip_not_finite,
)
from gradtx.wrappers.flattening import (
    flatten as flatten,
)
from gradtx.wrappers.freezing import (
    freeze as freeze,
    selective_transform as selective_transform,
)
from gradtx.wrappers.masking import (
    MaskedNode as MaskedNode,
    MaskedState as MaskedState,
    PartitionState as PartitionState,
    masked as masked,
    partition as partition,
)
from gradtx.wrappers.monitoring import (
    MonitorState as MonitorState,
    SnapshotState as SnapshotState,
    measure_with_ema as measure_with_ema,
    monitor as monitor,
    snapshot as snapshot,
)

__all__ = [
    "AddDecayedWeightsState",
    "AddNoiseState",
    "ApplyIfFiniteState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "DampedTraceState",
    "EmaState",
    "MaskedNode",
    "MaskedState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "PartitionState",
    "ReduceLROnPlateauState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLionState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "TraceState",
    "add_decayed_weights",
    "add_l1_regularization",
    "add_l2_regularization",
    "add_noise",
    "apply_if_finite",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "masked",
    "measure_with_ema",
    "monitor",
    "named_chain",
    "partition",
    "reduce_on_plateau",
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
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "trace",
]
