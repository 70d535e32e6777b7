"""``TestClient``: call an app in-process, with no port, through its ASGI interface (Starlette's API).

    from fastrapi.testclient import TestClient

    client = TestClient(app)
    assert client.get("/items/1").json() == {"id": 1}
    with client:                                  # runs the lifespan (startup ... shutdown)
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "hi"

It is an ``httpx.Client`` whose transport runs the app on an event loop (uvloop) in a background thread,
so requests, cookies, redirects, ``files=``, ``json=`` work as in httpx. ``raise_server_exceptions=True``
re-raises in the test what the app answered with a logged 500 (the app's ``handle_exception`` reports it
through ``fastrapi.asgi.server_errors``), and what escaped the app (a failing background task).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import queue
import threading
import weakref
from typing import Any, Coroutine, Iterator, Literal, Mapping, Sequence
from urllib.parse import urljoin

import httpx

from .asgi import server_errors
from .exceptions import WebSocketDisconnect

__all__ = ["TestClient", "WebSocketTestSession", "WebSocketDenialResponse"]

#: bodies longer than this reach the app in chunks of this size (streamed, as on the built-in server)
_CHUNK = 64 * 1024
_ASGI = {"version": "3.0", "spec_version": "2.4"}
#: seconds a WebSocket handler gets to finish after the test's side closed, before it is cancelled
_WS_GRACE = 2.0
#: seconds an app streaming a response gets to stop after the test closed it early, before it is cancelled
_HTTP_GRACE = 2.0


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it exists
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _LoopThread:
    """An event loop running in a daemon thread, started on first use; what the client runs the app on."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def ensure(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None:
                loop = _new_loop()
                thread = threading.Thread(target=self._run, args=(loop,), name="fastrapi-testclient", daemon=True)
                thread.start()
                self.loop, self.thread = loop, thread
            return self.loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> "concurrent.futures.Future[Any]":
        return asyncio.run_coroutine_threadsafe(coro, self.ensure())

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.submit(coro).result()

    def call_soon(self, func: Any, *args: Any) -> None:
        self.ensure().call_soon_threadsafe(func, *args)

    def stop(self) -> None:
        """Stop the loop (pending tasks are cancelled) and wait for its thread."""
        with self.lock:
            loop, thread = self.loop, self.thread
            self.loop = self.thread = None
        if loop is None or thread is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return
        if thread is not threading.current_thread():
            thread.join(10)


class ClientDisconnected(OSError):
    """What ``send`` raises once the test's side has gone (an OSError, as ASGI 2.4 servers raise)."""


class WebSocketDenialResponse(httpx.Response, WebSocketDisconnect):  # type: ignore[misc]
    """Raised by ``websocket_connect`` when the app refused the handshake with an HTTP response (e.g. a 500
    for a handler that raised before accepting). Both an ``httpx.Response`` and a ``WebSocketDisconnect``."""

    code = 1006
    reason = ""

    def __str__(self) -> str:
        return f"WebSocket handshake denied with HTTP {self.status_code}"


class _Upgrade(Exception):
    """The transport's way of handing a ``ws://`` request back to ``websocket_connect``."""

    def __init__(self, session: "WebSocketTestSession") -> None:
        self.session = session


def _raise_if(raise_errors: bool, errors: list[BaseException], future: "concurrent.futures.Future[Any]") -> None:
    if not raise_errors:
        return
    exc = future.exception() if future.done() and not future.cancelled() else None
    if exc is not None:
        raise exc
    if errors:
        raise errors[0]


