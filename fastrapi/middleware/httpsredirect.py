"""``HTTPSRedirectMiddleware``: redirect ``http``/``ws`` requests to ``https``/``wss`` with a 307 (Starlette's)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..responses import PlainTextResponse, RedirectResponse, Response
from .asgi import request_scheme
from .base import NativeMiddleware
from .trustedhost import request_url

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["HTTPSRedirectMiddleware"]


class HTTPSRedirectMiddleware(NativeMiddleware):
    """Every plain-HTTP request is answered with a 307 to the same URL over HTTPS (port 80/443 dropped).

    A request is plain HTTP unless it came over TLS (``ssl_certfile``), or through a trusted TLS proxy that
    says so (``proxy_headers=True``, ``X-Forwarded-Proto: https``), or from an ASGI server with ``scheme``
    https.
    """

    async def handle(self, request: "Request") -> Response:
        scheme = request_scheme(request)
        if scheme in ("http", "ws"):
            return redirect_response(request, scheme)
        return await self.app(request)

    def check_websocket(self, request: "Request", scheme: str) -> Response | None:
        return redirect_response(request, scheme) if scheme in ("http", "ws") else None


def redirect_response(request: "Request", scheme: str) -> Response:
    url = request_url(request, scheme)
    if not url.netloc:
        return PlainTextResponse("Invalid host header", status_code=400)
    netloc = url.hostname if url.port in (80, 443) else url.netloc  # (as Starlette: hostname lower-cased)
    target = url._replace(scheme={"http": "https", "ws": "wss"}[scheme], netloc=netloc or "")
    return RedirectResponse(target.geturl(), status_code=307)
