"""``app.mount(path, app)``: a ``Mount`` route hands every request under ``path`` to another app.

The router finds a mount like any templated route (``path/{path:path}``, in declaration order: what is
declared before a mount wins over it, what is declared after and lies under it is shadowed, as in
Starlette). What it hands the request to:

- ``StaticFiles``: served natively (its ``get_response`` gets a small ASGI-style scope dict);
- another FastrAPI app: natively, through its own router, exception handlers, dependency overrides and
  middleware, with a ``MountedRequest`` whose ``path`` is the rest of the path (``url``, ``scope`` and
  ``url_for`` still give the full URL, as in Starlette); its WebSocket routes too. As in Starlette, a
  mounted app's lifespan does not run;
- ``routes=[...]``: a router of its own, run by the app that holds the mount;
- any other ASGI app (Starlette, raw ASGI callables): through a small ASGI bridge, HTTP and WebSocket.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Callable, Sequence

from .datastructures import URL, URLPath
from .exceptions import HTTPException, NoMatchFound
from .requests import ClientDisconnect, Request, connection_scheme
from .responses import Response, StreamingResponse, finalize_response
from .routing import _PARAM_RE, _TO_STRING, BaseRoute, Router, compile_path
from .ws.codes import State

__all__ = ["Mount", "MountedRequest"]

logger = logging.getLogger("fastrapi.error")


class _AnyMethod:
    """``Mount.methods``: a mount takes every method (``method in route.methods`` is always true)."""

    __slots__ = ()

    def __contains__(self, method: object) -> bool:
        return True

    def __iter__(self) -> Any:
        return iter(())

    def __repr__(self) -> str:
        return "<any method>"


class MountedRequest(Request):
    """The Request a mounted FastrAPI app sees: ``path`` is the path below the mount (what its router
    matches); ``url``, ``scope["path"]`` are the full path, ``scope["root_path"]`` the mount's prefix,
    and ``url_for`` resolves names through the outermost app (``"mount_name:route_name"``), as Starlette."""

    __slots__ = ("_full_path", "_mount_root", "_app_root", "_url_app")

    @property
    def url(self) -> URL:
        url = super().url
        return URL(url.scheme, url.netloc, self._full_path, url.query)

    @property
    def base_url(self) -> URL:
        url = super().url
        root = self._app_root
        return URL(url.scheme, url.netloc, root if root.endswith("/") else root + "/")

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        return self._url_app.url_path_for(name, **path_params).make_absolute_url(self.base_url)

    def _make_scope(self) -> dict[str, Any]:
        origin = getattr(self._transport, "scope", None)  # a copy: the outer request's scope stays as it is
        scope = self._fill_scope(dict(origin) if isinstance(origin, dict) else {})
        scope["path"] = self._full_path
        scope["root_path"] = self._mount_root
        scope["app_root_path"] = self._app_root
        return scope


_ANY_METHOD = _AnyMethod()


def _is_fastrapi_app(app: Any) -> bool:
    from .applications import FastrAPI

    return isinstance(app, FastrAPI)


def _is_static_files(app: Any) -> bool:
    from .staticfiles import StaticFiles

    return isinstance(app, StaticFiles)


class Mount(BaseRoute):
    """Starlette's ``Mount(path, app=None, routes=None, name=None)``: every request whose path is ``path``
    followed by ``/...`` goes to ``app`` (or to a router of ``routes``)."""

    is_mount = True
    methods: Any = _ANY_METHOD
    implicit_head = False
    call_inline = None
    call_fast = None
    call_threaded = None
    serialize = None
    stored = None
    include_in_schema = False

    def __init__(self, path: str, app: Any = None, routes: Sequence[BaseRoute] | None = None,
                 name: str | None = None) -> None:
        assert path == "" or path.startswith("/"), "Routed paths must start with '/'"
        assert app is not None or routes is not None, "Either 'app=...', or 'routes=' must be specified"
        self.path = path.rstrip("/")
        if app is None:
            router = Router(redirect_slashes=False)
            for route in routes or ():
                router.add_route(route)
            app = router
        self.app = app
        self.name = name
        self.regex, self.convertors = compile_path(self.path + "/{path:path}")
        self._kinds = {m.group(1): m.group(2) or "str" for m in _PARAM_RE.finditer(self.path + "/{path:path}")}
        if _is_static_files(app):
            self.handle = self._handle_static
        elif _is_fastrapi_app(app):
            self.handle = self._handle_app
        elif isinstance(app, Router):
            self.handle = self._handle_router
        else:
            self.handle = self._handle_asgi

    @property
    def routes(self) -> list[BaseRoute]:
        return getattr(self.app, "routes", None) or []

    def matches(self, path: str) -> dict[str, Any] | None:
        """The mount's own path parameters when ``path`` lies under it, else None."""
        m = self.regex.match(path)
        if m is None:
            return None
        params = m.groupdict()
        del params["path"]
        for key, convert in self.convertors.items():
            if convert is not str and key in params:
                params[key] = convert(params[key])
        return params

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Starlette's: ``name`` is the mount's (with ``path=``) or ``"<mount name>:<route name>"`` of a route
        of the mounted app (any route name when the mount has no name)."""
        if self.name is not None and name == self.name and "path" in path_params:
            params = dict(path_params)
            params["path"] = str(params["path"]).lstrip("/")
            path, remaining = self._replace_params(params)
            if not remaining:
                return URLPath(path, protocol="http")
        elif self.name is None or name.startswith(self.name + ":"):
            remaining_name = name if self.name is None else name[len(self.name) + 1:]
            params = dict(path_params)
            path_kwarg = params.get("path")
            params["path"] = ""
            prefix, remaining = self._replace_params(params)
            if path_kwarg is not None:
                remaining["path"] = path_kwarg
            for route in self.routes:
                try:
                    url = route.url_path_for(remaining_name, **remaining)
                except NoMatchFound:
                    continue
                # the child's class (a Starlette app's routes give Starlette's URLPath, whose URL it expects)
                cls = type(url) if isinstance(url, str) and hasattr(url, "make_absolute_url") else URLPath
                return cls(prefix.rstrip("/") + str(url), protocol=getattr(url, "protocol", ""))
        raise NoMatchFound(name, path_params)

    def _replace_params(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        path = self.path_format + "/{path}"
        for key in list(params):
            if "{" + key + "}" in path:
                path = path.replace("{" + key + "}", _TO_STRING[self._kinds[key]](params.pop(key)))
        return path, params

    # ------------------------------------------------------------------ HTTP
    def _split(self, request: Request) -> tuple[str, str, str, str, Any]:
        """(path below the mount, the mount's root path, the full path, the outermost app's root path,
        the app ``url_for`` resolves through) for a request the router gave to this mount."""
        if isinstance(request, MountedRequest):
            route_path, root = request.path, request._mount_root
            app_root, url_app = request._app_root, request._url_app
        else:
            route_path = request.path
            url_app = request.app
            app_root = root = getattr(url_app, "root_path", "") or ""
            if root and route_path.startswith(root) and (len(route_path) == len(root) or route_path[len(root)] == "/"):
                route_path = route_path[len(root):]
        m = self.regex.match(route_path)
        if m is None:  # matched on the path without the app's root_path (Router._miss)
            raise HTTPException(404)
        rest = "/" + m.group("path")
        root = root + route_path[: len(route_path) - len(rest)]
        return rest, root, root + rest, app_root, url_app

    def _child(self, request: Request, app: Any) -> MountedRequest:
        rest, root, full, app_root, url_app = self._split(request)
        child = MountedRequest(request.method, rest, request.raw_path, request.query_string, request.raw_headers,
                               request._body, request._transport, app, request.http_version, request.keep_alive)
        child._stream = request._stream
        child._state = request.state  # shared, as Starlette's scope["state"]
        child._full_path = full
        child._mount_root = root
        child._app_root = app_root
        child._url_app = url_app
        return child

    async def _handle_static(self, request: Request) -> Response:
        rest, root, full, app_root, _ = self._split(request)
        scope = _scope(request, "http", full, root)
        scope["app_root_path"] = app_root
        return await self.app.serve(scope)

    async def _handle_app(self, request: Request) -> Any:
        app = self.app
        child = self._child(request, app)
        try:
            return await _entry(app)(child)
        finally:
            if child._form is not None:
                request._form = child._form  # the server closes the form's files after the answer

    async def _handle_router(self, request: Request) -> Any:
        router: Router = self.app
        child = self._child(request, request.app)
        route, params, allowed = router.match(child.method, child.path)
        if route is None:
            if allowed is None:
                raise HTTPException(404)
            raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
        child.path_params = {**request.path_params, **params}
        try:
            # the handler's ``response: Response`` and BackgroundTasks are on the child request
            return finalize_response(child, await route.handle(child))
        finally:
            if child._form is not None:
                request._form = child._form

    async def _handle_asgi(self, request: Request) -> Response:
        rest, root, full, app_root, url_app = self._split(request)
        scope = _scope(request, "http", full, root)
        scope["path_params"] = dict(request.path_params)
        # Starlette's: ``request.url_for`` in the mounted app resolves through the outermost router
        scope["router"] = url_app
        scope["app_root_path"] = app_root
        return await call_asgi_http(self.app, scope, request)

    # ------------------------------------------------------------------ WebSocket
    def resolve_websocket(self, path: str, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """What ``Router.match_websocket`` gives for a WebSocket path under this mount: a route whose
        ``mounted(conn, path, query, params)`` runs it, and its path parameters; (None, {}) for none."""
        m = self.regex.match(path)
        if m is None:
            return None, {}
        rest = "/" + m.group("path")
        app = self.app
        if _is_fastrapi_app(app):
            route, sub_params = app.router.match_websocket(rest)
            if route is None:
                return None, {}
            async def run_app(conn: Any, full: str, query: bytes, _params: dict[str, Any]) -> None:
                built = app._built_middleware() if getattr(app, "user_middleware", None) else None
                # ASGI middleware of the app routes the connection again, on the path below the mount
                await app.run_websocket(route, conn, rest if built is not None and built.has_asgi else full,
                                        query, sub_params)

            return _MountedWebSocket(run_app, route), sub_params
        if isinstance(app, Router):
            route, sub_params = app.match_websocket(rest)
            if route is None:
                return None, {}
            return route, {**params, **sub_params}
        if _is_static_files(app):
            return None, {}
        matched = path[: len(path) - len(rest)]

        async def run_asgi(conn: Any, full: str, query: bytes, _params: dict[str, Any]) -> None:
            root = full[: len(full) - len(rest)] if full.endswith(rest) else matched
            scope = _ws_scope(conn, full, root, query, params)
            await run_asgi_websocket(app, scope, conn)

        return _MountedWebSocket(run_asgi, None), params

    def __repr__(self) -> str:
        return f"Mount(path={self.path!r}, name={self.name or ''!r}, app={self.app!r})"


class _MountedWebSocket:
    """A WebSocket route inside a mount: ``FastrAPI.run_websocket`` hands the connection to ``mounted``."""

    __slots__ = ("mounted", "route", "path", "name")

    def __init__(self, mounted: Callable[..., Any], route: Any) -> None:
        self.mounted = mounted
        self.route = route
        self.path = getattr(route, "path", "")
        self.name = getattr(route, "name", "")


def _entry(app: Any) -> Callable[[Request], Any]:
    """How a request enters a mounted FastrAPI app: its middleware (built on first use), else ``dispatch``."""
    if getattr(app, "user_middleware", None):
        return app._built_middleware().native
    return app.dispatch


# ---------------------------------------------------------------------------------------------- ASGI bridge
def _address(transport: Any, key: str) -> tuple[str, int] | None:
    info = transport.get_extra_info(key) if transport is not None else None
    if isinstance(info, (tuple, list)) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


def _scope(request: Request, kind: str, full: str, root: str) -> dict[str, Any]:
    """The ASGI scope of ``request`` as seen under a mount at ``root`` (Starlette's child scope)."""
    transport = request._transport
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": request.http_version,
        "method": request.method,
        "scheme": connection_scheme(transport),
        "path": full,
        "raw_path": request.raw_path,
        "query_string": request.query_string,
        "root_path": root,
        "headers": request.raw_headers,
        "client": _address(transport, "peername"),
        "server": _address(transport, "sockname"),
        "state": request.state._state,
        "app": getattr(request, "app", None),
    }


