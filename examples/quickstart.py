"""Quickstart: train a small MLP from gradtx.nn with a chained gradtx optimizer.

The data is synthetic (two interleaved spirals), so the script needs no download. It prints
the loss as it goes down and the final training accuracy::

    python examples/quickstart.py --steps 1000
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

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


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x, y = make_spirals(1_000, args.seed)
    # A 2-64-64-2 tanh network with Glorot-uniform weights and zero biases.
    model = gradtx.nn.mlp(
        [2, 64, 64, 2], activation=jnp.tanh, w_init=gradtx.nn.initializers.glorot_uniform()
    )
    params = model.init(jax.random.key(args.seed))

    def loss_fn(params):
        """Mean softmax cross-entropy of the logits against the integer labels."""
        logits = model.apply(params, x)
        return gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, y, reduction="mean")

    # Clip the global gradient norm, then take an AdamW step (decaying weights, not biases)
    # with a learning rate that warms up linearly and then follows a cosine to zero.
    schedule = gradtx.warmup_cosine_decay_schedule(
        0.0, args.learning_rate, warmup_steps=max(1, args.steps // 20), decay_steps=args.steps
    )
    tx = gradtx.chain(
        gradtx.clip_by_global_norm(1.0),
        gradtx.adamw(schedule, weight_decay=1e-4, mask=gradtx.nn.decay_mask),
    )
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    report_every = max(1, args.steps // 10)
    with tqdm(range(args.steps), desc="training", leave=False) as bar:
        for i in bar:
            params, state, loss = step(params, state)
            if i % report_every == 0 or i == args.steps - 1:
                bar.write(f"step {i:5d}  loss {float(loss):.4f}")

    accuracy = float(gradtx.losses.accuracy(model.apply(params, x), y))
    print(f"final training accuracy: {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    main()
