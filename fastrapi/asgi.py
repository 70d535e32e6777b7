"""The app as an ASGI 3 application: ``uvicorn main:app``, ``hypercorn main:app``, ``granian --interface asgi``.

``ASGIAdapter`` maps the three ASGI scope types onto what the built-in server does natively:

* ``http``: a fastrapi ``Request`` is built from the scope (a body that arrives in one message is buffered,
  a longer one streamed through ``ASGIBody``), ``app.dispatch`` runs it to its final response, which is sent
  as ``http.response.*`` messages (StreamingResponse piece by piece, FileResponse with its Range and
  conditional answers), then the response's background work runs and uploaded form files are closed.
* ``websocket``: ``ASGIWebSocket`` is the connection object the ``fastrapi.websocket.WebSocket`` facade
  talks to (the interface of ``server.websocket.WebSocketProtocol``), mapped onto ``websocket.*`` messages;
  handlers run through ``app.run_websocket`` exactly as on the built-in server.
* ``lifespan``: ``app.lifespan_context()`` is entered at ``lifespan.startup`` and left at
  ``lifespan.shutdown``; what a ``lifespan`` yields goes into ``scope["state"]`` (Starlette's semantics).

The built-in server does not go through this module: it keeps its own faster paths.
"""
from __future__ import annotations

import asyncio
import os
import traceback
from collections import deque
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, MutableMapping

from .concurrency import run_in_threadpool
from .datastructures import State
from .exceptions import WebSocketDisconnect
from .requests import ClientDisconnect, Request
from .responses import FilePlan, FileResponse, PlainTextResponse, StreamingResponse
from .ws.frames import check_close_code
from .ws.codes import State as WSState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Set to a list by ``fastrapi.testclient`` around one ASGI call: ``FastrAPI.handle_exception`` appends each
#: exception it answers with a 500 (unhandled, logged), so ``raise_server_exceptions`` can re-raise it.
server_errors: ContextVar[list[BaseException] | None] = ContextVar("fastrapi_server_errors", default=None)

_NO_BODY_STATUS = frozenset((204, 304))
_JSON_TYPE = (b"content-type", b"application/json")
#: bytes read per pread when a file is sent without the ``http.response.pathsend`` extension
_FILE_CHUNK = 256 * 1024

CONNECTING = WSState.CONNECTING
CONNECTED = WSState.CONNECTED
DISCONNECTED = WSState.DISCONNECTED


class ASGIAdapter:
    """``await adapter(scope, receive, send)``: one FastrAPI app served through the ASGI 3 interface."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await serve_http(self.app, scope, receive, send)
        elif kind == "websocket":
            await serve_websocket(self.app, scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(self.app, scope, receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")


class ScopePeer:
    """Stands in for the transport a ``Request``/``WebSocket`` asks for the peer address and liveness."""

    __slots__ = ("scope", "closed", "complete")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        #: the client went away (``http.disconnect`` seen, or a send failed)
        self.closed = False
        #: the last piece of a streamed response has been handed to the server
        self.complete = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.scope.get("client") or default
        if name == "sockname":
            return self.scope.get("server") or default
        if name == "scheme":
            return self.scope.get("scheme") or default
        return default

    def is_closing(self) -> bool:
        return self.closed


class ASGIBody:
    """A request body still arriving as ``http.request`` messages, read by ``Request.stream()``.

    The interface of ``server.body.BodyStream``: ``read()`` gives each chunk, then None at the end; an
    ``http.disconnect`` raises ``ClientDisconnect``. ``consumed`` is set once the body has been streamed.
    """

    __slots__ = ("receive", "first", "peer", "done", "consumed", "limit", "size")

    def __init__(self, receive: Receive, first: bytes, peer: ScopePeer, limit: int | None = None) -> None:
        self.receive = receive
        self.first = first
        self.peer = peer
        self.done = False
        self.consumed = False
        #: the app's ``max_body_size``: reading past it raises a 413 HTTPException
        self.limit = limit
        self.size = 0

    def _count(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            from .exceptions import HTTPException

            raise HTTPException(413, "Request Entity Too Large")
        return chunk

    async def read(self) -> bytes | None:
        first = self.first
        if first:
            self.first = b""
            return self._count(first)
        while not self.done:
            message = await self.receive()
            kind = message["type"]
            if kind == "http.request":
                if not message.get("more_body", False):
                    self.done = True
                chunk = message.get("body", b"")
                if chunk:
                    return self._count(bytes(chunk))
            elif kind == "http.disconnect":
                self.peer.closed = True
                raise ClientDisconnect()
        return None

    async def drain(self) -> None:
        """Read what is left of the body after the response (the handler did not read it all), as the
        built-in server discards it: the server's body iterator is run to its end rather than left open."""
        try:
            while await self.read() is not None:
                pass
        except ClientDisconnect:
            pass


