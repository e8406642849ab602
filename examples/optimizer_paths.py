"""Optimizer paths: eight methods on an ill-conditioned quadratic and on Rosenbrock's function.

The lectures' comparison: gradient descent zig-zags across the narrow valley of an
ill-conditioned quadratic (and steepest descent with an exact line search zig-zags at right
angles), momentum and Nesterov damp the zig-zag, AdaGrad, RMSProp and Adam rescale each
coordinate, and Newton's method jumps to the minimum of a quadratic in one step. One figure
per problem shows the paths on the contours and the loss against the step::

    python examples/optimizer_paths.py --steps 200 --out out
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx


def quadratic(x: jax.Array) -> jax.Array:
    """0.5 x^T A x with eigenvalues 1 and 20 along axes rotated by 30 degrees."""
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rotation = jnp.array([[c, -s], [s, c]])
    a = rotation @ jnp.diag(jnp.array([1.0, 20.0])) @ rotation.T
    return 0.5 * x @ a @ x


def rosenbrock(x: jax.Array) -> jax.Array:
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


PROBLEMS = {
    "ill-conditioned quadratic": dict(
        # In the eigenbasis (4, 0.2) = (1/lambda_1, 1/lambda_2) up to scale: the start from
        # which steepest descent converges at its worst-case rate ((k - 1) / (k + 1))^2.
        fn=quadratic,
        start=(3.36, 2.17),
        minimum=(0.0, 0.0),
        window=((-4, 4), (-3, 3)),
    ),
    "Rosenbrock": dict(
        fn=rosenbrock, start=(-1.2, 1.0), minimum=(1.0, 1.0), window=((-2, 2), (-1, 3))
    ),
}

# Learning rates per problem: (quadratic, Rosenbrock).
OPTIMIZERS: dict[str, Callable[[int], gradtx.GradientTransformation]] = {
    "gradient descent": lambda i: gradtx.sgd((0.09, 1e-3)[i]),
    "momentum": lambda i: gradtx.sgd((0.02, 2e-4)[i], momentum=0.9),
    "Nesterov": lambda i: gradtx.sgd((0.02, 2e-4)[i], momentum=0.9, nesterov=True),
    "AdaGrad": lambda i: gradtx.adagrad((1.0, 0.5)[i], initial_accumulator_value=0.0),
    "RMSProp": lambda i: gradtx.rmsprop((0.1, 0.01)[i]),
    "Adam": lambda i: gradtx.adam((0.3, 0.05)[i]),
    "Newton": lambda i: gradtx.newton(),
    "steepest descent (exact line search)": lambda i: gradtx.steepest_descent(),
}


def run(tx: gradtx.GradientTransformation, fn, start, steps: int) -> np.ndarray:
    """The path (steps + 1, 2) of ``tx`` on ``fn``, one jitted scan; extra arguments carry
    the objective for Newton and the line search."""

    def step(carry, _):
        x, state = carry
        value, grad = jax.value_and_grad(fn)(x)
        updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=fn)
        x = gradtx.apply_updates(x, updates)
        return (x, state), x

    x0 = jnp.asarray(start, jnp.float32)
    _, path = jax.jit(lambda x0: jax.lax.scan(step, (x0, tx.init(x0)), length=steps))(x0)
    return np.concatenate([np.asarray(x0)[None], np.asarray(path)])


def plot(name: str, problem: dict, paths: dict[str, np.ndarray], path: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (x_lo, x_hi), (y_lo, y_hi) = problem["window"]
    gx, gy = np.meshgrid(np.linspace(x_lo, x_hi, 200), np.linspace(y_lo, y_hi, 200))
    grid = jnp.stack([gx.ravel(), gy.ravel()], 1)
    surface = np.asarray(jax.vmap(problem["fn"])(grid)).reshape(gx.shape)
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(14, 6))
    ax.contour(gx, gy, np.log1p(surface), levels=25, cmap="Greys", linewidths=0.7)
    colors = plt.cm.tab10.colors
    for (label, trace), color in zip(paths.items(), colors, strict=False):
        ax.plot(trace[:, 0], trace[:, 1], ".-", color=color, ms=2.5, lw=1, label=label)
        values = np.asarray(jax.vmap(problem["fn"])(jnp.asarray(trace)))
        ax_loss.semilogy(np.maximum(values, 1e-12), color=color, label=label)
    ax.plot(*problem["minimum"], "k*", ms=14)
    ax.set(xlim=(x_lo, x_hi), ylim=(y_lo, y_hi), title=f"{name}: paths", xlabel="x0", ylabel="x1")
    ax.legend(fontsize=8, loc="lower right")
    ax_loss.set(title=f"{name}: loss against step", xlabel="step", ylabel="loss (clipped at 1e-12)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)

    results, figures = {}, {}
    for i, (name, problem) in enumerate(PROBLEMS.items()):
        paths = {
            label: run(make(i), problem["fn"], problem["start"], args.steps)
            for label, make in tqdm(OPTIMIZERS.items(), desc=name, leave=False)
        }
        slug = name.split()[-1].lower()
        figures[name] = plot(name, problem, paths, args.out / f"optimizer_paths_{slug}.png")
        results[name] = paths
        for label, trace in paths.items():
            print(f"{name:26s} {label:38s} final loss {float(problem['fn'](trace[-1])):.3e}")
    return {"paths": results, "figures": figures}


if __name__ == "__main__":
    main()
