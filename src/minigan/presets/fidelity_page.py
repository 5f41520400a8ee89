"""docs/fidelity.md, generated: the hand-written notes (fidelity_notes.md beside this file: the
write-ups' shared facts, their lines, what extraction lost) around the tables `fidelity_markdown()`
makes from the presets. Regenerate with `python -m minigan.presets.fidelity_page > docs/fidelity.md`;
a test keeps the page equal to this output."""

from __future__ import annotations

from pathlib import Path

from .fidelity import fidelity_markdown

NOTES = Path(__file__).with_name("fidelity_notes.md")
_TABLES = "<!-- fidelity tables -->"


def fidelity_page() -> str:
    """The whole of docs/fidelity.md."""
    notes = NOTES.read_text(encoding="utf-8")
    if notes.count(_TABLES) != 1:
        raise ValueError(f"{NOTES} must hold the line {_TABLES} exactly once")
    return notes.replace(_TABLES, fidelity_markdown().rstrip())


if __name__ == "__main__":
    print(fidelity_page(), end="")
