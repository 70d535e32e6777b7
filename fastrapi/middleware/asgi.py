"""The bridge between native middleware and ASGI middleware (Sentry, OpenTelemetry, Prometheus...).

Only used when an app has middleware that is not native (see ``base.build_stack``):

* ``AsgiEndpoint``: native -> ASGI. Runs an ASGI app for a fastrapi Request (scope built from the Request,
  ``receive`` yields its body, ``send`` is collected) and returns the Response it sent: complete, or
  streaming while the app still sends (the server writes the chunks as they come).
* ``NativeSegment``: ASGI -> native. An ASGI app that builds a Request from the scope, runs a native chain
  and sends its Response; other scopes go on to the next ASGI app.
* ``WebSocketBridge``: a WebSocket connection of the built-in server as ASGI messages through the stack
  (``websocket.connect/accept/receive/send/close/disconnect``, and the denial response extension).
* ``WebSocketChecks``: without ASGI middleware, the native classes that guard WebSocket handshakes
  (TrustedHost, HTTPS redirect) check them on the built-in server.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable

from ..asgi import ScopePeer, build_request, receive_request, send_response
from ..datastructures import State
from ..exceptions import WebSocketDisconnect
from ..requests import ClientDisconnect, Request, connection_scheme
from ..responses import Response, StreamingResponse
from .base import server_error
from ..ws.codes import State as WSState

logger = logging.getLogger("fastrapi.error")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ASGI = {"version": "3.0", "spec_version": "2.4"}
#: how often a ``receive()`` waiting for the end of the exchange checks that the client is still there
_DISCONNECT_POLL = 1.0


class ClientDisconnected(OSError):
    """``send()`` after the client went away (uvicorn's name; Starlette turns OSError into a disconnect)."""


# ---------------------------------------------------------------------------------------------- requests
def request_from_scope(app: Any, scope: Scope, body: bytes | None, peer: ScopePeer) -> Request:
    """The Request for an HTTP scope (``fastrapi.asgi.build_request``), sharing the scope's ``state`` dict
    (what one layer sets, all see, as in Starlette) and carrying its ``session``."""
    request = build_request(app, scope, body, peer)
    state = scope.get("state")
    if state is not None:
        shared = State.__new__(State)
        object.__setattr__(shared, "_state", state)
        request._state = shared
    if "session" in scope:
        request._session = scope["session"]
    return request


def request_scheme(request: Any, default: str = "http") -> str:
    """The scope's scheme for a Request built from an ASGI scope; on the built-in server ``http``, or ``https``
    over TLS or behind a TLS proxy (``proxy_headers``)."""
    transport = request._transport
    if type(transport) is ScopePeer:
        return transport.scope.get("scheme", default)
    return connection_scheme(transport, websocket=default in ("ws", "wss"))


def request_server(request: Any) -> tuple[str, int] | None:
    """The (host, port) the request came in on, as in the ASGI scope's ``server``."""
    transport = request._transport
    sock = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sock, (tuple, list)) and len(sock) >= 2:
        return str(sock[0]), int(sock[1])
    return None


def scope_from_request(app: Any, request: Request) -> Scope:
    """The ASGI HTTP scope of a fastrapi Request (the original scope's extra keys kept when it came from one)."""
    transport = request._transport
    scope: Scope = {}
    if type(transport) is ScopePeer:
        scope.update(transport.scope)
    client = transport.get_extra_info("peername") if transport is not None else None
    scope.update({
        "type": "http",
        "asgi": scope.get("asgi") or _ASGI,
        "http_version": request.http_version,
        "method": request.method,
        "scheme": scope.get("scheme") or request_scheme(request),
        "path": request.path,
        "raw_path": request.raw_path,
        "root_path": scope.get("root_path", getattr(app, "root_path", "") or ""),
        "query_string": request.query_string,
        "headers": request.raw_headers,
        "client": tuple(client[:2]) if isinstance(client, (tuple, list)) and len(client) >= 2 else None,
        "server": request_server(request),
        "state": request.state._state,
        "extensions": scope.get("extensions") or {},
    })
    session = getattr(request, "_session", None)
    if session is not None:
        scope["session"] = session
    return scope


