"""Benchmarks: gradtx side by side with Optax and torch.optim, in one run.

Measures, for each library in the same process and alternating between them:

1. step time of adam, adamw, sgd with momentum, rmsprop and lion for N float32 parameters in
   one leaf (jitted, params and state donated), against the machine's memory bandwidth floor;
2. the same N parameters spread over 1,000 leaves of mixed shapes;
3. compile time (lower + compile) of chain(clip_by_global_norm, adamw(warmup_cosine)) for
   10 to 3,000 leaves;
4. a 64-point learning-rate grid trained with jax.vmap against a Python loop of 64 runs;
5. optimizer-state bytes per parameter byte, and the peak temporary memory of a donated step.

Prints one table and writes it as JSON and Markdown (with the machine, versions and date)::

    python benchmarks/run.py            # the full run
    python benchmarks/run.py --quick    # smaller sizes, a minute or two
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradtx

try:  # torch is a benchmark extra; its rows are left out when it is missing.
    import torch
except ImportError:  # pragma: no cover
    torch = None

OPTIMIZERS: dict[str, tuple[Callable[[], Any], Callable[[], Any], Callable[[Any], Any] | None]] = {
    # name: (gradtx factory, optax factory, torch factory on a parameter list)
    "adam": (
        lambda: gradtx.adam(1e-3),
        lambda: optax.adam(1e-3),
        lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
    ),
    "adamw": (
        lambda: gradtx.adamw(1e-3, weight_decay=1e-4),
        lambda: optax.adamw(1e-3, weight_decay=1e-4),
        lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-4, fused=True),
    ),
    "sgd_momentum": (
        lambda: gradtx.sgd(1e-3, momentum=0.9),
        lambda: optax.sgd(1e-3, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=True),
    ),
    "rmsprop": (
        lambda: gradtx.rmsprop(1e-3),
        lambda: optax.rmsprop(1e-3),
        lambda ps: torch.optim.RMSprop(ps, lr=1e-3, foreach=True),
    ),
    "lion": (lambda: gradtx.lion(1e-4), lambda: optax.lion(1e-4), None),
}


def median_time(fn: Callable[[], Any], reps: int) -> float:
    """Median wall time of ``fn()`` in seconds (``fn`` blocks until its result is ready)."""
    fn()  # warm up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def leaf_shapes(total: int, n_leaves: int) -> list[tuple[int, ...]]:
    """A realistic mix: square matrices, their biases, norm scales; ``total`` parameters."""
    if n_leaves == 1:
        return [(total,)]
    groups = max(1, n_leaves // 4)
    width = max(1, int(np.sqrt(total / groups / 2)))
    shapes: list[tuple[int, ...]] = []
    for _ in range(groups):
        shapes += [(width, width), (width, width), (width,), (width,)]
    shapes = shapes[:n_leaves]
    missing = total - sum(int(np.prod(s)) for s in shapes)
    if missing > 0:
        shapes[0] = (int(np.prod(shapes[0])) + missing,)
    return shapes


def make_params(shapes: list[tuple[int, ...]], seed: int = 0) -> dict[str, jax.Array]:
    keys = jax.random.split(jax.random.key(seed), len(shapes))
    return {
        f"p{i:04d}": 0.01 * jax.random.normal(k, s)
        for i, (k, s) in enumerate(zip(keys, shapes, strict=True))
    }


def jax_step_time(tx: Any, params: dict[str, jax.Array], reps: int) -> float:
    grads = jax.tree.map(lambda p: 0.5 * p, params)

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return jax.tree.map(lambda a, b: a + b, p, u), s

    step = jax.jit(step, donate_argnums=(0, 1))
    box = [jax.tree.map(jnp.copy, params), tx.init(params)]

    def run():
        box[0], box[1] = step(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return median_time(run, reps)


def torch_step_time(make: Callable[[Any], Any], params: dict[str, jax.Array], reps: int) -> float:
    tensors = [torch.tensor(np.asarray(p)) for p in params.values()]
    for t in tensors:
        t.requires_grad_(True)
        t.grad = 0.5 * t.detach().clone()
    opt = make(tensors)
    return median_time(opt.step, reps)


def bandwidth(n: int, reps: int) -> float:
    """Bytes per second of a donated triad a <- a + 2 b (12 bytes per element)."""
    triad = jax.jit(lambda a, b: a + 2.0 * b, donate_argnums=0)
    box = [jnp.ones(n), jnp.ones(n)]

    def run():
        box[0] = triad(box[0], box[1])
        box[0].block_until_ready()

    return 12 * n / median_time(run, reps)


def step_times(shapes, reps: int, rounds: int, bw: float) -> list[dict[str, Any]]:
    params = make_params(shapes)
    n = sum(int(np.prod(s)) for s in shapes)
    rows = []
    for name, (make_g, make_o, make_t) in OPTIMIZERS.items():
        times: dict[str, list[float]] = {"gradtx": [], "optax": [], "torch": []}
        for _ in range(rounds):  # alternate the libraries
            times["gradtx"].append(jax_step_time(make_g(), params, reps))
            times["optax"].append(jax_step_time(make_o(), params, reps))
            if torch is not None and make_t is not None:
                times["torch"].append(torch_step_time(make_t, params, reps))
        med = {k: statistics.median(v) for k, v in times.items() if v}
        # Memory traffic of the step: params, grads and each state slot read, params and
        # slots written (adam: 4 reads + 3 writes = 28 bytes per float32 parameter).
        slots = {"adam": 2, "adamw": 2, "sgd_momentum": 1, "rmsprop": 1, "lion": 1}[name]
        floor = (4 * (3 + 2 * slots) * n) / bw
        row = {
            "optimizer": name,
            "leaves": len(shapes),
            "gradtx_ms": 1e3 * med["gradtx"],
            "optax_ms": 1e3 * med["optax"],
            "gradtx/optax": med["gradtx"] / med["optax"],
            "gradtx/floor": med["gradtx"] / floor,
        }
        if "torch" in med:
            row["torch_ms"] = 1e3 * med["torch"]
            row["gradtx/torch"] = med["gradtx"] / med["torch"]
        rows.append(row)
    return rows


def compile_times(leaf_counts: list[int], rounds: int) -> list[dict[str, Any]]:
    rows = []
    for n_leaves in leaf_counts:
        params = make_params([(64, 64)] * n_leaves)
        grads = jax.tree.map(lambda p: 0.5 * p, params)
        txs = {
            "gradtx": gradtx.chain(
                gradtx.clip_by_global_norm(1.0),
                gradtx.adamw(gradtx.warmup_cosine_decay_schedule(0.0, 3e-3, 100, 5_000)),
            ),
            "optax": optax.chain(
                optax.clip_by_global_norm(1.0),
                optax.adamw(optax.warmup_cosine_decay_schedule(0.0, 3e-3, 100, 5_000)),
            ),
        }
        times: dict[str, list[float]] = {k: [] for k in txs}
        for _ in range(rounds):
            for name, tx in txs.items():

                def step(p, s, g, tx=tx):
                    u, s = tx.update(g, s, p)
                    return jax.tree.map(lambda a, b: a + b, p, u), s

                state = tx.init(params)
                start = time.perf_counter()
                jax.jit(step, donate_argnums=(0, 1)).lower(params, state, grads).compile()
                times[name].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append(
            {
                "leaves": n_leaves,
                "gradtx_s": med["gradtx"],
                "optax_s": med["optax"],
                "gradtx/optax": med["gradtx"] / med["optax"],
            }
        )
    return rows


def grid_times(points: int, steps: int) -> list[dict[str, Any]]:
    """A learning-rate grid on the gradtx.nn MLP: one vmapped program against a loop."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(256, 8)), jnp.float32)
    y = jnp.asarray(np.sin(np.asarray(x).sum(1, keepdims=True)), jnp.float32)
    model = gradtx.nn.mlp([8, 64, 64, 1], activation=jnp.tanh)
    params0 = model.init(jax.random.key(0))
    lrs = jnp.logspace(-4, -1, points)

    def loss(p):
        return jnp.mean((model.apply(p, x) - y) ** 2)

    rows = []
    for lib, make in [("gradtx", gradtx.adam), ("optax", optax.adam)]:

        def train(lr, make=make):
            tx = make(lr)

            def body(carry, _):
                p, s = carry
                u, s = tx.update(jax.grad(loss)(p), s, p)
                return (jax.tree.map(lambda a, b: a + b, p, u), s), None

            (p, _), _ = jax.lax.scan(body, (params0, tx.init(params0)), length=steps)
            return loss(p)

        start = time.perf_counter()
        vmapped = jax.jit(jax.vmap(train)).lower(lrs).compile()
        compile_vmap = time.perf_counter() - start
        start = time.perf_counter()
        single = jax.jit(train).lower(lrs[0]).compile()
        compile_loop = time.perf_counter() - start
        t_vmap = median_time(lambda f=vmapped: f(lrs).block_until_ready(), 3)
        t_loop = median_time(lambda f=single: [f(lr).block_until_ready() for lr in lrs], 3)
        rows.append(
            {
                "library": lib,
                "vmapped_run_s": t_vmap,
                "loop_run_s": t_loop,
                "loop/vmapped": t_loop / t_vmap,
                "vmapped_compile_s": compile_vmap,
                "loop_compile_s": compile_loop,
            }
        )
    return rows