def _ws_scope(conn: Any, full: str, root: str, query: bytes, params: dict[str, Any]) -> dict[str, Any]:
    from .ws.handshake import offered_subprotocols

    transport = getattr(conn, "peer", None) or conn.transport  # (a proxy's forwarded client and scheme)
    raw_path = full.encode("utf-8")
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": connection_scheme(transport, websocket=True),
        "path": full,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root,
        "headers": conn.request_headers,
        "client": _address(transport, "peername"),
        "server": _address(transport, "sockname"),
        "subprotocols": offered_subprotocols(conn.request_headers),
        "state": {},
        "path_params": dict(params),
    }


#: tasks of ASGI apps still running (a reference keeps them from being garbage-collected)
_RUNNING: set[asyncio.Task[Any]] = set()

#: headers the server sets itself from the body it writes
_FRAMING = (b"content-length", b"transfer-encoding")
#: a body sent in pieces with a declared Content-Length is collected up to this size and sent whole, with
#: its length; past it, it is streamed (chunked, as the server streams every StreamingResponse)
_COLLECT_DECLARED = 256 * 1024


class _DeclaredLength(bytes):
    """The empty body of a HEAD response whose ``len`` is the Content-Length the app declared: the server
    writes ``content-length: len(body)`` and, for HEAD, no body."""

    length = 0

    def __len__(self) -> int:
        return self.length


