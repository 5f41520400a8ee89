"""The fidelity table: per preset, every setting its write-up fixes, the literal and default values,
and why they differ. docs/fidelity.md holds `fidelity_markdown()` (see fidelity_page.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import TrainConfig, config_fields, flag
from .records import PRESETS

# Fields about the run's bookkeeping, not the recipe: never rows of the table.
_BOOKKEEPING = {"preset", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints"}


@dataclass(frozen=True)
class FidelityRow:
    preset: str
    setting: str  # the CLI flag
    literal: Any  # the write-up's value (--literal)
    default: Any  # the preset's default
    reason: str  # why the default differs ("" when it does not)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(str(v) for v in value) if value else "()"
    if value is None:
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def fidelity_rows(preset: str) -> list[FidelityRow]:
    """Every field the preset's write-up sets (its config's non-default fields and its literal
    overrides), in config order, with the literal value, the default and the reason."""
    record = PRESETS[preset]
    base, default = TrainConfig().to_dict(), record.config.to_dict()
    literal = {**default, **record.literal}
    rows = []
    for f in config_fields():
        name = f.name
        fixed = name == "arch" or default[name] != base[name] or name in record.literal
        if name in _BOOKKEEPING or not fixed:
            continue
        rows.append(FidelityRow(preset, flag(name), literal[name], default[name],
                                record.deviations.get(name, "")))
    return rows


def differences(preset: str) -> dict[str, tuple[Any, Any]]:
    """field -> (literal, default) for every field where the two differ."""
    record = PRESETS[preset]
    default = record.config.to_dict()
    return {k: (v, default[k]) for k, v in record.literal.items() if default[k] != v}


def fidelity_markdown(presets: list[str] | None = None) -> str:
    """The fidelity tables of docs/fidelity.md: one block per write-up preset."""
    names = presets or [name for name, record in PRESETS.items() if record.seed]
    lines = []
    for name in names:
        lines += [f"**{name}** (seed {PRESETS[name].seed})", "",
                  "| setting | write-up (`--literal`) | default | why the default differs |",
                  "|---|---|---|---|"]
        for row in fidelity_rows(name):
            same = row.literal == row.default
            reason = "same" if same else row.reason
            lines.append(f"| `{row.setting}` | {_show(row.literal)} | {_show(row.default)} | {reason} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["FidelityRow", "fidelity_rows", "fidelity_markdown", "differences"]
