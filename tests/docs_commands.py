"""Read the shell and Python blocks of README.md and docs/*.md, and run them as written, with only the
rewrites in RULES (shorter budgets, a free port, 2 CPU processes). Used by tests/test_docs_commands.py.

A block the machine here cannot run is marked in the page, on the line before its fence:
`<!-- docs-test: skip (needs a GPU) -->`; it is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
         REPO / "src" / "minigan" / "serve" / "README.md"]  # the playground's own page
SHELLS = ("bash", "sh", "console")
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((.+)\)\s*-->")
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str  # "bash" or "python"
    text: str
    skip: str | None  # the reason, when the page marks it

    @property
    def where(self) -> str:
        page = self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page
        return f"{page}:{self.line}"


def read_blocks(page: Path) -> list[Block]:
    """Every fenced shell or python block of a page, with the skip mark on the line before it."""
    lines, blocks, i = page.read_text(encoding="utf-8").splitlines(), [], 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        lang = fence.group(1)
        if lang in SHELLS or lang == "python":
            mark = _SKIP.search(lines[i - 1]) if i else None
            blocks.append(Block(page, i + 1, "bash" if lang in SHELLS else "python",
                                "\n".join(lines[i + 1:end]), mark.group(1) if mark else None))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in read_blocks(page)]


def commands(text: str) -> list[list[str]]:
    """Shell text -> commands (argv lists): continuations joined, comments dropped, split at && and ;."""
    out: list[list[str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|>")
        lexer.whitespace_split, lexer.commenters = True, "#"
        argv: list[str] = []
        for token in lexer:
            if token in ("&&", ";"):
                out.append(argv) if argv else None
                argv = []
            elif token in ("|", "||", "&"):
                raise ValueError(f"the docs test runs no pipes or background jobs: {line!r}")
            else:
                argv.append(token)
        if argv:
            out.append(argv)
    return out


# --- the rewrites: each a rule, never an edit per command ------------------------------------------

def _steps(n: int) -> int:
    return min(n, max(10, n // 100))


def _set(argv: list[str], flag: str, value: str) -> list[str]:
    """argv with `flag value` (replacing the flag's value if present)."""
    if flag in argv:
        i = argv.index(flag)
        return [*argv[:i + 1], value, *argv[i + 2:]]
    return [*argv, flag, value]


def _budget(argv: list[str]) -> list[str]:
    """--time-budget N and --epochs N become --steps 20; --steps N becomes N/100 (10 at least, N at most)."""
    out, i = [], 0
    while i < len(argv):
        flag = argv[i]
        if flag in ("--time-budget", "--epochs") and i + 1 < len(argv):
            if "--steps" not in argv:
                out += ["--steps", "20"]
            i += 2
            continue
        if flag == "--steps" and i + 1 < len(argv) and argv[i + 1].isdigit():
            out += ["--steps", str(_steps(int(argv[i + 1])))]
            i += 2
            continue
        out.append(flag)
        i += 1
    return out


def _counts(argv: list[str]) -> list[str]:
    """--num N and --eval-num N at most 200; --eval-every N becomes 10; `eval` scores 200 samples;
    a load test sends 12 requests."""
    for flag, cap in (("--num", 200), ("--eval-num", 200), ("--eval-every", 10), ("--requests", 12)):
        if flag in argv:
            i = argv.index(flag)
            argv = _set(argv, flag, str(min(int(argv[i + 1]), cap)))
    if argv[:2] == ["minigan", "eval"] and "--num" not in argv:
        argv = [*argv, "--num", "200"]
    if "benchmarks/serve_load.py" in argv and "--requests" not in argv:
        argv = [*argv, "--requests", "12"]
    return argv


def _torchrun(argv: list[str]) -> list[str]:
    """torchrun on 2 CPU processes of this Python, on loopback."""
    if argv[0] != "torchrun":
        return argv
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = _set(argv, "--nproc-per-node", "2")
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--master-addr", "127.0.0.1",
            "--master-port", str(port), *argv[1:]]


RULES = (_budget, _counts, _torchrun)
PY_RULES = (  # the same budgets as keywords in Python blocks
    (re.compile(r"\bsteps=(\d+)(?![\d.])"), lambda m: f"steps={_steps(int(m.group(1)))}"),
    (re.compile(r"\btime_budget=\d+"), lambda m: "steps=20"),
    (re.compile(r"\b(num|eval_num)=(\d+)"), lambda m: f"{m.group(1)}={min(int(m.group(2)), 200)}"),
)


def rewrite(argv: list[str]) -> list[str]:
    for rule in RULES:
        argv = rule(argv)
    return argv


def rewrite_python(code: str) -> str:
    for pattern, repl in PY_RULES:
        code = pattern.sub(repl, code)
    return code


# --- running ---------------------------------------------------------------------------------------

@dataclass
class Ran:
    argv: list[str]
    returncode: int
    out: str  # stdout and stderr


def _env_assignments(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
        name, _, value = argv[0].partition("=")
        env[name] = value
        argv = argv[1:]
    return env, argv


def _in_process(argv: list[str]) -> Ran:
    from minigan.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            code = main(argv[1:])
        except SystemExit as exc:  # argparse refusing the line
            code = exc.code if isinstance(exc.code, int) else 2
    return Ran(argv, code or 0, buffer.getvalue())


def _serve(argv: list[str], cwd: Path, env: dict[str, str]) -> Ran:
    """Start the server on a free port, ask it for its runs, stop it."""
    argv = _set(argv, "--port", "0")
    proc = subprocess.Popen([sys.executable, "-m", "minigan", *argv[1:]], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if url := re.search(r"at (http://\S+/) ", line):
                with urllib.request.urlopen(url.group(1) + "api/runs", timeout=30) as answer:
                    lines.append(answer.read().decode())
                return Ran(argv, 0, "".join(lines))
        return Ran(argv, 1, "".join(lines) + "\n(the server printed no URL)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_command(argv: list[str], cwd: Path, env: dict[str, str]) -> Ran | None:
    """Run one documented command after RULES; None for a `pip install` (the suite runs installed)."""
    extra, argv = _env_assignments(argv)
    if argv[0] == "pip" or argv[:3] == ["python", "-m", "pip"]:
        return None
    argv = rewrite(argv)
    target = None
    if ">" in argv:
        i = argv.index(">")
        argv, target = argv[:i], cwd / argv[i + 1]
    if argv[:2] == ["minigan", "serve"]:
        return _serve(argv, cwd, {**env, **extra})
    if argv[0] == "minigan" and not extra and target is None:
        return _in_process(argv)
    if argv[0] == "minigan":
        argv = [sys.executable, "-m", "minigan", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    done = subprocess.run(argv, cwd=cwd, env={**env, **extra}, capture_output=True, text=True, timeout=300)
    if target is not None:
        target.write_text(done.stdout)
    return Ran(argv, done.returncode, done.stdout + done.stderr)


def run_python(code: str, cwd: Path) -> Ran:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        exec(compile(rewrite_python(code), "<docs block>", "exec"), {"__name__": "__docs__"})
    return Ran(["python"], 0, buffer.getvalue())


def written_files(argv: list[str], cwd: Path) -> list[Path]:
    """The files a command names that exist after it ran: every .png/.npz/.gif/.md/.json argument."""
    names = [a for a in argv if re.search(r"\.(png|npz|gif|md|json)$", a)]
    return [cwd / n for n in names if (cwd / n).is_file()]
