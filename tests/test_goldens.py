"""Every preset's math is pinned: 50 seeded CPU steps give the recorded G and D weights.

Recorded by tests/golden_steps.py on main before the update step became phases (1e76ecb), and
re-recorded only where a fix changed the math on purpose (the commit says which and why).
Tolerances are per weight: matmul-only presets agree to 1e-6; presets with convolutions to 1e-4,
the spread of oneDNN's conv kernels between CPUs.
"""

from __future__ import annotations

import json
import math

import pytest
from golden_steps import CASES, GOLDEN_FILE, case_name, train_case

CONV_PRESETS = ("dcgan", "cgan", "fast", "fast-cond", "best", "best-cond")
GOLDENS = json.loads(GOLDEN_FILE.read_text())


def per_weight_tolerance(preset: str) -> float:
    return 1e-4 if preset in CONV_PRESETS else 1e-6


@pytest.mark.parametrize(("preset", "literal"), CASES, ids=[case_name(*case) for case in CASES])
def test_fifty_steps_give_the_recorded_weights(preset, literal, mnist_dir):
    golden = GOLDENS[case_name(preset, literal)]
    got = train_case(preset, literal, mnist_dir)
    tol = per_weight_tolerance(preset)
    for net in ("G", "D"):
        assert sorted(got[net]) == sorted(golden[net]), f"{net}'s tensors changed"
        for name, (total, squares, probe, size) in golden[net].items():
            spread = tol * math.sqrt(size) * 4  # random rounding over `size` weights
            g_total, g_squares, g_probe, g_size = got[net][name]
            where = f"{case_name(preset, literal)}: {net}.{name}"
            assert g_size == size, where
            assert abs(g_total - total) <= spread, f"{where} sum {g_total} != {total}"
            assert abs(g_probe - probe) <= spread, f"{where} probe {g_probe} != {probe}"
            assert abs(g_squares - squares) <= 2 * math.sqrt(squares) * spread + tol, f"{where} squares"
