"""Linear regression: gradient descent on the lectures' 1-D least-squares problem.

The model is f(x, phi) = phi0 + phi1 x and the loss L(phi) = sum_i (phi0 + phi1 x_i - y_i)^2.
Full-batch gradient descent follows the negative gradient over the loss surface; stochastic
gradient descent uses minibatches drawn without replacement, one epoch after another. The
figure shows both paths on the contours of L, and the loss against the step::

    python examples/linear_regression.py --steps 200 --out out
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx


def make_data(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points near the line y = 0.4 + 0.9 x on [0, 1]."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 1.0, n))
    y = 0.4 + 0.9 * x + 0.1 * rng.normal(size=n)
    return x.astype(np.float32), y.astype(np.float32)


def loss(phi: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """The lectures' least-squares loss, a sum over the examples."""
    return jnp.sum((phi[0] + phi[1] * x - y) ** 2)


def least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The exact minimiser (phi0, phi1), for reference."""
    design = np.stack([np.ones_like(x), x], axis=1).astype(np.float64)
    return np.linalg.lstsq(design, y.astype(np.float64), rcond=None)[0]


def gradient_descent(x, y, phi0, lr: float, steps: int) -> np.ndarray:
    """Full-batch gradient descent; returns the path, one row per step (start included)."""
    tx = gradtx.sgd(lr)
    step = jax.jit(lambda phi, state: tx.update(jax.grad(loss)(phi, x, y), state, phi))
    phi, state, path = jnp.asarray(phi0), tx.init(jnp.asarray(phi0)), [np.asarray(phi0)]
    for _ in tqdm(range(steps), desc="gradient descent", leave=False):
        updates, state = step(phi, state)
        phi = gradtx.apply_updates(phi, updates)
        path.append(np.asarray(phi))
    return np.stack(path)


def stochastic_gradient_descent(x, y, phi0, lr: float, epochs: int, batch_size: int, seed=0):
    """Minibatch SGD, epochs of batches drawn without replacement; returns the path."""
    tx = gradtx.sgd(lr)
    step = jax.jit(lambda phi, state, bx, by: tx.update(jax.grad(loss)(phi, bx, by), state, phi))
    phi, state, path = jnp.asarray(phi0), tx.init(jnp.asarray(phi0)), [np.asarray(phi0)]
    batches = gradtx.nn.minibatches(
        jax.random.key(seed), (x, y), batch_size, num_epochs=epochs, drop_last=True
    )
    for bx, by in tqdm(batches, desc="stochastic gradient descent", leave=False):
        updates, state = step(phi, state, bx, by)
        phi = gradtx.apply_updates(phi, updates)
        path.append(np.asarray(phi))
    return np.stack(path)


def plot(x, y, paths: dict[str, np.ndarray], optimum: np.ndarray, path: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p0, p1 = np.meshgrid(np.linspace(-1.0, 2.0, 200), np.linspace(-1.5, 2.5, 200))
    surface = ((p0[..., None] + p1[..., None] * x - y) ** 2).sum(-1)
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(12, 5))
    ax.contourf(p0, p1, np.log(surface), levels=30, cmap="viridis")
    for (name, trace), color in zip(paths.items(), ["white", "tab:orange"], strict=True):
        ax.plot(trace[:, 0], trace[:, 1], ".-", color=color, ms=3, lw=1, label=name)
        losses = ((trace[:, :1] + trace[:, 1:] * x - y) ** 2).sum(-1)
        ax_loss.semilogy(losses, color=color if color != "white" else "black", label=name)
    ax.plot(*optimum, "r*", ms=14, label="least-squares solution")
    ax.set(xlabel="intercept phi0", ylabel="slope phi1", title="log L(phi) and the paths")
    ax.legend(loc="lower left")
    ax_loss.axhline(((optimum[0] + optimum[1] * x - y) ** 2).sum(), color="r", ls="--", lw=1)
    ax_loss.set(xlabel="step", ylabel="L(phi)", title="loss against step")
    ax_loss.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="full-batch steps")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=3)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)

    x, y = make_data()
    start = np.array([1.6, -1.0], np.float32)
    optimum = least_squares(x, y)
    n_batches = len(x) // args.batch_size
    paths = {
        "gradient descent": gradient_descent(x, y, start, args.learning_rate, args.steps),
        "SGD (minibatches)": stochastic_gradient_descent(
            x, y, start, args.learning_rate, max(1, args.steps // n_batches), args.batch_size
        ),
    }
    figure = plot(x, y, paths, optimum, args.out / "linear_regression.png")
    for name, trace in paths.items():
        print(f"{name:20s} phi = {trace[-1].round(4)}  (least squares {optimum.round(4)})")
    return {"paths": paths, "optimum": optimum, "figure": figure}


if __name__ == "__main__":
    main()
