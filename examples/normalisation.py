"""Normalisation: one MLP trained on unnormalised features, with and without norm layers.

The lectures' example of an unnormalised feature: x1 a blood platelet count (~10^5 per uL), x2 a
body height (~1 m). For least squares the Hessian is X^T X ~ [[10^10, 10^5], [10^5, 1]], so
lambda_min / lambda_max ~ 0: the loss landscape is a long, thin valley, gradient descent needs
steps below 2 / lambda_max, and those barely move along the other directions. Here the same
2-32-32-1 ReLU MLP (He initialisation) fits a synthetic regression target of both features,
trained by SGD with momentum 0.9 on the same minibatches for the same number of steps, in four
ways:

- raw features;
- batch norm on the inputs and on the linear units of each hidden layer (each feature
  normalised with minibatch statistics; running averages in evaluation);
- layer norm on the linear units of each hidden layer (each example normalised across its
  units, which cannot undo a scale that differs between features);
- standardised inputs, (x - mu) / sigma with the training set's statistics, the reference.

Each variant is trained at every learning rate of a log-spaced grid at once (``jax.vmap`` over
the learning rate, which gradtx optimizers accept as a traced value), and the figure shows each
variant's best run, so none loses for want of a tuned step size::

    python examples/normalisation.py --steps 600 --out out
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx

HIDDEN = 32
LEARNING_RATES = np.logspace(-16, 0, 33).astype(np.float32)
VARIANTS = ("raw features", "batch norm", "layer norm", "standardised inputs")


def make_data(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Platelet counts (per uL) and heights (m), and a target that depends on both."""
    rng = np.random.default_rng(seed)
    platelets = rng.normal(2.5e5, 6e4, n).clip(5e4, None)
    height = rng.normal(1.70, 0.10, n)
    z1, z2 = (platelets - 2.5e5) / 6e4, (height - 1.70) / 0.10
    y = np.sin(1.5 * z1) + 0.5 * z2 + 0.3 * z1 * z2 + 0.1 * rng.normal(size=n)
    x = np.stack([platelets, height], axis=1)
    return x.astype(np.float32), y[:, None].astype(np.float32)


def _normalise(norm, params, state, h, training):
    """Applies a norm layer (or none); returns the output and the norm's new state."""
    if norm is None:
        return h, state
    if isinstance(norm, gradtx.nn.StatefulLayer):
        return norm.apply(params, state, h, training=training)
    return norm.apply(params, h), state


def make_model(variant: str) -> tuple[Callable[..., tuple[Any, Any]], Callable[..., Any]]:
    """``init(key) -> (params, norm_state)`` and ``apply(params, norm_state, x, training) ->
    (predictions, norm_state)`` for one variant; only batch norm has a state (its running
    statistics), kept apart from the parameters the optimizer sees."""
    sizes = [2, HIDDEN, HIDDEN, 1]
    he = gradtx.nn.initializers.he_normal()
    dense = [gradtx.nn.dense(a, b, w_init=he) for a, b in itertools.pairwise(sizes)]
    # norms[0] acts on the inputs, norms[i] on the linear units of hidden layer i.
    norms: list[Any]
    if variant == "batch norm":
        norms = [gradtx.nn.batch_norm(n) for n in sizes[:-1]]
    elif variant == "layer norm":
        norms = [None] + [gradtx.nn.layer_norm(n) for n in sizes[1:-1]]
    else:
        norms = [None] * (len(sizes) - 1)

    def init(key):
        keys = jax.random.split(key, 2 * len(dense))
        params = {"dense": [d.init(k) for d, k in zip(dense, keys[::2], strict=True)], "norm": []}
        state = []
        for norm, k in zip(norms, keys[1::2], strict=True):
            p, s = {}, None
            if isinstance(norm, gradtx.nn.StatefulLayer):
                p, s = norm.init(k)
            elif norm is not None:
                p = norm.init(k)
            params["norm"].append(p)
            state.append(s)
        return params, state

    def apply(params, state, x, training):
        state = list(state)
        h, state[0] = _normalise(norms[0], params["norm"][0], state[0], x, training)
        for i, d in enumerate(dense):
            h = d.apply(params["dense"][i], h)
            if i + 1 < len(dense):
                p, s = params["norm"][i + 1], state[i + 1]
                h, state[i + 1] = _normalise(norms[i + 1], p, s, h, training)
                h = jax.nn.relu(h)
        return h, state

    return init, apply


def mse(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    return gradtx.losses.squared_error(predictions, targets, reduction="mean")


def train(
    variant: str,
    x: np.ndarray,
    y: np.ndarray,
    learning_rates: np.ndarray,
    steps: int,
    batch_size: int,
    seed: int = 0,
) -> tuple[np.ndarray, Any, Any, Callable[..., Any]]:
    """Trains ``variant`` at every learning rate at once (vmapped), SGD with momentum 0.9.

    Returns the minibatch losses, shape ``(steps, len(learning_rates))``, the final parameters
    and norm states (a leading learning-rate axis on every leaf) and the model's ``apply``.
    The initial parameters and the sequence of minibatches are the same for every variant.
    """
    init, apply = make_model(variant)
    params, norm_state = init(jax.random.key(seed))
    opt_state = gradtx.sgd(1.0, momentum=0.9).init(params)
    copies = len(learning_rates)
    tile = lambda tree: jax.tree.map(lambda a: jnp.broadcast_to(a, (copies, *a.shape)), tree)  # noqa: E731
    params, opt_state, norm_state = tile(params), tile(opt_state), tile(norm_state)

    def step(lr, params, opt_state, norm_state, bx, by):
        def loss_fn(p):
            pred, new_state = apply(p, norm_state, bx, True)
            return mse(pred, by), new_state

        (loss, norm_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        # The learning rate is a traced value here: one optimizer per vmapped copy.
        updates, opt_state = gradtx.sgd(lr, momentum=0.9).update(grads, opt_state, params)
        return gradtx.apply_updates(params, updates), opt_state, norm_state, loss

    vstep = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, 0, None, None)))
    batches = gradtx.nn.minibatches(
        jax.random.key(seed + 1), (x, y), batch_size, num_epochs=None, drop_last=True
    )
    lrs, losses = jnp.asarray(learning_rates), []
    for _, (bx, by) in zip(tqdm(range(steps), desc=variant, leave=False), batches, strict=False):
        params, opt_state, norm_state, loss = vstep(lrs, params, opt_state, norm_state, bx, by)
        losses.append(loss)
    return np.asarray(jnp.stack(losses)), params, norm_state, apply


