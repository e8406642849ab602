"""Doctest set-up: examples may use gradtx, jax, jnp and np, and print arrays to 4 decimals.

Arrays print with NumPy's ``precision=4``, so an example shows ``Array([-0.1], ...)`` for a
float32 result of ``-0.09999999`` and does not depend on the last bit of rounding.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace.update(gradtx=gradtx, jax=jax, jnp=jnp, np=np)
    with np.printoptions(precision=4, suppress=True):
        yield
