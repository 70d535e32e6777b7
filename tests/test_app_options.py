"""The ``FastrAPI(...)`` options of the original FastrAPI, each enforced, against a real server."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import warnings

import httpx
import pytest

from fastrapi import Depends, FastrAPI, File, Form, Request, UploadFile
from fastrapi.middleware.base import BaseHTTPMiddleware
from fastrapi.responses import JSONResponse
from fastrapi.routing import APIRoute
from fastrapi.testclient import TestClient

from rawhttp import RawConn

MiB = 1024 * 1024


class Records(logging.Handler):
    """Collects the records of some loggers (attached to them directly: works whatever propagates)."""

    def __init__(self, *names: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.loggers = [logging.getLogger(n) for n in names]
        self.levels = [lg.level for lg in self.loggers]

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> "Records":
        for lg in self.loggers:
            lg.addHandler(self)
            lg.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        for lg, level in zip(self.loggers, self.levels):
            lg.removeHandler(self)
            lg.setLevel(level)

    def messages(self, name: str) -> list[str]:
        return [r.getMessage() for r in self.records if r.name == name]


def _post_head(port: int, path: str, length: int) -> int:
    """Send only a request head announcing ``length`` bytes: the status the server answers at once."""
    with RawConn(port) as c:
        c.send(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n".encode())
        return c.read_response().status


# ------------------------------------------------------------------------------------------ size limits
def _body_app(**options) -> FastrAPI:
    app = FastrAPI(**options)

    @app.post("/body")
    async def body(request: Request):
        return {"len": len(await request.body())}

    return app


def test_max_body_size_default_is_16_mib(serve):
    app = _body_app()
    assert app.max_body_size == 16 * MiB
    srv = serve(app)
    assert srv.config.max_body_size == 16 * MiB
    assert _post_head(srv.port, "/body", 16 * MiB + 1) == 413
    assert httpx.post(srv.url + "/body", content=b"x" * (2 * MiB), timeout=30).json() == {"len": 2 * MiB}


def test_max_body_size_of_the_app_reaches_the_server(serve):
    srv = serve(_body_app(max_body_size=1000))
    with httpx.Client(base_url=srv.url) as client:
        assert client.post("/body", content=b"x" * 1000).json() == {"len": 1000}
        r = client.post("/body", content=b"x" * 1001)
        assert r.status_code == 413
    # chunked, without a Content-Length: counted as it arrives
    r = httpx.post(srv.url + "/body", content=iter([b"x" * 600, b"y" * 600]))
    assert r.status_code == 413
    assert _post_head(srv.port, "/body", 1001) == 413


def test_server_option_overrides_the_app(serve):
    srv = serve(_body_app(max_body_size=1000), max_body_size=5000)
    assert httpx.post(srv.url + "/body", content=b"x" * 3000).json() == {"len": 3000}


def test_max_body_size_none_is_no_limit(serve):
    srv = serve(_body_app(max_body_size=None))
    assert srv.config.max_body_size > 2**40
    assert httpx.post(srv.url + "/body", content=b"x" * (17 * MiB), timeout=60).json() == {"len": 17 * MiB}


def test_max_body_size_under_the_asgi_interface():
    client = TestClient(_body_app(max_body_size=100))
    assert client.post("/body", content=b"x" * 100).json() == {"len": 100}
    r = client.post("/body", content=b"x" * 101)
    assert r.status_code == 413 and r.json() == {"detail": "Request Entity Too Large"}


def test_the_original_multipart_limited_example(serve):
    """The original's examples/multipart_limited.py, as it is."""
    app = FastrAPI(max_body_size=1024, max_field_size=4, max_file_size=16, reject_unknown_multipart_fields=True)

    @app.post("/upload")
    def upload(description: str = Form(...)):
        return {"description": description}

    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        r = client.post("/upload", files={"description": (None, "abcd")})
        assert r.status_code == 200 and r.json() == {"description": "abcd"}
        r = client.post("/upload", files={"description": (None, "abcde")})
        assert r.status_code == 413 and "maximum size" in r.json()["detail"]
        r = client.post("/upload", files={"description": (None, "ab"), "extra": (None, "x")})
        assert r.status_code == 400 and r.json() == {"detail": 'Unknown multipart field "extra"'}
        r = client.post("/upload", files={"description": (None, "ab"), "pad": (None, "p" * 2000)})
        assert r.status_code == 413


