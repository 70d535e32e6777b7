"""The Request object: method, URL, headers, query/path params, cookies, client, the body and the form.

A small body arrives whole before the handler runs (``_body`` is set). A larger one is streamed: the handler
starts once the head is in and reads the body as it arrives through ``stream()`` (``body()``, ``json()`` and
``form()`` read it from there), so uploads are parsed to disk without being held in memory.
"""
from __future__ import annotations

import abc
from typing import Any, AsyncIterator, Generator

import orjson

from .datastructures import URL, Address, FormData, Headers, QueryParams, State, parse_cookies


class HTTPConnection(abc.ABC):
    """Starlette's base of Request and WebSocket: ``isinstance(x, HTTPConnection)`` holds for both, and a
    dependency parameter annotated with it gets the request (or the WebSocket)."""


class ClientDisconnect(Exception):
    """The client went away while the handler was still reading the request body."""


class Request:
    """One HTTP request as the handler sees it. Views are built lazily on first access."""

    __slots__ = (
        "method", "path", "raw_path", "query_string", "raw_headers", "_body", "path_params", "app",
        "_transport", "_headers", "_query_params", "_cookies", "_state", "_json", "http_version",
        "keep_alive", "background", "sub_response", "_stream", "_form",
        "_session",  # set by SessionMiddleware only (left unset otherwise: no cost per request)
        "_scope",  # set when ``scope`` is first read (left unset otherwise: no cost per request)
    )

    def __init__(
        self,
        method: str,
        path: str,
        raw_path: bytes,
        query_string: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes | None,
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
        #: the body still arriving (``fastrapi.server.body.BodyStream``) when ``body`` is None
        self._stream: Any = None
        self._form: FormData | None = None

    @property
    def scope(self) -> dict[str, Any]:
        """The ASGI HTTP scope of this request (Starlette's ``request.scope``): built on first read, then the
        same dict. Over ASGI it is the server's scope, completed with ``app``, ``path_params`` and ``state``."""
        try:
            return self._scope
        except AttributeError:
            pass
        scope = self._scope = self._make_scope()
        return scope

    def _make_scope(self) -> dict[str, Any]:
        origin = getattr(self._transport, "scope", None)  # came through ASGI: the scope its server gave
        return self._fill_scope(origin if isinstance(origin, dict) else {})

    def _fill_scope(self, scope: dict[str, Any]) -> dict[str, Any]:
        scope.update({
            "type": "http",
            "asgi": scope.get("asgi") or {"version": "3.0", "spec_version": "2.4"},
            "http_version": self.http_version,
            "method": self.method,
            "scheme": self._url_scheme(),
            "path": self.path,
            "raw_path": self.raw_path,
            "root_path": self._root_path(),
            "query_string": self.query_string,
            "headers": self.raw_headers,
            "client": tuple(self.client) if self.client is not None else None,
            "server": self._server(),
            "app": self.app,
            "state": self.state._state,
            "path_params": self.path_params,
        })
        return scope

    def _url_scheme(self) -> str:
        """``https`` on a TLS connection, the scope's scheme over ASGI, else ``http``."""
        transport = self._transport
        if transport is None:
            return "http"
        origin = getattr(transport, "scope", None)
        if isinstance(origin, dict):
            return origin.get("scheme") or "http"
        return "https" if transport.get_extra_info("sslcontext") is not None else "http"

    def _root_path(self) -> str:
        """The app's ``root_path`` (``FastAPI(root_path=...)``, ``fastrapi run --root-path``), else the one the
        ASGI server gave (``uvicorn --root-path``, ``TestClient(app, root_path=...)``)."""
        root = getattr(self.app, "root_path", "") or ""
        if not root:
            origin = getattr(self._transport, "scope", None)
            if isinstance(origin, dict):
                root = origin.get("root_path") or ""
        return root

    def _server(self) -> tuple[str, int] | None:
        origin = getattr(self._transport, "scope", None)
        if isinstance(origin, dict):
            server = origin.get("server")
            return tuple(server) if server else None  # type: ignore[return-value]
        sock = self._transport.get_extra_info("sockname") if self._transport is not None else None
        if isinstance(sock, (tuple, list)) and len(sock) >= 2:
            return str(sock[0]), int(sock[1])
        return None

    def _host(self) -> str:
        """The Host header, else the server address (as Starlette builds ``url``)."""
        host = self.headers.get("host")
        if host:
            return host
        server = self._server()
        if server is None:
            return ""
        scheme = self._url_scheme()
        default = 443 if scheme == "https" else 80
        return server[0] if server[1] == default else f"{server[0]}:{server[1]}"

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
        return URL(self._url_scheme(), self._host(), self.path, self.query_string.decode("latin-1"))

    @property
    def base_url(self) -> URL:
        """Scheme, host and the app's ``root_path`` (ending in ``/``): what ``url_for`` builds on."""
        root = self._root_path()
        return URL(self._url_scheme(), self._host(), root if root.endswith("/") else root + "/")

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route ``name`` (Starlette's): ``request.url_for("item", id=3)``."""
        if self.app is None:
            raise RuntimeError("The `url_for` method can only be used inside a Starlette application or with a router.")
        return self.app.url_path_for(name, **path_params).make_absolute_url(self.base_url)

    @property
    def client(self) -> Address | None:
        peer = self._transport.get_extra_info("peername") if self._transport is not None else None
        if isinstance(peer, (tuple, list)) and len(peer) >= 2:
            return Address(str(peer[0]), int(peer[1]))
        return None

    @property
    def state(self) -> State:
        if self._state is None:
            initial = getattr(self.app, "lifespan_state", None)
            self._state = State(dict(initial) if initial else None)
        return self._state

    @property
    def session(self) -> dict[str, Any]:
        """The session dict of ``fastrapi.middleware.sessions.SessionMiddleware`` (Starlette's ``request.session``)."""
        try:
            session = self._session
        except AttributeError:
            raise AssertionError("SessionMiddleware must be installed to access request.session") from None
        mark = getattr(session, "mark_accessed", None)
        if mark is not None:
            mark()  # read: the response varies with the cookie
        return session

    async def body(self) -> bytes:
        """The whole body (read from the stream the first time, when it is still arriving)."""
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.stream()])
        return self._body

    async def json(self) -> Any:
        if self._json is _UNSET:
            self._json = orjson.loads(await self.body())
        return self._json

    async def stream(self) -> AsyncIterator[bytes]:
        """The body in chunks as they arrive, then ``b""``. Once streamed, the body cannot be read again
        (RuntimeError "Stream consumed"), unless ``body()`` had read it whole first."""
        if self._body is not None:
            if self._body:
                yield self._body
            yield b""
            return
        source = self._stream
        if source is None or source.consumed:
            raise RuntimeError("Stream consumed")
        source.consumed = True
        read = source.read
        while True:
            chunk = await read()
            if chunk is None:
                break
            yield chunk
        yield b""

    def form(self, *, max_files: int | float = 1000, max_fields: int | float = 1000,
             max_part_size: int | None = None) -> "_FormReader":
        """The parsed form (urlencoded or multipart); ``await request.form()`` or ``async with request.form()
        as form:`` (which closes its files at the end). Limits and 400 errors as in Starlette; without
        ``max_part_size``, the app's ``max_field_size`` (1 MiB), and its ``max_file_size`` per file (413)."""
        return _FormReader(self, {"max_files": max_files, "max_fields": max_fields, "max_part_size": max_part_size})

    async def _get_form(self, limits: dict[str, Any]) -> FormData:
        if self._form is None:
            from .exceptions import HTTPException
            from .formparsers import MultiPartException, parse_form

            limits = dict(limits)
            app = self.app
            if limits["max_part_size"] is None:  # the app's field limit (and its status: 413 when set by the user)
                field = getattr(app, "max_field_size", 1024 * 1024)
                limits["max_part_size"] = field if field is not None else float("inf")
                limits["part_status"] = getattr(app, "_field_size_status", 400)
            limits["max_file_size"] = getattr(app, "max_file_size", None)
            try:
                self._form = await parse_form(self.headers, self.stream(), **limits)
            except MultiPartException as exc:
                raise HTTPException(exc.status_code, exc.message) from None
        return self._form

    async def close(self) -> None:
        """Close the uploaded files of the form, if one was parsed (the server does this after the response)."""
        if self._form is not None:
            await self._form.close()

    async def is_disconnected(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


_UNSET: Any = object()
HTTPConnection.register(Request)


class _FormReader:
    """What ``request.form()`` returns: awaitable, or an async context manager closing the form's files."""

    __slots__ = ("request", "limits", "form")

    def __init__(self, request: Request, limits: dict[str, Any]) -> None:
        self.request = request
        self.limits = limits
        self.form: FormData | None = None

    def __await__(self) -> Generator[Any, None, FormData]:
        return self.request._get_form(self.limits).__await__()

    async def __aenter__(self) -> FormData:
        self.form = await self.request._get_form(self.limits)
        return self.form

    async def __aexit__(self, *exc: Any) -> None:
        if self.form is not None:
            await self.form.close()
