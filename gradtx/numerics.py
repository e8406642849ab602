"""Numerical helpers shared by the transforms.

Low-precision inputs (bfloat16, float16) are computed in float32 and cast back, step counters
saturate instead of wrapping, and squared moduli are real for complex inputs.

Example:
    >>> import jax.numpy as jnp
    >>> safe_increment(jnp.array(2**31 - 1, jnp.int32))
    Array(2147483647, dtype=int32)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "abs_sq",
    "compute_dtype",
    "promote",
    "promote_dtypes",
    "real_dtype",
    "safe_increment",
    "safe_sqrt",
    "upcast",
]

_INT32_MAX = jnp.iinfo(jnp.int32).max


def safe_increment(count: jax.Array) -> jax.Array:
    """Adds one to a step counter, saturating at its dtype's maximum.

    Integer and floating counters of any width (Optax's rule); booleans and complex numbers
    raise ``ValueError``.

    A month-long run at thousands of steps a second passes 2**31 steps; a wrapping counter
    would then turn bias corrections and schedules negative. This one stays at the maximum.

    Example:
        >>> import jax.numpy as jnp
        >>> safe_increment(jnp.array(5, jnp.int32))
        Array(6, dtype=int32)
    """
    count = jnp.asarray(count)
    if jnp.issubdtype(count.dtype, jnp.integer):
        top = jnp.iinfo(count.dtype).max
    elif jnp.issubdtype(count.dtype, jnp.floating):
        top = jnp.finfo(count.dtype).max
    else:
        raise ValueError(
            f"safe_increment(): the count must have an integer or floating dtype, got "
            f"{count.dtype}."
        )
    top = jnp.asarray(top, count.dtype)
    return jnp.where(count < top, count + jnp.ones([], count.dtype), top)


def compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    """The dtype arithmetic on ``dtype`` inputs is done in: at least float32.

    Example:
        >>> import jax.numpy as jnp
        >>> compute_dtype(jnp.bfloat16), compute_dtype(jnp.complex64)
        (dtype('float32'), dtype('complex64'))
    """
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return dtype
    if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize >= 4:
        return dtype
    return jnp.dtype(jnp.float32)


def promote_dtypes(*values: Any) -> jnp.dtype:
    """The dtype JAX's standard promotion gives ``values`` (arrays, dtypes or Python numbers).

    The same under ``jax_numpy_dtype_promotion="strict"``, where ``jnp.result_type`` and
    ``jnp.promote_types`` refuse to mix, say, int32 and float32: code that means to promote
    computes the dtype here and casts its operands to it explicitly, which gives the bits that
    implicit promotion gives under the standard rules.

    Example:
        >>> import jax.numpy as jnp
        >>> promote_dtypes(jnp.float32, jnp.int32, jnp.bfloat16, 0.5)
        dtype('float32')
    """
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(*values)


def promote(*values: Any) -> tuple[jax.Array, ...]:
    """The values as arrays cast to :func:`promote_dtypes` of them.

    Arithmetic on the results gives the bits that the standard promotion rules give on the
    inputs (which cast each operand to the common dtype first), also under strict promotion.

    Example:
        >>> import jax.numpy as jnp
        >>> x, y = promote(jnp.ones(2, jnp.bfloat16), jnp.float32(0.5))
        >>> (x + y).dtype
        dtype('float32')
    """
    dtype = promote_dtypes(*values)
    return tuple(jnp.asarray(v, dtype) for v in values)


def upcast(x: jax.Array) -> jax.Array:
    """Casts ``x`` to :func:`compute_dtype` of its dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> upcast(jnp.ones(2, jnp.bfloat16)).dtype
        dtype('float32')
    """
    x = jnp.asarray(x)
    return x.astype(compute_dtype(x.dtype))


def real_dtype(dtype: jnp.dtype) -> jnp.dtype:
    """The real dtype of the same precision: complex64 -> float32, float32 -> float32.

    Example:
        >>> import jax.numpy as jnp
        >>> real_dtype(jnp.complex64)
        dtype('float32')
    """
    return jnp.finfo(dtype).dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.dtype(dtype)


@jax.custom_jvp
def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` for ``x >= 0`` whose gradient at 0 is 0 instead of nan.

    Norms of all-zero leaves (zero-initialised biases, a zero gradient) then stay
    differentiable, which matters when differentiating through an update with respect to a
    hyperparameter. The forward computation is a plain square root: a ``jnp.where`` guard
    would be copied by XLA into every fusion that consumes the norm, making the compile time
    of a global-norm clip quadratic in the number of leaves.

    Example:
        >>> import jax
        >>> jax.grad(safe_sqrt)(0.0)
        Array(0., dtype=float32, weak_type=True)
    """
    return jnp.sqrt(x)


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = jnp.sqrt(x)
    positive = x > 0
    return y, jnp.where(positive, dx / (2 * jnp.where(positive, y, 1)), 0)


def abs_sq(x: jax.Array) -> jax.Array:
    """``|x|**2`` elementwise, real for complex ``x`` (``(conj(x) * x).real``).

    Example:
        >>> import jax.numpy as jnp
        >>> abs_sq(jnp.array([3 + 4j]))
        Array([25.], dtype=float32)
    """
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        return (jnp.conj(x) * x).real
    return x * x