def _form_app(**options) -> FastrAPI:
    app = FastrAPI(**options)

    @app.post("/field")
    async def field(name: str = Form()):
        return {"name": len(name)}

    @app.post("/file")
    async def file(upload: UploadFile = File()):
        return {"size": len(await upload.read())}

    return app


def test_max_field_size_set_answers_413(serve):
    srv = serve(_form_app(max_field_size=10))
    with httpx.Client(base_url=srv.url) as client:
        assert client.post("/field", files={"name": (None, "x" * 10)}).json() == {"name": 10}
        r = client.post("/field", files={"name": (None, "x" * 11)})
        assert r.status_code == 413 and r.json() == {"detail": "Part exceeded maximum size of 10 bytes."}
        assert client.post("/field", data={"name": "x" * 11}).status_code == 413  # urlencoded too
        assert client.post("/field", data={"name": "x" * 10}).json() == {"name": 10}


def test_max_field_size_default_keeps_starlettes_400(serve):
    """Unset, the field limit is Starlette's (1 MiB, answered 400 as FastAPI does)."""
    srv = serve(_form_app())
    r = httpx.post(srv.url + "/field", files={"name": (None, "x" * (MiB + 1))}, timeout=30)
    assert r.status_code == 400 and r.json() == {"detail": "Part exceeded maximum size of 1024KB."}


def test_max_file_size(serve):
    srv = serve(_form_app(max_file_size=16))
    with httpx.Client(base_url=srv.url) as client:
        assert client.post("/file", files={"upload": ("a.txt", b"x" * 16)}).json() == {"size": 16}
        r = client.post("/file", files={"upload": ("a.txt", b"x" * 17)})
        assert r.status_code == 413 and r.json() == {"detail": "File exceeded maximum size of 16 bytes."}
    # the default is 16 MiB per file
    assert FastrAPI().max_file_size == 16 * MiB


def test_reject_unknown_multipart_fields(serve):
    def dep(token: str = Form()) -> str:
        return token

    for reject in (True, False):
        app = FastrAPI(reject_unknown_multipart_fields=reject)

        @app.post("/up")
        async def up(upload: UploadFile, note: str = Form(), token: str = Depends(dep)):
            return {"note": note, "token": token, "file": upload.filename}

        srv = serve(app)
        with httpx.Client(base_url=srv.url) as client:
            ok = client.post("/up", data={"note": "n", "token": "t"}, files={"upload": ("f.txt", b"1")})
            assert ok.json() == {"note": "n", "token": "t", "file": "f.txt"}
            r = client.post("/up", data={"note": "n", "token": "t", "admin": "1"}, files={"upload": ("f.txt", b"1")})
            if reject:
                assert r.status_code == 400 and r.json() == {"detail": 'Unknown multipart field "admin"'}
            else:
                assert r.status_code == 200


def test_bad_option_values_are_errors_at_construction():
    with pytest.raises(ValueError, match="max_body_size"):
        FastrAPI(max_body_size=0)
    with pytest.raises(ValueError, match="max_file_size"):
        FastrAPI(max_file_size=-5)
    with pytest.raises(ValueError, match="request_timeout"):
        FastrAPI(request_timeout=0)
    with pytest.raises(ValueError, match="request_id_header"):
        FastrAPI(request_id_header="X Request Id")
    with pytest.raises(ValueError, match="powered_by_header"):
        FastrAPI(powered_by_header="a\r\nb: c")


# ------------------------------------------------------------------------------------------ request_timeout
def test_request_timeout_cancels_the_handler_and_answers_408(serve):
    app = FastrAPI(request_timeout=0.3)
    events: list[str] = []

    def resource():
        try:
            yield "r"
        finally:
            events.append("teardown")

    @app.get("/slow")
    async def slow(r: str = Depends(resource)):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        return {"never": True}

    @app.get("/fast")
    async def fast():
        await asyncio.sleep(0)
        return {"fast": True}

    srv = serve(app)
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        started = time.monotonic()
        r = client.get("/slow")
        took = time.monotonic() - started
        assert r.status_code == 408 and r.json() == {"detail": "Request Timeout"}
        assert 0.25 < took < 2.5
        assert client.get("/fast").json() == {"fast": True}  # the connection serves on
    deadline = time.monotonic() + 3
    while len(events) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert events == ["cancelled", "teardown"]


