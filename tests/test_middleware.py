"""``@app.middleware("http")``, ``add_middleware`` and ``BaseHTTPMiddleware`` on the built-in server: order,
responses changed or replaced, exceptions, streaming, background work, request bodies, and no cost for apps
without middleware (the fast path stays on)."""
import asyncio
import socket
import threading
import time

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import fastrapi  # noqa: E402
from fastrapi.middleware import Middleware  # noqa: E402

IGNORED = {"date", "server", "transfer-encoding", "connection"}


def base_class(fw):
    if fw is fastapi:
        from starlette.middleware.base import BaseHTTPMiddleware
    else:
        from fastrapi.middleware.base import BaseHTTPMiddleware
    return BaseHTTPMiddleware


def appender(fw, name):
    """A BaseHTTPMiddleware subclass adding ``name`` to ``x-order`` on the way in (request state) and out."""

    class Appender(base_class(fw)):
        async def dispatch(self, request, call_next):
            request.state.order = getattr(request.state, "order", "") + f">{name}"
            response = await call_next(request)
            response.headers["x-order"] = response.headers.get("x-order", "") + f"<{name}"
            return response

    Appender.__name__ = f"Appender{name}"
    return Appender


def make_app(fw, *, ctor_middleware=False):
    from importlib import import_module

    responses = import_module(f"{fw.__name__}.responses")
    middleware_cls = Middleware if fw is fastrapi else import_module("starlette.middleware").Middleware
    app = fw.FastAPI(middleware=[middleware_cls(appender(fw, "X")), middleware_cls(appender(fw, "Y"))]
                     if ctor_middleware else None)

    @app.get("/order")
    async def order(request: fw.Request):
        return {"order": request.state.order}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")

    @app.get("/http-error")
    async def http_error():
        raise fw.HTTPException(418, "teapot", headers={"x-tea": "1"})

    @app.get("/stream")
    async def stream():
        async def pieces():
            for i in range(3):
                yield f"piece {i}\n"

        return responses.StreamingResponse(pieces(), media_type="text/plain")

    @app.post("/echo")
    async def echo(request: fw.Request):
        return {"size": len(await request.body())}

    app.add_middleware(appender(fw, "A"))
    app.add_middleware(appender(fw, "B"))

    @app.middleware("http")
    async def outer(request, call_next):
        if request.url.path == "/short":
            return responses.JSONResponse({"short": True}, status_code=401)
        if request.url.path == "/mw-error":
            raise ValueError("middleware failed")
        response = await call_next(request)
        response.headers["x-order"] = response.headers.get("x-order", "") + "<C"
        if request.url.path == "/http-error":
            response.status_code = 419
        return response

    return app


CASES = [("GET", "/order"), ("GET", "/boom"), ("GET", "/http-error"), ("GET", "/stream"), ("GET", "/short"),
         ("GET", "/mw-error"), ("GET", "/missing"), ("POST", "/echo")]


def summary(r):
    return r.status_code, sorted((k, v) for k, v in r.headers.multi_items() if k not in IGNORED), r.content


@pytest.mark.parametrize("ctor_middleware", [False, True])
def test_same_as_fastapi(serve, ctor_middleware):
    """Order (last added runs first; ``middleware=[...]`` inside those), headers changed on the way out,
    status changed, a short-circuit answer, a failing middleware and a failing route (500 outside the
    middleware, as Starlette's ServerErrorMiddleware answers it)."""
    with TestClient(make_app(fastapi, ctor_middleware=ctor_middleware), raise_server_exceptions=False) as fa:
        expected = [summary(fa.request(m, u, content=b"x" * 100 if m == "POST" else None)) for m, u in CASES]
    srv = serve(make_app(fastrapi, ctor_middleware=ctor_middleware))
    with httpx.Client(base_url=srv.url) as client:
        actual = [summary(client.request(m, u, content=b"x" * 100 if m == "POST" else None)) for m, u in CASES]
    for case, got, want in zip(CASES, actual, expected):
        assert got == want, case
    order = dict(actual[0][1])["x-order"]
    assert order == ("<Y<X<A<B<C" if ctor_middleware else "<A<B<C")
    assert actual[0][2] == (b'{"order":">B>A>X>Y"}' if ctor_middleware else b'{"order":">B>A"}')
    assert actual[1][0] == 500 and actual[1][2] == b"Internal Server Error"
    assert actual[2][0] == 419 and dict(actual[2][1])["x-tea"] == "1"


