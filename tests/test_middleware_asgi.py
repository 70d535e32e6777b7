"""Foreign (pure ASGI) middleware, written as Sentry's, OpenTelemetry's or Prometheus' instrumentators are:
added with ``add_middleware``, it sees HTTP and WebSocket traffic on the built-in server (through the ASGI
bridge), mixes with native middleware in Starlette's order, and works when the app runs under uvicorn."""
import asyncio
import socket
import threading
import time

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import fastrapi  # noqa: E402
from wsclient import ws_connect  # noqa: E402


class Log:
    def __init__(self):
        self.scopes = []
        self.sent = []
        self.received = []
        self.errors = []
        self.websockets = 0


class Instrumentation:
    """A pure ASGI middleware: counts connections, records messages, tags responses, reports exceptions."""

    def __init__(self, app, log, tag="1"):
        self.app = app
        self.log = log
        self.tag = tag.encode()

    async def __call__(self, scope, receive, send):
        log = self.log
        log.scopes.append(scope["type"])
        if scope["type"] == "websocket":
            log.websockets += 1

        async def receive_wrapper():
            message = await receive()
            log.received.append(message["type"])
            return message

        async def send_wrapper(message):
            log.sent.append(message["type"])
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"x-asgi", self.tag)]}
            elif message["type"] == "websocket.accept":
                message = {**message, "headers": [*(message.get("headers") or ()), (b"x-asgi", self.tag)]}
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception as exc:
            log.errors.append(exc)
            raise


