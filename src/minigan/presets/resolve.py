"""From a preset name plus overrides to a validated config (the Python twin of the CLI flags)."""

from __future__ import annotations

from typing import Any

from ..config import TrainConfig, config_fields
from ..errors import ConfigError
from ..models.registry import check_honoured
from .records import PRESETS


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_config(preset: str = "mlp4", *, literal: bool = False, **overrides: Any) -> TrainConfig:
    """Resolve a preset plus overrides into a validated config, refusing fields the chosen
    architecture would ignore."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(preset_names())}")
    known = {f.name for f in config_fields()}
    if unknown := sorted(set(overrides) - known):
        raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; see `minigan presets`")
    record = PRESETS[preset]
    values = record.config.to_dict()
    if literal:
        values.update(record.literal, literal=True)
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    return check_honoured(TrainConfig.from_dict(values), explicit=given)


__all__ = ["get_config", "preset_names"]