# --------------------------------------------------------------------------------------------- http
def _apply_root_path(app: Any, scope: Scope) -> None:
    """A server's ``root_path`` (``uvicorn --root-path``) becomes the app's, as ``fastrapi run --root-path``
    does, unless the app was given one: routing strips it from paths, ``url_for`` puts it in front."""
    root = scope.get("root_path")
    if root and not app.root_path:
        app.root_path = root.rstrip("/")


def build_request(app: Any, scope: Scope, body: bytes | None, peer: ScopePeer) -> Request:
    """The fastrapi Request for an ASGI ``http`` scope (``body`` None: streamed, set ``_stream``)."""
    path = scope["path"]
    raw_path = scope.get("raw_path") or path.encode("utf-8")
    request = Request(
        scope["method"], path, raw_path, scope.get("query_string", b""),
        [(name, value) for name, value in scope.get("headers", ())], body, peer, app,
        scope.get("http_version", "1.1"),
    )
    state = scope.get("state")
    if state:
        request._state = State(state)
    return request


async def receive_request(app: Any, scope: Scope, receive: Receive,
                          make: Callable[[Any, Scope, bytes | None, ScopePeer], Request] | None = None,
                          ) -> tuple[Request, ScopePeer] | None:
    """The Request of an ``http`` scope (built by ``make``, default ``build_request``): a body that came in
    one message is buffered, a longer one streamed from ``receive``. None when the client left first."""
    _apply_root_path(app, scope)
    message = await receive()
    if message["type"] != "http.request":
        return None  # http.disconnect before the body: nobody to answer
    make = make or build_request
    peer = ScopePeer(scope)
    first = message.get("body", b"")
    limit = getattr(app, "max_body_size", None)
    if message.get("more_body", False) or (limit is not None and len(first) > limit):
        # streamed (also a body over the app's max_body_size: reading it answers 413, as the server does)
        request = make(app, scope, None, peer)
        request._stream = body = ASGIBody(receive, bytes(first), peer, limit)
        body.done = not message.get("more_body", False)
    else:
        request = make(app, scope, bytes(first), peer)
    return request, peer


async def send_response(app: Any, request: Request, response: Any, scope: Scope, receive: Receive, send: Send,
                        peer: ScopePeer) -> None:
    """Send a Response as ASGI messages, then run its background work."""
    if isinstance(response, FileResponse):
        await send_file(app, request, response, scope, send)
    elif isinstance(response, StreamingResponse):
        await send_stream(request, response, receive, send, peer)
    else:
        await send_complete(request, response, send)
    if response.background is not None and not peer.closed:
        await response.background()


async def serve_http(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """One HTTP request: build the Request, ``app.dispatch`` it, send the response, run its background."""
    received = await receive_request(app, scope, receive)
    if received is None:
        return
    request, peer = received
    try:
        try:
            response = await app.dispatch(request)
        except ClientDisconnect:
            return
        if peer.closed:
            return  # the client left while its body was being read
        if type(response) is bytes:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [_JSON_TYPE, (b"content-length", b"%d" % len(response))]})
            await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else response})
            return
        await send_response(app, request, response, scope, receive, send, peer)
    finally:
        await request.close()
        stream = request._stream
        if stream is not None and not stream.done and not peer.closed:
            await stream.drain()


