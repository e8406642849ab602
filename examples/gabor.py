"""Gabor model: a non-convex loss with local minima, and the paths of five optimizers on it.

The lectures' Gabor model f(x, phi) = sin(phi0 + 0.06 phi1 x) exp(-(phi0 + 0.06 phi1 x)^2 / 8)
is fitted by least squares to a noisy toy data set. Its loss over (phi0, phi1) has a global
minimum, local minima and saddle points between them. Gradient descent, minibatch SGD,
momentum, Nesterov momentum and Adam start from the same points; each run over the starts is
one ``jax.vmap`` over a jitted ``lax.scan``::

    python examples/gabor.py --steps 300 --out out
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx

TRUE_PHI = np.array([0.0, 16.6])
STARTS = np.array([[-6.0, 20.0], [6.0, 5.0], [3.0, 12.0], [-4.0, 8.0]], np.float32)


def gabor(phi: jax.Array, x: jax.Array) -> jax.Array:
    z = phi[0] + 0.06 * phi[1] * x
    return jnp.sin(z) * jnp.exp(-(z**2) / 8.0)


def make_data(n: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-15.0, 15.0, n).astype(np.float32)
    y = np.asarray(gabor(jnp.asarray(TRUE_PHI), jnp.asarray(x))) + 0.1 * rng.normal(size=n)
    return x, y.astype(np.float32)


def loss(phi, x, y):
    return jnp.sum((gabor(phi, x) - y) ** 2)


OPTIMIZERS = {
    "gradient descent": lambda: gradtx.sgd(0.01),
    "SGD (batch 7)": lambda: gradtx.sgd(0.01),
    "momentum": lambda: gradtx.sgd(0.004, momentum=0.9),
    "Nesterov": lambda: gradtx.sgd(0.004, momentum=0.9, nesterov=True),
    "Adam": lambda: gradtx.adam(0.1),
}


def run(name: str, x, y, steps: int, batch_size: int = 7, seed: int = 0) -> np.ndarray:
    """Paths from every start, shape (starts, steps + 1, 2), in one vmapped program."""
    tx = OPTIMIZERS[name]()
    x, y = jnp.asarray(x), jnp.asarray(y)
    stochastic = name.startswith("SGD")
    n = len(x)
    keys = jax.random.split(jax.random.key(seed), steps)

    def one_start(phi0):
        def step(carry, key):
            phi, state = carry
            if stochastic:  # a minibatch without replacement within the step
                idx = jax.random.permutation(key, n)[:batch_size]
                grads = jax.grad(loss)(phi, x[idx], y[idx]) * (n / batch_size)
            else:
                grads = jax.grad(loss)(phi, x, y)
            updates, state = tx.update(grads, state, phi)
            phi = gradtx.apply_updates(phi, updates)
            return (phi, state), phi

        _, path = jax.lax.scan(step, (phi0, tx.init(phi0)), keys)
        return jnp.concatenate([phi0[None], path])

    return np.asarray(jax.jit(jax.vmap(one_start))(jnp.asarray(STARTS)))


def plot(x, y, paths: dict[str, np.ndarray], path: pathlib.Path) -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p0, p1 = np.meshgrid(np.linspace(-10, 10, 161), np.linspace(2.5, 22.5, 161))
    grid = jnp.stack([p0.ravel(), p1.ravel()], 1)
    surface = np.asarray(jax.vmap(lambda p: loss(p, x, y))(grid)).reshape(p0.shape)
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    for ax, (name, trace) in zip(axes.flat, paths.items(), strict=False):
        ax.contourf(p0, p1, surface, levels=30, cmap="viridis")
        for start_path in trace:
            ax.plot(start_path[:, 0], start_path[:, 1], "-", color="white", lw=1)
            ax.plot(*start_path[0], "wo", ms=4)
            ax.plot(*start_path[-1], "r.", ms=8)
        ax.plot(*TRUE_PHI, "y*", ms=12)
        ax.set(title=name, xlabel="phi0", ylabel="phi1", xlim=(-10, 10), ylim=(2.5, 22.5))
    ax = axes.flat[-1]
    for (name, trace), color in zip(paths.items(), plt.cm.tab10.colors, strict=False):
        losses = np.asarray(jax.vmap(jax.vmap(lambda p: loss(p, x, y)))(jnp.asarray(trace)))
        ax.semilogy(losses.T, color=color, lw=1, alpha=0.8)
        ax.plot([], [], color=color, label=name)
    ax.set(title="loss against step (each start)", xlabel="step", ylabel="L(phi)")
    ax.legend(fontsize=8)
    fig.suptitle("Gabor model: white dots start, red dots end, yellow star the true parameters")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)

    x, y = make_data()
    paths = {name: run(name, x, y, args.steps) for name in tqdm(OPTIMIZERS, desc="optimizers")}
    figure = plot(x, y, paths, args.out / "gabor.png")
    for name, trace in paths.items():
        finals = [float(loss(jnp.asarray(p[-1]), x, y)) for p in trace]
        print(f"{name:18s} final losses " + " ".join(f"{v:7.3f}" for v in finals))
    return {"paths": paths, "figure": figure, "data": (x, y)}


if __name__ == "__main__":
    main()
