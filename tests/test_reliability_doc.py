"""docs/reliability.md names a test for every promise: each one it names exists."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "reliability.md"


def named_tests(text: str) -> list[tuple[str, str]]:
    """(file, test) for `tests/f.py::name` and the `::other` that follow it in the same line."""
    found = []
    for line in text.splitlines():
        current = None
        for path, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)", line):
            current = path or current
            assert current, f"'::{name}' without a file before it in: {line[:80]}"
            found.append((current, name))
    return found


def test_every_test_the_reliability_page_names_exists():
    tests = named_tests(PAGE.read_text())
    assert len(tests) >= 10
    missing = [f"{path}::{name}" for path, name in tests
               if not re.search(rf"^def {name}\(", (REPO / path).read_text(), re.MULTILINE)]
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
