"""Initialisation: the variance of the activations through 20 layers, for four initialisations.

The lectures' argument: a layer z^l = a^{l-1} W^l with n inputs and i.i.d. zero-mean weights has
Var[z^l] = n Var[w] Var[a^{l-1}] (for zero-mean activations), so the activations keep their
variance from layer to layer only if Var[w] = 1/n. tanh is close to the identity near 0, so
Glorot's 2 / (n_in + n_out) (1/n for square layers) nearly keeps it, drifting down slowly as
tanh compresses large values; ReLU halves the second moment, so it needs 2/n (He). A small fixed
scale, N(0, 0.01^2), multiplies the variance by n Var[w] per layer and the signal vanishes. A
constant initialisation gives every unit of a layer the same weights, so all units compute the
same function (and, with ReLU, the scale grows by c n per layer). The network is 20 dense
layers of width 512 with zero biases, drawn with ``gradtx.nn.initializers`` and fed
standard-normal inputs; the figure shows Var[a^l] against l on a log scale::

    python examples/initialisation.py --depth 20 --width 512 --out out
"""

from __future__ import annotations

import argparse
import functools
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import gradtx

init = gradtx.nn.initializers

INITIALISERS: dict[str, init.Initializer] = {
    "constant w = 0.01 (units all equal)": init.constant(0.01),
    "small normal N(0, 0.01^2)": init.normal(0.01),
    "glorot normal 2/(n_in+n_out)": init.glorot_normal(),
    "he normal 2/n_in": init.he_normal(),
}
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
}


def make_layers(w_init: init.Initializer, key: jax.Array, depth: int, width: int) -> list[dict]:
    """The parameters of ``depth`` dense ``width x width`` layers: weights from ``w_init``,
    zero biases (the lecture's bias initialisation)."""
    layer = gradtx.nn.dense(width, width, w_init=w_init)
    return [layer.init(k) for k in jax.random.split(key, depth)]


@functools.partial(jax.jit, static_argnums=2)
def _forward(params: list[dict], x: jax.Array, activation) -> tuple[jax.Array, jax.Array]:
    """Per layer: the variance of the activations over examples and units, and how far the units
    of a layer are from all being equal (the largest spread across units of one example,
    relative to the activations' standard deviation)."""
    layer = gradtx.nn.dense(x.shape[-1], x.shape[-1])
    variances, spreads = [jnp.var(x)], [jnp.max(jnp.std(x, axis=1)) / jnp.std(x)]
    for p in params:
        x = activation(layer.apply(p, x))
        std = jnp.std(x)
        variances.append(jnp.square(std))
        spreads.append(jnp.max(jnp.std(x, axis=1)) / jnp.where(std > 0, std, 1.0))
    return jnp.stack(variances), jnp.stack(spreads)


def activation_statistics(
    x: jax.Array, key: jax.Array, depth: int
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """Feeds the inputs ``x`` (examples, width) through ``depth`` layers of every initialiser
    (weights from ``make_layers(initialiser, key, depth, width)``) and activation.

    Returns ``variances[activation][initialiser]``, Var[a^l] over examples and units for
    l = 0 (the inputs), ..., depth, and ``spreads`` of the same shape: the largest standard
    deviation across the units of one example relative to the layer's, 0 where every unit of
    the layer has the same value.
    """
    variances: dict[str, dict[str, np.ndarray]] = {a: {} for a in ACTIVATIONS}
    spreads: dict[str, dict[str, np.ndarray]] = {a: {} for a in ACTIVATIONS}
    runs = [(a, i) for a in ACTIVATIONS for i in INITIALISERS]
    for act, name in tqdm(runs, desc="initialisations", leave=False):
        params = make_layers(INITIALISERS[name], key, depth, x.shape[-1])
        var, spread = _forward(params, x, ACTIVATIONS[act])
        variances[act][name], spreads[act][name] = np.asarray(var), np.asarray(spread)
    return variances, spreads


def plot(variances: dict[str, dict[str, np.ndarray]], width: int, path: pathlib.Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(variances), figsize=(12, 4.8))
    styles = ["s--", "v-", "o-", "^-"]
    for ax, (act, by_init) in zip(axes, variances.items(), strict=True):
        for (name, var), style in zip(by_init.items(), styles, strict=True):
            # A variance that underflowed to zero has no place on a log axis.
            shown = np.where(var > 0, var, np.nan)
            ax.semilogy(np.arange(len(var)), shown, style, ms=4, lw=1.2, label=name)
        ax.axhline(1.0, color="gray", lw=0.8, ls=":")
        ax.set(
            title=f"{act}, dense layers of width {width}",
            xlabel="layer $l$ (0 = the inputs)",
            ylabel=r"$\mathrm{Var}[a^l]$ (log scale)",
        )
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Variance of the activations through depth, for four weight initialisations")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)

    key_x, key_w = jax.random.split(jax.random.key(args.seed))
    x = jax.random.normal(key_x, (args.samples, args.width))  # Var[a^0] = 1
    variances, spreads = activation_statistics(x, key_w, args.depth)
    figure = plot(variances, args.width, args.out / "initialisation.png")
    for act, by_init in variances.items():
        for name, var in by_init.items():
            print(f"{act:5s} {name:30s} Var[a^1] {var[1]:9.3e}  Var[a^{args.depth}] {var[-1]:9.3e}")
    return {
        "variances": variances,
        "spreads": spreads,
        "figure": figure,
        "inputs": x,
        "weights_key": key_w,
    }


if __name__ == "__main__":
    main()
