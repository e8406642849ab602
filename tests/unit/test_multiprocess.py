"""Two processes on loopback, 4 host devices each, train data-parallel with jax.distributed.

Both processes (tests/unit/_multiprocess_worker.py) join one JAX cluster with CPU collectives over
gloo and train the gradtx MLP on a mesh of all 8 devices, with the optimizer state split over
the data axis. They must end with identical parameters, equal to this process's own
single-device run of the same steps. The children are always killed at the end.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

import gradtx
from tests.unit._sharding_worker import make_problem, train

ROOT = pathlib.Path(__file__).parents[2]
TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiprocess")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}  # fmt: skip
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "unit" / "_multiprocess_worker.py"),
                str(i),
                str(port),
                str(out),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=TIMEOUT)[0])
    except subprocess.TimeoutExpired:
        pytest.fail(f"the 2-process run did not finish within {TIMEOUT} s")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if any(proc.returncode != 0 for proc in procs):
        pytest.fail(
            "a worker failed:\n"
            + "\n".join(f"--- process {i} ---\n{log[-5000:]}" for i, log in enumerate(logs))
        )
    params = []
    for i in range(2):
        with np.load(out / f"params_{i}.npz") as npz:
            params.append(dict(npz))
    infos = [json.loads((out / f"info_{i}.json").read_text()) for i in range(2)]
    return params, infos


def test_both_processes_end_with_identical_parameters(cluster):
    params, infos = cluster
    assert params[0].keys() == params[1].keys() and len(params[0]) == 6
    for name in params[0]:
        np.testing.assert_array_equal(params[0][name], params[1][name])
    assert infos[0]["losses"] == infos[1]["losses"]
    assert all(info["state_split"] for info in infos)  # ZeRO-1 across the two processes


def test_two_processes_equal_the_single_process_run(cluster):
    params, infos = cluster
    # The reference runs on this process's CPU, the workers' backend: on a GPU, matmuls and
    # fused kernels round differently.
    with jax.default_device(jax.devices("cpu")[0]):
        p0, x, y, loss, tx = make_problem()
        p, _, losses = train(tx, loss, p0, tx.init(p0), x, y)
    np.testing.assert_allclose(infos[0]["losses"], losses, rtol=1e-6)
    assert losses[-1] < losses[0]
    for path, leaf in jax.tree_util.tree_leaves_with_path(p):
        np.testing.assert_allclose(
            params[0][gradtx.tree.path_str(path)], leaf, rtol=1e-5, atol=1e-6
        )


def test_checkpoint_of_state_split_across_processes_round_trips(cluster):
    _, infos = cluster
    assert all(info["checkpoint_round_trip"] for info in infos)