# ---------------------------------------------------------------------------------------------- native -> ASGI
class AsgiEndpoint:
    """Native -> ASGI: ``await endpoint(request)`` runs the ASGI app for the request and returns its Response."""

    __slots__ = ("app", "asgi")

    def __init__(self, app: Any, asgi: Any) -> None:
        self.app = app
        self.asgi = asgi

    async def __call__(self, request: Request) -> Response:
        exchange = _HttpExchange(request)
        scope = scope_from_request(self.app, request)
        task = asyncio.ensure_future(self._run(exchange, scope))
        exchange.task = task
        try:
            return await asyncio.shield(exchange.result)
        except asyncio.CancelledError:
            exchange.gone = True
            task.cancel()
            raise

    async def _run(self, exchange: "_HttpExchange", scope: Scope) -> None:
        try:
            await self.asgi(scope, exchange.receive, exchange.send)
        except asyncio.CancelledError:
            exchange.finished(None, cancelled=True)
            raise
        except Exception as exc:
            exchange.finished(exc)
        else:
            exchange.finished(None)


class _HttpExchange:
    """One request run through an ASGI app: its ``receive``/``send`` and the Response being collected."""

    __slots__ = (
        "request", "loop", "result", "status", "headers", "chunks", "done", "gone", "ended", "body_done",
        "reading", "waiter", "task",
    )

    def __init__(self, request: Request) -> None:
        self.request = request
        self.loop = asyncio.get_running_loop()
        self.result: asyncio.Future[Response] = self.loop.create_future()
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()
        self.done = False  # the app sent its last body message
        self.gone = False  # the client is gone, or the server stopped reading the body
        self.ended = False  # the app returned (or raised)
        self.body_done = False
        self.reading = False  # this exchange is the reader of the request's body stream
        #: the one side waiting for the other: the consumer for chunks, the app for room or for the end
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    async def _wait(self, timeout: float | None = None) -> None:
        w = self.waiter
        if w is None or w.done():
            w = self.waiter = self.loop.create_future()
        if timeout is None:
            await w
            return
        handle = self.loop.call_later(timeout, _resolve, w)
        try:
            await w
        finally:
            handle.cancel()

    # ------------------------------------------------------------------ the app's side
    async def receive(self) -> Message:
        if not self.body_done:
            request = self.request
            if request._body is not None:
                self.body_done = True
                return {"type": "http.request", "body": request._body, "more_body": False}
            stream = request._stream
            if stream is None or (stream.consumed and not self.reading):
                # read by a middleware outside through request.stream(): what is left to give is nothing
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            stream.consumed = True
            self.reading = True
            try:
                chunk = await stream.read()
            except ClientDisconnect:
                self.body_done = True
                self.gone = True
                return {"type": "http.disconnect"}
            if chunk is None:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}
        transport = self.request._transport
        while not (self.done or self.gone):
            if transport is None or transport.is_closing():
                self.gone = True
                break
            await self._wait(_DISCONNECT_POLL)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if self.gone:
            raise ClientDisconnected("client disconnected")
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("Unexpected ASGI message 'http.response.start' sent, after response already started.")
            self.status = int(message["status"])
            head = self.request.method == "HEAD"
            self.headers = [
                (bytes(name).lower(), bytes(value)) for name, value in message.get("headers", ())
                # the server sets the length (or chunks the stream); a HEAD answer keeps the app's
                if head or bytes(name).lower() != b"content-length"
            ]
            return
        if kind != "http.response.body":
            return  # trailers, debug, early hints: nothing the server writes
        if self.status is None:
            raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, before 'http.response.start'.")
        if self.done:
            raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, after response already completed.")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if not self.result.done():
            if not more:
                self.done = True
                response = Response.__new__(Response)
                response.status_code = self.status
                response.raw_headers = self.headers
                response.body = bytes(body)
                response.background = self.finish
                self.result.set_result(response)
                self._wake()
                return
            stream = StreamingResponse.__new__(StreamingResponse)
            stream.status_code = self.status
            stream.raw_headers = self.headers
            stream.body = b""
            stream.background = self.finish
            stream.body_iterator = self.iterate()
            self.result.set_result(stream)
        if body:
            self.chunks.append(bytes(body))
        if not more:
            self.done = True
        self._wake()
        while len(self.chunks) > 1 and not self.gone:
            await self._wait()  # the consumer is behind: back-pressure on the app
        if self.gone:
            raise ClientDisconnected("client disconnected")

    def finished(self, exc: BaseException | None, cancelled: bool = False) -> None:
        """The app returned, raised or was cancelled."""
        self.ended = True
        if not self.result.done():
            if cancelled:
                self.result.cancel()
            else:
                self.result.set_exception(exc or RuntimeError("ASGI callable returned without starting response."))
        elif exc is not None and not self.gone:
            logger.error("Exception in ASGI application after the response started", exc_info=exc)
        self._wake()

    # ------------------------------------------------------------------ the server's side
    async def iterate(self) -> Any:
        """The streamed body, chunk by chunk as the app sends it."""
        try:
            while True:
                while not self.chunks:
                    if self.done:
                        return
                    if self.ended:
                        # ended (or raised) before its last body message: the response cannot be completed
                        transport = self.request._transport
                        if type(transport) is ScopePeer:
                            raise RuntimeError("ASGI callable returned without completing response.")
                        if transport is not None:
                            transport.abort()  # the built-in server: the client sees a cut-off response
                        return
                    await self._wait()
                chunk = self.chunks.popleft()
                self._wake()
                yield chunk
        finally:
            if not self.done:
                self.gone = True
                self._wake()

    async def finish(self) -> None:
        """After the response is written: wait for the app to end (its own post-response work)."""
        task = self.task
        if task is not None and not task.done():
            await asyncio.shield(task)


