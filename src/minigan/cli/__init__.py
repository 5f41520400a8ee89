"""`minigan` command line: parse, validate, call the Python API, print. Nothing else lives here."""

from __future__ import annotations

import sys

from ..errors import MiniganError
from . import commands
from .parser import build_parser

_parser = build_parser  # the name tests and tools use

def _say(line: str) -> None:
    """One write per line: the processes of a torchrun job share stderr, and print's separate
    newline write let two ranks' errors run together on one line."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = getattr(commands, f"_cmd_{args.command.replace('-', '_')}")
    try:
        return handler(args)
    except MiniganError as exc:
        _say(f"minigan: error: {exc}")
        return 2
    except OSError as exc:  # a file the checks could not foresee (a folder that refuses writes, ...)
        _say(f"minigan: error: {exc.filename or 'a file'}: {exc.strerror or exc}")
        return 2
    except RuntimeError as exc:  # under torchrun: another process died before training began
        from ..training import parallel

        if not (parallel.launched() and parallel.is_lost_peer(exc)):
            raise
        _say(f"minigan: error: lost contact with the other processes of the job "
             f"({parallel.short_cause(exc)}): one was killed or crashed")
        return 2
    except KeyboardInterrupt:
        print("minigan: interrupted", file=sys.stderr)
        return 130