class _HTTPExchange:
    """One request run through the app: the loop side (receive/send) and the test thread's side (a queue)."""

    def __init__(self, app: Any, scope: dict[str, Any], body: bytes, portal: _LoopThread) -> None:
        self.app = app
        self.scope = scope
        self.portal = portal
        chunks = [body[i:i + _CHUNK] for i in range(0, len(body), _CHUNK)] if len(body) > _CHUNK else [body]
        self.chunks = chunks
        #: the test thread reads ("start", status, headers) / ("body", bytes, more, ack) / ("end",) here
        self.events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.errors: list[BaseException] = []
        self.task: asyncio.Task[Any] | None = None
        #: set when the response is complete or the test side closed it (then receive() says disconnect)
        self.done_event = asyncio.Event()
        #: the last piece sent, until the test thread has taken it
        self.pending: asyncio.Future[None] | None = None
        self.complete = False
        self.gone = False

    # ------------------------------------------------------------------ loop side
    async def run(self) -> None:
        self.task = asyncio.current_task()
        server_errors.set(self.errors)
        try:
            await self.app(self.scope, self.receive, self.send)
        finally:
            self.done_event.set()
            self.events.put(("end",))

    async def receive(self) -> dict[str, Any]:
        if self.chunks:
            body = self.chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}
        await self.done_event.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if self.gone:
            raise ClientDisconnected("the test client closed the response")
        kind = message["type"]
        if kind == "http.response.start":
            self.events.put(("start", message["status"], list(message.get("headers", ()))))
        elif kind == "http.response.body":
            more = message.get("more_body", False)
            ack = self.pending = asyncio.get_running_loop().create_future()
            self.events.put(("body", bytes(message.get("body", b"")), more, ack))
            if not more:
                self.done_event.set()
            await ack  # one piece in flight: a slow reader (or an endless stream) holds the app back
        elif kind == "http.response.pathsend":  # pragma: no cover - the scope does not offer it
            raise RuntimeError("http.response.pathsend is not offered by the TestClient")

    def _disconnect(self) -> None:
        self.gone = True
        self.done_event.set()
        if self.pending is not None and not self.pending.done():
            self.pending.set_result(None)

    # ------------------------------------------------------------------ test thread side
    def ack(self, fut: "asyncio.Future[None]") -> None:
        def release() -> None:
            if not fut.done():
                fut.set_result(None)

        self.portal.call_soon(release)

    def finish(self, future: "concurrent.futures.Future[Any]", raise_errors: bool) -> None:
        """After the body was read (or the stream closed): wait for the app, background work included."""
        if not self.complete and not future.done():
            self.portal.call_soon(self._disconnect)
            try:
                future.result(_HTTP_GRACE)
            except concurrent.futures.TimeoutError:
                task = self.task
                if task is not None:
                    self.portal.call_soon(task.cancel)
            except BaseException:
                pass
        concurrent.futures.wait([future])
        if future.cancelled():
            return
        _raise_if(raise_errors, self.errors, future)


class _ResponseStream(httpx.SyncByteStream):
    """The response body as the app sends it, read piece by piece in the test thread."""

    def __init__(self, exchange: _HTTPExchange, future: "concurrent.futures.Future[Any]", raise_errors: bool,
                 head: bool) -> None:
        self.exchange = exchange
        self.future = future
        self.raise_errors = raise_errors
        self.head = head
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        exchange = self.exchange
        while not exchange.complete:
            event = exchange.events.get()
            if event[0] == "end":
                exchange.events.put(event)
                break
            if event[0] != "body":
                continue
            _, data, more, ack = event
            exchange.ack(ack)
            if not more:
                exchange.complete = True
            if data and not self.head:
                yield data

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.exchange.finish(self.future, self.raise_errors)


class _TestClientTransport(httpx.BaseTransport):
    """Runs each ``httpx.Request`` through the ASGI app; ``ws://`` requests become WebSocket sessions."""

    def __init__(self, app: Any, portal: _LoopThread, raise_server_exceptions: bool, root_path: str,
                 client: tuple[str, int], app_state: dict[str, Any]) -> None:
        self.app = app
        self.portal = portal
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self.client = client
        self.app_state = app_state

    def _scope(self, request: httpx.Request) -> dict[str, Any]:
        url = request.url
        scheme = url.scheme
        host = url.raw_host.decode("ascii")
        port = url.port or {"http": 80, "ws": 80, "https": 443, "wss": 443}[scheme]
        headers: list[tuple[bytes, bytes]] = [] if "host" in request.headers else [(b"host", url.netloc)]
        headers += [(key.lower().encode("latin-1"), value.encode("latin-1"))
                    for key, value in request.headers.multi_items()]
        return {
            "asgi": dict(_ASGI),
            "http_version": "1.1",
            "scheme": scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "root_path": self.root_path,
            "query_string": url.query,
            "headers": headers,
            "client": self.client,
            "server": [host, port],
            "state": dict(self.app_state),
        }

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scope = self._scope(request)
        if scope["scheme"] in ("ws", "wss"):
            offered = request.headers.get("sec-websocket-protocol")
            scope.update(type="websocket", subprotocols=[p.strip() for p in offered.split(",")] if offered else [],
                         extensions={"websocket.http.response": {}})
            raise _Upgrade(WebSocketTestSession(self.app, scope, self.portal))
        scope.update(type="http", method=request.method, extensions={})
        exchange = _HTTPExchange(self.app, scope, request.read(), self.portal)
        future = self.portal.submit(exchange.run())
        while True:
            event = exchange.events.get()
            if event[0] == "start":
                break
            if event[0] == "end":  # the app ended without answering
                concurrent.futures.wait([future])
                _raise_if(self.raise_server_exceptions, exchange.errors, future)
                if self.raise_server_exceptions:
                    raise AssertionError("TestClient did not receive any response.")
                return httpx.Response(500, stream=httpx.ByteStream(b""), request=request)
        _, status, headers = event
        stream = _ResponseStream(exchange, future, self.raise_server_exceptions, request.method == "HEAD")
        return httpx.Response(status, headers=headers, stream=stream, request=request)


