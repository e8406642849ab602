"""Schedules: every gradtx learning-rate schedule over the first steps of a run, one panel each.

The lectures' decaying learning rates appear with their parameters: the staircase
exponential decay eta_k = eta_0 gamma^max(0, floor((k - k0) / s)) and the 1/t scheme
eta_k = eta_0 / (1 + max(0, floor((k - k0) / s))), with k0 the step where decay begins and s
the number of steps per decay, and the linear decay eps_k = (1 - k/tau) eps_0 + (k/tau) eps_tau::

    python examples/schedules.py --steps 1000 --out out
"""

from __future__ import annotations

import argparse
import pathlib

import jax.numpy as jnp
import numpy as np

import gradtx


def schedules(steps: int) -> dict[str, gradtx.Schedule]:
    """Every schedule, with arguments scaled to a run of ``steps`` steps."""
    k0, s, tau = steps // 10, steps // 10, steps // 2
    warm = steps // 10
    return {
        "constant_schedule(1)": gradtx.constant_schedule(1.0),
        f"exponential_decay staircase (k0={k0}, s={s}, gamma=0.5)": gradtx.exponential_decay(
            1.0, transition_steps=s, decay_rate=0.5, transition_begin=k0, staircase=True
        ),
        f"exponential_decay smooth (k0={k0}, s={s}, gamma=0.5)": gradtx.exponential_decay(
            1.0, transition_steps=s, decay_rate=0.5, transition_begin=k0
        ),
        f"inverse_time_decay 1/t (k0={k0}, s={s})": gradtx.inverse_time_decay(
            1.0, transition_steps=s, transition_begin=k0, staircase=True
        ),
        f"linear_schedule (tau={tau})": gradtx.linear_schedule(1.0, 0.1, transition_steps=tau),
        "polynomial_schedule (power 2)": gradtx.polynomial_schedule(1.0, 0.0, 2.0, steps),
        "cosine_decay_schedule (alpha=0.1)": gradtx.cosine_decay_schedule(1.0, steps, alpha=0.1),
        f"warmup_cosine_decay (warmup {warm})": gradtx.warmup_cosine_decay_schedule(
            0.0, 1.0, warm, steps
        ),
        f"warmup_constant (warmup {warm})": gradtx.warmup_constant_schedule(0.0, 1.0, warm),
        f"warmup_exponential_decay (warmup {warm})": gradtx.warmup_exponential_decay_schedule(
            0.0, 1.0, warm, transition_steps=s, decay_rate=0.5
        ),
        "piecewise_constant (x0.5 at 30%, 60%)": gradtx.piecewise_constant_schedule(
            1.0, {int(0.3 * steps): 0.5, int(0.6 * steps): 0.5}
        ),
        "piecewise_interpolate (linear)": gradtx.piecewise_interpolate_schedule(
            "linear", 1.0, {int(0.3 * steps): 0.2, int(0.6 * steps): 5.0}
        ),
        "join_schedules (warmup, then cosine)": gradtx.join_schedules(
            [gradtx.linear_schedule(0.0, 1.0, warm), gradtx.cosine_decay_schedule(1.0, steps)],
            [warm],
        ),
        "sgdr_schedule (3 warm restarts)": gradtx.sgdr_schedule(
            [
                {
                    "init_value": 0.0,
                    "peak_value": 1.0,
                    "warmup_steps": warm // 2,
                    "decay_steps": steps // 3,
                }
            ]
            * 3
        ),
        "linear_onecycle_schedule": gradtx.linear_onecycle_schedule(steps, 1.0),
        "cosine_onecycle_schedule": gradtx.cosine_onecycle_schedule(steps, 1.0),
    }


def plot(values: dict[str, np.ndarray], path: pathlib.Path) -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = -(-len(values) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), sharex=True)
    for ax, (name, v) in zip(axes.flat, values.items(), strict=False):
        ax.plot(np.arange(len(v)), v, lw=1.5)
        ax.set_title(name, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(values) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step k")
    fig.suptitle("gradtx schedules (value returned for step k; the first update uses k = 0)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)

    counts = jnp.arange(args.steps)
    values = {name: np.asarray(fn(counts)) for name, fn in schedules(args.steps).items()}
    figure = plot(values, args.out / "schedules.png")
    print(f"{len(values)} schedules over {args.steps} steps -> {figure}")
    return {"values": values, "figure": figure}


if __name__ == "__main__":
    main()
