"""examples/hparam_grid.py: the vmapped grid equals the Python loop and compiles once."""

from __future__ import annotations

import numpy as np

from examples import hparam_grid


def test_vmapped_grid_equals_the_loop_and_compiles_once(tmp_path, capsys):
    result = hparam_grid.main(
        ["--steps", "10", "--size", "4", "--samples", "64", "--hidden", "8", "--out", str(tmp_path)]
    )
    assert result["vmapped"].shape == result["loop"].shape == (16,)
    assert np.all(np.isfinite(result["loop"]))
    np.testing.assert_allclose(result["vmapped"], result["loop"], rtol=1e-5)
    # Different learning rates and weight decays really ran: the final losses differ.
    assert len(np.unique(result["loop"])) == 16
    assert result["traces"] == 1
    assert result["heatmap"].exists() and result["heatmap"].stat().st_size > 1000
    out = capsys.readouterr().out
    assert "vmapped, 16 runs in one program" in out
    assert "Python loop over 16 runs" in out