def final_scores(losses: np.ndarray) -> np.ndarray:
    """Per learning rate (column), the mean loss over the last tenth of the steps; ``inf`` for
    runs that diverged (a non-finite loss there)."""
    tail = losses[-max(1, len(losses) // 10) :].astype(np.float64)
    finite = np.all(np.isfinite(tail), axis=0)
    return np.where(finite, np.where(finite, tail, 0.0).mean(axis=0), np.inf)


def best_run(losses: np.ndarray) -> int:
    """The learning rate (column) with the lowest :func:`final_scores`."""
    return int(np.argmin(final_scores(losses)))


def condition_numbers(x: np.ndarray) -> tuple[float, float]:
    """cond(X^T X) of the raw and the standardised features: the lecture's lambda_max /
    lambda_min of the least-squares Hessian."""
    x = x.astype(np.float64)
    z = (x - x.mean(0)) / x.std(0)
    return float(np.linalg.cond(x.T @ x)), float(np.linalg.cond(z.T @ z))


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """A trailing moving average (the first points average what there is)."""
    csum = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot(x, y, results: dict[str, dict[str, Any]], learning_rates, path: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_data, ax_loss, ax_lr) = plt.subplots(1, 3, figsize=(16, 4.8))
    points = ax_data.scatter(x[:, 0], x[:, 1], c=y[:, 0], s=6, cmap="coolwarm")
    fig.colorbar(points, ax=ax_data, label="target y")
    cond_raw, cond_std = condition_numbers(x)
    ax_data.set(
        title=f"the data in its own units\ncond(X^T X): raw {cond_raw:.0e}, "
        f"standardised {cond_std:.1f}",
        xlabel="x1: platelet count per uL (~1e5)",
        ylabel="x2: height in m (~1)",
    )
    variance = float(np.var(y))
    top = 30 * variance  # the learning-rate panel stops here; above it, an "x" on the edge
    for i, (name, r) in enumerate(results.items()):
        color = f"C{i}"  # matplotlib's default colour cycle
        curve = r["losses"][:, r["best"]]
        label = f"{name} (lr {learning_rates[r['best']]:.0e})"
        ax_loss.semilogy(curve, color=color, lw=0.6, alpha=0.25)
        ax_loss.semilogy(smooth(curve, 20), color=color, lw=1.6, label=label)
        score = final_scores(r["losses"])
        high = ~(score <= top)  # non-finite too
        shown = np.where(high, np.nan, score)
        ax_lr.loglog(learning_rates, shown, "o-", color=color, ms=3, label=name)
        ax_lr.plot(learning_rates[high], np.full(high.sum(), top), "x", color=color, ms=6)
    for ax in (ax_loss, ax_lr):
        ax.axhline(variance, color="gray", ls="--", lw=1, label="Var[y] (predict the mean)")
        ax.grid(True, which="major", alpha=0.3)
    ax_loss.set(
        title="training loss\nat the best learning rate of each variant",
        xlabel="step",
        ylabel="minibatch MSE (faint), moving average of 20",
    )
    ax_loss.legend(fontsize=8)
    ax_lr.set_ylim(top=top * 1.5)
    ax_lr.set(
        title="loss against the learning rate\n(x: diverged, or above the top of the axis)",
        xlabel="learning rate (SGD, momentum 0.9)",
        ylabel="mean MSE over the last 10% of steps",
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)

    x, y = make_data(args.samples, args.seed)
    x_std, _ = gradtx.nn.standardize(x)
    inputs = {v: x for v in VARIANTS} | {"standardised inputs": np.asarray(x_std)}
    results: dict[str, dict[str, Any]] = {}
    for variant in tqdm(VARIANTS, desc="variants"):
        losses, params, norm_state, apply = train(
            variant, inputs[variant], y, LEARNING_RATES, args.steps, args.batch_size, args.seed
        )
        best = best_run(losses)
        pick = lambda tree, best=best: jax.tree.map(lambda a: a[best], tree)  # noqa: E731
        pred, _ = apply(pick(params), pick(norm_state), jnp.asarray(inputs[variant]), False)
        results[variant] = {
            "losses": losses,
            "best": best,
            "learning_rate": float(LEARNING_RATES[best]),
            "final_loss": float(mse(pred, jnp.asarray(y))),  # full data, evaluation mode
        }
    figure = plot(x, y, results, LEARNING_RATES, args.out / "normalisation.png")
    for name, r in results.items():
        print(f"{name:20s} best lr {r['learning_rate']:.0e}  final MSE {r['final_loss']:.4f}")
    print(f"Var[y] = {np.var(y):.4f} (the loss of predicting the mean)")
    return {"results": results, "learning_rates": LEARNING_RATES, "figure": figure, "data": (x, y)}


if __name__ == "__main__":
    main()
