"""The examples run briefly and do what they say."""

from __future__ import annotations

import re

from examples import quickstart


def test_quickstart_loss_goes_down_and_fits_the_spirals(capsys):
    accuracy = quickstart.main(["--steps", "600"])
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", capsys.readouterr().out)]
    assert len(losses) == 11
    assert losses[-1] < losses[0] / 10
    assert accuracy > 0.95
