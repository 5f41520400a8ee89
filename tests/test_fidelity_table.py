"""Every difference between a preset's default and its write-up has a reason, and docs/fidelity.md shows
them all: the page is generated from the presets and kept equal to them here."""

from pathlib import Path

import pytest

from minigan.cli import main
from minigan.presets import PRESETS, fidelity_markdown, fidelity_rows
from minigan.presets.fidelity import differences
from minigan.presets.fidelity_page import fidelity_page

PAGE = Path(__file__).resolve().parents[1] / "docs" / "fidelity.md"
WRITE_UPS = sorted(name for name, record in PRESETS.items() if record.seed)


def test_the_five_write_ups_are_presets():
    assert WRITE_UPS == ["cgan", "dcgan", "minimal", "mlp4", "vanilla"]


@pytest.mark.parametrize("preset", WRITE_UPS)
def test_every_difference_from_the_write_up_has_a_reason_and_every_reason_a_difference(preset):
    record = PRESETS[preset]
    differ = set(differences(preset))
    assert not differ - set(record.deviations), f"{preset}: differences without a reason"
    assert not set(record.deviations) - differ, f"{preset}: reasons for settings that do not differ"
    assert all(len(reason) > 20 for reason in record.deviations.values())


@pytest.mark.parametrize("preset", WRITE_UPS)
def test_the_table_lists_every_literal_setting_with_both_values(preset):
    rows = {row.setting: row for row in fidelity_rows(preset)}
    default = PRESETS[preset].config
    for name, value in PRESETS[preset].literal.items():
        row = rows["--" + name.replace("_", "-")]
        assert (row.literal, row.default) == (value, getattr(default, name))
        assert row.reason == PRESETS[preset].deviations.get(name, "")
    assert "--arch" in rows  # the network family is always a row


def test_the_fidelity_page_is_what_the_presets_and_notes_make():
    assert PAGE.read_text(encoding="utf-8") == fidelity_page(), (
        "docs/fidelity.md is stale: python -m minigan.presets.fidelity_page > docs/fidelity.md")
    assert fidelity_markdown() in fidelity_page()


def test_the_page_says_what_the_presets_say_about_minimal():
    """The hand-written part once contradicted the presets (60,000 images, shared G noise)."""
    page = PAGE.read_text(encoding="utf-8")
    assert "| `--train-holdout` | 5000 | 5000 | same |" in page
    assert "| `--g-noise` | fresh | fresh | same |" in page
    assert "60,000 | = |" not in page and "`config.py`" not in page and "1e63694" not in page


def test_the_regeneration_command_writes_the_page(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "minigan.presets.fidelity_page"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout == PAGE.read_text(encoding="utf-8")


def test_the_cli_prints_the_table(capsys):
    assert main(["presets", "--fidelity", "vanilla"]) == 0
    out = capsys.readouterr().out
    assert out == fidelity_markdown(["vanilla"])
    assert "| `--steps` | 50000 | none |" in out
