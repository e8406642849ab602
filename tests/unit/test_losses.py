"""gradtx.losses against optax.losses, torch and closed forms: values, gradients, extreme logits,
reductions, and the maximum-likelihood view (a fixed-variance Gaussian NLL is least squares)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from scipy.special import expit, log_softmax, logsumexp, softmax

from gradtx import losses

RNG = np.random.default_rng(0)
P = RNG.normal(size=(6, 4)).astype(np.float32)
T = RNG.normal(size=(6, 4)).astype(np.float32)
Z = (RNG.normal(size=(6, 4)) * 3).astype(np.float32)
INT_LABELS = RNG.integers(0, 4, size=6)
ONE_HOT = np.eye(4, dtype=np.float32)[INT_LABELS]
PROBS = softmax(RNG.normal(size=(6, 4)), axis=-1).astype(np.float32)
BINARY = RNG.uniform(size=(6, 4)).astype(np.float32)


def jgrad(f, **kwargs):
    """``jax.grad`` compiled as one program (eager differentiation compiles op by op)."""
    return jax.jit(jax.grad(f, **kwargs))


# (name, ours, optax's, args)
OPTAX = [
    ("squared_error", losses.squared_error, optax.losses.squared_error, (P, T)),
    ("squared_error_no_targets", losses.squared_error, optax.losses.squared_error, (P,)),
    ("l2_loss", losses.l2_loss, optax.losses.l2_loss, (P, T)),
    ("huber_loss", losses.huber_loss, optax.losses.huber_loss, (P * 3, T)),
    (
        "sigmoid_binary_cross_entropy",
        losses.sigmoid_binary_cross_entropy,
        optax.losses.sigmoid_binary_cross_entropy,
        (Z, BINARY),
    ),
    (
        "softmax_cross_entropy_one_hot",
        losses.softmax_cross_entropy,
        optax.losses.softmax_cross_entropy,
        (Z, ONE_HOT),
    ),
    (
        "softmax_cross_entropy_probabilities",
        losses.softmax_cross_entropy,
        optax.losses.softmax_cross_entropy,
        (Z, PROBS),
    ),
    (
        "softmax_cross_entropy_with_integer_labels",
        losses.softmax_cross_entropy_with_integer_labels,
        optax.losses.softmax_cross_entropy_with_integer_labels,
        (Z, INT_LABELS),
    ),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "args"), OPTAX, ids=[c[0] for c in OPTAX])
def test_matches_optax_per_example(name, ours, theirs, args):
    got = ours(*args)
    want = theirs(*args)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # Reductions are the mean and the sum of optax's per-example values.
    np.testing.assert_allclose(ours(*args, reduction="mean"), np.mean(want), rtol=1e-5)
    np.testing.assert_allclose(ours(*args, reduction="sum"), np.sum(want), rtol=1e-5)


def test_huber_delta_and_class_axis_options_match_optax():
    np.testing.assert_allclose(
        losses.huber_loss(P * 3, T, delta=0.5),
        optax.losses.huber_loss(P * 3, T, delta=0.5),
        rtol=1e-6,
    )
    z = RNG.normal(size=(2, 3, 5)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, (2, 5))].transpose(0, 2, 1)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(z, labels, axis=1),
        optax.losses.softmax_cross_entropy(z, labels, axis=1),
        rtol=1e-6,
    )
    # Integer labels over several class axes index them in C order.
    z = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    flat = RNG.integers(0, 12, 2)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy_with_integer_labels(z, flat, axis=(1, 2)),
        optax.losses.softmax_cross_entropy_with_integer_labels(z, flat, axis=(1, 2)),
        rtol=1e-6,
    )


def test_cross_entropy_where_and_unsorted_axes_match_optax_and_numpy():
    z = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    keep = RNG.uniform(size=z.shape) > 0.3
    keep[0, 1] = False  # an example with no logit left
    per_example = np.array([[True, False, True, True, True]] * 3)  # axis=1 classes
    labels = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, (3, 5))].transpose(0, 2, 1)
    for where, axis in ((keep, 1), (per_example, 1), (keep.transpose(0, 2, 1), -1)):
        zz = z if axis == 1 else z.transpose(0, 2, 1)
        yy = labels if axis == 1 else labels.transpose(0, 2, 1)
        ours = losses.softmax_cross_entropy(zz, yy, axis, where)
        theirs = optax.losses.softmax_cross_entropy(zz, yy, axis, where)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    # integer labels: a masked normaliser, NumPy reference
    y = RNG.integers(0, 5, (3, 4))
    mask = keep.copy()
    np.put_along_axis(mask, y[..., None], True, axis=-1)  # the label's logit stays in
    mask[2, 3] = False
    ours = losses.softmax_cross_entropy_with_integer_labels(z, y, where=mask)
    with np.errstate(divide="ignore"):  # log 0 for the example with no logit left
        lse = np.log(np.sum(np.where(mask, np.exp(z.astype(np.float64)), 0.0), axis=-1))
    ref = lse - np.take_along_axis(z, y[..., None], axis=-1)[..., 0]
    ref = np.where(mask.any(-1), ref, 0.0)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours, optax.losses.softmax_cross_entropy_with_integer_labels(z, y, where=mask), rtol=1e-6
    )
    # tuple axes in the order given: (2, 1) flattens axis 2 first, as Optax
    flat = RNG.integers(0, 20, 3)
    ours = losses.softmax_cross_entropy_with_integer_labels(z, flat, axis=(2, 1))
    moved = z.transpose(0, 2, 1).reshape(3, -1).astype(np.float64)
    ref = logsumexp(moved, axis=-1) - moved[np.arange(3), flat]
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


def test_values_match_closed_forms():
    p, t, z = P.astype(np.float64), T.astype(np.float64), Z.astype(np.float64)
    np.testing.assert_allclose(losses.squared_error(P, T), (p - t) ** 2, rtol=1e-5)
    np.testing.assert_allclose(losses.l2_loss(P, T), 0.5 * (p - t) ** 2, rtol=1e-5)
    r = 3 * p - t
    huber = np.where(np.abs(r) <= 1, 0.5 * r**2, np.abs(r) - 0.5)
    np.testing.assert_allclose(losses.huber_loss(P * 3, T), huber, rtol=1e-5, atol=1e-6)
    # Binary cross-entropy: -y log(sigmoid(z)) - (1 - y) log(1 - sigmoid(z)) = softplus(z) - y z.
    bce = np.logaddexp(0, z) - BINARY * z
    np.testing.assert_allclose(losses.sigmoid_binary_cross_entropy(Z, BINARY), bce, rtol=1e-5)
    ce = -np.sum(PROBS * log_softmax(z, axis=-1), axis=-1)
    np.testing.assert_allclose(losses.softmax_cross_entropy(Z, PROBS), ce, rtol=1e-5)
    ce = logsumexp(z, axis=-1) - z[np.arange(6), INT_LABELS]
    np.testing.assert_allclose(
        losses.softmax_cross_entropy_with_integer_labels(Z, INT_LABELS), ce, rtol=1e-5
    )


def test_gradients_match_closed_forms():
    z = Z.astype(np.float64)
    # d/dz softmax CE = softmax(z) - y, for one-hot and probability labels.
    for labels in (ONE_HOT, PROBS):
        g = jgrad(lambda z: losses.softmax_cross_entropy(z, labels, reduction="sum"))(Z)
        np.testing.assert_allclose(g, softmax(z, axis=-1) - labels, rtol=1e-4, atol=1e-6)
    g = jgrad(
        lambda z: losses.softmax_cross_entropy_with_integer_labels(z, INT_LABELS, reduction="sum")
    )(Z)
    np.testing.assert_allclose(g, softmax(z, axis=-1) - ONE_HOT, rtol=1e-4, atol=1e-6)
    # d/dz BCE = sigmoid(z) - y.
    g = jgrad(lambda z: losses.sigmoid_binary_cross_entropy(z, BINARY, reduction="sum"))(Z)
    np.testing.assert_allclose(g, expit(z) - BINARY, rtol=1e-4, atol=1e-6)
    # Regression: 2 (p - t), p - t, and the residual clipped to [-delta, delta]; "mean" divides.
    r = P.astype(np.float64) - T
    g = jgrad(lambda p: losses.squared_error(p, T, reduction="mean"))(P)
    np.testing.assert_allclose(g, 2 * r / r.size, rtol=1e-5)
    g = jgrad(lambda p: losses.l2_loss(p, T, reduction="sum"))(P)
    np.testing.assert_allclose(g, r, rtol=1e-5)
    g = jgrad(lambda p: losses.huber_loss(p, T, delta=0.5, reduction="sum"))(P)
    np.testing.assert_allclose(g, np.clip(r, -0.5, 0.5), rtol=1e-5)


def test_extreme_logits_stay_finite_and_exact():
    z = jnp.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    bce = losses.sigmoid_binary_cross_entropy(z, y)
    np.testing.assert_allclose(bce, [0.0, 0.0, 1000.0, 1000.0])
    g = jgrad(lambda z: losses.sigmoid_binary_cross_entropy(z, y, reduction="sum"))(z)
    np.testing.assert_allclose(g, [0.0, 0.0, 1.0, -1.0])

    logits = jnp.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    labels = jnp.array([1, 2])
    ce = losses.softmax_cross_entropy_with_integer_labels(logits, labels)
    np.testing.assert_allclose(ce, [2000.0, 0.0])
    ce_one_hot = losses.softmax_cross_entropy(logits, jax.nn.one_hot(labels, 3))
    np.testing.assert_allclose(ce_one_hot, [2000.0, 0.0])
    for fn in (
        lambda z: losses.softmax_cross_entropy_with_integer_labels(z, labels, reduction="sum"),
        lambda z: losses.softmax_cross_entropy(z, jax.nn.one_hot(labels, 3), reduction="sum"),
    ):
        g = jgrad(fn)(logits)
        np.testing.assert_allclose(g, [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-6)


def test_gaussian_nll_with_fixed_sigma_is_least_squares_up_to_constants():
    for sigma in (1.0, 0.5, 3.0):
        nll = np.asarray(losses.gaussian_nll(P, T, sigma), np.float64)
        l2 = np.asarray(losses.l2_loss(P, T), np.float64)
        const = math.log(sigma) + 0.5 * math.log(2 * math.pi)
        np.testing.assert_allclose(nll, l2 / sigma**2 + const, rtol=1e-5)
        # Same gradient direction in the predictions, so the same minimiser.
        g_nll = jgrad(lambda p: losses.gaussian_nll(p, T, sigma, reduction="sum"))(P)
        g_l2 = jgrad(lambda p: losses.l2_loss(p, T, reduction="sum"))(P)
        np.testing.assert_allclose(g_nll, np.asarray(g_l2) / sigma**2, rtol=1e-5)
    # torch's Gaussian NLL with the constant included, var = sigma^2.
    sigma = RNG.uniform(0.5, 2.0, size=(6, 4)).astype(np.float32)
    want = torch.nn.functional.gaussian_nll_loss(
        torch.from_numpy(P),
        torch.from_numpy(T),
        torch.from_numpy(sigma**2),
        full=True,
        eps=1e-12,
        reduction="none",
    ).numpy()
    np.testing.assert_allclose(losses.gaussian_nll(P, T, sigma), want, rtol=1e-5)
    np.testing.assert_allclose(losses.gaussian_nll(P, T, log_sigma=np.log(sigma)), want, rtol=1e-5)


def test_gaussian_nll_learned_sigma_is_the_rms_residual_at_the_optimum():
    """d/dlog(sigma) of the summed NLL is n - sum(r^2) / sigma^2: zero at the RMS residual."""
    r = (P - T).astype(np.float64)
    rms = math.sqrt(np.mean(r**2))

    def total(log_sigma):
        return losses.gaussian_nll(P, T, log_sigma=log_sigma, reduction="sum")

    assert abs(float(jgrad(total)(math.log(rms)))) < 1e-3
    g = jgrad(total)(0.0)
    np.testing.assert_allclose(g, r.size - np.sum(r**2), rtol=1e-5)
    # d/dsigma per element: 1 / sigma - r^2 / sigma^3.
    g = jgrad(lambda s: losses.gaussian_nll(P, T, s, reduction="sum"))(2.0)
    np.testing.assert_allclose(g, np.sum(1 / 2.0 - r**2 / 8.0), rtol=1e-5)


def test_accuracy():
    want = np.mean(np.argmax(Z, -1) == INT_LABELS)
    np.testing.assert_allclose(losses.accuracy(Z, INT_LABELS), want)
    np.testing.assert_allclose(losses.accuracy(Z, ONE_HOT), want)
    np.testing.assert_allclose(losses.accuracy(Z, INT_LABELS, reduction="sum"), want * 6)
    per = losses.accuracy(Z, INT_LABELS, reduction="none")
    np.testing.assert_array_equal(per, (np.argmax(Z, -1) == INT_LABELS).astype(np.float32))
    with pytest.raises(ValueError, match=r"labels need shape \(6,\)"):
        losses.accuracy(Z, INT_LABELS[:3])


def test_low_precision_inputs_are_computed_in_float32():
    p = jnp.asarray(P, jnp.bfloat16)
    out = losses.squared_error(p, jnp.asarray(T, jnp.bfloat16))
    assert out.dtype == jnp.float32
    p64, t64 = np.asarray(p, np.float64), np.asarray(jnp.asarray(T, jnp.bfloat16), np.float64)
    np.testing.assert_allclose(out, (p64 - t64) ** 2, rtol=1e-5)
    z = jnp.asarray(Z, jnp.bfloat16)
    ce = losses.softmax_cross_entropy_with_integer_labels(z, INT_LABELS)
    assert ce.dtype == jnp.float32
    z64 = np.asarray(z, np.float64)
    np.testing.assert_allclose(
        ce, logsumexp(z64, axis=-1) - z64[np.arange(6), INT_LABELS], rtol=1e-5
    )


def test_jit_and_vmap():
    f = jax.jit(
        lambda z: losses.softmax_cross_entropy_with_integer_labels(z, INT_LABELS, reduction="mean")
    )
    np.testing.assert_allclose(
        f(Z), losses.softmax_cross_entropy_with_integer_labels(Z, INT_LABELS).mean(), rtol=1e-6
    )
    per = jax.vmap(losses.softmax_cross_entropy_with_integer_labels)(Z, INT_LABELS)
    np.testing.assert_allclose(
        per, losses.softmax_cross_entropy_with_integer_labels(Z, INT_LABELS), rtol=1e-6
    )
    # vmap over a hyperparameter: Huber's delta.
    deltas = jnp.array([0.5, 1.0])
    out = jax.vmap(lambda d: losses.huber_loss(P * 3, T, delta=d, reduction="sum"))(deltas)
    for d, o in zip([0.5, 1.0], out, strict=True):
        np.testing.assert_allclose(o, optax.losses.huber_loss(P * 3, T, delta=d).sum(), rtol=1e-5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"reduction must be one of .* got 'avg'"):
        losses.l2_loss(P, T, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same shape"):
        losses.squared_error(P, T[:3])
    with pytest.raises(ValueError, match="softmax_cross_entropy_with_integer_labels"):
        losses.softmax_cross_entropy(Z, INT_LABELS)
    with pytest.raises(TypeError, match="labels must be integers"):
        losses.softmax_cross_entropy_with_integer_labels(Z, ONE_HOT[:, 0])
    with pytest.raises(ValueError, match="without the class axis"):
        losses.softmax_cross_entropy_with_integer_labels(Z, INT_LABELS[:3])
    with pytest.raises(ValueError, match=r"delta must be in \(0, inf\)"):
        losses.huber_loss(P, delta=0.0)
    with pytest.raises(ValueError, match=r"sigma must be in \(0, inf\)"):
        losses.gaussian_nll(P, T, -1.0)
    with pytest.raises(ValueError, match="either sigma or log_sigma"):
        losses.gaussian_nll(P, T, 1.0, log_sigma=0.0)
    with pytest.raises(TypeError, match="real floating"):
        losses.sigmoid_binary_cross_entropy(np.array([1, 2]), np.array([0, 1]))