async def send_complete(request: Request, response: Any, send: Send) -> None:
    """A Response whose body is in memory: start (with Content-Length) and one body message."""
    status = response.status_code
    body = response.body
    headers = list(response.raw_headers)
    if status not in _NO_BODY_STATUS and status >= 200:
        headers.append((b"content-length", b"%d" % len(body)))
    else:
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else body})


class _Gone(Exception):
    """A send failed because the client has gone (ASGI 2.4 servers raise an OSError)."""


async def _send_piece(send: Send, body: bytes, more: bool) -> None:
    try:
        await send({"type": "http.response.body", "body": body, "more_body": more})
    except OSError:
        raise _Gone() from None


async def _pump(iterator: Any, charset: str, send: Send, peer: ScopePeer) -> bool:
    """Send each piece of a StreamingResponse as it comes; stop quietly when the client has gone. True when
    the whole response was sent."""
    try:
        async for piece in iterator:
            if peer.closed:
                return False
            if isinstance(piece, str):
                piece = piece.encode(charset)
            if piece:
                await _send_piece(send, piece, True)
        peer.complete = True
        await _send_piece(send, b"", False)
        return True
    except _Gone:
        peer.closed = True
        return False
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def _watch_disconnect(receive: Receive, peer: ScopePeer) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            peer.closed = True
            return


async def send_stream(request: Request, response: StreamingResponse, receive: Receive, send: Send,
                      peer: ScopePeer) -> None:
    """A StreamingResponse: the head, then each piece with ``more_body``. Once the request body is complete,
    ``http.disconnect`` is watched for meanwhile and stops the stream (as the built-in server cancels it)."""
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    if request.method == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return
    pump = _pump(response.body_iterator, response.charset, send, peer)
    stream = request._stream
    if stream is not None and not stream.done:
        await pump  # the handler may still be reading the body: receive() is not ours to call
        return
    if not _on_asyncio():
        await pump  # (under trio: the server stops a stream whose client left by failing its sends)
        return
    pumping = asyncio.ensure_future(pump)
    watching = asyncio.ensure_future(_watch_disconnect(receive, peer))
    try:
        await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        pumping.cancel()
        watching.cancel()
        raise
    if pumping.done():
        watching.cancel()
        if pumping.result():
            peer.closed = False  # a disconnect once all was sent is the exchange's end: background work runs
        return
    if peer.complete:  # the disconnect that ends an exchange whose last piece is being sent
        await pumping
        peer.closed = False
        return
    pumping.cancel()  # the client went away: stop producing
    try:
        await pumping
    except asyncio.CancelledError:
        pass


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _close_opened(opening: "asyncio.Future[tuple[int, Any]]") -> None:
    if not opening.cancelled() and opening.exception() is None:
        fd = opening.result()[0]
        if fd >= 0:
            os.close(fd)


