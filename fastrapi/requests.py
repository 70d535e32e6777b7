"""The Request object: method, URL, headers, query/path params, cookies, client, the body and the form.

A small body arrives whole before the handler runs (``_body`` is set). A larger one is streamed: the handler
starts once the head is in and reads the body as it arrives through ``stream()`` (``body()``, ``json()`` and
``form()`` read it from there), so uploads are parsed to disk without being held in memory.

As in Starlette, ``Request(request.scope, request.receive)`` makes a new Request (a subclass, typically) over
the same request: it reads the body through ``receive``, the ASGI messages the original gives of its body.
"""
from __future__ import annotations

import abc
import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable, Generator, Mapping

from .datastructures import URL, Address, FormData, Headers, QueryParams, State, parse_cookies
from .jsoncodec import loads as loads_json


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
        "_receive",  # ``request.receive``: made on first use, or given with an ASGI scope
    )

    def __init__(
        self,
        method: Any = None,
        path: Any = None,
        raw_path: Any = None,
        query_string: bytes = None,  # type: ignore[assignment]
        raw_headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
        body: bytes | None = None,
        transport: Any = None,
        app: Any = None,
        http_version: str = "1.1",
        keep_alive: bool = True,
        *,
        scope: Mapping[str, Any] | None = None,
        receive: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        send: Any = None,
    ) -> None:
        if query_string is None:
            # Starlette's ``Request(scope, receive=None, send=None)`` (the server always passes the query string)
            self._from_scope(scope if scope is not None else method, path if path is not None else receive)
            return
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

    def _from_scope(self, scope: Mapping[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]] | None) -> None:
        """A Request over an ASGI ``http`` scope: its body is read through ``receive`` (``_body`` stays unset
        until then, as in Starlette). Over another request's ``scope`` and ``receive``, it shares that
        request's connection, state and session."""
        if scope.get("type", "http") != "http":
            raise AssertionError(f"Request needs an http scope, not {scope.get('type')!r}")
        self.method = scope.get("method", "GET")
        self.path = scope.get("path", "/")
        self.raw_path = scope.get("raw_path") or self.path.encode("utf-8")
        self.query_string = scope.get("query_string", b"")
        self.raw_headers = [(bytes(k).lower(), bytes(v)) for k, v in scope.get("headers", ())]
        self.path_params = dict(scope.get("path_params") or {})
        self.app = scope.get("app")
        self.http_version = scope.get("http_version", "1.1")
        origin = receive.request if isinstance(receive, _BodyReceive) else None
        self._transport = origin._transport if origin is not None else None
        self.keep_alive = origin.keep_alive if origin is not None else True
        self._headers = self._query_params = self._cookies = None
        self._state = origin.state if origin is not None else None
        if origin is not None and hasattr(origin, "_session"):
            self._session = origin._session
        self._json = _UNSET
        self.background = self.sub_response = None
        self._receive = receive if receive is not None else _no_receive
        self._stream = _ReceivedBody(self._receive)
        self._form = None
        self._scope = scope if isinstance(scope, dict) else dict(scope)  # (request.scope is the scope given)

    @property
    def receive(self) -> Callable[[], Awaitable[dict[str, Any]]]:
        """The ASGI ``receive`` of this request: its body as ``http.request`` messages, then ``http.disconnect``
        once the client is gone (what ``Request(request.scope, request.receive)`` reads the body from)."""
        try:
            return self._receive
        except AttributeError:
            receive = self._receive = _BodyReceive(self)
            return receive

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
        """``https`` on a TLS connection or behind a trusted TLS proxy (``proxy_headers``), the scope's scheme
        over ASGI, else ``http``."""
        transport = self._transport
        if transport is None:
            return "http"
        origin = getattr(transport, "scope", None)
        if isinstance(origin, dict):
            return origin.get("scheme") or "http"
        return connection_scheme(transport)

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
        body = getattr(self, "_body", None)  # (unset in a Request made from a scope, until read)
        if body is None:
            body = self._body = b"".join([chunk async for chunk in self.stream()])
        return body

    async def json(self) -> Any:
        """The body parsed as JSON. ``fastrapi.jsoncodec.InvalidJSON`` (a ``json.JSONDecodeError``) when it is
        not strict JSON; left unhandled, the client gets a 400."""
        if self._json is _UNSET:
            self._json = loads_json(await self.body())
        return self._json

    async def stream(self) -> AsyncIterator[bytes]:
        """The body in chunks as they arrive, then ``b""``. Once streamed, the body cannot be read again
        (RuntimeError "Stream consumed"), unless ``body()`` had read it whole first."""
        body = getattr(self, "_body", None)
        if body is not None:
            if body:
                yield body
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

#: how often a ``receive()`` waiting for the end of the exchange looks at the connection
_DISCONNECT_POLL = 1.0


def made_from_scope(request: Request) -> bool:
    """``request`` was made with ``Request(scope, receive)`` (not by the server, which releases its own)."""
    return isinstance(request._stream, _ReceivedBody)


async def _no_receive() -> dict[str, Any]:
    raise RuntimeError("Receive channel has not been made available")


class _BodyReceive:
    """``request.receive`` of a request the server (or the ASGI adapter) made: its body as ASGI messages,
    whole or chunk by chunk as it arrives; then ``http.disconnect`` once the connection is closed."""

    __slots__ = ("request", "done", "reading")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.done = False
        self.reading = False  # this receive is the reader of the request's body stream

    async def __call__(self) -> dict[str, Any]:
        request = self.request
        if not self.done:
            if request._body is not None:
                self.done = True
                return {"type": "http.request", "body": request._body, "more_body": False}
            stream = request._stream
            if stream is None or (stream.consumed and not self.reading):
                self.done = True  # read already, through request.stream(): nothing left to give
                return {"type": "http.request", "body": b"", "more_body": False}
            stream.consumed = self.reading = True
            try:
                chunk = await stream.read()
            except ClientDisconnect:
                self.done = True
                return {"type": "http.disconnect"}
            if chunk is None:
                self.done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}
        transport = request._transport
        while transport is not None and not transport.is_closing():
            await asyncio.sleep(_DISCONNECT_POLL)
        return {"type": "http.disconnect"}


class _ReceivedBody:
    """The body of a Request made from a scope: read from ``receive``'s ``http.request`` messages (the
    interface of ``server.body.BodyStream``: ``read()`` gives each chunk, then None)."""

    __slots__ = ("receive", "done", "consumed")

    def __init__(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self.receive = receive
        self.done = False
        self.consumed = False

    async def read(self) -> bytes | None:
        while not self.done:
            message = await self.receive()
            kind = message["type"]
            if kind == "http.request":
                self.done = not message.get("more_body", False)
                chunk = message.get("body", b"")
                if chunk:
                    return bytes(chunk)
            elif kind == "http.disconnect":
                self.done = True
                raise ClientDisconnect()
        return None


def connection_scheme(peer: Any, websocket: bool = False) -> str:
    """``http``/``https`` (``ws``/``wss``) for a request's transport: the scheme a trusted proxy forwarded
    (``get_extra_info("scheme")``, as ``server.proxy.ProxiedPeer`` and an ASGI scope give it), else whether
    the connection itself is TLS. Read only when a URL is built."""
    secure = False
    if peer is not None:
        scheme = peer.get_extra_info("scheme")
        if scheme is not None:
            secure = scheme in ("https", "wss")
        else:
            secure = peer.get_extra_info("sslcontext") is not None
    if websocket:
        return "wss" if secure else "ws"
    return "https" if secure else "http"


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
