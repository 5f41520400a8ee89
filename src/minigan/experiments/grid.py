"""A sweep's grid: `--grid "lr_g=1e-3,2e-3 r1_gamma=0,1"` -> typed values -> grid points -> run names.

Entries are separated by spaces, values by commas. A value that itself holds commas is grouped
with brackets, parentheses or quotes: `g_hidden=[64,32],[128,64]`, `augment=none,'translation,cutout'`.
Values are read with the config's own coercion (`config.coerce_field`), so the grid accepts what
`minigan train --FIELD VALUE` accepts.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import coerce_field, config_fields, flag
from ..errors import ConfigError

GRID_EXAMPLE = '--grid "lr_g=1e-3,2e-3 r1_gamma=0,1"'
_OPEN = {"[": "]", "(": ")"}
_QUOTES = "'\""
# Fields the sweep itself sets for every run: seeds by --seeds, devices by --devices.
_NOT_IN_GRID = {"seed": "--seeds 0,1", "device": "--devices cpu or --devices cuda:0,cuda:1"}
MAX_NAME = 150  # longer run names end in a hash instead (file systems allow 255 bytes)


def _split(text: str, separator: str, where: str) -> list[str]:
    """Split at `separator` (" " = any whitespace) outside brackets and quotes."""
    parts, current, closers, quote = [], [], [], None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in _QUOTES:
            quote = char
        elif char in _OPEN:
            closers.append(_OPEN[char])
        elif char in _OPEN.values():
            if not closers or closers.pop() != char:
                raise ConfigError(f"unbalanced {char!r} in {where}; group a value holding commas as "
                                  "[a,b], (a,b) or 'a,b'")
        elif not closers and (char.isspace() if separator == " " else char == separator):
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote or closers:
        missing = quote or closers[-1]
        raise ConfigError(f"unclosed {missing!r} in {where}; close every bracket and quote")
    parts.append("".join(current))
    return parts


def _unwrap(value: str) -> str:
    value = value.strip()
    wrapped = _OPEN.get(value[:1]) == value[-1:] or (value[:1] in _QUOTES and value[:1] == value[-1:])
    if len(value) >= 2 and wrapped:
        return value[1:-1]
    return value


def field_name(name: str) -> str:
    """'lr-g' or '--lr-g' -> 'lr_g'; an unknown name is a ConfigError that suggests the closest."""
    normal = name.strip().lstrip("-").replace("-", "_")
    known = [f.name for f in config_fields()]
    if normal in _NOT_IN_GRID:
        raise ConfigError(f"{normal} cannot be a grid field: the sweep sets it, use {_NOT_IN_GRID[normal]}")
    if normal not in known:
        close = difflib.get_close_matches(normal, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"unknown config field {name.strip()!r} in the grid; {hint}"
                          "the fields are listed by `minigan train --help`")
    return normal


def parse_grid(text: str) -> dict[str, list[str]]:
    """'lr_g=1e-3,2e-3 augment=none,[translation,cutout]' -> {'lr_g': ['1e-3', '2e-3'], ...} (strings)."""
    grid: dict[str, list[str]] = {}
    for entry in _split(text.strip(), " ", f"--grid {text!r}"):
        if not entry:
            continue
        name, equals, values = entry.partition("=")
        if not equals or not name.strip():
            raise ConfigError(f"grid entry {entry!r} is not FIELD=V1,V2: write e.g. {GRID_EXAMPLE} "
                              "(entries separated by spaces, values by commas)")
        name = field_name(name)
        if name in grid:
            raise ConfigError(f"the grid names {name} twice; list all its values in one entry: {name}=a,b")
        if not values.strip():
            raise ConfigError(f"grid field {name} has no values; write {name}=V1,V2")
        grid[name] = [_unwrap(v) for v in _split(values, ",", f"grid entry {entry!r}")]
    return grid


def typed_grid(grid: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Check a grid (strings from the CLI or Python values) and read every value as its field's type."""
    typed: dict[str, list[Any]] = {}
    for raw_name, values in grid.items():
        name = field_name(raw_name)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ConfigError(f"grid values of {name} must be a list, e.g. {{{name!r}: [a, b]}}, "
                              f"got {values!r}")
        if not values:
            raise ConfigError(f"grid field {name} has no values; give at least one")
        read = [coerce_field(name, value) for value in values]
        names = [format_value(value) for value in read]
        if len(set(names)) < len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ConfigError(f"grid field {name} lists the value {twice} twice; list each value once")
        typed[name] = read
    return typed


