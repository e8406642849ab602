"""gradtx.nn.data: epochs of minibatches without replacement (the lecture's 30-sample, batch-size-5
illustration) and standardisation with statistics reused on test data."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gradtx import nn

KEY = jax.random.key(0)


def test_lecture_illustration_30_samples_batch_size_5():
    """Epoch 0: 30 / 5 = 6 batches, batch b takes positions [5b, 5b + 5) of a permutation; the
    step counter runs on across epochs while the batch number restarts."""
    data = np.arange(30)
    steps = list(nn.minibatches(KEY, data, 5, num_epochs=2))
    assert len(steps) == 12
    for epoch in range(2):
        batches = steps[6 * epoch : 6 * (epoch + 1)]
        assert all(len(b) == 5 for b in batches)
        perm = np.concatenate(batches)
        np.testing.assert_array_equal(np.sort(perm), data)  # a permutation: no repeats
        for b, batch in enumerate(batches):
            # Step 6 * epoch + b, batch # b, batch range [5b, ..., 5b + 4].
            np.testing.assert_array_equal(batch, perm[5 * b : 5 * b + 5])
        # The epoch's permutation is the one minibatch_indices draws from fold_in(key, epoch).
        indices = nn.minibatch_indices(jax.random.fold_in(KEY, epoch), 30, 5)
        np.testing.assert_array_equal(np.concatenate(indices), perm)
    # Each epoch draws a fresh order.
    assert not np.array_equal(np.concatenate(steps[:6]), np.concatenate(steps[6:]))


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "sizes"),
    [
        (30, 5, False, [5] * 6),
        (30, 5, True, [5] * 6),
        (32, 5, False, [5] * 6 + [2]),
        (32, 5, True, [5] * 6),
        (3, 5, False, [3]),
        (3, 5, True, []),
    ],
)
def test_batch_counts_with_and_without_drop_last(n, batch_size, drop_last, sizes):
    batches = nn.minibatch_indices(KEY, n, batch_size, drop_last=drop_last)
    assert [len(b) for b in batches] == sizes
    got = np.concatenate(batches) if batches else np.zeros(0, int)
    assert len(set(got.tolist())) == len(got)  # without replacement
    if not drop_last:
        np.testing.assert_array_equal(np.sort(got), np.arange(n))
    epochs = list(nn.minibatches(KEY, np.arange(n), batch_size, num_epochs=3, drop_last=drop_last))
    assert [len(b) for b in epochs] == sizes * 3


def test_positions_are_uniform_over_epochs():
    """Over many epochs every example lands in the first batch about equally often."""
    first = list(nn.minibatches(KEY, np.arange(30), 5, num_epochs=300))[::6]
    counts = np.bincount(np.concatenate(first), minlength=30)
    assert counts.sum() == 1500
    assert stats.chisquare(counts).pvalue > 1e-3


def test_minibatches_keep_pytrees_aligned_and_are_reproducible():
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) * 10
    batches = list(nn.minibatches(KEY, {"x": x, "y": y}, 4, num_epochs=1))
    for batch in batches:
        np.testing.assert_array_equal(batch["y"], batch["x"][:, 0] * 5)
    again = list(nn.minibatches(KEY, {"x": x, "y": y}, 4, num_epochs=1))
    for a, b in zip(batches, again, strict=True):
        np.testing.assert_array_equal(a["y"], b["y"])
    other = list(nn.minibatches(jax.random.key(1), {"x": x, "y": y}, 4, num_epochs=1))
    assert not all(np.array_equal(a["y"], b["y"]) for a, b in zip(batches, other, strict=True))
    # JAX arrays work too, and an endless stream goes on past the first epoch.
    stream = nn.minibatches(KEY, jnp.asarray(y), 4, num_epochs=None)
    assert len(list(itertools.islice(stream, 10))) == 10


def test_minibatch_errors():
    with pytest.raises(ValueError, match="same leading"):
        next(nn.minibatches(KEY, (np.zeros(3), np.zeros(4)), 2))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        nn.minibatch_indices(KEY, 10, 0)
    with pytest.raises(ValueError, match="num_epochs"):
        nn.minibatches(KEY, np.zeros(3), 2, num_epochs=-1)


def test_standardize_and_reuse_the_statistics():
    rng = np.random.default_rng(0)
    # Blood platelet counts (~1e5) next to heights in metres (~1): the lecture's example.
    x = np.c_[rng.normal(2.5e5, 5e4, 200), rng.normal(1.7, 0.1, 200)].astype(np.float32)
    z, st = nn.standardize(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(st.mean, x64.mean(0), rtol=1e-5)
    np.testing.assert_allclose(st.std, x64.std(0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(z).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(z).std(0), 1, rtol=1e-4)
    # Test data uses the training statistics.
    x_test = np.array([[3e5, 1.9]], np.float32)
    want = (x_test - x64.mean(0)) / x64.std(0)
    np.testing.assert_allclose(st(x_test), want, rtol=1e-4)
    np.testing.assert_allclose(st.invert(st(x_test)), x_test, rtol=1e-5)
    # Works under jit.
    z_jit, _ = jax.jit(nn.standardize)(x)
    np.testing.assert_allclose(z_jit, z, rtol=1e-5, atol=1e-6)


def test_standardize_constant_features_and_other_axes():
    x = np.array([[1.0, 5.0], [3.0, 5.0]], np.float32)
    z, st = nn.standardize(x)
    np.testing.assert_array_equal(z, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(st.std, [1.0, 0.0])
    # Examples along axis 1.
    z, st = nn.standardize(x.T, axis=1)
    np.testing.assert_array_equal(z, [[-1.0, 1.0], [0.0, 0.0]])
    assert st.mean.shape == (2, 1)
