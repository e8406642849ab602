"""gradtx.sharding on a mesh of 8 host CPU devices.

jax fixes its device count at import, so the sharded runs happen in one subprocess started
with ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (tests/unit/_sharding_worker.py); it
reports the shardings it saw and saves every run's parameters, and the tests below check
them. The single-device reference runs in that process too, on one of its devices.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P, SingleDeviceSharding

import gradtx

ROOT = pathlib.Path(__file__).parents[2]
TIMEOUT = 240


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharding")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "unit" / "_sharding_worker.py"), str(out)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,  # run() kills the child when it expires
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"the sharding worker failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    results = json.loads((out / "results.json").read_text())
    with np.load(out / "arrays.npz") as npz:
        arrays = dict(npz)
    return results, arrays


def _param_spec_2d(path: str, shape: list[int]):
    """The worker's model-parallel layout: weights split over "model" when it divides."""
    name = path.split("/")[-1]
    if name == "w" and shape[1] % 2 == 0:
        return [None, "model"]
    if name == "b" and shape[0] % 2 == 0:
        return ["model"]
    return []


def _param_path(state_path: str) -> str | None:
    """The MLP parameter a state leaf mirrors: ``.../mu/1/w`` -> ``1/w``."""
    parts = state_path.split("/")
    if len(parts) >= 2 and parts[-1] in ("w", "b") and parts[-2].isdigit():
        return "/".join(parts[-2:])
    return None


def _with_axis(spec: list, shape: list[int], axis: str, size: int) -> list:
    """``spec`` plus ``axis`` on the first unsharded dimension that ``size`` divides."""
    spec = spec + [None] * (len(shape) - len(spec))
    for i, n in enumerate(shape):
        if spec[i] is None and n % size == 0:
            spec[i] = axis
            return spec
    return spec


def _norm(spec: list) -> list:
    while spec and spec[-1] is None:
        spec = spec[:-1]
    return spec


def test_replicated_params_give_replicated_state(worker):
    results, _ = worker
    for key in ("dp_init", "dp_state", "dp_params"):
        for path, leaf in results[key].items():
            assert leaf["mesh"] == {"data": 8}, (key, path)
            assert _norm(leaf["spec"]) == [], (key, path, leaf)


def test_state_follows_sharded_params_leaf_by_leaf(worker):
    results, _ = worker
    params = results["mp_param_init"]
    for path, leaf in params.items():
        assert _norm(leaf["spec"]) == _norm(_param_spec_2d(path, leaf["shape"])), path
    mirrored = 0
    for key in ("mp_init", "mp_state"):
        for path, leaf in results[key].items():
            assert leaf["mesh"] == {"data": 4, "model": 2}
            p = _param_path(path)
            if p is not None:
                mirrored += 1
                assert leaf["shape"] == params[p]["shape"]
                assert _norm(leaf["spec"]) == _norm(params[p]["spec"]), (key, path)
            else:
                assert leaf["shape"] == [] and leaf["spec"] == [], (key, path)  # counts
    assert mirrored == 2 * 2 * 6  # mu and nu of 6 parameters, at init and after training
    for path, leaf in results["mp_params"].items():
        assert _norm(leaf["spec"]) == _norm(params[path]["spec"]), path


def test_zero1_splits_the_state_over_the_data_axis(worker):
    results, _ = worker
    split = 0
    for key in ("zero_init", "zero_state"):
        for path, leaf in results[key].items():
            expected = _norm(_with_axis([], leaf["shape"], "data", 8))
            assert _norm(leaf["spec"]) == expected, (key, path, leaf)
            split += "data" in expected
    assert split == 2 * 2 * 5  # every moment but the (2,) bias of the last layer
    params = results["mp_param_init"]
    for path, spec in results["mp_zero_shardings"].items():
        p = _param_path(path)
        if p is None:
            assert spec == [], path
            continue
        base = _param_spec_2d(p, params[p]["shape"])
        assert _norm(spec) == _norm(_with_axis(base, params[p]["shape"], "data", 4)), path
    for path, leaf in results["mp_zero_init"].items():
        assert _norm(leaf["spec"]) == _norm(results["mp_zero_shardings"][path]), path