def typed_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Fixed overrides (CLI strings or Python values) read as their fields' types; None = not given."""
    known = {f.name for f in config_fields()}
    if unknown := sorted(set(overrides) - known):
        raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; see `minigan train --help`")
    return {name: coerce_field(name, value) for name, value in overrides.items() if value is not None}


def parse_seeds(text: str | Sequence[int]) -> list[int]:
    """'0,1,2' (or a list of ints) -> [0, 1, 2]: distinct seeds, each in 0..2**32-1."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    try:
        seeds = [int(s) for s in items if s != ""]
        if any(isinstance(s, float) and not s.is_integer() for s in items):
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"seeds must be comma-separated integers, e.g. --seeds 0,1,2; got {text!r}") \
            from None
    if not seeds:
        raise ConfigError("no seeds: give at least one, e.g. --seeds 0")
    if any(not 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"seeds must be in 0..{2**32 - 1}, got {text!r}")
    if len(set(seeds)) < len(seeds):
        raise ConfigError(f"seeds {text!r} list a seed twice; list each once")
    return seeds


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product in grid order, the last field varying fastest; [{}] for an empty grid."""
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _float_text(value: float) -> str:
    """The shortest text that reads back as `value`: 0.001 -> '1e-3', 0.5 -> '0.5', 10.0 -> '10'."""
    plain = repr(value).removesuffix(".0")
    for digits in range(17):
        mantissa, exponent = f"{value:.{digits}e}".split("e")
        if float(f"{mantissa}e{exponent}") == value:
            break
    scientific = f"{mantissa}e{int(exponent)}"
    return scientific if len(scientific) < len(plain) else plain


def format_value(value: Any) -> str:
    """A grid value as it appears in run names and tables."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, (tuple, list)):
        return "-".join(format_value(v) for v in value)
    return str(value) if value != "" else "none"


def grid_text(grid: Mapping[str, Sequence[Any]]) -> str:
    """The --grid string that reads back as `grid` (typed values): the inverse of `parse_grid`."""
    def text(value: Any) -> str:
        if isinstance(value, (tuple, list)):
            return "[" + ",".join(str(v) for v in value) + "]"
        shown = value if isinstance(value, str) else format_value(value)
        return f"[{shown}]" if shown == "" or any(c in shown for c in ", ") else shown

    return " ".join(f"{name}={','.join(text(v) for v in values)}" for name, values in grid.items())


def point_name(point: Mapping[str, Any]) -> str:
    return ",".join(f"{name}={format_value(value)}" for name, value in point.items())


def run_name(point: Mapping[str, Any], seed: int) -> str:
    """'lr_g=1e-3,r1_gamma=1,seed=0': a folder name (characters other than [A-Za-z0-9._=,+-] -> '_')."""
    name = ",".join(filter(None, [point_name(point), f"seed={seed}"]))
    name = re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 13]}...{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return name


def cli_args(overrides: Mapping[str, Any]) -> list[str]:
    """Typed overrides -> `minigan train` flags that read back as the same values."""
    args = []
    for name, value in overrides.items():
        if isinstance(value, bool):
            args.append(flag(name) if value else "--no-" + flag(name)[2:])
        elif value is None:
            args.append(f"{flag(name)}=none")
        elif isinstance(value, (tuple, list)):
            args.append(f"{flag(name)}={','.join(str(v) for v in value)}")
        elif isinstance(value, float):
            args.append(f"{flag(name)}={value!r}")
        else:
            args.append(f"{flag(name)}={value}")  # `=` form: a value may start with '-' or be empty
    return args


def device_for_worker(index: int, devices: Sequence[str]) -> str:
    """Worker `index` runs on devices[index % len(devices)]: one run per device, round-robin."""
    if not devices:
        raise ConfigError("a sweep needs at least one device")
    if index < 0:
        raise ConfigError(f"worker index must be zero or positive, got {index}")
    return devices[index % len(devices)]
