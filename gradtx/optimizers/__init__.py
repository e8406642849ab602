"""Named optimizers, one module per family: each is a short :func:`~gradtx.chain` of transforms.

Arguments and defaults follow Optax's optimizer of the same name, so Optax code runs after
changing the import; options that torch.optim and the lecture notes have and Optax lacks
(SGD's dampening, Adagrad's ``lr_decay``, Adam's ``amsgrad``) are keyword-only extras.

Every optimizer returns a :class:`~gradtx.GradientTransformation` whose updates are to be added
to the parameters with :func:`~gradtx.apply_updates` (the learning rate and the minus sign are
already applied).
"""

from __future__ import annotations

from gradtx.optimizers.adam_like import (
    adabelief as adabelief,
    adam as adam,
    adamax as adamax,
    adamw as adamw,
    amsgrad as amsgrad,
    nadam as nadam,
    nadamw as nadamw,
)
from gradtx.optimizers.adam_variants import (
    adamaxw as adamaxw,
    adan as adan,
    novograd as novograd,
    radam as radam,
    yogi as yogi,
)
from gradtx.optimizers.adaptive import (
    adagrad as adagrad,
    rmsprop as rmsprop,
)
from gradtx.optimizers.factorized import (
    adafactor as adafactor,
)
from gradtx.optimizers.gradient_descent import (
    heavy_ball as heavy_ball,
    noisy_sgd as noisy_sgd,
    polyak_sgd as polyak_sgd,
    sgd as sgd,
)
from gradtx.optimizers.optimistic import (
    optimistic_adam as optimistic_adam,
    optimistic_adam_v2 as optimistic_adam_v2,
    optimistic_gradient_descent as optimistic_gradient_descent,
)
from gradtx.optimizers.sign_based import (
    lion as lion,
    sign_sgd as sign_sgd,
    signum as signum,
)
from gradtx.optimizers.step_adaptive import (
    adadelta as adadelta,
    rprop as rprop,
    sm3 as sm3,
)
from gradtx.optimizers.trust_ratio import (
    fromage as fromage,
    lamb as lamb,
    lars as lars,
)

__all__ = [
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "amsgrad",
    "fromage",
    "heavy_ball",
    "lamb",
    "lars",
    "lion",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "novograd",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "polyak_sgd",
    "radam",
    "rmsprop",
    "rprop",
    "sgd",
    "sign_sgd",
    "signum",
    "sm3",
    "yogi",
]