async def send_file(app: Any, request: Request, response: FileResponse, scope: Scope, send: Send) -> None:
    """A FileResponse as the built-in server sends it (``FileResponse.plan``: 206/multipart ranges, 304,
    400/416, HEAD), the bytes read in the thread pool, or handed to the server by ``http.response.pathsend``."""
    head_only = request.method == "HEAD" or response.send_header_only
    opening = asyncio.ensure_future(run_in_threadpool(response.open_file, not head_only))
    try:
        fd, st = await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_opened)
        raise
    except (RuntimeError, OSError) as exc:
        # Nothing is sent yet: answered like a handler's exception (logged; a 500 unless handled).
        error = await app.handle_exception(request, exc)
        if isinstance(error, (FileResponse, StreamingResponse)):
            error = PlainTextResponse("Internal Server Error", status_code=500)
        await send_complete(request, error, send)
        return
    try:
        plan = response.plan(request.method, request.raw_headers, st)
        if not isinstance(plan, FilePlan):
            await send_complete(request, plan, send)  # 304, or 400/416 for a bad Range
            return
        await send({"type": "http.response.start", "status": plan.status, "headers": plan.raw_headers})
        segments = plan.segments
        if not segments or fd < 0:
            await send({"type": "http.response.body", "body": b""})
            return
        if (len(segments) == 1 and not plan.trailer and segments[0] == (b"", 0, st.st_size)
                and "http.response.pathsend" in (scope.get("extensions") or ())):
            await send({"type": "http.response.pathsend", "path": os.path.abspath(os.fspath(response.path))})
            return
        try:
            for prefix, offset, end in segments:
                if prefix:
                    await _send_piece(send, prefix, True)
                while offset < end:
                    chunk = await run_in_threadpool(os.pread, fd, min(_FILE_CHUNK, end - offset), offset)
                    if not chunk:
                        raise RuntimeError(f"File at path {response.path} is shorter than its Content-Length")
                    offset += len(chunk)
                    await _send_piece(send, chunk, True)
            await _send_piece(send, plan.trailer, False)
        except _Gone:
            return
    finally:
        if fd >= 0:
            os.close(fd)


