"""Tiny trained runs shared by the playground's API and browser tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import minigan

RUNS = {
    # name: (preset, overrides)
    # progress grids for the watch panel; no clusters: the finite-difference checks of the latent
    # directions need a G without cluster jumps (clustered ones: tests/test_clusters.py)
    "fast": ("fast", {"sample_every": 10, "clusters": 0}),
    "fast-cond": ("fast-cond", {}),
    "tiny-2d": ("minimal", {"z_dim": 2}),  # raw latent sliders and the 2-d map
}


def tiny_runs(tmp_path_factory, mnist_dir: Path) -> Path:
    """A folder holding the RUNS, 30 steps each, made on first call and reused after."""
    root = tmp_path_factory.getbasetemp() / "serve-runs"
    if (root / "done").is_file():
        return root
    for name, (preset, overrides) in RUNS.items():
        minigan.train(preset, out=root / name, steps=30, data_dir=str(mnist_dir), progress=False, threads=1,
                      log_every=10, checkpoint_every=30, **overrides)
    (root / "done").write_text("")
    return root
