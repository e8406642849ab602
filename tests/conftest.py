"""Test-suite settings.

Hypothesis runs derandomised, so CI is reproducible. Every test outside ``tests/oracles/``
runs under JAX's strict dtype promotion, so that an implicit promotion in gradtx (an int32
count times a float32 array, a float32 scalar times a complex64 leaf) fails the suite: the
library casts explicitly, which gives the bits the standard rules give and keeps code that
users run under ``jax.numpy_dtype_promotion("strict")`` working. The oracles compare with
Optax and torch, which are not written for strict promotion; the few comparisons with Optax
elsewhere enter ``jax.numpy_dtype_promotion("standard")`` around the Optax call only.
"""

import jax
import pytest
from hypothesis import settings

settings.register_profile("gradtx", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("gradtx")


@pytest.fixture(autouse=True)
def _strict_dtype_promotion(request):
    if "oracles" in request.path.parts:
        yield
        return
    with jax.numpy_dtype_promotion("strict"):
        yield