class _BodyPipe:
    """A streamed response body from the ASGI app's ``send`` to the server's writer (an async iterator of
    bytes). The app's ``send`` returns once the server took its piece; when the server stops reading
    (the client went away) the app is cancelled."""

    __slots__ = ("pieces", "ended", "closed", "_reader", "_writer", "call")

    def __init__(self, call: "_AsgiCall") -> None:
        self.pieces: deque[bytes] = deque()
        self.ended = False
        self.closed = False
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None
        self.call = call

    def __aiter__(self) -> "_BodyPipe":
        return self

    async def __anext__(self) -> bytes:
        while not self.pieces:
            if self.ended:
                raise StopAsyncIteration
            fut = self._reader = asyncio.get_running_loop().create_future()
            await fut
        piece = self.pieces.popleft()
        _wake(self._writer)
        return piece

    async def put(self, piece: bytes) -> None:
        if self.closed:
            raise OSError("the client disconnected")
        self.pieces.append(piece)
        _wake(self._reader)
        transport = self.call.request._transport
        while self.pieces and not self.closed:
            fut = self._writer = asyncio.get_running_loop().create_future()
            done, _ = await asyncio.wait((fut,), timeout=5.0)
            if not done and (transport is None or transport.is_closing()):
                self.closed = True  # nobody will read this body any more
        if self.closed:
            raise OSError("the client disconnected")

    def end(self) -> None:
        self.ended = True
        _wake(self._reader)

    async def aclose(self) -> None:
        """The server stopped writing: let the app go (cancelled if it was still sending)."""
        self.closed = True
        _wake(self._writer)
        self.call.finished.set()
        task = self.call.task
        if not self.ended and task is not None and not task.done():
            task.cancel()


