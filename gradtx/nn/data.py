"""Minibatches by epochs, and standardisation of features.

Stochastic gradient descent works through the data set in minibatches sampled without
replacement; one pass through all of it is an epoch. Each epoch draws a fresh permutation of
the indices from an explicit key (``jax.random.fold_in(key, epoch)``), so a run is reproducible
and two epochs visit the examples in different orders. With 30 examples and batch size 5 an
epoch has 6 batches: positions 0-4 of the permutation, then 5-9, and so on.

Example:
    >>> batches = gradtx.nn.minibatch_indices(jax.random.key(0), 30, 5)
    >>> len(batches), sorted(np.concatenate(batches).tolist()) == list(range(30))
    (6, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.base import ArrayLike
from gradtx.numerics import upcast

__all__ = ["Standardizer", "minibatch_indices", "minibatches", "standardize"]


def _check_sizes(fn: str, num_examples: int, batch_size: int) -> None:
    if int(batch_size) < 1:
        raise ValueError(f"{fn}: batch_size must be a positive integer, got {batch_size!r}.")
    if int(num_examples) < 0:
        raise ValueError(f"{fn}: num_examples must be >= 0, got {num_examples!r}.")


def minibatch_indices(
    key: jax.Array, num_examples: int, batch_size: int, *, drop_last: bool = False
) -> list[np.ndarray]:
    """The index batches of one epoch: a random permutation of ``range(num_examples)`` in chunks.

    Batch ``b`` holds positions ``[b * batch_size, (b + 1) * batch_size)`` of the permutation.
    When ``batch_size`` does not divide ``num_examples`` the last batch is shorter, or left out
    with ``drop_last=True`` (so every batch has the same shape and a jitted step compiles once).

    Args:
        key: PRNG key of this epoch.
        num_examples: the number of examples :math:`N`.
        batch_size: examples per batch.
        drop_last: leave out the last, incomplete batch.

    Returns:
        A list of ``ceil(N / batch_size)`` (``floor`` with ``drop_last``) int arrays.

    Example:
        >>> [len(b) for b in gradtx.nn.minibatch_indices(jax.random.key(0), 7, 3)]
        [3, 3, 1]
    """
    _check_sizes("minibatch_indices()", num_examples, batch_size)
    perm = np.asarray(jax.random.permutation(key, int(num_examples)))
    stop = (len(perm) // batch_size) * batch_size if drop_last else len(perm)
    return [perm[i : i + batch_size] for i in range(0, stop, batch_size)]


def minibatches(
    key: jax.Array,
    data: Any,
    batch_size: int,
    *,
    num_epochs: int | None = 1,
    drop_last: bool = False,
) -> Iterator[Any]:
    """Yields minibatches of ``data`` epoch after epoch, without replacement within an epoch.

    Epoch ``e`` uses the permutation :func:`minibatch_indices` draws from
    ``jax.random.fold_in(key, e)``; each batch is ``data`` (any pytree of arrays sharing their
    leading axis) indexed by that batch's indices. NumPy arrays give NumPy batches.

    Args:
        key: PRNG key of the whole run.
        data: a pytree of arrays with the examples on the leading axis, e.g. ``(x, y)``.
        batch_size: examples per batch.
        num_epochs: how many passes to make; ``None`` for an endless stream.
        drop_last: leave out the last, incomplete batch of every epoch.

    Returns:
        An iterator over batches with the structure of ``data``.

    Example:
        >>> x, y = np.arange(10.0), np.arange(10) % 2
        >>> batches = list(gradtx.nn.minibatches(jax.random.key(0), (x, y), 4, num_epochs=2))
        >>> [len(bx) for bx, by in batches]
        [4, 4, 2, 4, 4, 2]
    """
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("minibatches(): data has no arrays.")
    sizes = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
    if len(sizes) != 1 or -1 in sizes:
        shapes = [np.shape(leaf) for leaf in leaves]
        raise ValueError(
            f"minibatches(): every array in data needs the same leading (example) axis, got "
            f"shapes {shapes}."
        )
    (n,) = sizes
    _check_sizes("minibatches()", n, batch_size)
    if num_epochs is not None and int(num_epochs) < 0:
        raise ValueError(f"minibatches(): num_epochs must be >= 0 or None, got {num_epochs!r}.")

    def generate():
        epoch = 0
        while num_epochs is None or epoch < num_epochs:
            epoch_key = jax.random.fold_in(key, epoch)
            for idx in minibatch_indices(epoch_key, n, batch_size, drop_last=drop_last):
                yield jax.tree_util.tree_map(lambda a, idx=idx: a[idx], data)
            epoch += 1

    return generate()


class Standardizer(NamedTuple):
    """Per-feature statistics from :func:`standardize`; apply them to new data with ``(x)``.

    Attributes:
        mean: per-feature mean of the data they were computed from.
        std: per-feature standard deviation (population, ``ddof=0``).
    """

    mean: jax.Array
    std: jax.Array

    def __call__(self, x: ArrayLike) -> jax.Array:
        """``(x - mean) / std``; a constant feature (``std == 0``) is only centred."""
        x = upcast(jnp.asarray(x))
        return (x - self.mean) / jnp.where(self.std > 0, self.std, 1).astype(x.dtype)

    def invert(self, z: ArrayLike) -> jax.Array:
        """Undoes the standardisation: ``z * std + mean``."""
        z = upcast(jnp.asarray(z))
        return z * jnp.where(self.std > 0, self.std, 1).astype(z.dtype) + self.mean


def standardize(x: ArrayLike, *, axis: int = 0) -> tuple[jax.Array, Standardizer]:
    r"""Rescales each feature to zero mean and unit variance, and returns the statistics.

    .. math::
        \mu_i = \frac{1}{N}\sum_n x_{n,i}, \quad
        \sigma_i = \sqrt{\frac{1}{N}\sum_n (x_{n,i} - \mu_i)^2}, \quad
        \bar x_{n,i} = \frac{x_{n,i} - \mu_i}{\sigma_i}

    Features on very different scales make the loss landscape skewed (the Hessian's condition
    number grows with the ratio of scales) and gradient descent slow; standardising fixes
    that. Apply the *training* statistics to test data: ``stats(x_test)``.

    Args:
        x: the data, examples along ``axis``.
        axis: the example axis averaged over. For ``axis=0`` the statistics have the shape
            of one example; for other axes they keep ``axis`` with size 1.

    Returns:
        ``(standardised x, Standardizer(mean, std))``, computed in at least float32.

    Example:
        >>> z, stats = gradtx.nn.standardize(jnp.array([[1.0, 100.0], [3.0, 300.0]]))
        >>> z
        Array([[-1., -1.],
               [ 1.,  1.]], dtype=float32)
        >>> stats(jnp.array([[2.0, 400.0]]))
        Array([[0., 2.]], dtype=float32)
    """
    xc = upcast(jnp.asarray(x))
    mean = jnp.mean(xc, axis, keepdims=True)
    std = jnp.sqrt(jnp.mean(jnp.square(xc - mean), axis, keepdims=True))
    if axis % xc.ndim == 0:  # (features,) statistics broadcast against (examples, features)
        mean, std = mean[0], std[0]
    stats = Standardizer(mean, std)
    return stats(xc), stats
