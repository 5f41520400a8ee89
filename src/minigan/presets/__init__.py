"""Presets: the five write-ups and the tuned recipes as records of one config (records.py), resolved
with overrides into a run's config (resolve.py), and their fidelity table (fidelity.py)."""

from .fidelity import fidelity_markdown, fidelity_rows
from .records import PRESETS, Preset
from .resolve import get_config, preset_names

__all__ = ["PRESETS", "Preset", "get_config", "preset_names", "fidelity_rows", "fidelity_markdown"]