def test_request_timeout_with_a_sync_handler_in_the_thread_pool(serve):
    app = FastrAPI(request_timeout=0.3)
    finished = threading.Event()

    @app.get("/block")
    def block():
        time.sleep(3.0)
        finished.set()
        return {"late": True}

    srv = serve(app)
    started = time.monotonic()
    r = httpx.get(srv.url + "/block", timeout=10)
    assert r.status_code == 408 and time.monotonic() - started < 2.5  # not waiting for the thread
    assert not finished.is_set()
    assert finished.wait(6)  # the thread ran to its end; its result was discarded


def test_no_timeout_no_timer():
    app = FastrAPI()

    @app.get("/x")
    async def x():
        return {}

    route = app.router.static["/x"]["GET"]
    assert route.handle is route._base[0]  # nothing wrapped around the handler's own handle
    assert app._options_middleware is None and b"/x" in app.router.fast


# ------------------------------------------------------------------------------------------ headers and logs
def _headers_app(**options) -> FastrAPI:
    app = FastrAPI(**options)

    @app.get("/rid")
    async def rid(request: Request):
        return {"state": request.state.request_id}

    @app.get("/plain")
    def plain():
        return {"plain": True}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("broken")

    @app.get("/own")
    async def own():
        return JSONResponse({}, headers={"X-Powered-By": "mine"})

    @app.get("/cached", cache_resp=True)
    def cached():
        return {"c": 1}

    return app


