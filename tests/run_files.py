"""What the tests of run folders and outputs share: byte digests of a folder and the one error line
a command prints (the fixtures `trained_run` and `run_copy` are in conftest.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from minigan import cli


def digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` (the lock aside) -> sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def error_line(argv: list[str], capsys) -> str:
    """The one `minigan: error:` line (exit status 2, no traceback) that `minigan ARGV` prints."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigan: error:") and "Traceback" not in err, err
    return lines[0]
