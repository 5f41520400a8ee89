"""A static-file HTTP server on 127.0.0.1 (a free port) for download tests: never a real host."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path


class LoopbackServer:
    """Serves `folder` at http://127.0.0.1:PORT/<prefix>, recording every path asked for."""

    def __init__(self, root: Path, prefix: str = "") -> None:
        requests = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(root)))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix + '/' if prefix else ''}"
        self.folder = root / prefix if prefix else root
        self.folder.mkdir(parents=True, exist_ok=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