def _wake(fut: "asyncio.Future[None] | None") -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class _AsgiCall:
    """One HTTP request run through an ASGI app: its ``receive``/``send``, and the Response they build
    (whole when the app sends one body message, streamed when it sends several; collected for HEAD)."""

    __slots__ = ("request", "head", "status", "headers", "chunks", "result", "pipe", "finished", "task",
                 "_body_iter", "_request_done", "complete", "declared", "collected")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.head = request.method == "HEAD"
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.result: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.pipe: _BodyPipe | None = None
        #: set once the response is complete (or abandoned): ``receive`` then gives ``http.disconnect``
        self.finished = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None
        self._body_iter: Any = None
        self._request_done = False
        self.complete = False
        self.declared = False  # the app sent a Content-Length
        self.collected = 0

    async def receive(self) -> dict[str, Any]:
        if not self._request_done:
            request = self.request
            if request._body is not None:
                self._request_done = True
                return {"type": "http.request", "body": request._body, "more_body": False}
            if self._body_iter is None:
                self._body_iter = request.stream().__aiter__()
            try:
                chunk = await self._body_iter.__anext__()
            except ClientDisconnect:
                self._request_done = True
                return {"type": "http.disconnect"}
            if not chunk:
                self._request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}
        await self.finished.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("Unexpected ASGI message 'http.response.start' sent, after response already started.")
            self.status = int(message["status"])
            self.headers = [(bytes(name).lower(), bytes(value)) for name, value in message.get("headers") or ()]
            self.declared = any(name == b"content-length" for name, _ in self.headers)
            return
        if kind != "http.response.body":
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent.")
        if self.status is None:
            raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, before 'http.response.start'.")
        if self.complete:
            raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, after response already completed.")
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        pipe = self.pipe
        if pipe is not None:
            if not more:
                self.complete = True
            if body:
                await pipe.put(body)
            if not more:
                pipe.end()
                self.finished.set()
            return
        if body:
            self.chunks.append(body)
            self.collected += len(body)
        if more and not self.head and (not self.declared or self.collected > _COLLECT_DECLARED):
            pipe = self.pipe = _BodyPipe(self)
            response = StreamingResponse(pipe, status_code=self.status)
            response.raw_headers = [(n, v) for n, v in self.headers if n not in _FRAMING]
            self.result.set_result(response)
            chunks, self.chunks = self.chunks, []
            for chunk in chunks:
                await pipe.put(chunk)
            return
        if not more:
            self.complete = True
            self.result.set_result(self._whole())
            self.finished.set()

    def _whole(self) -> Response:
        body = b"".join(self.chunks)
        self.chunks = []
        response = Response(body, status_code=self.status or 500)
        response.raw_headers = [(n, v) for n, v in self.headers if n not in _FRAMING]
        if self.head and not body:
            for name, value in self.headers:
                if name == b"content-length" and value.isdigit():
                    declared = _DeclaredLength()
                    declared.length = int(value)
                    response.body = declared
                    break
        return response

    def app_done(self, task: "asyncio.Task[Any]") -> None:
        _RUNNING.discard(task)
        self.finished.set()
        error = None if task.cancelled() else task.exception()
        if not self.result.done():
            if error is None:
                error = RuntimeError("ASGI app returned without completing its response")
            self.result.set_exception(error)
            return
        pipe = self.pipe
        if pipe is not None and not pipe.ended:
            if error is not None or not task.cancelled():
                logger.error("ASGI app of %s %s failed in the middle of its response: connection aborted",
                             self.request.method, self.request.path, exc_info=error)
                transport = self.request._transport
                if transport is not None:
                    transport.abort()
            pipe.end()
        elif error is not None:
            logger.error("Exception in ASGI app of %s %s after its response", self.request.method,
                         self.request.path, exc_info=error)


