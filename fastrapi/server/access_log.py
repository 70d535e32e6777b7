"""``LoggingHttpProtocol``: the HTTP protocol with an access-log line per response.

The server uses it instead of ``HttpProtocol`` only when ``access_log=True``, so the default protocol carries no
logging code at all. Each response's line goes to the ``fastrapi.access`` logger once its head is written::

    127.0.0.1:54321 - "GET /items?x=1 HTTP/1.1" 200

(the record's args are ``client_addr, method, path?query, http_version, status``; ``fastrapi.logging.AccessFormatter``
lays them out like uvicorn's access log). Protocol-level rejections (400/413/414/431 before a request exists)
are not access-logged, as in uvicorn.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .http import HttpProtocol

if TYPE_CHECKING:
    from ..requests import Request
    from .server import Server

access_logger = logging.getLogger("fastrapi.access")

_NO_FAST_ROUTES: dict[bytes, Any] = {}


class LoggingHttpProtocol(HttpProtocol):
    """``HttpProtocol`` that logs each response it writes to ``fastrapi.access``."""

    __slots__ = ("client_addr",)

    def __init__(self, server: "Server") -> None:
        super().__init__(server)
        # The fast path writes its response inline, past _write_response: every request takes the full path
        # here (same handlers, same answers), so that every response is logged in one place.
        self._fast_routes = _NO_FAST_ROUTES
        self.client_addr = "-"

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            host = peer[0]
            self.client_addr = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"

    def _log(self, request: "Request", status: int) -> None:
        path = request.path
        if request.query_string:
            path = path + "?" + request.query_string.decode("latin-1")
        access_logger.info('%s - "%s %s HTTP/%s" %d', self.client_addr, request.method, path,
                           request.http_version, status)

    def _head(self, request: "Request", status: int, raw_headers: list[tuple[bytes, bytes]], framing: bytes = b"") -> bytes:
        head = super()._head(request, status, raw_headers, framing)  # (a refused head is logged as its 500)
        self._log(request, status)
        return head

    def _write_response(self, request: "Request", response: Any) -> None:
        super()._write_response(request, response)
        if type(response) is bytes:  # handler JSON: the pre-joined head, not made by _head
            self._log(request, 200)
