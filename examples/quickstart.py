"""Quickstart: train a small MLP written in jax.numpy with a chained gradtx optimizer.

The data is synthetic (two interleaved spirals), so the script needs no download. It prints
the loss as it goes down and the final training accuracy::

    python examples/quickstart.py --steps 1000
"""

from __future__ import annotations

import argparse
import itertools

import jax
import jax.numpy as jnp
import numpy as np

import gradtx


def make_spirals(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals in 2-D, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3 * np.pi
    label = rng.integers(0, 2, n)
    sign = np.where(label == 1, 1.0, -1.0)
    x = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], axis=1) / (3 * np.pi)
    x += rng.normal(scale=0.02, size=x.shape)
    return x.astype(np.float32), label.astype(np.int32)


def init_mlp(key: jax.Array, sizes: list[int]) -> list[dict[str, jax.Array]]:
    """Glorot-uniform weights and zero biases for a dense network with the given widths."""
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        key, sub = jax.random.split(key)
        limit = np.sqrt(6.0 / (n_in + n_out))
        w = jax.random.uniform(sub, (n_in, n_out), minval=-limit, maxval=limit)
        params.append({"w": w, "b": jnp.zeros(n_out)})
    return params


def mlp(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
    """Mean softmax cross-entropy of the logits against integer labels."""
    logits = mlp(params, x)
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x, y = make_spirals(1_000, args.seed)
    params = init_mlp(jax.random.key(args.seed), [2, 64, 64, 2])

    # Clip the global gradient norm, then take an AdamW step.
    tx = gradtx.chain(
        gradtx.clip_by_global_norm(1.0),
        gradtx.adamw(args.learning_rate, weight_decay=1e-4),
    )
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    report_every = max(1, args.steps // 10)
    for i in range(args.steps):
        params, state, loss = step(params, state)
        if i % report_every == 0 or i == args.steps - 1:
            print(f"step {i:5d}  loss {float(loss):.4f}")

    accuracy = float(jnp.mean(jnp.argmax(mlp(params, x), axis=1) == y))
    print(f"final training accuracy: {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    main()
