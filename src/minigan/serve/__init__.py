"""The playground: `minigan serve RUN...`, a local web page over trained runs (optional extra `serve`).

    from minigan.serve import serve
    serve(["runs/fast-cond"], port=8000)        # = minigan serve runs/fast-cond --port 8000

The web stack (Starlette + uvicorn) is imported only here, on first use, so `import minigan`
stays light; without it the error names the extra to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from minigan.errors import ConfigError

INSTALL_HINT = "the playground needs the web server extra: pip install 'minigan[serve]'"


def _app_module():
    try:
        from . import app
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("starlette", "uvicorn", "anyio"):
            raise ConfigError(f"{INSTALL_HINT} (missing {exc.name})") from None
        raise
    return app


def serve(runs: Sequence[str | Path], host: str = "127.0.0.1", port: int = 8000, device: str = "cpu") -> None:
    """Serve the playground for `runs` until Ctrl-C; binds loopback unless `host` says otherwise."""
    _app_module().serve(runs, host=host, port=port, device=device)


def create_app(runs: Sequence[str | Path], device: str = "cpu"):
    """The ASGI app for `runs` (for tests and other ASGI servers); no Host-header check."""
    app = _app_module()
    from .registry import RunTable

    return app.create_app(RunTable(runs, device))


__all__ = ["serve", "create_app", "INSTALL_HINT"]
