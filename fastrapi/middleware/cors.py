"""``CORSMiddleware``: Starlette's CORS rules and answers (preflight, credentials, expose headers, regex origins)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Collection

from ..responses import PlainTextResponse, Response
from .base import NativeMiddleware, RequestResponseEndpoint, add_vary, header_set

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["CORSMiddleware", "ALL_METHODS", "SAFELISTED_HEADERS"]

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY")
SAFELISTED_HEADERS = {"Accept", "Accept-Language", "Content-Language", "Content-Type"}


class CORSMiddleware(NativeMiddleware):
    """Answer CORS preflight requests and add the CORS headers to responses (same options as Starlette's)."""

    def __init__(
        self,
        app: RequestResponseEndpoint | None = None,
        allow_origins: Collection[str] = (),
        allow_methods: Collection[str] = ("GET",),
        allow_headers: Collection[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        allow_private_network: bool = False,
        expose_headers: Collection[str] = (),
        max_age: int = 600,
    ) -> None:
        if "*" in allow_methods:
            allow_methods = ALL_METHODS
        allow_all_origins = "*" in allow_origins
        allow_all_headers = "*" in allow_headers
        preflight_explicit_allow_origin = not allow_all_origins or allow_credentials

        simple_headers: dict[str, str] = {}
        if allow_all_origins:
            simple_headers["Access-Control-Allow-Origin"] = "*"
        if allow_credentials:
            simple_headers["Access-Control-Allow-Credentials"] = "true"
        if expose_headers:
            simple_headers["Access-Control-Expose-Headers"] = ", ".join(expose_headers)

        preflight_headers: dict[str, str] = {
            "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
                    "Access-Control-Request-Private-Network"
        }
        if not preflight_explicit_allow_origin:
            preflight_headers["Access-Control-Allow-Origin"] = "*"
        preflight_headers.update({
            "Access-Control-Allow-Methods": ", ".join(allow_methods),
            "Access-Control-Max-Age": str(max_age),
        })
        sorted_headers = sorted(SAFELISTED_HEADERS | set(allow_headers))
        if sorted_headers and not allow_all_headers:
            preflight_headers["Access-Control-Allow-Headers"] = ", ".join(sorted_headers)
        if allow_credentials:
            preflight_headers["Access-Control-Allow-Credentials"] = "true"

        self.app = app
        self.allow_origins = allow_origins
        self.allow_methods = allow_methods
        self.allow_headers = [h.lower() for h in sorted_headers]
        self.allow_all_origins = allow_all_origins
        self.allow_all_headers = allow_all_headers
        self.allow_credentials = allow_credentials
        self.preflight_explicit_allow_origin = preflight_explicit_allow_origin
        self.allow_origin_regex = re.compile(allow_origin_regex) if allow_origin_regex is not None else None
        self.allow_private_network = allow_private_network
        self.simple_headers = simple_headers
        self.preflight_headers = preflight_headers
        #: the simple headers as raw pairs, set on every response to a request with an Origin
        self._simple_raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in simple_headers.items()]
        #: allow-all with credentials: the origin is echoed; otherwise only allowed origins are
        self._echo_any = allow_all_origins and allow_credentials

    async def handle(self, request: "Request") -> Response:
        origin = None
        requested_method = None
        for name, value in request.raw_headers:
            if name == b"origin":
                if origin is None:
                    origin = value
            elif name == b"access-control-request-method":
                if requested_method is None:
                    requested_method = value
        if origin is not None and requested_method is not None and request.method == "OPTIONS":
            return self.preflight_response(request)
        response = await self.app(request)
        raw = response.raw_headers
        if origin is None:
            add_vary(raw, b"Origin")
            return response
        for name, value in self._simple_raw:
            header_set(raw, name, value)
        if self._echo_any or (not self.allow_all_origins and self.is_allowed_origin(origin.decode("latin-1"))):
            header_set(raw, b"access-control-allow-origin", origin)
        add_vary(raw, b"Origin")
        return response

    def is_allowed_origin(self, origin: str) -> bool:
        if self.allow_all_origins:
            return True
        if self.allow_origin_regex is not None and self.allow_origin_regex.fullmatch(origin):
            return True
        return origin in self.allow_origins

    def preflight_response(self, request: "Request") -> Response:
        """The answer to a preflight request: 200 "OK", or 400 "Disallowed CORS ..." saying what failed."""
        request_headers = request.headers
        requested_origin = request_headers["origin"]
        requested_method = request_headers["access-control-request-method"]
        requested_headers = request_headers.get("access-control-request-headers")
        requested_private_network = request_headers.get("access-control-request-private-network")

        headers = dict(self.preflight_headers)
        failures: list[str] = []
        if self.is_allowed_origin(origin=requested_origin):
            if self.preflight_explicit_allow_origin:
                headers["Access-Control-Allow-Origin"] = requested_origin
        else:
            failures.append("origin")
        if requested_method not in self.allow_methods:
            failures.append("method")
        if self.allow_all_headers and requested_headers is not None:
            headers["Access-Control-Allow-Headers"] = requested_headers
        elif requested_headers is not None:
            for header in [h.lower() for h in requested_headers.split(",")]:
                if header.strip() not in self.allow_headers:
                    failures.append("headers")
                    break
        if requested_private_network is not None:
            if self.allow_private_network:
                headers["Access-Control-Allow-Private-Network"] = "true"
            else:
                failures.append("private-network")
        if failures:
            return PlainTextResponse("Disallowed CORS " + ", ".join(failures), status_code=400, headers=headers)
        return PlainTextResponse("OK", status_code=200, headers=headers)
