"""The Request object: method, URL, headers, query/path params, cookies, client and the body."""
from __future__ import annotations

from typing import Any, AsyncIterator

import orjson

from .datastructures import URL, Address, Headers, QueryParams, State, parse_cookies


class Request:
    """One HTTP request as the handler sees it. Views are built lazily on first access."""

    __slots__ = (
        "method", "path", "raw_path", "query_string", "raw_headers", "_body", "path_params", "app",
        "_transport", "_headers", "_query_params", "_cookies", "_state", "_json", "http_version",
        "keep_alive", "background", "sub_response",
    )

    def __init__(
        self,
        method: str,
        path: str,
        raw_path: bytes,
        query_string: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
        transport: Any,
        app: Any = None,
        http_version: str = "1.1",
        keep_alive: bool = True,
    ) -> None:
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.raw_headers = raw_headers
        self._body = body
        self.path_params: dict[str, Any] = {}
        self.app = app
        self.http_version = http_version
        self._transport = transport
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None
        self._json: Any = _UNSET
        self.keep_alive = keep_alive
        #: BackgroundTasks injected into the handler or its dependencies (run after the response)
        self.background: Any = None
        #: the ``response: Response`` a handler may declare to set headers, cookies or the status
        self.sub_response: Any = None

    @property
    def scope(self) -> dict[str, Any]:
        """An ASGI-style scope dict, for code written against Starlette's ``request.scope``."""
        return {
            "type": "http", "http_version": self.http_version, "method": self.method, "path": self.path,
            "raw_path": self.raw_path, "query_string": self.query_string, "headers": self.raw_headers,
            "path_params": self.path_params, "app": self.app, "client": self.client,
        }

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.raw_headers)
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self.query_string)
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.get("cookie", ""))
        return self._cookies

    @property
    def url(self) -> URL:
        return URL("http", self.headers.get("host", ""), self.path, self.query_string.decode("latin-1"))

    @property
    def base_url(self) -> URL:
        return URL("http", self.headers.get("host", ""), "/")

    @property
    def client(self) -> Address | None:
        peer = self._transport.get_extra_info("peername") if self._transport is not None else None
        if isinstance(peer, (tuple, list)) and len(peer) >= 2:
            return Address(str(peer[0]), int(peer[1]))
        return None

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State()
        return self._state

    async def body(self) -> bytes:
        return self._body

    async def json(self) -> Any:
        if self._json is _UNSET:
            self._json = orjson.loads(self._body)
        return self._json

    async def stream(self) -> AsyncIterator[bytes]:
        if self._body:
            yield self._body
        yield b""

    async def is_disconnected(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


_UNSET: Any = object()
