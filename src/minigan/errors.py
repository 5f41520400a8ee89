"""Errors a user can cause and fix. The CLI prints them as one line, never a traceback."""


class MiniganError(Exception):
    """Base class: the message names the problem and the fix."""


class DataError(MiniganError):
    """A dataset file is missing, damaged or not in MNIST IDX format."""


class ConfigError(MiniganError):
    """A preset name, override or combination of settings is invalid."""


class CheckpointError(MiniganError):
    """A run folder or checkpoint cannot be used (damaged, locked, incompatible)."""


class OutputError(MiniganError):
    """A file or run folder cannot be written where asked (wrong format, a run's own file, no access)."""