class OrderASGI:
    """Pure ASGI middleware appending its name to ``x-order`` (for the order across native and ASGI)."""

    def __init__(self, app, name):
        self.app = app
        self.name = name

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                old = [v for k, v in headers if k == b"x-order"]
                headers = [(k, v) for k, v in headers if k != b"x-order"]
                headers.append((b"x-order", (old[0] if old else b"") + f"<{self.name}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


class Guard:
    """Pure ASGI middleware answering 401 itself unless the request has an ``x-token``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not any(k == b"x-token" for k, _ in scope["headers"]):
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"6")]})
            await send({"type": "http.response.body", "body": b"denied"})
            return
        await self.app(scope, receive, send)


def make_app(fw=fastrapi):
    from importlib import import_module

    responses = import_module(f"{fw.__name__}.responses")
    app = fw.FastAPI()

    @app.get("/json")
    async def json_route(request: fw.Request):
        return {"hello": "world", "client": request.client.host}

    @app.post("/echo")
    async def echo(request: fw.Request):
        body = await request.body()
        return {"size": len(body), "head": body[:5].decode()}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("route failed")

    @app.get("/stream")
    async def stream():
        async def gen():
            for i in range(3):
                yield f"piece {i}\n"

        return responses.StreamingResponse(gen(), media_type="text/plain")

    @app.websocket("/ws")
    async def ws(websocket: fw.WebSocket):
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text.upper())

    return app


def test_asgi_middleware_sees_http(serve):
    log = Log()
    app = make_app()
    app.add_middleware(Instrumentation, log=log)
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        r = client.get("/json")
        assert r.json() == {"hello": "world", "client": "127.0.0.1"} and r.headers["x-asgi"] == "1"
        assert r.headers["content-length"] == str(len(r.content))
        assert log.scopes == ["http"] and log.sent == ["http.response.start", "http.response.body"]
        for size in (5, 300_000):  # a small body, and one streamed through receive()
            r = client.post("/echo", content=b"hello" + b"x" * (size - 5))
            assert r.json() == {"size": size, "head": "hello"} and r.headers["x-asgi"] == "1"
        assert "http.request" in log.received
        r = client.get("/stream")
        assert r.text == "piece 0\npiece 1\npiece 2\n" and r.headers["x-asgi"] == "1"
        assert r.headers["transfer-encoding"] == "chunked"
        r = client.get("/missing")
        assert (r.status_code, r.json()) == (404, {"detail": "Not Found"}) and r.headers["x-asgi"] == "1"
    assert log.scopes == ["http"] * 5


def test_asgi_middleware_sees_route_exceptions(serve):
    """An unhandled exception propagates through ASGI middleware (an error reporter sees it), then 500."""
    log = Log()
    app = make_app()
    app.add_middleware(Instrumentation, log=log)
    srv = serve(app)
    r = httpx.get(srv.url + "/boom")
    assert (r.status_code, r.text) == (500, "Internal Server Error")
    assert [str(e) for e in log.errors] == ["route failed"]


def test_asgi_middleware_sees_websockets(serve):
    log = Log()
    app = make_app()
    app.add_middleware(Instrumentation, log=log)
    srv = serve(app)
    with ws_connect(srv) as conn:
        assert conn.response.headers["x-asgi"] == "1"
        conn.send("hello")
        assert conn.recv(timeout=3) == "HELLO"
        conn.send("again")
        assert conn.recv(timeout=3) == "AGAIN"
    for _ in range(100):
        if "websocket.disconnect" in log.received:
            break
        time.sleep(0.01)
    assert log.websockets == 1 and log.scopes == ["websocket"]
    assert log.received[:3] == ["websocket.connect", "websocket.receive", "websocket.receive"]
    assert log.received[-1] == "websocket.disconnect"
    assert log.sent[:3] == ["websocket.accept", "websocket.send", "websocket.send"]
    with ws_connect(srv) as conn:
        conn.send("x")
        assert conn.recv(timeout=3) == "X"
    assert log.websockets == 2


def test_streaming_through_asgi_middleware_is_not_buffered(serve):
    produced = threading.Event()
    release = threading.Event()
    app = fastrapi.FastAPI()

    @app.get("/events")
    async def events():
        async def gen():
            yield "first\n"
            produced.set()
            while not release.is_set():
                await asyncio.sleep(0.01)
            yield "last\n"

        return fastrapi.responses.StreamingResponse(gen(), media_type="text/plain")

    log = Log()
    app.add_middleware(Instrumentation, log=log)
    srv = serve(app)
    with httpx.stream("GET", srv.url + "/events", timeout=5) as r:
        assert r.headers["x-asgi"] == "1"
        chunks = r.iter_text()
        assert next(chunks) == "first\n"
        release.set()
        assert "".join(chunks) == "last\n"


def test_background_tasks_with_asgi_middleware(serve):
    done = []
    app = fastrapi.FastAPI()

    @app.get("/bg")
    async def bg(tasks: fastrapi.BackgroundTasks):
        tasks.add_task(done.append, 1)
        return {"ok": True}

    app.add_middleware(Instrumentation, log=Log())
    srv = serve(app)
    assert httpx.get(srv.url + "/bg").json() == {"ok": True}
    for _ in range(100):
        if done:
            break
        time.sleep(0.01)
    assert done == [1]


def order_app(fw):
    """Native and ASGI middleware interleaved: the order is Starlette's (last added runs first)."""
    from importlib import import_module

    base = import_module("starlette.middleware.base" if fw is fastapi else "fastrapi.middleware.base")
    gzip = import_module(f"{fw.__name__}.middleware.gzip")
    cors = import_module(f"{fw.__name__}.middleware.cors")
    sessions = import_module("starlette.middleware.sessions" if fw is fastapi else "fastrapi.middleware.sessions")

    class Native(base.BaseHTTPMiddleware):
        def __init__(self, app, name):
            super().__init__(app)
            self.name = name

        async def dispatch(self, request, call_next):
            response = await call_next(request)
            response.headers["x-order"] = response.headers.get("x-order", "") + f"<{self.name}"
            return response

    app = fw.FastAPI()

    @app.get("/data")
    async def data(request: fw.Request):
        request.session["seen"] = request.session.get("seen", 0) + 1
        return {"items": list(range(300)), "seen": request.session["seen"]}

    @app.post("/echo")
    async def echo(request: fw.Request):
        return {"body": (await request.body()).decode()}

    app.add_middleware(Native, name="inner")
    app.add_middleware(OrderASGI, name="asgi-inner")
    app.add_middleware(gzip.GZipMiddleware, minimum_size=100)
    app.add_middleware(sessions.SessionMiddleware, secret_key="k")
    app.add_middleware(OrderASGI, name="asgi-outer")
    app.add_middleware(Native, name="outer")
    app.add_middleware(cors.CORSMiddleware, allow_origins=["https://a.com"])
    return app


def test_mixed_stack_same_as_fastapi(serve):
    headers = {"Origin": "https://a.com", "Accept-Encoding": "gzip"}

    def summary(r):
        keep = ("x-order", "vary", "content-encoding", "access-control-allow-origin", "content-type")
        return r.status_code, {k: r.headers.get(k) for k in keep}, r.json(), "set-cookie" in r.headers

    with TestClient(order_app(fastapi)) as fa:
        expected = [summary(fa.get("/data", headers=headers)),
                    summary(fa.post("/echo", headers=headers, content=b"posted" * 50))]
    srv = serve(order_app(fastrapi))
    with httpx.Client(base_url=srv.url) as client:
        actual = [summary(client.get("/data", headers=headers)),
                  summary(client.post("/echo", headers=headers, content=b"posted" * 50))]
    assert actual == expected
    assert actual[0][1]["x-order"] == "<inner<asgi-inner<asgi-outer<outer"
    assert actual[0][1]["content-encoding"] == "gzip" and actual[0][2]["seen"] == 1
    assert actual[1][2] == {"body": "posted" * 50}


def test_asgi_middleware_answering_itself(serve):
    app = make_app()
    app.add_middleware(Guard)
    srv = serve(app)
    r = httpx.get(srv.url + "/json")
    assert (r.status_code, r.text) == (401, "denied")
    assert httpx.get(srv.url + "/json", headers={"x-token": "t"}).json()["hello"] == "world"


def test_native_body_read_outside_asgi_middleware(serve):
    """A native middleware outside the ASGI one reads the body; the route still gets it through receive()."""
    app = make_app()

    app.add_middleware(Instrumentation, log=Log())

    @app.middleware("http")
    async def peek(request, call_next):
        size = len(await request.body())
        response = await call_next(request)
        response.headers["x-peeked"] = str(size)
        return response

    srv = serve(app)
    for size in (10, 200_000):
        r = httpx.post(srv.url + "/echo", content=b"hello" + b"y" * (size - 5))
        assert r.json() == {"size": size, "head": "hello"} and r.headers["x-peeked"] == str(size)
        assert r.headers["x-asgi"] == "1"


def test_asgi_middleware_turns_off_the_fast_path(serve):
    app = make_app()
    app.add_middleware(Instrumentation, log=Log())
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        client.get("/json")
        (conn,) = list(srv.connections)
        assert conn._fast_routes == {} and conn._middleware is not None
    assert app._built_middleware().has_asgi


# ------------------------------------------------------------------------------------------------ under uvicorn
@pytest.fixture
def uvicorn_serve():
    uvicorn = pytest.importorskip("uvicorn")
    servers = []

    def start(app):
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="websockets-sansio")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        servers.append((server, thread))
        port = server.servers[0].sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(5)


def test_middleware_under_uvicorn(uvicorn_serve):
    """``app.__call__`` (the ASGI interface) runs the same middleware: native and ASGI, HTTP and WebSocket."""
    from fastrapi.middleware.cors import CORSMiddleware
    from fastrapi.middleware.gzip import GZipMiddleware
    from websockets.sync.client import connect

    log = Log()
    app = make_app()

    @app.get("/big")
    async def big():
        return {"items": list(range(500))}

    app.add_middleware(GZipMiddleware)
    app.add_middleware(Instrumentation, log=log)
    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    address = uvicorn_serve(app)
    with httpx.Client(base_url=f"http://{address}") as client:
        r = client.get("/big", headers={"Origin": "https://x.org", "Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip" and r.headers["access-control-allow-origin"] == "*"
        assert r.headers["x-asgi"] == "1" and r.json()["items"][-1] == 499
        r = client.post("/echo", content=b"hello" * 1000)
        assert r.json() == {"size": 5000, "head": "hello"}
        r = client.get("/boom")
        assert (r.status_code, r.text) == (500, "Internal Server Error")
        r = client.get("/stream")
        assert r.text == "piece 0\npiece 1\npiece 2\n"
    with connect(f"ws://{address}/ws", open_timeout=3, proxy=None) as conn:
        conn.send("hi")
        assert conn.recv(timeout=3) == "HI"
    assert "websocket" in log.scopes and "lifespan" in log.scopes
    assert [str(e) for e in log.errors] == ["route failed"]


def test_native_only_middleware_under_uvicorn(uvicorn_serve):
    from fastrapi.middleware.sessions import SessionMiddleware
    from fastrapi.middleware.trustedhost import TrustedHostMiddleware
    from websockets.sync.client import connect

    app = make_app()

    @app.get("/count")
    async def count(request: fastrapi.Request):
        request.session["n"] = request.session.get("n", 0) + 1
        return {"n": request.session["n"]}

    app.add_middleware(SessionMiddleware, secret_key="k")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1"])
    address = uvicorn_serve(app)
    with httpx.Client(base_url=f"http://{address}") as client:
        assert client.get("/count").json() == {"n": 1}
        assert client.get("/count").json() == {"n": 2}  # the client's cookie jar sends the session back
        r = client.get("/count", headers={"Host": "evil.com"})
        assert (r.status_code, r.text) == (400, "Invalid host header")
    with connect(f"ws://{address}/ws", open_timeout=3, proxy=None) as conn:
        conn.send("ok")
        assert conn.recv(timeout=3) == "OK"
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=3) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: evil.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 ")


class Failing:
    """Pure ASGI middleware that raises before the app runs (for one path)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/json":
            raise LookupError("middleware bug")
        await self.app(scope, receive, send)


def test_failing_asgi_middleware_gives_500(serve):
    app = make_app()
    app.add_middleware(Failing)
    srv = serve(app)
    r = httpx.get(srv.url + "/json")
    assert (r.status_code, r.text) == (500, "Internal Server Error")
    assert httpx.get(srv.url + "/stream").text.startswith("piece 0")


def test_client_leaving_stops_the_stream_behind_asgi_middleware(serve):
    """An endless stream behind ASGI middleware: when the client goes, the generator is closed."""
    closed = threading.Event()
    app = fastrapi.FastAPI()

    @app.get("/endless")
    async def endless():
        async def gen():
            try:
                while True:
                    yield "tick\n"
                    await asyncio.sleep(0.01)
            finally:
                closed.set()

        return fastrapi.responses.StreamingResponse(gen(), media_type="text/event-stream")

    app.add_middleware(Instrumentation, log=Log())
    srv = serve(app)
    with httpx.stream("GET", srv.url + "/endless", timeout=5) as r:
        assert next(r.iter_text()).startswith("tick")
    assert closed.wait(5)


class WsGate:
    """Pure ASGI middleware refusing WebSockets: with a close (403) or with an HTTP denial response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["query_string"] == b"deny=close":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] == "websocket" and scope["query_string"] == b"deny=http":
            await receive()
            await send({"type": "websocket.http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"x-why", b"token")]})
            await send({"type": "websocket.http.response.body", "body": b"no token"})
            return
        await self.app(scope, receive, send)


def test_asgi_middleware_refusing_websockets(serve):
    app = make_app()
    app.add_middleware(WsGate)
    srv = serve(app)
    answers = {}
    for query in ("deny=close", "deny=http"):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as sock:
            sock.sendall(f"GET /ws?{query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        answers[query] = data
    assert answers["deny=close"].startswith(b"HTTP/1.1 403 ")
    assert answers["deny=http"].startswith(b"HTTP/1.1 401 ")
    assert b"x-why: token\r\n" in answers["deny=http"] and answers["deny=http"].endswith(b"\r\n\r\nno token")
    with ws_connect(srv, "/ws") as conn:
        conn.send("fine")
        assert conn.recv(timeout=3) == "FINE"


def test_head_through_foreign_middleware_keeps_the_content_length(serve):
    app = fastrapi.FastrAPI()
    app.add_middleware(Instrumentation, log=Log())

    @app.get("/text")
    async def text():
        return fastrapi.responses.PlainTextResponse("x" * 1234)

    srv = serve(app)
    get = httpx.get(srv.url + "/text")
    head = httpx.head(srv.url + "/text")
    assert (get.status_code, len(get.content), get.headers["content-length"]) == (200, 1234, "1234")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "1234")
