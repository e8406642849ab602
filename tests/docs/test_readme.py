"""The README's code runs, and its CI test command is the one .ci/run extracts."""

from __future__ import annotations

import pathlib
import re

import jax.numpy as jnp
import numpy as np

README = (pathlib.Path(__file__).parents[2] / "README.md").read_text()


def test_readme_tour_trains():
    (block,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    namespace: dict = {}
    exec(block, namespace)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(64, 3)), jnp.float32)
    y = x @ jnp.array([[1.0, -1.0], [2.0, 0.0], [0.0, 3.0]]) + 0.5
    params, state = namespace["params"], namespace["state"]
    first = float(namespace["loss"](params, x, y))
    for _ in range(1_000):
        params, state = namespace["step"](params, state, x, y)
    assert float(namespace["loss"](params, x, y)) < first / 3


def test_readme_has_the_two_one_line_commands():
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert commands[0] == 'pip install ".[examples]" && python examples/quickstart.py'
    assert commands[1].startswith('pip install ".[test]" "torch==2.13.0"')
    assert all("\n" not in c for c in commands[:2])
