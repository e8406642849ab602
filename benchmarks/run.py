"""Benchmarks: gradtx side by side with Optax and torch.optim, in one run.

Measures, for each library in the same process and alternating between them:

1. step time of adam, adamw, sgd with momentum, rmsprop and lion for N float32 parameters in
   one leaf (jitted, params and state donated), against the machine's memory bandwidth floor;
2. the same N parameters spread over 1,000 leaves of mixed shapes;
3. compile time (lower + compile) of chain(clip_by_global_norm, adamw(warmup_cosine)) for
   10 to 3,000 leaves;
4. a 64-point learning-rate grid trained with jax.vmap against a Python loop of 64 runs;
5. optimizer-state bytes per parameter byte, and the peak temporary memory of a donated step;
6. adam's step time against the parameter count, 1e5 to 1e8 (figures ``<name>_scaling.png``
   and ``<name>_compile.png`` beside the tables).

Prints one table and writes it as JSON and Markdown (with the machine, versions and date)::

    python benchmarks/run.py            # the full run
    python benchmarks/run.py --quick    # smaller sizes, a minute or two
    python benchmarks/run.py --name gpu --sections one_leaf many_leaves   # a subset
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
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


STEPS_PER_SAMPLE = 10  # steps dispatched back to back per timed sample, as in a training loop


def donated_step(tx: Any) -> Any:
    """``(params, state, grads) -> (params, state)``, jitted, params and state donated."""

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return jax.tree.map(lambda a, b: a + b, p, u), s

    return jax.jit(step, donate_argnums=(0, 1))


def benchmark_chain(lib: Any) -> Any:
    """The chain of the compile-time case; gradtx and Optax share its names."""
    return lib.chain(
        lib.clip_by_global_norm(1.0),
        lib.adamw(lib.warmup_cosine_decay_schedule(0.0, 3e-3, 100, 5_000)),
    )


def jax_step_time(tx: Any, params: dict[str, jax.Array], reps: int) -> float:
    """Median seconds per jitted, donated step (samples of ``STEPS_PER_SAMPLE`` steps)."""
    grads = jax.tree.map(lambda p: 0.5 * p, params)
    step = donated_step(tx)
    box = [jax.tree.map(jnp.copy, params), tx.init(params)]

    def run():
        for _ in range(STEPS_PER_SAMPLE):
            box[0], box[1] = step(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return median_time(run, reps) / STEPS_PER_SAMPLE


def torch_step_time(make: Callable[[Any], Any], params: dict[str, jax.Array], reps: int) -> float:
    """Median seconds per ``optimizer.step()``, on the GPU when torch sees one."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tensors = [torch.tensor(np.asarray(p), device=device) for p in params.values()]
    for t in tensors:
        t.requires_grad_(True)
        t.grad = 0.5 * t.detach().clone()
    opt = make(tensors)

    def run():
        for _ in range(STEPS_PER_SAMPLE):
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return median_time(run, reps) / STEPS_PER_SAMPLE


def bandwidth(n: int, reps: int) -> float:
    """Bytes per second of a donated triad a <- a + 2 b (12 bytes per element)."""
    triad = jax.jit(lambda a, b: a + 2.0 * b, donate_argnums=0)
    box = [jnp.ones(n), jnp.ones(n)]

    def run():
        for _ in range(STEPS_PER_SAMPLE):
            box[0] = triad(box[0], box[1])
        box[0].block_until_ready()

    return 12 * n * STEPS_PER_SAMPLE / median_time(run, reps)


def step_times(
    shapes, reps: int, rounds: int, bw: float, flat: bool = False
) -> list[dict[str, Any]]:
    """Step times of every optimizer; with ``flat``, also ``gradtx.flatten`` of it."""
    params = make_params(shapes)
    n = sum(int(np.prod(s)) for s in shapes)
    rows = []
    for name, (make_g, make_o, make_t) in OPTIMIZERS.items():
        times: dict[str, list[float]] = {"gradtx": [], "flat": [], "optax": [], "torch": []}
        for _ in range(rounds):  # alternate the libraries
            times["gradtx"].append(jax_step_time(make_g(), params, reps))
            if flat:
                times["flat"].append(jax_step_time(gradtx.flatten(make_g()), params, reps))
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
            "gradtx_GB/s": 4 * (3 + 2 * slots) * n / med["gradtx"] / 1e9,
        }
        if "flat" in med:
            row["flat_ms"] = 1e3 * med["flat"]
            row["flat/optax"] = med["flat"] / med["optax"]
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
            "gradtx": benchmark_chain(gradtx),
            "flat": gradtx.flatten(benchmark_chain(gradtx)),
            "optax": benchmark_chain(optax),
        }
        times: dict[str, list[float]] = {k: [] for k in txs}
        for _ in range(rounds):
            for name, tx in txs.items():
                state = tx.init(params)
                start = time.perf_counter()
                donated_step(tx).lower(params, state, grads).compile()
                times[name].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append(
            {
                "leaves": n_leaves,
                "gradtx_s": med["gradtx"],
                "optax_s": med["optax"],
                "gradtx/optax": med["gradtx"] / med["optax"],
                "flat_s": med["flat"],
                "flat/optax": med["flat"] / med["optax"],
            }
        )
    return rows


