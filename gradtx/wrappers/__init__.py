"""Wrappers around transformations: hyperparameter injection, masking, partitioning,
non-finite skipping, gradient accumulation, lookahead, parameter averaging and float32 master
weights."""

from __future__ import annotations

from gradtx.wrappers.accumulation import (
    ApplyEvery as ApplyEvery,
    MultiSteps as MultiSteps,
    MultiStepsState as MultiStepsState,
    ShouldSkipUpdateFunction as ShouldSkipUpdateFunction,
    apply_every as apply_every,
)
from gradtx.wrappers.averaging import (
    EmaParamsState as EmaParamsState,
    PolyakAverageState as PolyakAverageState,
    averaged_params as averaged_params,
    ema_params as ema_params,
    polyak_average as polyak_average,
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
from gradtx.wrappers.hyperparams import (
    InjectHyperparamsState as InjectHyperparamsState,
    InjectStatefulHyperparamsState as InjectStatefulHyperparamsState,
    current_learning_rate as current_learning_rate,
    inject_hyperparams as inject_hyperparams,
    inject_stateful_hyperparams as inject_stateful_hyperparams,
)
from gradtx.wrappers.lookahead_optimizer import (
    LookaheadParams as LookaheadParams,
    LookaheadState as LookaheadState,
    lookahead as lookahead,
)
from gradtx.wrappers.masking import (
    MaskedNode as MaskedNode,
    MaskedState as MaskedState,
    MultiTransformState as MultiTransformState,
    PartitionState as PartitionState,
    PathRule as PathRule,
    by_path as by_path,
    masked as masked,
    multi_transform as multi_transform,
    partition as partition,
)
from gradtx.wrappers.mixed_precision import (
    MasterWeightsState as MasterWeightsState,
    master_weights as master_weights,
)
from gradtx.wrappers.monitoring import (
    MonitorState as MonitorState,
    SnapshotState as SnapshotState,
    measure_with_ema as measure_with_ema,
    monitor as monitor,
    snapshot as snapshot,
)

__all__ = [
    "ApplyEvery",
    "ApplyIfFiniteState",
    "ConditionFn",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaParamsState",
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "LookaheadParams",
    "LookaheadState",
    "MaskedNode",
    "MaskedState",
    "MasterWeightsState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "PartitionState",
    "PathRule",
    "PolyakAverageState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "apply_every",
    "apply_if_finite",
    "averaged_params",
    "by_path",
    "conditionally_mask",
    "conditionally_transform",
    "current_learning_rate",
    "ema_params",
    "flatten",
    "freeze",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "lookahead",
    "masked",
    "master_weights",
    "measure_with_ema",
    "monitor",
    "multi_transform",
    "partition",
    "polyak_average",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
]