def test_timing_header(serve):
    app = fastrapi.FastAPI()

    @app.middleware("http")
    async def add_process_time_header(request: fastrapi.Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Process-Time"] = str(time.perf_counter() - start)
        return response

    @app.get("/slow")
    async def slow():
        await asyncio.sleep(0.05)
        return {"ok": True}

    srv = serve(app)
    r = httpx.get(srv.url + "/slow")
    assert r.json() == {"ok": True} and float(r.headers["x-process-time"]) >= 0.05


def test_exception_handler_for_500_answers_middleware_errors(serve):
    app = fastrapi.FastAPI()

    @app.exception_handler(Exception)
    async def on_error(request, exc):
        return fastrapi.responses.JSONResponse({"error": str(exc)}, status_code=500)

    @app.middleware("http")
    async def failing(request, call_next):
        if request.url.path == "/mw":
            raise RuntimeError("from middleware")
        return await call_next(request)

    @app.get("/route")
    async def route():
        raise RuntimeError("from route")

    srv = serve(app)
    assert httpx.get(srv.url + "/mw").json() == {"error": "from middleware"}
    r = httpx.get(srv.url + "/route")
    assert (r.status_code, r.json()) == (500, {"error": "from route"})


def test_call_next_raises_route_errors(serve):
    """As in Starlette, a route's unhandled exception comes out of ``call_next``: middleware can catch it."""
    app = fastrapi.FastAPI()

    @app.middleware("http")
    async def catch(request, call_next):
        try:
            return await call_next(request)
        except ZeroDivisionError:
            return fastrapi.responses.PlainTextResponse("caught", status_code=503)

    @app.get("/div")
    async def div():
        return 1 / 0

    srv = serve(app)
    r = httpx.get(srv.url + "/div")
    assert (r.status_code, r.text) == (503, "caught")


def test_streaming_response_is_streamed_through_middleware(serve):
    """The head and the first pieces reach the client while the generator is still running."""
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

    @app.middleware("http")
    async def mark(request, call_next):
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        return response

    srv = serve(app)
    with httpx.stream("GET", srv.url + "/events", timeout=5) as r:
        assert r.headers["x-mw"] == "1"
        chunks = r.iter_text()
        assert next(chunks) == "first\n"
        assert produced.is_set()
        release.set()
        assert "".join(chunks) == "last\n"


def test_background_tasks_run_after_the_response(serve):
    done = []
    app = fastrapi.FastAPI()

    @app.get("/bg")
    async def bg(tasks: fastrapi.BackgroundTasks):
        tasks.add_task(done.append, "task")
        return {"queued": True}

    @app.middleware("http")
    async def mark(request, call_next):
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        return response

    srv = serve(app)
    r = httpx.get(srv.url + "/bg")
    assert r.json() == {"queued": True} and r.headers["x-mw"] == "1"
    for _ in range(100):
        if done:
            break
        time.sleep(0.01)
    assert done == ["task"]


def test_body_read_in_middleware_and_route(serve):
    """A middleware reading the body leaves it for the route: small bodies and streamed large ones."""
    app = fastrapi.FastAPI()

    @app.middleware("http")
    async def peek(request, call_next):
        body = await request.body()
        response = await call_next(request)
        response.headers["x-seen"] = str(len(body))
        return response

    @app.post("/upload")
    async def upload(request: fastrapi.Request):
        return {"size": len(await request.body())}

    srv = serve(app)
    for size in (10, 300_000):
        r = httpx.post(srv.url + "/upload", content=b"a" * size)
        assert r.json() == {"size": size} and r.headers["x-seen"] == str(size)


def test_replace_response_from_body_iterator(serve):
    """The common logging pattern: read ``response.body_iterator`` and return a new response."""
    app = fastrapi.FastAPI()

    @app.middleware("http")
    async def rewrite(request, call_next):
        response = await call_next(request)
        body = b""
        async for chunk in response.body_iterator:
            body += chunk
        return fastrapi.Response(body.upper(), status_code=response.status_code, media_type="text/plain",
                                 headers={"x-len": str(len(body))})

    @app.get("/text")
    async def text():
        return fastrapi.responses.PlainTextResponse("hello")

    @app.get("/stream")
    async def stream():
        async def gen():
            yield "a"
            yield "b"

        return fastrapi.responses.StreamingResponse(gen())

    srv = serve(app)
    r = httpx.get(srv.url + "/text")
    assert (r.text, r.headers["x-len"]) == ("HELLO", "5")
    assert httpx.get(srv.url + "/stream").text == "AB"


def test_pipelined_requests_and_head(serve):
    app = fastrapi.FastAPI()

    @app.get("/n/{n}")
    async def number(n: int):
        await asyncio.sleep(0.01 * (3 - n))
        return {"n": n}

    @app.middleware("http")
    async def mark(request, call_next):
        response = await call_next(request)
        response.headers["x-n"] = request.url.path
        return response

    srv = serve(app)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as sock:
        sock.sendall(b"".join(f"GET /n/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(3)))
        data = b""
        while data.count(b'{"n":') < 3:
            data += sock.recv(65536)
    assert [int(data[i + 5:i + 6]) for i in range(len(data)) if data.startswith(b'{"n":', i)] == [0, 1, 2]
    assert data.count(b"x-n: /n/") == 3
    r = httpx.head(srv.url + "/n/1")
    assert r.status_code in (200, 405) and r.content == b""


def test_state_and_websocket_unaffected(serve):
    """Native middleware does not touch WebSockets (as Starlette's BaseHTTPMiddleware)."""
    from wsclient import ws_connect

    app = fastrapi.FastAPI()
    calls = []

    @app.middleware("http")
    async def count(request, call_next):
        calls.append(request.url.path)
        return await call_next(request)

    @app.websocket("/ws")
    async def ws(websocket: fastrapi.WebSocket):
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    srv = serve(app)
    with ws_connect(srv) as conn:
        conn.send("hello")
        assert conn.recv(timeout=3) == "hello"
    assert calls == []


def test_no_middleware_keeps_the_fast_path(serve):
    """Without middleware the connection keeps the raw-target fast index and no chain; with middleware the
    index is empty (the fast path cannot skip the middleware) and every request goes through the chain."""
    plain = fastrapi.FastAPI()
    with_mw = fastrapi.FastAPI()
    for app in (plain, with_mw):
        @app.get("/fast")
        async def fast():
            return {"fast": True}

    @with_mw.middleware("http")
    async def mark(request, call_next):
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        return response

    for app, middleware in ((plain, False), (with_mw, True)):
        srv = serve(app)
        with httpx.Client(base_url=srv.url) as client:
            r = client.get("/fast")
            assert r.json() == {"fast": True} and ("x-mw" in r.headers) == middleware
            (conn,) = list(srv.connections)
            assert (conn._middleware is not None) == middleware
            assert bool(conn._fast_routes) != middleware
            assert (b"/fast" in conn._fast_routes) != middleware
    assert plain._built_middleware() is None and plain.user_middleware == []


def test_add_middleware_after_start_fails(serve):
    app = fastrapi.FastAPI()

    @app.middleware("http")
    async def mark(request, call_next):
        return await call_next(request)

    @app.get("/")
    async def index():
        return {}

    srv = serve(app)
    httpx.get(srv.url + "/")
    from fastrapi.middleware.gzip import GZipMiddleware

    with pytest.raises(RuntimeError, match="Cannot add middleware after an application has started"):
        app.add_middleware(GZipMiddleware)


def test_middleware_record():
    from fastrapi.middleware.gzip import GZipMiddleware

    record = Middleware(GZipMiddleware, minimum_size=10)
    cls, args, kwargs = record
    assert (cls, args, kwargs) == (GZipMiddleware, (), {"minimum_size": 10})
    assert repr(record) == "Middleware(GZipMiddleware, minimum_size=10)"
    with pytest.raises(AssertionError):
        fastrapi.FastAPI().middleware("websocket")


def test_published_fastrapi_middleware_example(serve):
    """The published FastrAPI README's example: the built-in classes come from ``fastrapi.middleware``."""
    from fastrapi.middleware import CORSMiddleware, GZipMiddleware, SessionMiddleware, TrustedHostMiddleware
    from fastrapi.responses import JSONResponse

    app = fastrapi.FastrAPI()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"], www_redirect=True)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"],
                       allow_credentials=False)
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=9)
    app.add_middleware(SessionMiddleware, secret_key="k" * 40, session_cookie="fastrapi_session", max_age=3600)

    @app.get("/heavy")
    def heavy() -> JSONResponse:
        return JSONResponse({"data": "x" * 1000})

    srv = serve(app)
    r = httpx.get(srv.url + "/heavy", headers={"Origin": "http://example.com", "Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {"data": "x" * 1000}
    assert r.headers["content-encoding"] == "gzip" and r.headers["access-control-allow-origin"] == "*"
    assert httpx.get(srv.url + "/heavy", headers={"Host": "evil.example"}).status_code == 400