class WebSocketTestSession:
    """One WebSocket connection to the app (``with client.websocket_connect(path) as ws:``).

    ``send_*`` hand a message to the handler, ``receive_*`` wait for the next one it sends; when the app
    has closed the connection they raise ``WebSocketDisconnect`` with its code and reason.
    """

    __test__ = False

    def __init__(self, app: Any, scope: dict[str, Any], portal: _LoopThread) -> None:
        self.app = app
        self.scope = scope
        self.portal = portal
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] | None = None
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._to_app.put_nowait({"type": "websocket.connect"})
        self._from_app: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._future: concurrent.futures.Future[Any] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._gone = False
        self._closed_by_app: tuple[int, str] | None = None

    # ------------------------------------------------------------------ loop side
    async def _run(self) -> None:
        self._task = asyncio.current_task()
        try:
            await self.app(self.scope, self._to_app.get, self._app_send)
        finally:
            self._from_app.put(_END)

    async def _app_send(self, message: dict[str, Any]) -> None:
        if self._gone:
            raise ClientDisconnected("the test client closed the WebSocket")
        self._from_app.put(dict(message))

    # ------------------------------------------------------------------ test side
    def __enter__(self) -> "WebSocketTestSession":
        self._future = self.portal.submit(self._run())
        try:
            message = self.receive()
            self._raise_on_close(message)
        except BaseException:
            self._end()
            raise
        self.accepted_subprotocol = message.get("subprotocol")
        self.extra_headers = message.get("headers")
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close(1000)
        self._end()

    def _end(self) -> None:
        """Wait for the handler to finish (cancelled after a grace period); raise what escaped the app."""
        future = self._future
        if future is None:
            return
        self._gone = True
        try:
            future.result(_WS_GRACE)
        except concurrent.futures.TimeoutError:
            task = self._task
            if task is not None:
                self.portal.call_soon(task.cancel)
            concurrent.futures.wait([future])
        except concurrent.futures.CancelledError:
            pass

    def send(self, message: Mapping[str, Any]) -> None:
        """Hand one raw ASGI message to the app (``websocket.receive`` / ``websocket.disconnect``)."""
        self.portal.call_soon(self._put, dict(message))

    def _put(self, message: dict[str, Any]) -> None:
        self._to_app.put_nowait(message)

    def send_text(self, data: str) -> None:
        self.send({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        self.send({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            self.send({"type": "websocket.receive", "text": text})
        else:
            self.send({"type": "websocket.receive", "bytes": text.encode("utf-8")})

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close from the client's side: the handler's next receive raises WebSocketDisconnect(code)."""
        if self._gone:
            return
        self.send({"type": "websocket.disconnect", "code": code, "reason": reason or ""})
        self._gone = True

    def receive(self) -> dict[str, Any]:
        """The next raw ASGI message the app sent (``websocket.send`` / ``websocket.close`` ...)."""
        message = self._from_app.get()
        if message is _END:
            self._from_app.put(_END)
            future = self._future
            if future is not None and future.done() and not future.cancelled() and future.exception():
                raise future.exception()  # type: ignore[misc]
            code, reason = self._closed_by_app or (1006, "")
            raise WebSocketDisconnect(code, reason)
        if message["type"] == "websocket.close":
            self._closed_by_app = (message.get("code", 1000), message.get("reason") or "")
        return message

    def _raise_on_close(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        if kind == "websocket.http.response.start":
            body = []
            while True:
                part = self.receive()
                body.append(part.get("body", b""))
                if not part.get("more_body", False):
                    break
            raise WebSocketDenialResponse(status_code=message["status"], headers=message.get("headers", []),
                                          content=b"".join(body))

    def receive_text(self) -> str:
        message = self.receive()
        self._raise_on_close(message)
        return message["text"]

    def receive_bytes(self) -> bytes:
        message = self.receive()
        self._raise_on_close(message)
        return message["bytes"]

    def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        message = self.receive()
        self._raise_on_close(message)
        return json.loads(message["text"] if mode == "text" else message["bytes"].decode("utf-8"))


_END = object()


class _Lifespan:
    """The ``lifespan`` scope of ``with client:``: startup on enter, shutdown on exit."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.task: asyncio.Task[Any] | None = None
        self.to_app: asyncio.Queue[dict[str, Any]] | None = None
        self.from_app: asyncio.Queue[Any] | None = None

    async def _run(self) -> None:
        assert self.to_app is not None and self.from_app is not None
        scope = {"type": "lifespan", "asgi": dict(_ASGI), "state": self.state}
        try:
            await self.app(scope, self.to_app.get, self.from_app.put)
        finally:
            await self.from_app.put(None)

    async def _next(self) -> dict[str, Any] | None:
        assert self.from_app is not None and self.task is not None
        message = await self.from_app.get()
        if message is None:
            self.task.result()  # what the app raised
        return message

    async def _step(self, event: str) -> None:
        assert self.to_app is not None
        await self.to_app.put({"type": f"lifespan.{event}"})
        message = await self._next()
        if message is None:
            return  # an app without lifespan support
        if message["type"] == f"lifespan.{event}.failed":
            await self._next()  # raises what the app raised
            raise RuntimeError(message.get("message") or f"lifespan {event} failed")

    async def startup(self) -> None:
        self.to_app = asyncio.Queue()
        self.from_app = asyncio.Queue()
        self.task = asyncio.ensure_future(self._run())
        await self._step("startup")

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self._step("shutdown")
        await self.task


class TestClient(httpx.Client):
    """An ``httpx.Client`` for the app, in-process: ``client.get(...)``, ``with client:`` (lifespan),
    ``client.websocket_connect(path)``. Starlette's ``TestClient`` API."""

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        cookies: Any = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        #: the lifespan's state (what a ``lifespan`` yielded); each request's ``scope["state"]`` is a copy
        self.app_state: dict[str, Any] = {}
        self._portal = _LoopThread()
        self._finalizer = weakref.finalize(self, self._portal.stop)
        self._lifespan: _Lifespan | None = None
        transport = _TestClientTransport(app, self._portal, raise_server_exceptions, root_path, client,
                                         self.app_state)
        merged = dict(headers or {})
        merged.setdefault("user-agent", "testclient")
        super().__init__(base_url=base_url, headers=merged, transport=transport, follow_redirects=follow_redirects,
                         cookies=cookies)

    def websocket_connect(self, url: str, subprotocols: Sequence[str] | None = None, **kwargs: Any
                          ) -> WebSocketTestSession:
        """A WebSocket session to ``url`` (use it in a ``with`` block). A handshake the app refuses raises
        ``WebSocketDisconnect`` (closed before accept) or ``WebSocketDenialResponse`` (an HTTP answer)."""
        url = urljoin("ws://testserver", url)
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("connection", "upgrade")
        headers.setdefault("upgrade", "websocket")
        headers.setdefault("sec-websocket-key", "testserver==")
        headers.setdefault("sec-websocket-version", "13")
        if subprotocols is not None:
            headers.setdefault("sec-websocket-protocol", ", ".join(subprotocols))
        try:
            super().request("GET", url, headers=headers, **kwargs)
        except _Upgrade as exc:
            return exc.session
        raise RuntimeError("Expected WebSocket upgrade")  # pragma: no cover

    def __enter__(self) -> "TestClient":
        lifespan = _Lifespan(self.app, self.app_state)
        try:
            self._portal.call(lifespan.startup())
        except BaseException:
            self._portal.stop()
            raise
        self._lifespan = lifespan
        return self

    def __exit__(self, *exc_info: Any) -> None:
        lifespan, self._lifespan = self._lifespan, None
        try:
            if lifespan is not None:
                self._portal.call(lifespan.shutdown())
        finally:
            self._portal.stop()

    def close(self) -> None:
        """Close the client's connections and stop its event loop thread."""
        with contextlib.suppress(Exception):
            super().close()
        self._portal.stop()
