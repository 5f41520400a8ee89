"""The run config: choices (choices.py), the TrainConfig fields and reading them (fields.py), and
the checks of their values (checks.py). Presets, values of this config, live in presets/."""

from .choices import *  # noqa: F403 - the Literal choice types
from .choices import AugmentOp, augment_ops, flag
from .fields import (
    TrainConfig,
    coerce_field,
    config_fields,
    ema_kimg_from_decay,
    field_choices,
    field_help,
    field_sections,
    upgrade_legacy_fields,
    validate,
)

__all__ = ["TrainConfig", "validate", "coerce_field", "config_fields", "field_help", "field_sections",
           "field_choices", "ema_kimg_from_decay", "flag", "augment_ops", "AugmentOp",
           "upgrade_legacy_fields"]
