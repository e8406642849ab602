"""Sharded training: data parallelism on a device mesh, with the optimizer state split (ZeRO-1).

The script trains a gradtx.nn MLP on synthetic spirals across all devices of one host. Each
step's batch is split over the mesh's "data" axis, the parameters are replicated, and
gradtx.sharding places the optimizer state: by default split over the data axis as well
(ZeRO stage 1: every device stores and updates one slice of Adam's moments); ``--no-zero``
replicates it. XLA inserts the gradient all-reduce and the update all-gather; gradtx adds no
communication code. The script then repeats the run on a single device and prints the
largest difference (only the order of the sums over the batch differs), saves a checkpoint
with gradtx.checkpoint and plots the loss (unless ``--no-plot``)::

    python examples/sharded_training.py --steps 200 --out out

Without accelerators it fakes 8 CPU devices by setting
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before jax starts (unless XLA_FLAGS
already sets a device count).

Several hosts. The same program runs on every host of a cluster; only three things change:

1. Start the runtime first on every process, before anything else touches jax::

       jax.distributed.initialize(coordinator_address="10.0.0.1:1234",
                                  num_processes=N, process_id=i)

   (on Cloud TPU and SLURM clusters the arguments are detected automatically; on CPU hosts
   also set ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``).
   ``jax.devices()`` then lists the devices of all hosts and ``jax.make_mesh`` builds a
   global mesh over them.
2. Each process loads only its own slice of the global batch and makes the global array with
   ``jax.make_array_from_process_local_data(batch_sharding, local_batch)``; the parameters are
   created identically on every process (same seed) or with
   ``jax.make_array_from_callback``.
3. Values that are split across hosts are not fully addressable: read replicated results
   from ``array.addressable_shards[0].data``, and call ``gradtx.checkpoint.save`` and
   ``restore`` on every process (process 0 writes; use a file system all hosts share).

tests/unit/test_multiprocess.py runs exactly this with two processes on one machine.
"""

from __future__ import annotations

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    # Must happen before jax initialises its backends.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()

import argparse
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from quickstart import make_spirals  # the same synthetic spirals (examples/ is on the path)

import gradtx


def train(model, tx, params, batches, mesh=None, zero: bool = True):
    """Runs one jitted step per batch; on ``mesh`` when given, else on one device."""

    def loss_fn(params, x, y):
        logits = model.apply(params, x)
        return gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, y, reduction="mean")

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, loss

    if mesh is None:
        params = jax.device_put(params, jax.devices()[0])
        state = tx.init(params)
        put = lambda a: jax.device_put(a, jax.devices()[0])  # noqa: E731
        step = jax.jit(step)
    else:
        replicated = NamedSharding(mesh, P())
        batch_sharding = NamedSharding(mesh, P("data"))
        params = jax.device_put(params, replicated)
        axis = "data" if zero else None
        # The state is created directly in its shardings: a slice of it on each device.
        state_shardings = gradtx.sharding.state_shardings(tx, params, zero_axis=axis)
        state = gradtx.sharding.init_sharded(tx, params, zero_axis=axis)
        param_shardings = jax.tree.map(lambda a: a.sharding, params)
        put = lambda a: jax.device_put(a, batch_sharding)  # noqa: E731
        step = jax.jit(step, out_shardings=(param_shardings, state_shardings, replicated))
    losses = []
    for x, y in batches:
        params, state, loss = step(params, state, put(x), put(y))
        losses.append(loss)
    return params, state, np.asarray(losses)


def describe(state) -> dict[str, str]:
    """Each state leaf's path and partition spec, for printing."""
    return {
        gradtx.tree.path_str(path): str(tuple(leaf.sharding.spec))
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
    }


def plot(losses: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(losses)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="sharded training")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch size")
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--no-zero", action="store_true", help="replicate the optimizer state")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-plot", action="store_true", help="skip the loss plot")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)

    n = jax.device_count()
    if args.batch_size % n:
        parser.error(f"--batch-size {args.batch_size} must be a multiple of the {n} devices")
    mesh = jax.make_mesh((n,), ("data",))
    x, y = make_spirals(2_048, args.seed)
    model = gradtx.nn.mlp([2, 64, 64, 2], activation=jnp.tanh)
    params = model.init(jax.random.key(args.seed))
    schedule = gradtx.warmup_cosine_decay_schedule(0.0, args.learning_rate, 10, args.steps)
    tx = gradtx.chain(
        gradtx.clip_by_global_norm(1.0),
        gradtx.adamw(schedule, weight_decay=1e-4, mask=gradtx.nn.decay_mask),
    )
    epochs = -(-args.steps * args.batch_size // len(x))
    batches = list(
        gradtx.nn.minibatches(
            jax.random.key(args.seed), (x, y), args.batch_size, num_epochs=epochs, drop_last=True
        )
    )[: args.steps]

    zero = not args.no_zero
    params_sharded, state, losses = train(model, tx, params, batches, mesh, zero)
    params_single, _, losses_single = train(model, tx, params, batches)
    difference = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(
            jax.tree.leaves(params_sharded), jax.tree.leaves(params_single), strict=True
        )
    )
    specs = describe(state)
    checkpoint = gradtx.checkpoint.save(
        args.out / "sharded_training_checkpoint",
        {"params": params_sharded, "opt_state": state},
        overwrite=True,
        metadata={"step": len(losses)},
    )
    figure = None if args.no_plot else plot(losses, args.out / "sharded_training.png")

    print(
        f"{n} devices, mesh {dict(mesh.shape)}, optimizer state {'split' if zero else 'replicated'}"
    )
    for path, spec in specs.items():
        print(f"  state {path:20s} {spec}")
    for i in range(0, len(losses), max(1, len(losses) // 10)):
        print(f"step {i:5d}  loss {losses[i]:.4f}")
    print(f"final loss {losses[-1]:.4f}; largest difference from one device: {difference:.2e}")
    summary = {
        "devices": n,
        "losses": losses.tolist(),
        "single_device_losses": losses_single.tolist(),
        "max_param_difference": difference,
        "state_specs": specs,
        "checkpoint": str(checkpoint),
        "figure": figure and str(figure),
    }
    (args.out / "sharded_training.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
