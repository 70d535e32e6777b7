"""HTTP/1.1 over one connection: httptools parses, this protocol dispatches and writes responses.

One ``HttpProtocol`` per TCP connection. httptools (C) calls back per URL piece, header and body chunk; at the
end of a request the router picks the route and the route's prebuilt ``handle`` runs as a task (started
eagerly where Python supports it, so a handler that never suspends answers within ``data_received``).
Responses go out in request order (pipelining); an ``Upgrade: websocket`` request hands the transport over to
``WebSocketProtocol``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import deque
from contextvars import copy_context
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httptools

from ..exceptions import HTTPException
from ..requests import ClientDisconnect, Request
from ..concurrency import run_in_threadpool
from ..responses import (
    FilePlan,
    FileResponse,
    PlainTextResponse,
    StreamingResponse,
    finalize_response,
)
from ..ws.handshake import HandshakeError, validate_upgrade
from .body import BodyStream
from .config import YIELD_EVERY
from .head import CLOSE as _CLOSE, KEEP_ALIVE as _KEEP_ALIVE, InvalidHeader, encode_headers, simple_response
from .websocket import WebSocketProtocol

if TYPE_CHECKING:
    from .server import Server

logger = logging.getLogger("fastrapi.error")

_JSON_200 = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
_METHODS = {m: m.decode() for m in (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS")}
_CLOSE_END = b"connection: close\r\n\r\n"
_NO_BODY_STATUS = frozenset((204, 304))
#: responses whose body is written by a task after the head (a StreamingResponse's chunks, a file's bytes)
_DEFERRED_BODY = (StreamingResponse, FileResponse)
#: bytes read per pread when a file's bytes go through the transport's buffer
_FILE_CHUNK = 256 * 1024
_sendfile = getattr(os, "sendfile", None)
#: a body still arriving past this many bytes is streamed to its handler, which starts right away
STREAM_AFTER = 64 * 1024

if sys.version_info >= (3, 12):
    def _start_task(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task[Any]:
        """Run the coroutine right away until it first suspends (an eager task, with current_task set)."""
        return asyncio.Task(coro, loop=loop, eager_start=True)
else:
    def _start_task(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task[Any]:
        return loop.create_task(coro)


#: a stream's pieces produced without waiting are held up to this size / this long before being written
_HOLD_BYTES = 65536
_HOLD_SECONDS = 0.001
_monotonic = time.monotonic


def _write_held(transport: Any, held: list[bytes], chunked: bool) -> None:
    """Write the held pieces of a stream as one chunk (raw on HTTP/1.0), and forget them."""
    data = held[0] if len(held) == 1 else b"".join(held)
    held.clear()
    transport.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)


class _Resume:
    """The rest of an awaitable that was stepped once by hand (``send(None)``) and gave ``first``, the
    future it waits for: awaiting this hands ``first`` to the task and goes on with the awaitable."""

    __slots__ = ("step", "first")

    def __init__(self, step: Any, first: Any) -> None:
        self.step = step
        self.first = first

    def __await__(self) -> Any:
        value = self.first
        while True:
            try:
                yield value
            except BaseException as exc:  # cancellation: delivered to the awaitable
                try:
                    value = self.step.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
            return (yield from self.step)


class _Reject(Exception):
    """Raised from a parser callback to answer an error status and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 server protocol for one connection."""

    __slots__ = (
        "server", "loop", "router", "_fast_routes", "app", "parser", "transport", "_url", "_headers", "_hsize", "_body",
        "_body_size", "_busy", "_pipeline", "_upgrade", "_closing", "_idle_handle",
        "_active", "_idle_ticks", "_max_header", "_max_body", "_read_paused", "_write_paused", "_drain_waiter",
        "_task", "_streaming", "_draining", "_in_headers", "_pending_head", "_no_more", "_deferred_error", "_continue_owed",
        "_middleware", "_hosts", "_head_ticks", "_body_ticks", "_admit", "_job",
    )

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.loop = server.loop
        self.router = server.router
        self._fast_routes = server.router.fast
        self.app = server.app
        # The app's middleware, built once (fastrapi.middleware): every request then goes through its chain
        # (_run_middleware), and the fast path is off for this connection (an empty index). None: no cost.
        built = getattr(server.app, "_built_middleware", None)
        built = built() if built is not None else None
        self._middleware: Any = built.native if built is not None else None
        if built is not None:
            self._fast_routes = {}
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._hsize = 0
        #: the chunks of the body being received; a BodyStream (also with ``append``) once it is streamed
        self._body: Any = []
        self._body_size = 0
        self._busy = False
        self._pipeline: deque[Request] = deque()
        self._upgrade: Request | None = None
        self._closing = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._active = False
        self._idle_ticks = 0
        self._max_header = server.config.max_header_size
        self._max_body = server.config.max_body_size
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[Any] | None = None
        #: (route, request) of the ``def`` handler running in the thread pool for this connection
        self._job: Any = None
        self._draining = False
        self._streaming = False
        self._in_headers = True
        self._pending_head = 0
        self._no_more = False
        self._deferred_error: bytes | None = None
        #: a pipelined request's "100 Continue", held back until the responses before it are out
        self._continue_owed = False
        #: Host header lines of the request being parsed (RFC 9112 3.2: exactly one in HTTP/1.1, never two)
        self._hosts = 0
        #: deadline checks (``_tick``) an unfinished head, or a body receiving nothing, has lasted
        self._head_ticks = 0
        self._body_ticks = 0
        #: limit_concurrency / limit_max_requests: the server's admission check, None when neither is set
        self._admit: Any = server.admit

    # ------------------------------------------------------------------ connection
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=self.server.config.write_buffer_high)
        self.server.connections.add(self)
        self._idle_handle = self.loop.call_later(self.server.config.tick, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if type(self._body) is BodyStream:
            self._body.fail(ClientDisconnect())
        if self._streaming and self._task is not None:
            self._task.cancel()  # a stream waiting for its next piece: stop it, the client is gone
        self._closing = True
        self._pipeline.clear()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        w = self._drain_waiter
        if w is not None:
            self._drain_waiter = None
            if not w.done():
                w.set_result(None)

    def _tick(self) -> None:
        """The connection's deadlines, checked every ``config.tick`` seconds (one timer per connection, no clock
        read per request): an idle keep-alive connection is closed after ``keep_alive_timeout``; a request head
        still unfinished after ``header_timeout`` (slowloris), or a body that received nothing for
        ``body_timeout``, gets 408 and the connection closes. ``data_received`` only sets a flag."""
        self._idle_handle = None
        if self.transport.is_closing():
            return
        cfg = self.server.config
        tick = cfg.tick
        if not self._in_headers:  # a body is arriving (its handler may be running already, reading a stream)
            if self._active or self._read_paused:  # (not the client's fault while the server is not reading)
                self._body_ticks = 0
            else:
                self._body_ticks += 1
                if cfg.body_timeout and self._body_ticks * tick >= cfg.body_timeout:
                    self._error(408, "Request Timeout: the request body stopped arriving")
                    return
            self._idle_ticks = 0
        elif self._busy or self._upgrade is not None:
            self._idle_ticks = 0
        elif self._pending_head > 0 or self._url or self._headers:  # a head is being received
            self._head_ticks += 1
            self._idle_ticks = 0
            if cfg.header_timeout and self._head_ticks * tick >= cfg.header_timeout:
                self._error(408, "Request Timeout: the request head was not received in time")
                return
        elif self._active:
            self._idle_ticks = 0
        else:
            self._idle_ticks += 1
            if self._idle_ticks * tick >= cfg.keep_alive_timeout:
                self.transport.close()
                return
        self._active = False
        self._idle_handle = self.loop.call_later(tick, self._tick)

    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else after the in-flight (and queued) responses."""
        self._closing = True
        if not self._busy and not self._pipeline:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._active = True
        try:
            self.parser.feed_data(data)
            if self._in_headers:
                # httptools buffers an unfinished header line itself: bound what it may hold. A chunk in
                # which the previous request ended (marked -1) is not counted: part of it was that request.
                if self._pending_head < 0:
                    self._pending_head = 0
                else:
                    self._pending_head += len(data)
                    if self._pending_head > self._max_header:
                        raise _Reject(431, "Request Header Fields Too Large")
            elif self._body_size > STREAM_AFTER and type(self._body) is list:
                if self._busy or self._pipeline:
                    self._hold_body()
                else:
                    self._stream_body()
        except httptools.HttpParserUpgrade as exc:
            self._on_upgrade(data[exc.args[0]:] if exc.args else b"")
        except _Reject as exc:
            self._error(exc.status, exc.message)
        except httptools.HttpParserError as exc:
            # httptools wraps exceptions raised by our callbacks; the _Reject is kept on its context.
            cause = exc.__context__ or exc.__cause__
            if isinstance(cause, _Reject):
                self._error(cause.status, cause.message)
            else:
                self._error(400, f"Invalid HTTP request received: {exc}")

    def _error(self, status: int, message: str) -> None:
        """Answer a protocol error and close; after the responses still owed to earlier requests."""
        if self._no_more or self.transport.is_closing():
            return  # bytes after a `Connection: close` request are ignored
        self._no_more = True
        self.transport.pause_reading()
        stream = self._body
        if type(stream) is BodyStream:
            if stream.detached:  # its answer is already out: nothing more to say
                self.transport.close()
                return
            # The handler reading this body gets the error (answered by the app, then the connection closes).
            self._closing = True
            stream.fail(HTTPException(status, message))
            return
        response = simple_response(status, message, self.server.date_server, close=True)
        if self._busy or self._pipeline:
            self._deferred_error = response
            return
        self.transport.write(response)
        self.transport.close()

    # ------------------------------------------------------------------ httptools callbacks
    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._max_header:
            raise _Reject(414, "Request-URI Too Long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._hsize += len(name) + len(value) + 4
        if self._hsize > self._max_header:
            raise _Reject(431, "Request Header Fields Too Large")
        name = name.lower()
        self._headers.append((name, value))
        if name == b"content-length":
            try:
                size = int(value)
            except ValueError:
                raise _Reject(400, "Invalid Content-Length header") from None
            if size > self._max_body:
                raise _Reject(413, "Request Entity Too Large")
        elif name == b"host":
            self._hosts += 1
        elif name == b"expect" and value.lower() == b"100-continue":
            # Sent as soon as the header is seen: the client waits for it before sending the body.
            # (No on_headers_complete callback: httptools skips callbacks a protocol does not define.)
            if self.parser.get_http_version() != "1.0":
                if self._busy or self._pipeline:
                    self._continue_owed = True  # not in the middle of an earlier response
                else:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._in_headers = False
        self._body_size += len(body)
        if self._body_size > self._max_body:
            raise _Reject(413, "Request Entity Too Large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        url = self._url
        headers = self._headers
        body = self._body
        if self._hosts != 1:
            self._check_host()
        # Reset for the next request here rather than in an on_message_begin callback (one call less).
        self._url = b""
        self._headers = []
        self._hsize = 0
        self._hosts = 0
        self._head_ticks = 0
        self._in_headers = True
        self._pending_head = -1
        if body:
            self._body = []
            self._body_size = 0
            self._body_ticks = 0
            if type(body) is BodyStream:  # its handler is running already: the body is complete now
                body.end()
                if not parser.should_keep_alive():
                    self._no_more = True
                return
        if self._admit is not None and not self._admit():
            self._error(503, "Service Unavailable")  # over limit_concurrency
            return
        if not self._busy and not self._closing:
            # Fast path: the raw target is a static route whose handler takes no parameters and never
            # awaits. One dict lookup on the bytes; no URL decoding and no Request object.
            by_method = self._fast_routes.get(url)
            if by_method is not None:
                route = by_method.get(parser.get_method())
                if route is not None and not parser.should_upgrade() and parser.get_http_version() == "1.1":
                    keep_alive = parser.should_keep_alive()
                    stored = route.stored
                    if stored is not None:  # cache_resp=True: the stored response, with the current date
                        self.transport.write(b"".join((
                            stored.head, self.server.date_server, b"\r\n" if keep_alive else _CLOSE_END,
                            stored.body if parser.get_method() != b"HEAD" else b"",
                        )))
                        if not keep_alive:
                            self.transport.close()
                        return
                    try:
                        response = copy_context().run(route.call_fast)
                    except Exception as exc:
                        self._fast_fallback(url, headers, body, keep_alive, None, exc)
                        return
                    if type(response) is bytes:
                        self.transport.write(b"".join((
                            _JSON_200, b"%d" % len(response), b"\r\n", self.server.date_server,
                            b"\r\n" if keep_alive else _CLOSE_END,
                            response if parser.get_method() != b"HEAD" else b"",
                        )))
                        if not keep_alive:
                            self.transport.close()
                        return
                    self._fast_fallback(url, headers, body, keep_alive, response, None)
                    return
        path, raw_path, query = split_target(url)
        method_b = parser.get_method()
        method = _METHODS.get(method_b) or method_b.decode("latin-1")
        keep_alive = parser.should_keep_alive()
        version = parser.get_http_version()
        request = self._make_request(method, path, raw_path, query, headers, body, keep_alive, version)
        if not request.keep_alive:
            self._no_more = True  # the client said Connection: close; what follows is not parsed
        if parser.should_upgrade():
            self._upgrade = request
            return
        if self._busy:
            self._pipeline.append(request)
            if len(self._pipeline) > 32 and not self._read_paused:
                self._read_paused = True
                self.transport.pause_reading()
            return
        self._dispatch(request)

    def _check_host(self) -> None:
        """RFC 9112 3.2: 400 for an HTTP/1.1 request without a Host header, and for any with two or more."""
        if self._hosts > 1:
            raise _Reject(400, "Bad Request: more than one Host header")
        if self.parser.get_http_version() != "1.0":
            raise _Reject(400, "Bad Request: missing Host header (required in HTTP/1.1)")

    # ------------------------------------------------------------------ streamed request bodies
    def _stream_body(self) -> None:
        """A large body is still arriving: start its handler now and hand it the body as a stream."""
        parser = self.parser
        if self._busy or self._closing or self._no_more or parser.should_upgrade():
            return  # behind another request: it stays buffered (up to max_body_size)
        if self._hosts != 1:
            self._check_host()
        if self._admit is not None and not self._admit():
            raise _Reject(503, "Service Unavailable")
        stream = BodyStream(self, self.loop)
        for chunk in self._body:
            stream.feed(chunk)
        self._body = stream
        path, raw_path, query = split_target(self._url)
        request = self._make_request(self._method_str(), path, raw_path, query, self._headers, [],
                                     parser.should_keep_alive(), parser.get_http_version())
        request._body = None
        request._stream = stream
        self._dispatch(request)

    def _hold_body(self) -> None:
        """A large body arriving behind a request still being answered: stop reading until that one is answered
        (``_after_response`` resumes), then it is streamed. Without this, one connection could make the server
        buffer a whole ``max_body_size`` body per pipelined request."""
        if not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    def pause_body(self) -> None:
        """The unread streamed body is over its high-water mark: stop reading the socket."""
        self.transport.pause_reading()

    def resume_body(self) -> None:
        if not self._read_paused and not self._no_more and not self.transport.is_closing():
            self.transport.resume_reading()

    # ------------------------------------------------------------------ dispatch
    def _fast_fallback(self, url: bytes, headers: list[tuple[bytes, bytes]], body: list[bytes], keep_alive: bool,
                       response: Any, exc: Exception | None) -> None:
        """A fast-path handler raised, or returned something other than JSON bytes: answer it in full."""
        request = self._make_request(self._method_str(), url.decode("ascii"), url, b"", headers, body, keep_alive)
        if exc is not None:
            self._busy = True
            self._task = self._spawn(self._respond_error(request, exc))
        else:
            self._send_now(request, response)

    def _spawn(self, coro: Any) -> "asyncio.Task[Any]":
        """Run a request's handling as a task the server tracks (graceful shutdown waits for exactly these)."""
        return self.server.track(_start_task(self.loop, coro))

    def _method_str(self) -> str:
        method = self.parser.get_method()
        return _METHODS.get(method) or method.decode("latin-1")

    def _make_request(self, method: str, path: str, raw_path: bytes, query: bytes, headers: list[tuple[bytes, bytes]],
                      body: list[bytes], keep_alive: bool, version: str = "1.1") -> Request:
        """The Request for one parsed message (``body`` is the list of chunks httptools delivered)."""
        return Request(method, path, raw_path, query, headers, body[0] if len(body) == 1 else b"".join(body),
                       self.transport, self.app, version, keep_alive)

    def _dispatch(self, request: Request) -> None:
        if self._middleware is not None:
            self._busy = True
            self._task = self._spawn(self._run_middleware(request))
            return
        route, params, allowed = self.router.match(request.method, request.path)
        if route is None:
            if allowed is None and self.router.match_websocket(request.path)[0] is not None:
                self._bad_handshake(request)
            elif self.app.exception_handlers:
                # The app may handle 404/405 itself (by status code or HTTPException): the full error path.
                exc = HTTPException(404) if allowed is None else \
                    HTTPException(405, headers={"Allow": ", ".join(allowed)})
                self._busy = True
                self._task = self._spawn(self._respond_error(request, exc))
            else:
                self._send_now(request, self.app.error_response(404 if allowed is None else 405, allowed))
            return
        request.path_params = params  # type: ignore[assignment]
        inline = route.call_inline
        if inline is not None and request._body is not None:
            # The handler cannot suspend (no await in its code): run it here, in its own context copy.
            try:
                response = copy_context().run(inline, request)
            except Exception as exc:
                self._busy = True
                self._task = self._spawn(self._respond_error(request, exc))
                return
            self._send_now(request, response)
            return
        self._busy = True
        threaded = route.call_threaded
        if threaded is not None and request._body is not None:
            # A plain ``def`` handler: called in the thread pool, answered from ``_threaded_done`` (no Task).
            self._job = (route, request)
            try:
                threaded(request, self._threaded_done)
            except Exception as exc:  # its parameters did not validate
                self._job = None
                self._task = self._spawn(self._respond_error(request, exc))
            return
        self._task = self._spawn(self._run(route, request))

    def _threaded_done(self, result: Any, error: BaseException | None) -> None:
        """The thread pool's callback for ``call_threaded``: serialize the result and answer (on the loop)."""
        route, request = self._job
        self._job = None
        if self.transport.is_closing():
            self._busy = False  # the client is gone: nobody to answer
            return
        if error is None:
            try:
                response = copy_context().run(route.serialize, result)
            except Exception as exc:
                error = exc
        if error is not None:
            # (a BaseException such as SystemExit from a handler is answered 500 too: it must not stop the server)
            self._task = self._spawn(self._respond_error(request, error))
            return
        self._busy = False
        self._send_now(request, response)

    def _send_now(self, request: Request, response: Any) -> None:
        if isinstance(response, _DEFERRED_BODY):
            self._busy = True
            self._task = self._spawn(self._respond(request, response))
            return
        response = finalize_response(request, response)
        self._write_response(request, response)
        if self._write_paused or (type(response) is not bytes and response.background is not None):
            self._busy = True
            self._task = self._spawn(self._after_write(request, response))
            return
        self._after_response(request)

    async def _run_middleware(self, request: Request) -> None:
        """The request through the app's middleware chain (its innermost step is ``app.dispatch``)."""
        try:
            response = await self._middleware(request)
        except ClientDisconnect:
            self._busy = False  # gone while its body was being read: nobody to answer
            return
        await self._respond(request, response)

    async def _run(self, route: Any, request: Request) -> None:
        try:
            response = await route.handle(request)
        except ClientDisconnect:
            self._busy = False  # gone while its body was being read: nobody to answer
            return
        except Exception as exc:  # HTTPException, validation errors, handler bugs
            response = await self.app.handle_exception(request, exc)
        await self._respond(request, response)

    async def _respond_error(self, request: Request, exc: Exception) -> None:
        await self._respond(request, await self.app.handle_exception(request, exc))

    async def _respond(self, request: Request, response: Any) -> None:
        if self.transport.is_closing():
            self._busy = False
            return
        response = finalize_response(request, response)
        if isinstance(response, _DEFERRED_BODY):
            if isinstance(response, FileResponse):
                await self._send_file(request, response)
            else:
                await self._stream(request, response)
        else:
            self._write_response(request, response)
        await self._after_write(request, response)

    async def _stream(self, request: Request, response: Any) -> None:
        """Write a StreamingResponse: the head, then the pieces as chunks (HTTP/1.0: raw, then close).

        Pieces the iterator hands over quickly and without waiting go out together, in one write (one
        chunk): a generator of 1,000 ready items costs a few writes, not 1,000. What is held is written as
        soon as the iterator waits for something, at 64 KiB, or once producing the held pieces took 1 ms
        (so a piece that took long to compute is written at once, as is each piece of a paced stream).
        """
        chunked = request.http_version != "1.0"
        if not chunked:
            request.keep_alive = False
        iterator = response.body_iterator
        transport = self.transport
        held: list[bytes] = []
        try:
            try:
                head = self._head(request, response.status_code, response.raw_headers,
                                  b"transfer-encoding: chunked\r\n" if chunked else b"")
            except InvalidHeader as exc:
                self._refuse_response(request, exc)
                return
            transport.write(head)
            if request.method == "HEAD":
                return
            charset = response.charset
            self._streaming = True
            size = 0
            since = 0.0
            unyielded = 0
            while True:
                started = _monotonic()
                step = iterator.__anext__().__await__()
                try:
                    waiting = step.send(None)
                except StopIteration as ready:
                    piece = ready.value
                except StopAsyncIteration:
                    break
                else:  # it waits: what it produced so far is sent first
                    if held:
                        _write_held(transport, held, chunked)
                        size = 0
                    try:
                        piece = await _Resume(step, waiting)
                    except StopAsyncIteration:
                        break
                    started = 0.0  # (so that this piece is written at once)
                if transport.is_closing():
                    break  # the client went away (or reset): stop producing
                if isinstance(piece, str):
                    piece = piece.encode(charset)
                if not piece:
                    continue
                if not held:
                    since = started
                held.append(piece)
                size += len(piece)
                if size < _HOLD_BYTES and _monotonic() - since < _HOLD_SECONDS:
                    continue
                _write_held(transport, held, chunked)
                if self._write_paused:
                    await self._drain()
                    unyielded = 0
                else:
                    unyielded += size
                    if unyielded > YIELD_EVERY:  # a fast reader: let the other connections run
                        unyielded = 0
                        await asyncio.sleep(0)
                size = 0
            if not transport.is_closing():
                if held:
                    _write_held(transport, held, chunked)
                if chunked:
                    transport.write(b"0\r\n\r\n")
        except Exception as exc:
            # The head is out, the status cannot change: the body ends without its last chunk and the
            # connection is closed, so the client sees an incomplete response.
            logger.error("Exception in the streaming response of %s %s", request.method, request.path, exc_info=exc)
            if held and not transport.is_closing():
                _write_held(transport, held, chunked)
            request.keep_alive = False
            transport.close()
        finally:
            self._streaming = False
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _send_file(self, request: Request, response: FileResponse) -> None:
        """Write a FileResponse: stat and open in the thread pool, then the head (with Content-Length) and the
        file's bytes, or a 304/400/416 as the request's Range and conditional headers say."""
        head_only = request.method == "HEAD" or response.send_header_only
        opening = asyncio.ensure_future(run_in_threadpool(response.open_file, not head_only))
        try:
            fd, st = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)
            raise
        except (RuntimeError, OSError) as exc:
            # Nothing is written yet: answered like a handler's exception (logged; a 500 unless handled).
            error = await self.app.handle_exception(request, exc)
            if isinstance(error, _DEFERRED_BODY):
                error = PlainTextResponse("Internal Server Error", status_code=500)
            if not self.transport.is_closing():
                self._write_response(request, error)
            return
        try:
            if self.transport.is_closing():
                return  # the client left while the file was being opened
            plan = response.plan(request.method, request.raw_headers, st)
            if not isinstance(plan, FilePlan):
                self._write_response(request, plan)  # 304, or 400/416 for a bad Range
                return
            try:
                head = self._head(request, plan.status, plan.raw_headers)
            except InvalidHeader as exc:
                self._refuse_response(request, exc)
                return
            self.transport.write(head)
            if plan.segments and fd >= 0:
                await self._write_file(fd, plan.segments, plan.trailer, response.path)
        finally:
            if fd >= 0:
                os.close(fd)

    async def _write_file(self, fd: int, segments: list[tuple[bytes, int, int]], trailer: bytes, path: Any) -> None:
        """Copy file ranges to the client: ``os.sendfile`` on the socket while the transport's buffer is empty,
        else a pread chunk through ``transport.write`` (so bytes never overtake buffered ones) and wait for the
        buffer to drain. Stops when the client goes away; a file that shrinks aborts the connection."""
        transport = self.transport
        sock_fd = -1
        if _sendfile is not None and transport.get_extra_info("sslcontext") is None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock_fd = sock.fileno()
        high = self.server.config.write_buffer_high
        if sock_fd >= 0:
            transport.set_write_buffer_limits(high=high, low=0)  # resumed only when empty: sendfile can go on
        try:
            for prefix, offset, end in segments:
                if transport.is_closing():
                    return
                if prefix:
                    transport.write(prefix)
                while offset < end:
                    if transport.is_closing():
                        return  # the client went away
                    if sock_fd >= 0 and transport.get_write_buffer_size() == 0:
                        try:
                            sent = _sendfile(sock_fd, fd, offset, end - offset)
                        except BlockingIOError:
                            sent = -1  # the socket is full: one buffered chunk makes the transport wait for it
                        except ConnectionError:
                            transport.abort()  # reset or broken pipe: the client is gone
                            return
                        except OSError:
                            sock_fd = -1  # this file or socket does not support sendfile: read and write
                            transport.set_write_buffer_limits(high=high)
                            continue
                        if sent > 0:
                            offset += sent
                            if offset < end:
                                await asyncio.sleep(0)  # a fast reader must not keep the loop to itself
                            continue
                        if sent == 0:
                            raise EOFError
                    chunk = os.pread(fd, min(_FILE_CHUNK, end - offset), offset)
                    if not chunk:
                        raise EOFError
                    transport.write(chunk)
                    offset += len(chunk)
                    if self._write_paused:
                        await self._drain()
                    else:
                        await asyncio.sleep(0)  # (a 256 KiB chunk each time: a fast reader must not keep the loop)
            if trailer and not transport.is_closing():
                transport.write(trailer)
        except EOFError:
            logger.error("File at path %s is shorter than its Content-Length: connection aborted", path)
            transport.abort()
        except OSError:
            logger.exception("Error reading file at path %s: connection aborted", path)
            transport.abort()
        finally:
            if sock_fd >= 0 and not transport.is_closing():
                transport.set_write_buffer_limits(high=high)

    async def _after_write(self, request: Request, response: Any) -> None:
        """Wait for the write buffer to drain, run background work, then serve the next request."""
        if self._write_paused:
            await self._drain()
        if type(response) is not bytes and response.background is not None:
            try:
                await response.background()
            except Exception:
                logger.exception("Exception in background task of %s %s", request.method, request.path)
        self._busy = False
        self._after_response(request)

    async def _drain(self) -> None:
        while self._write_paused and not self.transport.is_closing():
            w = self._drain_waiter
            if w is None or w.done():
                w = self._drain_waiter = self.loop.create_future()
            await w

    def _after_response(self, request: Request) -> None:
        if request._stream is not None or request._form is not None:
            _release(request)
        if not request.keep_alive:
            self._pipeline.clear()
            self.transport.close()
            return
        self._active = True
        pipeline = self._pipeline
        if pipeline and not self._draining:
            # A handler that finishes eagerly calls back in here: the outermost call drains the queue.
            self._draining = True
            try:
                while pipeline and not self._busy:
                    self._dispatch(pipeline.popleft())
            finally:
                self._draining = False
        if self._read_paused and len(pipeline) < 8:
            self._read_paused = False
            self.transport.resume_reading()
        if self._busy or pipeline:
            return
        if self._continue_owed:
            self._continue_owed = False
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self._deferred_error is not None:
            self.transport.write(self._deferred_error)
            self.transport.close()
        elif self._closing:
            self.transport.close()
        elif self._upgrade is not None:
            self._on_upgrade(b"")

    def _keep_alive(self, request: Request) -> bool:
        """Whether this response leaves the connection open: the client asked for it, and the server is not
        closing (shutdown, or an error owed) after it."""
        return request.keep_alive and not ((self._closing or self._deferred_error is not None) and not self._pipeline)

    def _head(self, request: Request, status: int, raw_headers: list[tuple[bytes, bytes]], framing: bytes = b"") -> bytes:
        """The one place a response head is made: status line and headers (checked by ``encode_headers``:
        ``InvalidHeader`` for one that would split the response), the framing header, date/server and the
        Connection rule. (The JSON fast paths write a pre-joined head of constant headers instead.)"""
        if not self._keep_alive(request):
            end = _CLOSE_END
        elif request.http_version == "1.0":
            end = _KEEP_ALIVE + b"\r\n"
        else:
            end = b"\r\n"
        return b"".join((encode_headers(status, raw_headers), framing, self.server.date_server, end))

    def _refuse_response(self, request: Request, exc: InvalidHeader) -> None:
        """A response whose head is invalid is never written: log why, and answer 500 instead."""
        logger.error("Invalid response to %s %s: %s", request.method, request.path, exc)
        self._write_response(request, PlainTextResponse("Internal Server Error", status_code=500))

    def _write_response(self, request: Request, response: Any) -> None:
        head = request.method == "HEAD"
        if type(response) is bytes:
            # JSON from a handler: constant headers, so a pre-joined head (no header to check)
            parts = [_JSON_200, str(len(response)).encode(), b"\r\n", self.server.date_server]
            if not self._keep_alive(request):
                parts.append(_CLOSE)
            elif request.http_version == "1.0":
                parts.append(_KEEP_ALIVE)
            parts.append(b"\r\n")
            if not head:
                parts.append(response)
            self.transport.write(b"".join(parts))
            return
        status = response.status_code
        body = response.body
        framing = b""
        if status not in _NO_BODY_STATUS and status >= 200:
            # (a HEAD answer from an ASGI app carries the length of the body it would have sent)
            if not (head and any(name == b"content-length" for name, _ in response.raw_headers)):
                framing = b"content-length: %d\r\n" % len(body)
        else:
            body = b""
        try:
            data = self._head(request, status, response.raw_headers, framing)
        except InvalidHeader as exc:
            self._refuse_response(request, exc)
            return
        if not head and body:
            if len(body) > 65536:
                self.transport.write(data)
                self.transport.write(body)
                return
            data += body
        self.transport.write(data)

    # ------------------------------------------------------------------ WebSocket upgrade
    def _bad_handshake(self, request: Request) -> None:
        """A plain request (or a botched upgrade) at a WebSocket-only path: say what is wrong with it."""
        try:
            validate_upgrade(request.method.encode(), request.http_version, request.raw_headers)
            exc = HandshakeError(400, "Invalid WebSocket upgrade request")
        except HandshakeError as err:
            exc = err
        self.transport.write(simple_response(exc.status, exc.message, self.server.date_server, close=True,
                                             headers=exc.headers))
        self.transport.close()

    def _on_upgrade(self, rest: bytes) -> None:
        request = self._upgrade
        if request is None:
            return
        if self._busy or self._pipeline:
            # Earlier pipelined requests are still being answered: upgrade once they are done.
            if rest:
                self._error(400, "Data after an Upgrade request that cannot be processed yet")
            return
        self._upgrade = None
        if not any(n == b"upgrade" and b"websocket" in v.lower() for n, v in request.raw_headers):
            # Another protocol (h2c...) asked for: answer as plain HTTP and close, since the parser stopped.
            request.keep_alive = False
            self._dispatch(request)
            return
        server = self.server
        try:
            key = validate_upgrade(request.method.encode(), request.http_version, request.raw_headers)
        except HandshakeError as exc:
            self.transport.write(
                simple_response(exc.status, exc.message, server.date_server, close=True, headers=exc.headers)
            )
            self.transport.close()
            return
        route, params = self.router.match_websocket(request.path)
        if route is None:
            self.transport.write(simple_response(404, "Not Found", server.date_server, close=True))
            self.transport.close()
            return
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        conn = WebSocketProtocol(server, self.transport, key, request.raw_headers)
        server.connections.discard(self)
        server.connections.add(conn)
        self.transport.set_protocol(conn)
        if rest:
            conn.data_received(rest)
        conn.task = self.server.track(self.loop.create_task(
            self.app.run_websocket(route, conn, request.path, request.query_string, params)
        ))


def split_target(url: bytes) -> tuple[str, bytes, bytes]:
    """The request target -> (decoded path, raw path, query string)."""
    q = url.find(b"?")
    if q >= 0:
        raw_path, query = url[:q], url[q + 1 :]
    else:
        raw_path, query = url, b""
    h = raw_path.find(b"#")
    if h >= 0:
        raw_path = raw_path[:h]
    path = raw_path.decode("latin-1")
    if "%" in path:
        path = unquote(path, encoding="utf-8", errors="replace")
    if not path.startswith("/") and (path == "*" or "://" in path):
        # absolute-form / asterisk-form request targets
        path = "/" + path.split("://", 1)[-1].partition("/")[2] if "://" in path else path
    return path, raw_path, query


def _release(request: Request) -> None:
    """After the answer: discard the rest of a streamed body, close the form's uploaded files."""
    stream = request._stream
    if stream is not None and not stream.done:
        stream.detach()
    form = request._form
    if form is not None:
        for _, value in form.multi_items():
            file = getattr(value, "file", None)
            if file is not None:
                file.close()


def _close_opened(opening: "asyncio.Future[tuple[int, Any]]") -> None:
    """A file opened for a response whose task was cancelled meanwhile: close it."""
    if not opening.cancelled() and opening.exception() is None:
        fd = opening.result()[0]
        if fd >= 0:
            os.close(fd)