# ---------------------------------------------------------------------------------------- lifespan
async def serve_lifespan(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """``lifespan.startup`` enters ``app.lifespan_context()``, ``lifespan.shutdown`` leaves it. A failure is
    reported with ``*.failed`` (the traceback as its message) and raised, as Starlette does."""
    message = await receive()
    if message["type"] != "lifespan.startup":
        return
    if "root_path" in scope:
        _apply_root_path(app, scope)
    context = app.lifespan_context()
    try:
        await context.__aenter__()
    except BaseException:
        await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
        raise
    state = scope.get("state")
    if state is not None and app.lifespan_state:
        state.update(app.lifespan_state)
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    try:
        await context.__aexit__(None, None, None)
    except BaseException:
        await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
        raise
    await send({"type": "lifespan.shutdown.complete"})


# --------------------------------------------------------------------------------------- websocket
class ASGIWebSocket:
    """One WebSocket connection over ASGI messages, with the interface ``fastrapi.websocket.WebSocket`` and
    ``FastrAPI.run_websocket`` use (that of ``server.websocket.WebSocketProtocol``).

    Sends are queued in order and handed to the server by ``drain()`` (the facade awaits it after each
    ``write_*``; a synchronous ``accept()`` schedules it). Messages are received when the handler asks.
    """

    __slots__ = (
        "transport", "request_headers", "client_state", "application_state", "close_code", "close_reason",
        "messages", "_receive", "_send", "_out", "_sending", "_flushed", "_receiving", "_closed", "_lost",
        "_http_response", "_flusher", "broadcast_membership", "_lost_callbacks",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.transport = ScopePeer(scope)
        self.request_headers = [(name, value) for name, value in scope.get("headers", ())]
        self.client_state = CONNECTING
        self.application_state = CONNECTING
        self.close_code: int | None = None
        self.close_reason = ""
        self.messages: deque[str | bytes] = deque()
        self._receive = receive
        self._send = send
        self._out: deque[Message] = deque()
        self._sending = False
        self._flushed: list[asyncio.Future[None]] = []
        self._receiving = False
        #: a close (or a refusal) has been queued: nothing more is sent
        self._closed = False
        #: the connection is over (client gone, a send failed, or the ASGI call ended): see ``gone()``
        self._lost = False
        self._http_response = "websocket.http.response" in (scope.get("extensions") or ())
        self._flusher: asyncio.Task[None] | None = None
        #: channels (fastrapi.broadcast) this connection joined
        self.broadcast_membership: Any = None
        self._lost_callbacks: list[Any] | None = None

    # ------------------------------------------------------------------ handshake
    def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None:
        """Queue ``websocket.accept`` (sent right away by a flush task)."""
        if self.application_state != CONNECTING:
            raise RuntimeError('WebSocket.accept() may be called only once, before any send or receive')
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = headers
        self.client_state = CONNECTED
        self.application_state = CONNECTED
        self._out.append(message)
        if self._flusher is None:
            self._flusher = asyncio.ensure_future(self.flush())

    def reject(self, status: int, body: bytes = b"") -> None:
        """Refuse the handshake: 403 as ``websocket.close`` (servers answer 403), another status as an HTTP
        response where the server has the ``websocket.http.response`` extension."""
        self.application_state = DISCONNECTED
        self.client_state = DISCONNECTED
        if self._closed:
            return
        self._closed = True
        if status != 403 and self._http_response:
            self._out.append({"type": "websocket.http.response.start", "status": status, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]})
            self._out.append({"type": "websocket.http.response.body", "body": body})
        else:
            self._out.append({"type": "websocket.close", "code": 1011 if status >= 500 else 1008, "reason": ""})

    # ------------------------------------------------------------------ receiving
    def wait_message(self) -> Awaitable[None]:
        """An awaitable that receives the next message into ``messages``; raises if the connection is
        closed, before accept, or when another coroutine is already waiting."""
        if self.client_state == DISCONNECTED or self.application_state == DISCONNECTED:
            raise WebSocketDisconnect(self.close_code or 1000, self.close_reason)
        if self.application_state == CONNECTING:
            raise RuntimeError('WebSocket is not connected: call "await ws.accept()" first')
        if self._receiving:
            raise RuntimeError("another coroutine is already waiting for the next message")
        return self._receive_one()

    async def _receive_one(self) -> None:
        self._receiving = True
        try:
            message = await self._receive()
        finally:
            self._receiving = False
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            self.messages.append(text if text is not None else bytes(message.get("bytes") or b""))
        elif kind == "websocket.disconnect":
            self._disconnected(message.get("code", 1005), message.get("reason") or "")
            raise WebSocketDisconnect(self.close_code or 1005, self.close_reason)

    def _disconnected(self, code: int, reason: str) -> None:
        self.client_state = DISCONNECTED
        self.application_state = DISCONNECTED
        self._closed = True
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.gone()

    def gone(self) -> None:
        """The connection is over (client left, a send failed, or the handler's call ended): run the
        ``on_lost`` callbacks once."""
        if self._lost:
            return
        self._lost = True
        self.transport.closed = True
        callbacks, self._lost_callbacks = self._lost_callbacks, None
        for callback in callbacks or ():
            callback(self)

    def on_lost(self, callback: Any) -> None:
        """Call ``callback(connection)`` when the connection is gone (channels use it to drop members)."""
        if self._lost:
            callback(self)
        elif self._lost_callbacks is None:
            self._lost_callbacks = [callback]
        else:
            self._lost_callbacks.append(callback)

    def pop(self) -> str | bytes:
        return self.messages.popleft()

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary. Raises WebSocketDisconnect when closed."""
        messages = self.messages
        while not messages:
            await self.wait_message()
        return messages.popleft()

    # ------------------------------------------------------------------ sending
    def _check_send(self) -> None:
        if self.application_state == CONNECTING:
            raise RuntimeError('WebSocket is not connected: call "await ws.accept()" before sending')
        raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)

    def write_text(self, data: str) -> bool:
        """Queue one text message; True: the caller awaits ``drain()``, which sends it."""
        if self.application_state != CONNECTED or self._lost:
            self._check_send()
        self._out.append({"type": "websocket.send", "text": data})
        return True

    def write_utf8(self, payload: bytes) -> bool:
        if self.application_state != CONNECTED or self._lost:
            self._check_send()
        self._out.append({"type": "websocket.send", "text": payload.decode("utf-8")})
        return True

    def write_bytes(self, data: bytes | bytearray | memoryview) -> bool:
        if self.application_state != CONNECTED or self._lost:
            self._check_send()
        self._out.append({"type": "websocket.send", "bytes": bytes(data)})
        return True

    async def send_text(self, data: str) -> None:
        self.write_text(data)
        await self.drain()

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        self.write_bytes(data)
        await self.drain()

    async def drain(self) -> None:
        """Hand the queued messages to the server, in order (one sender at a time); WebSocketDisconnect
        when a send failed because the client has gone."""
        out = self._out
        while out and not self._lost:
            if self._sending:
                waiter = asyncio.get_running_loop().create_future()
                self._flushed.append(waiter)
                await waiter
                continue
            self._sending = True
            try:
                while out:
                    await self._send(out.popleft())
            except Exception:  # the server refuses: the connection is gone (ASGI 2.4: an OSError)
                out.clear()
                self._disconnected(1006, "")
            finally:
                self._sending = False
                flushed, self._flushed = self._flushed, []
                for waiter in flushed:
                    if not waiter.done():
                        waiter.set_result(None)
        if self._lost:
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)

    async def flush(self) -> None:
        """``drain()`` that does not raise: for the handshake and the final close."""
        try:
            await self.drain()
        except WebSocketDisconnect:
            pass
        finally:
            self._flusher = None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send ``websocket.close`` (before accept: refuses the handshake); a no-op once closed."""
        if self.application_state == CONNECTING:
            self.application_state = DISCONNECTED
            self.client_state = DISCONNECTED
            self._closed = True
            self._out.append({"type": "websocket.close", "code": code, "reason": reason or ""})
            await self.flush()
            return
        if self._closed or self._lost:
            return
        check_close_code(code)
        self._closed = True
        self.application_state = DISCONNECTED
        self._out.append({"type": "websocket.close", "code": code, "reason": reason or ""})
        await self.flush()

    # ------------------------------------------------------------------ broadcast fan-out
    #: the server does any compression itself: channels hand this connection plain frames
    deflate_state = None

    def write_shared(self, frame: bytes, max_outgoing: int) -> bool:
        """A channel's message as an encoded (uncompressed) frame: queued as a ``websocket.send``; False if the
        connection cannot take it. More than ``max_outgoing`` bytes waiting to be sent drops it (close 1013)."""
        if self.application_state != CONNECTED or self._lost:
            return False
        n = frame[1] & 0x7F
        payload = frame[2 if n < 126 else 4 if n == 126 else 10:]
        out = self._out
        if frame[0] & 0x0F == 1:
            out.append({"type": "websocket.send", "text": payload.decode("utf-8")})
        else:
            out.append({"type": "websocket.send", "bytes": payload})
        if len(out) > 1 and sum(len(m.get("text") or m.get("bytes") or b"") for m in out) > max_outgoing:
            out.clear()
            self.finish(1013, "subscriber too slow")
        if self._flusher is None and not self._sending:
            self._flusher = asyncio.ensure_future(self.flush())
        return True

    def finish(self, code: int, reason: str = "") -> None:
        """The handler returned or raised: queue a close with ``code`` unless already closed."""
        if self._closed or self._lost:
            return
        self._closed = True
        self.application_state = DISCONNECTED
        self._out.append({"type": "websocket.close", "code": code, "reason": reason or ""})


async def serve_websocket(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """One WebSocket connection: route it (no route: refused, 404 where the server can say so) and run its
    handler through ``app.run_websocket`` as the built-in server does."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "root_path" in scope:
        _apply_root_path(app, scope)
    conn = ASGIWebSocket(scope, receive, send)
    path = scope["path"]
    route, params = app.router.match_websocket(path)
    if route is None:
        conn.reject(404, b"Not Found")
    else:
        await app.run_websocket(route, conn, path, scope.get("query_string", b""), params)
    try:
        flusher = conn._flusher
        if flusher is not None:
            await flusher
        await conn.flush()
    finally:
        conn.gone()
