"""One of the two processes of tests/unit/test_multiprocess.py.

``python tests/unit/_multiprocess_worker.py PROCESS_ID PORT OUT_DIR`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``: joins a 2-process JAX cluster on
127.0.0.1:PORT (CPU collectives over gloo), trains the MLP of tests/unit/_sharding_worker.py
data-parallel over the 8 devices of both processes with the optimizer state split over the
data axis (ZeRO-1), saves and restores a checkpoint of that state, and writes its final
parameters to ``OUT_DIR/params_<PROCESS_ID>.npz``. Importing this module does nothing.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import numpy as np


def main(process_id: int, port: int, out: pathlib.Path) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=process_id,
        initialization_timeout=60,
    )
    try:
        run(process_id, out)
    finally:
        jax.distributed.shutdown()


def run(process_id: int, out: pathlib.Path) -> None:
    from jax.sharding import NamedSharding, PartitionSpec as P

    import gradtx
    from tests.unit._sharding_worker import make_problem, train

    assert jax.process_count() == 2 and jax.device_count() == 8
    assert jax.local_device_count() == 4
    params, x, y, loss, tx = make_problem()
    mesh = jax.make_mesh((8,), ("data",))
    rep, batch = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    # Each process feeds its half of the batch; params start replicated on all 8 devices.
    half = len(x) // 2
    local = slice(process_id * half, (process_id + 1) * half)
    xs = jax.make_array_from_process_local_data(batch, x[local])
    ys = jax.make_array_from_process_local_data(batch, y[local])
    pr = jax.tree.map(
        lambda a: jax.make_array_from_callback(a.shape, rep, lambda i: np.asarray(a)[i]), params
    )
    param_sh = jax.tree.map(lambda a: a.sharding, pr)
    state_sh = gradtx.sharding.state_shardings(tx, pr, zero_axis="data")
    state = gradtx.sharding.init_sharded(tx, pr, zero_axis="data")
    p, state, losses = train(tx, loss, pr, state, xs, ys, (param_sh, state_sh, rep))

    # A checkpoint of state that no process holds entirely: gathered, written by process 0,
    # restored by both into the same layout.
    gradtx.checkpoint.save(out / "ckpt", {"opt_state": state})
    like = {"opt_state": gradtx.sharding.init_sharded(tx, pr, zero_axis="data")}
    back = gradtx.checkpoint.restore(out / "ckpt", like)["opt_state"]
    same = all(
        a.sharding == b.sharding
        and all(
            np.array_equal(sa.data, sb.data)
            for sa, sb in zip(a.addressable_shards, b.addressable_shards, strict=True)
        )
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(back), strict=True)
    )
    split = any(not a.is_fully_addressable for a in jax.tree.leaves(state))

    local_params = {
        gradtx.tree.path_str(path): np.asarray(a.addressable_shards[0].data)
        for path, a in jax.tree_util.tree_leaves_with_path(p)
    }
    np.savez(out / f"params_{process_id}.npz", **local_params)
    info = {"losses": losses.tolist(), "checkpoint_round_trip": same, "state_split": split}
    (out / f"info_{process_id}.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3]))
