"""What stands between the network and the routes: cross-site refusal and a request-head timeout.

Any web page the user visits can send requests to 127.0.0.1 (an <img> tag, a form, a `fetch` in
no-cors mode); the browser will not let it read the answer, but the server would still compute.
Browsers say where a request comes from (`Sec-Fetch-Site`, and `Origin` on POSTs), so the API
refuses what they mark as another site's. Scripts and `curl` send neither header and are served.

uvicorn (with h11) holds a connection that never finishes its request head for as long as the
client likes; HeaderTimeoutProtocol closes it after HEADER_SECONDS.
"""

from __future__ import annotations

import h11
from starlette.datastructures import Headers
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_SECONDS = 10.0  # from connecting (or the last answer) to a complete request line and headers
BROWSER_OWN = ("same-origin", "none")  # Sec-Fetch-Site values of the page's own requests and typed URLs


def cross_site(headers: Headers) -> str | None:
    """Why a browser request comes from another site, or None when it does not (or is no browser's)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in BROWSER_OWN:
        return f"the browser marks this request {site} (Sec-Fetch-Site)"
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
        return f"it comes from the page at {origin[:80]!r}, not from http://{host[:80]}"
    return None


class CrossSiteGuard:
    """ASGI middleware: 403 with a one-line JSON error for cross-site requests to paths under `prefix`."""

    def __init__(self, app, refuse, prefix: str = "/api/") -> None:
        self.app, self.refuse, self.prefix = app, refuse, prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            reason = cross_site(Headers(scope=scope))
            if reason is not None:
                response = self.refuse(403, f"cross-site request refused: {reason}; the API answers only "
                                            "its own page and clients that send no Origin header")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head takes over HEADER_SECONDS.

    The timer runs from the connection (or the end of the previous answer's keep-alive wait) until
    h11 has parsed a whole request head; a request being answered, or its body, is not timed here.
    """

    _head_timer = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # still reading a request head
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(HEADER_SECONDS, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
