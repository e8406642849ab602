"""examples/sharded_training.py: runs on 8 fake CPU devices it sets up itself, splits the
optimizer state over them, matches the single-device run, and saves a checkpoint (the loss
plot is skipped here: importing matplotlib would double the run time).

The script must start in a fresh process (it sets XLA_FLAGS before jax starts), so it runs as
a subprocess, with XLA_FLAGS removed from its environment.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from gradtx import checkpoint

ROOT = pathlib.Path(__file__).parents[2]


def test_sharded_training_example(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env |= {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sharded_training.py"), "--steps", "30",
         "--no-plot", "--out", str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-5000:]
    summary = json.loads((tmp_path / "sharded_training.json").read_text())
    assert summary["devices"] == 8
    assert "8 devices, mesh {'data': 8}, optimizer state split" in proc.stdout

    losses = np.array(summary["losses"])
    assert losses.shape == (30,) and np.all(np.isfinite(losses))
    assert losses[-5:].mean() < losses[0] - 0.05
    np.testing.assert_allclose(losses, summary["single_device_losses"], rtol=1e-5)
    assert summary["max_param_difference"] < 1e-5

    # Adam's moments are split over the data axis, except the (2,) bias of the last layer;
    # the step counts are replicated.
    specs = summary["state_specs"]
    moments = {p: s for p, s in specs.items() if "/mu/" in p or "/nu/" in p}
    assert len(moments) == 12
    assert {p for p, s in moments.items() if "data" not in s} == {"1/0/mu/2/b", "1/0/nu/2/b"}
    assert {s for p, s in specs.items() if p.endswith("count")} == {"()"}

    manifest = checkpoint.read_manifest(summary["checkpoint"])
    assert manifest["metadata"] == {"step": 30}
    assert len(manifest["leaves"]) == 6 + len(specs)
    assert summary["figure"] is None and not list(tmp_path.glob("*.png"))
