"""Doctest set-up: examples may use gradtx, jax, jnp and np, and print arrays to 4 decimals.

Arrays print with NumPy's ``precision=4``, so an example shows ``Array([-0.1], ...)`` for a
float32 result of ``-0.09999999`` and does not depend on the last bit of rounding.
"""

import os

# The tests compare against float64 NumPy references and assert bit-exact agreement between
# jitted and eager runs. On GPUs XLA by default keeps excess precision (it drops a round trip
# through bfloat16) and multiplies float32 matrices in TF32; ask for IEEE semantics instead,
# before JAX starts its backends. CPUs behave this way already.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_allow_excess_precision=false"
).strip()

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx

jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace.update(gradtx=gradtx, jax=jax, jnp=jnp, np=np)
    with np.printoptions(precision=4, suppress=True):
        yield