def _resolve(w: "asyncio.Future[None]") -> None:
    if not w.done():
        w.set_result(None)


# ---------------------------------------------------------------------------------------------- ASGI -> native
class NativeSegment:
    """ASGI -> native: an ASGI app running a native middleware chain for HTTP scopes.

    WebSocket scopes get the handshake checks of the segment's middleware, then go to ``passthrough`` (the
    next ASGI app inward) like every other scope. The outermost segment answers exceptions with a 500.
    """

    __slots__ = ("app", "handle", "passthrough", "checks", "outermost")

    def __init__(self, app: Any, handle: Callable[[Request], Awaitable[Response]], passthrough: Any,
                 checks: list[Any], outermost: bool) -> None:
        self.app = app
        self.handle = handle
        self.passthrough = passthrough
        self.checks = checks
        self.outermost = outermost

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
            return
        if kind == "websocket" and self.checks:
            request = request_from_scope(self.app, {**scope, "method": "GET"}, b"", ScopePeer(scope))
            for check in self.checks:
                refusal = check.check_websocket(request, scope.get("scheme", "ws"))
                if refusal is not None:
                    await _deny_websocket(scope, send, refusal)
                    return
        if self.passthrough is None:
            if kind == "lifespan":
                await _no_lifespan(receive, send)
                return
            raise RuntimeError(f"no ASGI application for a {kind!r} scope")
        await self.passthrough(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As ``fastrapi.asgi.serve_http``, with the native chain in place of ``app.dispatch``."""
        app = self.app
        received = await receive_request(app, scope, receive, request_from_scope)
        if received is None:
            return
        request, peer = received
        try:
            try:
                response = await self.handle(request)
            except ClientDisconnect:
                return
            except Exception as exc:
                if not self.outermost:
                    raise
                response = await server_error(app, request, exc)
            if peer.closed:
                return  # the client left while its body was being read
            await send_response(app, request, response, scope, receive, send, peer)
        finally:
            await request.close()


class ServerErrorASGI:
    """The outermost layer when it is ASGI middleware: an exception before the response started is
    answered with a 500, as Starlette's ServerErrorMiddleware does."""

    __slots__ = ("app", "inner")

    def __init__(self, app: Any, inner: Any) -> None:
        self.app = app
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.inner(scope, receive, guarded_send)
        except Exception as exc:
            if started:
                raise
            peer = ScopePeer(scope)
            request = request_from_scope(self.app, scope, b"", peer)
            response = await server_error(self.app, request, exc)
            await send_response(self.app, request, response, scope, receive, send, peer)


async def _deny_websocket(scope: Scope, send: Send, response: Response) -> None:
    """Refuse a WebSocket handshake with an HTTP response (the denial extension), else a close (403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        headers = list(response.raw_headers)
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "websocket.http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _no_lifespan(receive: Receive, send: Send) -> None:
    """Lifespan messages answered when the app has no ASGI adapter (startup/shutdown run by its server)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# ---------------------------------------------------------------------------------------------- WebSockets
def _is_server_connection(conn: Any) -> bool:
    from ..server.websocket import WebSocketProtocol

    return type(conn) is WebSocketProtocol


def _websocket_request(app: Any, conn: Any, path: str, query: bytes) -> Request:
    return Request("GET", path, path.encode("utf-8"), query, conn.request_headers, b"", conn.transport, app)


def _refuse_connection(conn: Any, response: Response) -> None:
    """Answer the handshake of a server connection with ``response`` and close it."""
    headers = [(n, v) for n, v in response.raw_headers if n != b"content-type" and n != b"content-length"]
    content_type = next((v for n, v in response.raw_headers if n == b"content-type"), b"text/plain; charset=utf-8")
    conn.reject(response.status_code, response.body, headers, content_type)


class WebSocketChecks:
    """No ASGI middleware, but native ones that guard handshakes: check the server's WebSocket connections."""

    __slots__ = ("app", "checks")

    def __init__(self, app: Any, checks: list[Any]) -> None:
        self.app = app
        self.checks = checks

    async def __call__(self, route: Any, conn: Any, path: str, query: bytes, params: dict[str, Any]) -> bool:
        if not _is_server_connection(conn):
            return False
        request = _websocket_request(self.app, conn, path, query)
        for check in self.checks:
            refusal = check.check_websocket(request, "ws")
            if refusal is not None:
                _refuse_connection(conn, refusal)
                return True
        return False


class WebSocketBridge:
    """A WebSocket connection of the built-in server run through the ASGI middleware stack."""

    __slots__ = ("app", "asgi")

    def __init__(self, app: Any, asgi: Any) -> None:
        self.app = app
        self.asgi = asgi

    async def __call__(self, route: Any, conn: Any, path: str, query: bytes, params: dict[str, Any]) -> bool:
        if not _is_server_connection(conn):
            return False  # a connection the stack's own ASGI adapter made: run the handler
        from ..ws.handshake import offered_subprotocols

        transport = getattr(conn, "peer", None) or conn.transport  # (a proxy's forwarded client and scheme)
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        app = self.app
        initial = getattr(app, "lifespan_state", None)
        scope: Scope = {
            "type": "websocket",
            "asgi": _ASGI,
            "http_version": "1.1",
            "scheme": connection_scheme(transport, websocket=True),
            "path": path,
            "raw_path": path.encode("utf-8"),
            "root_path": getattr(app, "root_path", "") or "",
            "query_string": query,
            "headers": conn.request_headers,
            "client": tuple(peer[:2]) if isinstance(peer, (tuple, list)) else None,
            "server": tuple(sock[:2]) if isinstance(sock, (tuple, list)) else None,
            "subprotocols": offered_subprotocols(conn.request_headers),
            "state": dict(initial) if initial else {},
            "extensions": {"websocket.http.response": {}},
        }
        exchange = _WebSocketExchange(conn)
        try:
            await self.asgi(scope, exchange.receive, exchange.send)
        except Exception as exc:
            logger.error("Exception in ASGI application (WebSocket %s)", path, exc_info=exc)
            if conn.application_state == WSState.CONNECTING:
                conn.reject(500)
            else:
                conn.finish(1011, "internal error")
        else:
            if conn.application_state == WSState.CONNECTING:
                conn.reject(403)
            else:
                conn.finish(1000)
        return True


class _WebSocketExchange:
    """ASGI ``receive``/``send`` over a server WebSocket connection."""

    __slots__ = ("conn", "connect_sent", "denial", "handshake")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.connect_sent = False
        self.denial: list[Any] | None = None
        #: resolved when the app accepts (True) or refuses (False) the connection
        self.handshake: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def _handshake_done(self, accepted: bool) -> None:
        if not self.handshake.done():
            self.handshake.set_result(accepted)

    async def receive(self) -> Message:
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        conn = self.conn
        # an ASGI app may ask for the next message before its accept went out (sent by another task)
        if conn.application_state == WSState.CONNECTING and not await self.handshake:
            return {"type": "websocket.disconnect", "code": conn.close_code or 1006, "reason": ""}
        try:
            message = await conn.receive()
        except WebSocketDisconnect as exc:
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason or ""}
        if type(message) is str:
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def send(self, message: Message) -> None:
        conn = self.conn
        kind = message["type"]
        try:
            if kind == "websocket.send":
                text = message.get("text")
                if conn.write_text(text) if text is not None else conn.write_bytes(message.get("bytes") or b""):
                    await conn.drain()
            elif kind == "websocket.accept":
                headers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers") or ()]
                conn.accept(message.get("subprotocol"), headers)
                self._handshake_done(True)
            elif kind == "websocket.close":
                if conn.application_state == WSState.CONNECTING:
                    conn.reject(403)
                    self._handshake_done(False)
                else:
                    await conn.close(message.get("code", 1000), message.get("reason") or "")
            elif kind == "websocket.http.response.start":
                self.denial = [message["status"], [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())], []]
            elif kind == "websocket.http.response.body":
                if self.denial is None:
                    raise RuntimeError("'websocket.http.response.body' sent before 'websocket.http.response.start'")
                self.denial[2].append(message.get("body", b""))
                if not message.get("more_body", False):
                    status, headers, body = self.denial
                    response = Response(b"".join(body), status_code=status)
                    response.raw_headers = [(n, v) for n, v in headers if n != b"content-length"]
                    _refuse_connection(conn, response)
                    self._handshake_done(False)
            else:
                raise RuntimeError(f"Unexpected ASGI message {kind!r} on a WebSocket")
        except WebSocketDisconnect:
            self._handshake_done(False)
            raise ClientDisconnected("client disconnected") from None
