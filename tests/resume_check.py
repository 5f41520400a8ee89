"""The bit-exact resume check the loop's tests share: 9 steps in one go against 5, a stop, and a resume
to 9, compared to the bit (weights, EMA, optimiser moments, balance state, RNG)."""

from __future__ import annotations

from pathlib import Path

import torch

import minigan
from minigan.run import checkpoint


def resumed_equals_whole(tmp_path: Path, preset: str, **overrides) -> tuple[dict, dict]:
    """Both runs' step-9 checkpoints, after asserting they are equal; `overrides` go to both."""
    common = {"progress": False, "checkpoint_every": 3, **overrides}
    minigan.train(preset, tmp_path / "whole", steps=9, **common)
    minigan.train(preset, tmp_path / "half", steps=5, **common)
    minigan.resume(tmp_path / "half", steps=9, progress=False)
    a, b = (checkpoint.load_checkpoint(tmp_path / r / "checkpoints" / "step-000000009.pt")
            for r in ("whole", "half"))
    for part in ("G", "D", "G_ema"):
        for key, value in (a[part] or {}).items():
            torch.testing.assert_close(value, b[part][key], rtol=0, atol=0, msg=f"{part}.{key}")
    for opt in ("opt_G", "opt_D"):
        for index, state in a[opt]["state"].items():
            for name in ("exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(state[name], b[opt]["state"][index][name], rtol=0, atol=0)
    assert a["balance"] == b["balance"] and torch.equal(a["rng_cpu"], b["rng_cpu"])
    return a, b
