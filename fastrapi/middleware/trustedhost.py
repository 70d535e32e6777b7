"""``TrustedHostMiddleware``: answer 400 to requests whose ``Host`` is not allowed (Starlette's rules:
``*.example.com`` wildcards, and a redirect to ``www.`` when only the www host is allowed)."""
from __future__ import annotations

import re
from ipaddress import AddressValueError, IPv6Address
from typing import TYPE_CHECKING, NamedTuple, Sequence
from urllib.parse import SplitResult

from ..responses import PlainTextResponse, RedirectResponse, Response
from .asgi import request_scheme, request_server
from .base import NativeMiddleware, RequestResponseEndpoint, header_get

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["TrustedHostMiddleware", "ENFORCE_DOMAIN_WILDCARD"]

ENFORCE_DOMAIN_WILDCARD = "Domain wildcard patterns must be like '*.example.com'."

# Starlette's: characters that could make a Host header change the URL path or authority are refused
_HOST_RE = re.compile(
    r"^(?P<host>[a-z0-9._~%!$&'()*+,;=-]+|\[(?:(?P<ipv6>[a-f0-9]*:[a-f0-9.:]+)|"
    r"(?-i:v)[a-f0-9]+\.[a-z0-9._~!$&'()*+,;=:-]+)\])(?::(?P<port>[0-9]+))?$",
    re.IGNORECASE,
)


class ParsedHost(NamedTuple):
    host: str
    port: str | None

    @property
    def authority(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def is_valid_port(self) -> bool:
        if self.port is None:
            return True
        port = self.port.lstrip("0")
        return len(port) <= 5 and int(port or "0") <= 65535


def parse_host_header(host_header: str | None) -> ParsedHost | None:
    """``Host`` -> host and port (brackets kept around IP literals); None when it is not a valid host."""
    if host_header is None:
        return None
    match = _HOST_RE.fullmatch(host_header)
    if match is None:
        return None
    ipv6 = match["ipv6"]
    if ipv6 is not None:
        try:
            IPv6Address(ipv6)
        except AddressValueError:
            return None
    return ParsedHost(match["host"], match["port"])


def request_url(request: "Request", scheme: str) -> SplitResult:
    """The request's URL as Starlette's ``URL(scope=...)`` builds it (netloc from Host, else the server address)."""
    host = header_get(request.raw_headers, b"host")
    parsed = parse_host_header(host.decode("latin-1") if host is not None else None)
    netloc = ""
    if parsed is not None and parsed.is_valid_port:
        netloc = parsed.authority
    else:
        server = request_server(request)
        if server is not None:
            name, port = server
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"
            default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}[scheme]
            netloc = name if port == default_port else f"{name}:{port}"
    path = request.path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return SplitResult(scheme, netloc, path, request.query_string.decode(), "")


class TrustedHostMiddleware(NativeMiddleware):
    """Only serve requests (and WebSocket handshakes) whose ``Host`` matches ``allowed_hosts``."""

    def __init__(self, app: RequestResponseEndpoint | None = None, allowed_hosts: Sequence[str] | None = None,
                 www_redirect: bool = True) -> None:
        if allowed_hosts is None:
            allowed_hosts = ["*"]
        for pattern in allowed_hosts:
            assert "*" not in pattern[1:], ENFORCE_DOMAIN_WILDCARD
            if pattern.startswith("*") and pattern != "*":
                assert pattern.startswith("*."), ENFORCE_DOMAIN_WILDCARD
        self.app = app
        self.allowed_hosts = [pattern.lower() for pattern in allowed_hosts]
        self.allow_any = "*" in allowed_hosts
        self.www_redirect = www_redirect
        if self.allow_any:
            self.handle = app  # type: ignore[method-assign]  # nothing to check: out of the chain

    async def handle(self, request: "Request") -> Response:
        refusal = self.refusal(request, request_scheme(request))
        if refusal is not None:
            return refusal
        return await self.app(request)

    def check_websocket(self, request: "Request", scheme: str) -> Response | None:
        return None if self.allow_any else self.refusal(request, scheme)

    def refusal(self, request: "Request", scheme: str) -> Response | None:
        """None when the host is allowed; else the 400, or the redirect to the www host."""
        host_header = header_get(request.raw_headers, b"host")
        parsed = parse_host_header(host_header.decode("latin-1") if host_header is not None else None)
        if parsed is None:
            return PlainTextResponse("Invalid host header", status_code=400)
        host = parsed.host.lower()
        found_www_redirect = False
        for pattern in self.allowed_hosts:
            if host == pattern or (pattern.startswith("*") and host.endswith(pattern[1:])):
                return None
            if "www." + host == pattern:
                found_www_redirect = True
        if found_www_redirect and self.www_redirect:
            url = request_url(request, scheme)
            return RedirectResponse(url=url._replace(netloc="www." + url.netloc).geturl())
        return PlainTextResponse("Invalid host header", status_code=400)
