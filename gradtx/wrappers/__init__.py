"""Wrappers around transformations: hyperparameter injection, masking, partitioning,
non-finite skipping, gradient accumulation, lookahead, parameter averaging and float32 master
weights."""

from __future__ import annotations

from gradtx.wrappers import (
    accumulation,
    averaging,
    conditional,
    explaining,
    flattening,
    freezing,
    hyperparams,
    lookahead_optimizer,
    masking,
    mixed_precision,
    stopping,
)
from gradtx.wrappers.accumulation import *  # noqa: F403
from gradtx.wrappers.averaging import *  # noqa: F403
from gradtx.wrappers.conditional import *  # noqa: F403
from gradtx.wrappers.explaining import *  # noqa: F403
from gradtx.wrappers.flattening import *  # noqa: F403
from gradtx.wrappers.freezing import *  # noqa: F403
from gradtx.wrappers.hyperparams import *  # noqa: F403
from gradtx.wrappers.lookahead_optimizer import *  # noqa: F403
from gradtx.wrappers.masking import *  # noqa: F403
from gradtx.wrappers.mixed_precision import *  # noqa: F403
from gradtx.wrappers.stopping import *  # noqa: F403

__all__: list[str] = []
__all__ += accumulation.__all__
__all__ += averaging.__all__
__all__ += conditional.__all__
__all__ += explaining.__all__
__all__ += flattening.__all__
__all__ += freezing.__all__
__all__ += hyperparams.__all__
__all__ += lookahead_optimizer.__all__
__all__ += masking.__all__
__all__ += mixed_precision.__all__
__all__ += stopping.__all__
