"""Gradient transformations, one module per family; all are re-exported by :mod:`gradtx`."""

from gradtx.transforms.adam import *  # noqa: F403
from gradtx.transforms.adaptive import *  # noqa: F403
from gradtx.transforms.clipping import *  # noqa: F403
from gradtx.transforms.momentum import *  # noqa: F403
from gradtx.transforms.noise import *  # noqa: F403
from gradtx.transforms.regularization import *  # noqa: F403
from gradtx.transforms.scaling import *  # noqa: F403