def memory_rows(n: int) -> list[dict[str, Any]]:
    params = {"w": jax.ShapeDtypeStruct((n,), jnp.float32)}
    param_bytes = 4 * n
    rows = []
    cases = {
        "adam": gradtx.adam(1e-3),
        "adam(mu_dtype=bfloat16)": gradtx.adam(1e-3, mu_dtype=jnp.bfloat16),
        "adamw": gradtx.adamw(1e-3),
        "sgd_momentum": gradtx.sgd(1e-3, momentum=0.9),
        "rmsprop": gradtx.rmsprop(1e-3),
        "lion": gradtx.lion(1e-4),
        "lamb": gradtx.lamb(1e-3),
    }
    for name, tx in cases.items():
        state = jax.eval_shape(tx.init, params)
        state_bytes = sum(
            int(np.prod(x.shape)) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(state)
        )

        def step(p, s, g, tx=tx):
            u, s = tx.update(g, s, p)
            return jax.tree.map(lambda a, b: a + b, p, u), s

        compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params).compile()
        analysis = compiled.memory_analysis()
        temp = getattr(analysis, "temp_size_in_bytes", float("nan")) if analysis else float("nan")
        rows.append(
            {
                "optimizer": name,
                "state_bytes/param_bytes": state_bytes / param_bytes,
                "step_temp_bytes/param_bytes": temp / param_bytes,
            }
        )
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    for row in rows[1:]:
        keys += [k for k in row if k not in keys]

    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/results"))
    args = parser.parse_args(argv)

    n = 1_000_000 if args.quick else 10_000_000
    reps, rounds = (5, 2) if args.quick else (20, 3)
    leaf_counts = [10, 100, 300] if args.quick else [10, 100, 1_000, 3_000]
    bw = bandwidth(n, reps)
    results = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": jax.local_device_count("cpu") if jax.default_backend() == "cpu" else None,
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "bandwidth_GB/s": bw / 1e9,
        },
        "versions": {
            "gradtx": gradtx.__version__,
            "jax": jax.__version__,
            "optax": optax.__version__,
            "torch": getattr(torch, "__version__", None),
            "numpy": np.__version__,
        },
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": n,
        "one_leaf": step_times(leaf_shapes(n, 1), reps, rounds, bw),
        "many_leaves": step_times(leaf_shapes(n, 1_000), reps, rounds, bw),
        "compile": compile_times(leaf_counts, 1 if args.quick else 2),
        "vmap_grid": grid_times(16 if args.quick else 64, 50 if args.quick else 200),
        "memory": memory_rows(n),
    }
    sections = ["one_leaf", "many_leaves", "compile", "vmap_grid", "memory"]
    text = [
        f"# gradtx benchmarks ({results['date']})",
        "",
        "```",
        json.dumps(results["machine"], indent=1),
        json.dumps(results["versions"]),
        "```",
    ]
    for key in sections:
        text += ["", f"## {key}", "", markdown_table(results[key])]
    report = "\n".join(text) + "\n"
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "full"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1))
    (args.out / f"{stem}.md").write_text(report)
    return results


if __name__ == "__main__":
    main()
