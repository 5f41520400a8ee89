"""Request checking for the playground API: every input parsed, bounded, and refused in one line.

Limits live here so that the README's table, the page and the tests name the same numbers.
"""

from __future__ import annotations

import io
import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping
from urllib.parse import quote

import numpy as np
from PIL import Image

from minigan import visual

MAX_GRID = 16  # samples grid: at most 16 x 16 = 256 images a request
MAX_SEED = 2**32 - 1
MAX_STEPS = 64  # interpolation and morph strips
MAX_FRAMES = 120  # clock faces and GIFs
MAX_GIF_SCALE = 8
MAX_MAP = 32  # 2-d latent map: at most 32 x 32 cells
MAX_DIRECTIONS = 8  # latent sliders
MAX_MOVE = 5.0  # how far one slider moves, in latent units
MAX_LATENT = 10.0  # |z_i| for explicit latents (2-d sliders, morphs)
MAX_AMPLITUDE = 3.0
MAX_UPLOAD = 512 * 1024  # bytes of a drawing
MAX_UPLOAD_SIDE = 1024  # pixels per side of a drawing
MAX_OPT_STEPS = 1000
MAX_OPT_SECONDS = 10.0
MAX_JSON = 64 * 1024  # bytes of a JSON request body
MAX_JSON_DEPTH = 8  # nesting of a JSON request body (the deepest real one is 2: {"z": [...]})

_INT = re.compile(r"-?\d{1,20}")


class ApiError(Exception):
    """An answer to a bad request: HTTP status and a one-line message for the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Query:
    """Typed, bounded access to query parameters. Unknown or repeated names are errors (typos)."""

    def __init__(self, params: Mapping[str, str], allowed: Iterable[str],
                 multi: Iterable[tuple[str, str]] = (), noun: str = "parameter") -> None:
        allowed = sorted(allowed)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            takes = ", ".join(allowed) if allowed else f"no {noun}s"
            raise ApiError(400, f"unknown {noun} {unknown[0]!r}; this endpoint takes {takes}")
        names = [name for name, _ in multi]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ApiError(400, f"{noun} {repeated[0]!r} given more than once")
        self.noun = noun
        self.params = params

    def has(self, name: str) -> bool:
        return self._raw(name) is not None

    def _raw(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None or value == "" else value

    def int(self, name: str, default: int | None, low: int, high: int) -> int:
        value = self.optional_int(name, low, high)
        if value is None:
            if default is None:
                raise ApiError(400, f"{self.noun} {name!r} is required (an integer in {low}..{high})")
            return default
        return value

    def optional_int(self, name: str, low: int, high: int) -> int | None:
        raw = self._raw(name)
        if raw is None:
            return None
        if not _INT.fullmatch(raw) or not low <= int(raw) <= high:
            raise ApiError(400, f"{name} must be an integer in {low}..{high}, got {raw[:40]!r}")
        return int(raw)

    def float(self, name: str, default: float, low: float, high: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        return check_float(raw, name, low, high)

    def floats(self, name: str, max_count: int, low: float, high: float) -> list[float]:
        """A comma-separated list of numbers, e.g. move=0.5,-1,0."""
        raw = self._raw(name)
        if raw is None:
            return []
        parts = raw.split(",")
        if len(parts) > max_count:
            raise ApiError(400, f"{name} takes at most {max_count} comma-separated numbers, got {len(parts)}")
        return [check_float(part, name, low, high) for part in parts]

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        raw = self._raw(name)
        choices = tuple(choices)
        if raw is None:
            return default
        if raw not in choices:
            raise ApiError(400, f"{name} must be one of {', '.join(choices)}, got {raw[:40]!r}")
        return raw

    def flag(self, name: str) -> bool:
        return self.choice(name, "0", ("0", "1")) == "1"

    def text(self, name: str, default: str, pattern: str, example: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if not re.fullmatch(pattern, raw):
            raise ApiError(400, f"{name} must look like {example}, got {raw[:40]!r}")
        return raw


def parse_json(body: bytes) -> object:
    """A request body as JSON; malformed, too deep, or too long a number is a one-line 400."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise ApiError(400, f"the JSON body is nested too deeply; at most {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and integers past Python's digit limit
        raise ApiError(400, f"the body is not valid JSON ({str(exc).splitlines()[0][:120]}); "
                            "send a JSON object") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ApiError(400, f"the JSON body is nested too deeply; at most {MAX_JSON_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return value


def json_query(spec: object, allowed: Iterable[str], example: str) -> Query:
    """A JSON object's fields as a Query, so bodies and query strings share one set of checks.

    null means "not given"; numbers and strings are checked as their text; anything else (lists,
    objects, booleans) fails the field's check with its JSON shown.
    """
    if not isinstance(spec, dict):
        raise ApiError(400, f"the body must be a JSON object, e.g. {example}")
    values = {}
    for name, value in spec.items():
        if value is None:
            continue
        plain = isinstance(value, int | float | str) and not isinstance(value, bool)
        values[name] = str(value) if plain else json.dumps(value)
    return Query(values, allowed, noun="field")


def check_float(value: object, name: str, low: float, high: float) -> float:
    plain = isinstance(value, str | int | float) and not isinstance(value, bool)
    try:
        number = float(value) if plain else None
    except (ValueError, OverflowError):  # OverflowError: an integer past float's range
        number = None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        shown = str(value)[:40]
        raise ApiError(400, f"{name} must be a number in {low:g}..{high:g}, got {shown!r}")
    return number


def png_bytes(images: np.ndarray, nrow: int, padding: int = 2) -> bytes:
    """uint8 (N, H, W) -> the PNG bytes of the grid that `visual.save_grid` would write."""
    grid = visual.make_grid(images, nrow=nrow, padding=padding)
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")  # 2-d uint8: mode L, as save_grid
    return buffer.getvalue()


def command_header(words: list[str]) -> str:
    """A shell command as an HTTP header value: quoted for a shell, percent-encoded outside ASCII.

    Plain paths come through readable; the page decodes it with decodeURIComponent.
    """
    return quote(shlex.join(words), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