def test_request_id_header_kept_or_generated(serve):
    srv = serve(_headers_app(request_id_header="X-Request-ID"))
    with httpx.Client(base_url=srv.url) as client:
        r = client.get("/rid", headers={"X-Request-ID": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123" and r.json() == {"state": "abc-123"}
        r1, r2 = client.get("/rid"), client.get("/rid")
        for r in (r1, r2):
            generated = r.headers["x-request-id"]
            assert uuid.UUID(generated) and r.json() == {"state": generated}
        assert r1.headers["x-request-id"] != r2.headers["x-request-id"]
        for path in ("/plain", "/missing", "/cached"):
            r = client.get(path, headers={"X-Request-ID": "id-" + path})
            assert r.headers["x-request-id"] == "id-" + path, path
        with Records("fastrapi.error") as logs:
            r = client.get("/boom", headers={"X-Request-ID": "req-500"})
        assert r.status_code == 500 and r.headers["x-request-id"] == "req-500"
        assert any(m.startswith("[req-500] ") and "/boom" in m for m in logs.messages("fastrapi.error"))
        # an unusable id from the client (too long) is replaced
        r = client.get("/rid", headers={"X-Request-ID": "x" * 500})
        assert len(r.headers["x-request-id"]) == 36


def test_powered_by_header(serve):
    srv = serve(_headers_app(powered_by_header="FastrAPI"))
    with httpx.Client(base_url=srv.url) as client:
        for path, status in (("/plain", 200), ("/missing", 404), ("/boom", 500), ("/cached", 200)):
            r = client.get(path)
            assert r.status_code == status and r.headers["x-powered-by"] == "FastrAPI", path
        assert client.get("/own").headers.get_list("x-powered-by") == ["mine"]  # the handler's own wins


def test_trace_requests_logs_each_request_with_its_duration(serve):
    srv = serve(_headers_app(trace_requests=True, request_id_header="X-Request-ID"))
    with Records("fastrapi.trace") as logs:
        with httpx.Client(base_url=srv.url) as client:
            client.get("/plain?x=1", headers={"X-Request-ID": "t-1"})
            client.get("/missing", headers={"X-Request-ID": "t-2"})
    lines = logs.messages("fastrapi.trace")
    assert len(lines) == 2
    assert lines[0].startswith("[t-1] 127.0.0.1:") and '"GET /plain?x=1 HTTP/1.1" 200 ' in lines[0]
    assert lines[1].startswith("[t-2] ") and '"GET /missing HTTP/1.1" 404 ' in lines[1]
    for line in lines:
        assert line.endswith("ms") and float(line.rsplit(" ", 1)[1][:-2]) >= 0


def test_access_log_line_carries_the_request_id(serve):
    srv = serve(_headers_app(request_id_header="X-Request-ID"), access_log=True)
    with Records("fastrapi.access") as logs:
        httpx.get(srv.url + "/plain", headers={"X-Request-ID": "acc-1"})
    assert [r.request_id for r in logs.records] == ["acc-1"]
    from fastrapi.logging import AccessFormatter

    assert AccessFormatter('%(status_code)s', use_colors=False).format(logs.records[0]) == "200 OK [acc-1]"


def test_catch_panics_answers_500_for_an_exception_in_middleware(serve):
    app = FastrAPI(catch_panics=True)

    class Broken(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            if request.url.path == "/panic":
                raise RuntimeError("panic")
            return await call_next(request)

    app.add_middleware(Broken)

    @app.get("/ok")
    async def ok():
        return {"ok": True}

    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        assert client.get("/panic").status_code == 500
        assert client.get("/ok").json() == {"ok": True}


# ------------------------------------------------------------------------------------------ routes, prefix
def test_routes_option(serve):
    async def listing():
        return {"items": []}

    app = FastrAPI(routes=[APIRoute("/items", listing, methods=["GET"])])
    srv = serve(app)
    assert httpx.get(srv.url + "/items").json() == {"items": []}
    assert "/items" in app.openapi()["paths"]
    with pytest.raises(TypeError, match="routes="):
        FastrAPI(routes=[("/x", listing)])


def test_openapi_prefix_is_the_old_name_of_root_path(serve):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = FastrAPI(openapi_prefix="/api")
    assert any(issubclass(w.category, DeprecationWarning) and "root_path" in str(w.message) for w in caught)
    assert app.root_path == "/api"

    @app.get("/ping")
    async def ping():
        return {"pong": True}

    srv = serve(app)
    assert httpx.get(srv.url + "/api/ping").json() == {"pong": True}
    assert httpx.get(srv.url + "/api/openapi.json").json()["servers"] == [{"url": "/api"}]


# ------------------------------------------------------------------------------------------ sync_to_threadpool
def _wait_for(items: list, n: int, seconds: float = 3.0) -> list:
    """``items`` once it has ``n`` entries (teardown of ``yield`` dependencies runs after the response)."""
    deadline = time.monotonic() + seconds
    while len(items) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return items


def _thread_app(**options) -> tuple[FastrAPI, list[str]]:
    app = FastrAPI(**options)
    torn: list[str] = []

    def sync_dep() -> int:
        return threading.get_ident()

    def gen_dep():
        yield threading.get_ident()
        torn.append("gen")

    @app.get("/loop")
    async def loop_thread():
        return {"id": threading.get_ident()}

    @app.get("/sync")
    def sync_handler():
        return {"id": threading.get_ident()}

    @app.get("/deps")
    def with_deps(a: int = Depends(sync_dep), b: int = Depends(gen_dep)):
        return {"id": threading.get_ident(), "a": a, "b": b}

    return app, torn


def test_sync_to_threadpool_false_runs_sync_code_on_the_event_loop(serve):
    app, torn = _thread_app(sync_to_threadpool=False)
    srv = serve(app)
    assert b"/sync" in app.router.fast  # a parameterless def handler now takes the fast path
    with httpx.Client(base_url=srv.url) as client:
        loop_id = client.get("/loop").json()["id"]
        assert client.get("/sync").json() == {"id": loop_id}
        assert client.get("/deps").json() == {"id": loop_id, "a": loop_id, "b": loop_id}
    assert _wait_for(torn, 1) == ["gen"]


def test_sync_to_threadpool_default_is_the_thread_pool(serve):
    app, torn = _thread_app()
    assert app.sync_to_threadpool is True
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        loop_id = client.get("/loop").json()["id"]
        assert client.get("/sync").json()["id"] != loop_id
        got = client.get("/deps").json()
        assert loop_id not in (got["id"], got["a"], got["b"])
    assert _wait_for(torn, 1) == ["gen"]