async def call_asgi_http(app: Any, scope: dict[str, Any], request: Request) -> Response:
    """Run ``app(scope, receive, send)`` for ``request``; the Response it answers (streamed while the app
    still sends). An exception before the response started propagates (a 500 for the app around it)."""
    call = _AsgiCall(request)
    task = call.task = asyncio.ensure_future(app(scope, call.receive, call.send))
    _RUNNING.add(task)
    task.add_done_callback(call.app_done)
    try:
        return await asyncio.shield(call.result)
    except asyncio.CancelledError:
        task.cancel()
        raise


async def run_asgi_websocket(app: Any, scope: dict[str, Any], conn: Any) -> None:
    """Run an ASGI app on an upgraded WebSocket connection: ``websocket.connect`` first, then the client's
    messages; ``websocket.accept``/``send``/``close`` act on the connection. Closed (or refused with 403)
    when the app returns, 1011 (or 500) when it raises."""
    from .websocket import WebSocket

    ws = WebSocket(conn, scope["path"], scope["query_string"], scope.get("path_params"))
    connected = False

    async def receive() -> dict[str, Any]:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        return await ws.receive()

    try:
        await app(scope, receive, ws.send)
    except Exception as exc:
        logger.error("Exception in ASGI app of WebSocket %s", scope["path"], exc_info=exc)
        if conn.application_state == State.CONNECTING:
            conn.reject(500)
        else:
            conn.finish(1011, "internal error")
    else:
        if conn.application_state == State.CONNECTING:
            conn.reject(403)
        else:
            conn.finish(1000)