def scaling_rows(sizes: list[int], reps: int) -> list[dict[str, Any]]:
    """Adam's step time against the parameter count (one leaf), for the three libraries."""
    make_g, make_o, make_t = OPTIMIZERS["adam"]
    rows = []
    for n in sizes:
        params = make_params([(n,)])
        row: dict[str, Any] = {
            "parameters": n,
            "gradtx_ms": 1e3 * jax_step_time(make_g(), params, reps),
            "optax_ms": 1e3 * jax_step_time(make_o(), params, reps),
        }
        if torch is not None:
            row["torch_ms"] = 1e3 * torch_step_time(make_t, params, reps)
        row["gradtx/optax"] = row["gradtx_ms"] / row["optax_ms"]
        rows.append(row)
        del params
    return rows


def plot(results: dict[str, Any], out: pathlib.Path, stem: str) -> None:
    """Log-log figures of the scaling and compile-time sections, when matplotlib is there."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    backend = results["machine"]["backend"]
    figures = {
        "scaling": ("parameters", "_ms", "adam step time (ms)", "parameters (one leaf)"),
        "compile": ("leaves", "_s", "compile time (s)", "leaves of 64x64"),
    }
    for key, (x, suffix, ylabel, xlabel) in figures.items():
        rows = results.get(key)
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for lib, color in (("gradtx", "C0"), ("flat", "C1"), ("optax", "C2"), ("torch", "C3")):
            if f"{lib}{suffix}" in rows[0]:
                label = "gradtx.flatten" if lib == "flat" else lib
                ax.loglog([r[x] for r in rows], [r[f"{lib}{suffix}"] for r in rows], "o-",
                          color=color, label=label)  # fmt: skip
        if key == "compile":  # a line of slope one through the first gradtx point: linear growth
            x0, y0 = rows[0][x], rows[0]["gradtx_s"]
            xs = [r[x] for r in rows]
            ax.loglog(xs, [y0 * v / x0 for v in xs], "k:", label="linear in leaves")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{key} ({backend})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"{stem}_{key}.png", dpi=110)
        plt.close(fig)


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
        compiled = donated_step(tx).lower(params, state, params).compile()
        m = compiled.memory_analysis()
        temp = m.temp_size_in_bytes
        # Peak of the donated step: its inputs and outputs (donated outputs share their
        # inputs' buffers) and its temporaries. The bound of issue 8: params + grads + state
        # + one temporary the size of the largest (here the only) leaf.
        peak = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + temp
        bound = 2 * param_bytes + state_bytes + param_bytes
        rows.append(
            {
                "optimizer": name,
                "state_bytes/param_bytes": state_bytes / param_bytes,
                "step_temp_bytes/param_bytes": temp / param_bytes,
                "peak/bound": peak / bound,
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


SECTIONS = ["one_leaf", "many_leaves", "compile", "vmap_grid", "memory", "scaling"]


def report(results: dict[str, Any]) -> str:
    text = [
        f"# gradtx benchmarks ({results['date']})",
        "",
        "```",
        json.dumps(results["machine"], indent=1),
        json.dumps(results["versions"]),
        "```",
    ]
    for key in SECTIONS:
        if key in results:
            text += ["", f"## {key}", "", markdown_table(results[key])]
    return "\n".join(text) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/results"))
    parser.add_argument("--name", help="file name stem (default: quick or full)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=SECTIONS)
    parser.add_argument("--leaf-counts", type=int, nargs="+", help="leaf counts to compile")
    args = parser.parse_args(argv)

    n = 1_000_000 if args.quick else 10_000_000
    reps, rounds = (5, 2) if args.quick else (10, 3)
    leaf_counts = args.leaf_counts or ([10, 100, 300] if args.quick else [10, 100, 1_000, 3_000])
    sizes = [10**4, 10**5, 10**6] if args.quick else [10**5, 10**6, 10**7, 10**8]
    bw = bandwidth(n, reps)
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "backend": jax.default_backend(),
            "devices": [getattr(d, "device_kind", str(d)) for d in jax.devices()],
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
    }
    run_section = {
        "one_leaf": lambda: step_times(leaf_shapes(n, 1), reps, rounds, bw),
        "many_leaves": lambda: step_times(leaf_shapes(n, 1_000), reps, rounds, bw, flat=True),
        "compile": lambda: compile_times(leaf_counts, 1 if args.quick else 2),
        "vmap_grid": lambda: grid_times(16 if args.quick else 64, 50 if args.quick else 200),
        "memory": lambda: memory_rows(n),
        "scaling": lambda: scaling_rows(sizes, reps),
    }
    stem = args.name or ("quick" if args.quick else "full")
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / f"{stem}.json"
    if set(args.sections) != set(SECTIONS) and previous.exists():
        # A partial run refreshes its sections and keeps the others of the same file.
        kept = json.loads(previous.read_text())
        results = {**{k: kept[k] for k in SECTIONS if k in kept}, **results}
    for key in SECTIONS:
        if key not in args.sections:
            continue
        results[key] = run_section[key]()
        print(f"## {key}\n\n{markdown_table(results[key])}\n", flush=True)
        # Written after every section, so a run cut short keeps what it measured.
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1))
        (args.out / f"{stem}.md").write_text(report(results))
    plot(results, args.out, stem)
    return results


if __name__ == "__main__":
    main()