@pytest.mark.parametrize("run", ["dp", "zero", "mp"])
def test_sharded_training_equals_the_single_device_run(worker, run):
    _, arrays = worker
    # Only the order of the sums over the batch differs.
    np.testing.assert_allclose(arrays[f"{run}_losses"], arrays["single_losses"], rtol=1e-6)
    names = [k[len("single/") :] for k in arrays if k.startswith("single/")]
    assert len(names) == 6
    for name in names:
        np.testing.assert_allclose(
            arrays[f"{run}/{name}"], arrays[f"single/{name}"], rtol=1e-5, atol=1e-6
        )
    # The run did train: the parameters moved.
    assert arrays["single_losses"][-1] < arrays["single_losses"][0]


def test_zero1_gives_the_same_bits_as_plain_data_parallel(worker):
    _, arrays = worker
    for prefix_a, prefix_b in [("zero/", "dp/"), ("zero_state/", "dp_state/")]:
        keys = [k for k in arrays if k.startswith(prefix_a)]
        assert keys
        for k in keys:
            np.testing.assert_array_equal(arrays[k], arrays[prefix_b + k[len(prefix_a) :]])


def test_sharded_checkpoint_restores_into_the_template_layout(worker):
    results, arrays = worker
    saved = {k: v for k, v in arrays.items() if k.startswith("ckpt_saved/")}
    assert len(saved) == len(results["ckpt_saved"]) == 2 + 2 * 6  # two counts, mu and nu
    for key in ("ckpt_rep", "ckpt_mp"):
        for k, v in saved.items():
            np.testing.assert_array_equal(arrays[key + k[len("ckpt_saved") :]], v)
    # Saved from the ZeRO-1 layout ...
    assert any("data" in (leaf["spec"] or []) for leaf in results["ckpt_saved"].values())
    # ... and placed as the templates say: replicated, or split over "model" on a 2-D mesh.
    for path, leaf in results["ckpt_rep"].items():
        assert leaf["spec"] == results["ckpt_rep_like"][path]["spec"]
        assert leaf["mesh"] == {"data": 8}
    for path, leaf in results["ckpt_mp"].items():
        assert _norm(leaf["spec"]) == _norm(results["ckpt_mp_like"][path]), path
        assert leaf["mesh"] == {"data": 4, "model": 2}
    assert any("model" in leaf["spec"] for leaf in results["ckpt_mp"].values())


# --- in this process (one device): arguments and errors --------------------------------------


def test_state_shardings_on_one_device_and_its_errors():
    tx = gradtx.adam(0.1)
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    device = SingleDeviceSharding(jax.devices()[0])
    shardings = gradtx.sharding.state_shardings(tx, params)
    assert jax.tree.structure(shardings) == jax.tree.structure(jax.eval_shape(tx.init, params))
    assert set(jax.tree.leaves(shardings)) == {device}
    # One sharding for every parameter, or a tree of them, instead of the arrays' own.
    mesh = jax.make_mesh((1,), ("data",))
    rows = NamedSharding(mesh, P("data"))
    shapes = jax.eval_shape(lambda: params)
    out = gradtx.sharding.state_shardings(tx, shapes, rows)
    assert out[0].mu["w"] == out[0].nu["b"] == rows
    assert out[0].count == NamedSharding(mesh, P())
    out = gradtx.sharding.state_shardings(
        tx, shapes, {"w": rows, "b": NamedSharding(mesh, P())}, zero_axis="data"
    )
    assert out[0].mu["w"] == rows and out[0].nu["b"].spec == P("data")
    with pytest.raises(ValueError, match=r"the parameter at \['b'\] has no sharding"):
        gradtx.sharding.state_shardings(tx, shapes)
    with pytest.raises(ValueError, match="param_shardings must be one Sharding or a tree"):
        gradtx.sharding.state_shardings(tx, shapes, {"w": rows})
    with pytest.raises(ValueError, match=r"zero_axis='batch' is not an axis of the mesh"):
        gradtx.sharding.state_shardings(tx, shapes, rows, zero_axis="batch")
    with pytest.raises(TypeError, match="tx must be a GradientTransformation"):
        gradtx.sharding.state_shardings(gradtx.adam, params)  # type: ignore[arg-type]
    state = gradtx.sharding.init_sharded(tx, jax.device_put(params, rows))
    assert state[0].mu["w"].sharding == rows
