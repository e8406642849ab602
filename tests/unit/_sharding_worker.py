"""Runs the sharded-training checks of tests/unit/test_sharding.py on 8 host CPU devices.

Run as ``python tests/unit/_sharding_worker.py OUT_DIR`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` in the environment (jax reads it once,
at import, which is why this is a separate process). It writes ``OUT_DIR/results.json`` (the
shardings it saw) and ``OUT_DIR/arrays.npz`` (parameters and losses of every run); the test
compares them. Importing this module does nothing.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

import gradtx

STEPS = 5
SIZES = [4, 16, 16, 2]


def make_problem():
    model = gradtx.nn.mlp(SIZES, activation=jnp.tanh)
    rng = np.random.default_rng(0)
    # Drawn with NumPy: identical in every process, and nothing to compile.
    params = [
        {"w": jnp.asarray(rng.normal(size=(m, n)) / np.sqrt(m), jnp.float32),
         "b": jnp.zeros(n, jnp.float32)}
        for m, n in itertools.pairwise(SIZES)
    ]  # fmt: skip
    x = rng.normal(size=(64, SIZES[0])).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int32)

    def loss(p, x, y):
        logits = model.apply(p, x)
        return gradtx.losses.softmax_cross_entropy_with_integer_labels(logits, y, reduction="mean")

    tx = gradtx.chain(
        gradtx.clip_by_global_norm(1.0),
        gradtx.adamw(gradtx.warmup_cosine_decay_schedule(0.0, 0.05, 2, 20), weight_decay=1e-2),
    )
    return params, x, y, loss, tx


def train(tx, loss, params, state, x, y, out_shardings=None):
    def step(params, state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state, value

    step = jax.jit(step, out_shardings=out_shardings)
    losses = []
    for _ in range(STEPS):
        params, state, value = step(params, state, x, y)
        losses.append(float(value))
    return params, state, np.array(losses)


def specs(tree):
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        s = leaf.sharding
        out[gradtx.tree.path_str(path)] = {
            "shape": list(leaf.shape),
            "spec": [list(e) if isinstance(e, tuple) else e for e in s.spec]
            if isinstance(s, NamedSharding)
            else None,
            "mesh": dict(s.mesh.shape) if isinstance(s, NamedSharding) else None,
        }
    return out


def flat(prefix, tree):
    return {f"{prefix}/{gradtx.tree.path_str(p)}": np.asarray(x) for p, x in
            jax.tree_util.tree_leaves_with_path(tree)}  # fmt: skip


def main(out: pathlib.Path) -> None:
    assert jax.device_count() == 8, jax.devices()
    params, x, y, loss, tx = make_problem()
    results, arrays = {}, {}

    # 1. Single device: the reference.
    dev = jax.devices()[0]
    p1, x1, y1 = jax.device_put((params, x, y), dev)
    p, s, losses = train(tx, loss, p1, tx.init(p1), x1, y1)
    arrays |= flat("single", p) | {"single_losses": losses}

    # 2. Data parallel: batch sharded over 8 devices, params and state replicated.
    mesh = jax.make_mesh((8,), ("data",))
    rep, batch = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    pr = jax.device_put(params, rep)
    xs, ys = jax.device_put(x, batch), jax.device_put(y, batch)
    param_sh = jax.tree.map(lambda a: a.sharding, pr)
    state_sh = gradtx.sharding.state_shardings(tx, pr)
    state = gradtx.sharding.init_sharded(tx, pr)
    results["dp_init"] = specs(state)
    p, s, losses = train(tx, loss, pr, state, xs, ys, (param_sh, state_sh, rep))
    results["dp_params"], results["dp_state"] = specs(p), specs(s)
    arrays |= flat("dp", p) | {"dp_losses": losses}
    dp_state = s

    # 3. ZeRO-1: the same, with the optimizer state split over the data axis.
    zero_sh = gradtx.sharding.state_shardings(tx, pr, zero_axis="data")
    state = gradtx.sharding.init_sharded(tx, pr, zero_axis="data")
    results["zero_init"] = specs(state)
    p, s, losses = train(tx, loss, pr, state, xs, ys, (param_sh, zero_sh, rep))
    results["zero_params"], results["zero_state"] = specs(p), specs(s)
    arrays |= flat("zero", p) | {"zero_losses": losses}
    arrays |= flat("zero_state", s) | flat("dp_state", dp_state)
    zero_state = s

    # 4. Data and model parallel on a 4 x 2 mesh: weights split over "model" where possible.
    # Auto axes: XLA's partitioner places the intermediates (the 1-D mesh above is explicit,
    # jax's default).
    auto = jax.sharding.AxisType.Auto
    mesh2 = jax.make_mesh((4, 2), ("data", "model"), axis_types=(auto, auto))

    def spec_for(path, leaf):
        last = path[-1].key
        if last == "w" and leaf.shape[1] % 2 == 0:
            return NamedSharding(mesh2, P(None, "model"))
        if last == "b" and leaf.shape[0] % 2 == 0:
            return NamedSharding(mesh2, P("model"))
        return NamedSharding(mesh2, P())

    param_sh2 = jax.tree_util.tree_map_with_path(spec_for, params)
    pm = jax.device_put(params, param_sh2)
    batch2 = NamedSharding(mesh2, P("data"))
    xs2, ys2 = jax.device_put(x, batch2), jax.device_put(y, batch2)
    state_sh2 = gradtx.sharding.state_shardings(tx, pm)
    state = jax.jit(tx.init, out_shardings=state_sh2)(pm)
    results["mp_init"], results["mp_param_init"] = specs(state), specs(pm)
    zero_sh2 = gradtx.sharding.state_shardings(tx, pm, zero_axis="data")
    results["mp_zero_shardings"] = {
        gradtx.tree.path_str(path): [list(e) if isinstance(e, tuple) else e for e in sh.spec]
        for path, sh in jax.tree_util.tree_leaves_with_path(zero_sh2)
    }
    p, s, losses = train(
        tx, loss, pm, state, xs2, ys2, (param_sh2, state_sh2, NamedSharding(mesh2, P()))
    )
    results["mp_params"], results["mp_state"] = specs(p), specs(s)
    arrays |= flat("mp", p) | {"mp_losses": losses}
    results["mp_zero_init"] = specs(gradtx.sharding.init_sharded(tx, pm, zero_axis="data"))

    # 5. Checkpoints of sharded state: saved from the ZeRO-1 layout, restored into the
    # replicated layout and into the 2-D mesh layout of the template.
    gradtx.checkpoint.save(out / "ckpt", {"opt_state": zero_state})
    like_rep = {"opt_state": dp_state}
    back_rep = gradtx.checkpoint.restore(out / "ckpt", like_rep)
    like_mp = {"opt_state": jax.eval_shape(tx.init, pm)}
    like_mp = jax.tree.map(
        lambda shape, sh: jax.ShapeDtypeStruct(shape.shape, shape.dtype, sharding=sh),
        like_mp,
        {"opt_state": state_sh2},
    )
    back_mp = gradtx.checkpoint.restore(out / "ckpt", like_mp)
    results["ckpt_saved"] = specs({"opt_state": zero_state})
    results["ckpt_rep"], results["ckpt_rep_like"] = specs(back_rep), specs(like_rep)
    results["ckpt_mp"] = specs(back_mp)
    results["ckpt_mp_like"] = {
        gradtx.tree.path_str(path): [
            list(e) if isinstance(e, tuple) else e for e in leaf.sharding.spec
        ]
        for path, leaf in jax.tree_util.tree_leaves_with_path(like_mp)
    }
    arrays |= flat("ckpt_saved", {"opt_state": zero_state})
    arrays |= flat("ckpt_rep", back_rep) | flat("ckpt_mp", back_mp)

    (out / "results.json").write_text(json.dumps(results))
    np.savez(out / "arrays.npz", **arrays)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
