"""Every difference between a preset's default and its write-up has a reason, and README shows them all."""

from pathlib import Path

import pytest

from minigan.cli import main
from minigan.presets import PRESETS, fidelity_markdown, fidelity_rows
from minigan.presets.fidelity import differences

README = Path(__file__).resolve().parents[1] / "README.md"
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


def test_readme_carries_the_table_as_the_presets_make_it():
    assert fidelity_markdown() in README.read_text(), (
        "README's fidelity table is stale: paste `minigan presets --fidelity` into it")


def test_the_cli_prints_the_table(capsys):
    assert main(["presets", "--fidelity", "vanilla"]) == 0
    out = capsys.readouterr().out
    assert out == fidelity_markdown(["vanilla"])
    assert "| `--steps` | 50000 | none |" in out
