"""``cache_resp=True`` (the original FastrAPI's startup-precomputed routes), against a real server.

The original README: "FastrAPI calls the handler during startup, stores the rendered response bytes and
headers, and serves that route through a no-Python path". Each test counts the handler's calls: one, made at
startup (after the lifespan's startup), whatever the number of requests and whichever way they come in.
"""
from __future__ import annotations

import time
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime

import httpx
import pytest

from fastrapi import Depends, FastrAPI, HTTPException, Request
from fastrapi.middleware.base import BaseHTTPMiddleware
from fastrapi.responses import PlainTextResponse, Response
from fastrapi.routing import APIRouter
from fastrapi.testclient import TestClient

from rawhttp import RawConn


def test_readme_get_started(serve):
    """The README's first example (its /echo with the annotation FastAPI needs to read a JSON body)."""
    app = FastrAPI()
    calls = []

    @app.get("/hello")
    def hello():
        return {"Hello": "World"}

    @app.get("/healthz", cache_resp=True)
    def healthz():
        calls.append(1)
        return {"ok": True}

    @app.post("/echo")
    def echo(data: dict):
        return {"received": data}

    srv = serve(app)
    assert calls == [1]  # at startup, before any request
    assert b"GET" in app.router.fast[b"/healthz"]  # answered by the server's fast path, from the stored bytes
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        assert client.get("/hello").json() == {"Hello": "World"}
        for _ in range(5):
            r = client.get("/healthz")
            assert r.status_code == 200 and r.json() == {"ok": True}
            assert r.headers["content-type"] == "application/json"
        r = client.post("/echo", json={"foo": 123, "bar": [1, 2, 3]})
        assert r.json() == {"received": {"foo": 123, "bar": [1, 2, 3]}}
    assert calls == [1]


def test_readme_startup_precomputed_route_at_root(serve):
    app = FastrAPI()

    @app.get("/", cache_resp=True)
    def hello():
        return {"Hello": "World"}

    srv = serve(app)
    r = httpx.get(srv.url + "/")
    assert r.status_code == 200 and r.json() == {"Hello": "World"}


def test_runs_once_after_the_lifespan_startup(serve):
    shared: dict = {}
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        shared["ready"] = True
        yield
        events.append("shutdown")

    app = FastrAPI(lifespan=lifespan)

    @app.get("/health", cache_resp=True)
    async def health():
        events.append("handler")
        return {"ready": shared.get("ready", False)}

    srv = serve(app)
    assert events == ["startup", "handler"]
    with httpx.Client(base_url=srv.url) as client:
        assert [client.get("/health").json() for _ in range(3)] == [{"ready": True}] * 3
    assert events == ["startup", "handler"]


def test_whole_response_is_stored_status_headers_body(serve):
    app = FastrAPI()
    calls = []

    @app.get("/text", cache_resp=True)
    def text():
        calls.append("text")
        resp = PlainTextResponse("immutable\n", status_code=203, headers={"X-Build": "42"})
        resp.set_cookie("seen", "1")
        return resp

    @app.post("/created", status_code=201, cache_resp=True)
    async def created():
        calls.append("created")
        return {"id": 1}

    @app.get("/gone", cache_resp=True)
    def gone():
        calls.append("gone")
        raise HTTPException(410, "moved away", headers={"X-Why": "retired"})

    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        for _ in range(2):
            r = client.get("/text")
            assert r.status_code == 203 and r.text == "immutable\n"
            assert r.headers["x-build"] == "42"
            assert r.headers["content-type"] == "text/plain; charset=utf-8"
            assert r.headers["set-cookie"].startswith("seen=1")
            assert r.headers["content-length"] == "10"
            r = client.post("/created")
            assert r.status_code == 201 and r.json() == {"id": 1}
            r = client.get("/gone")
            assert r.status_code == 410 and r.json() == {"detail": "moved away"}
            assert r.headers["x-why"] == "retired"
    assert sorted(calls) == ["created", "gone", "text"]


def test_head_date_and_connection_handling_on_the_raw_wire(serve):
    app = FastrAPI()
    calls = []

    @app.get("/c", cache_resp=True)
    def cached():
        calls.append(1)
        return {"v": "x" * 100}

    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n")
        first = c.read_response()
        assert first.status == 200 and first.json() == {"v": "x" * 100}
        assert first.header("server") == "fastrapi"
        c.send(b"HEAD /c HTTP/1.1\r\nHost: t\r\n\r\n")
        head = c.read_response(head=True)
        assert head.status == 200 and head.body == b""
        assert head.header("content-length") == first.header("content-length") == str(len(first.body))
        # pipelined requests (answered by the full path) and HTTP/1.0 get the same stored response
        c.send(b"GET /c HTTP/1.1\r\nHost: t\r\n\r\nGET /c HTTP/1.1\r\nHost: t\r\n\r\n")
        assert [c.read_response().json() for _ in range(2)] == [{"v": "x" * 100}] * 2
        time.sleep(1.1)
        c.send(b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n")
        later = c.read_response()
    # the date is the current one, not the one of the startup
    assert parsedate_to_datetime(later.header("date")) > parsedate_to_datetime(first.header("date"))
    with RawConn(srv.port) as c:
        c.send(b"GET /c HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json() == {"v": "x" * 100}
    with RawConn(srv.port) as c:
        c.send(b"GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = c.read_response()
        assert r.json() == {"v": "x" * 100} and r.header("connection") == "close"
        assert c.closed_by_server()
    assert calls == [1]


def test_middleware_still_sees_the_stored_response(serve):
    app = FastrAPI()
    calls = []

    class Stamp(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            response = await call_next(request)
            response.headers["x-stamp"] = request.url.path
            return response

    app.add_middleware(Stamp)

    @app.get("/c", cache_resp=True)
    def cached():
        calls.append(1)
        return {"a": 1}

    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        for _ in range(3):
            r = client.get("/c")
            assert r.json() == {"a": 1} and r.headers["x-stamp"] == "/c"
    assert calls == [1]


def test_included_router_route(serve):
    router = APIRouter(prefix="/v1")
    calls = []

    @router.get("/version", cache_resp=True)
    def version():
        calls.append(1)
        return {"version": "1.2.3"}

    app = FastrAPI()
    app.include_router(router)
    srv = serve(app)
    assert [httpx.get(srv.url + "/v1/version").json() for _ in range(2)] == [{"version": "1.2.3"}] * 2
    assert calls == [1]


def test_asgi_interface_with_and_without_lifespan():
    app = FastrAPI()
    calls = []

    @app.get("/c", cache_resp=True)
    def cached():
        calls.append(1)
        return {"n": len(calls)}

    with TestClient(app) as client:  # lifespan: computed at startup
        assert calls == [1]
        assert client.get("/c").json() == {"n": 1}
        assert client.head("/c").text == ""
        assert client.get("/c").json() == {"n": 1}
    assert calls == [1]

    app2 = FastrAPI()
    calls2 = []

    @app2.get("/c", cache_resp=True)
    async def cached2():
        calls2.append(1)
        return {"n": len(calls2)}

    client = TestClient(app2)  # no lifespan run: computed by the first request
    assert calls2 == []
    assert client.get("/c").json() == {"n": 1}
    assert client.get("/c").json() == {"n": 1}
    assert calls2 == [1]


def _dep() -> int:
    return 1


@pytest.mark.parametrize("declare, needle", [
    (lambda app: app.get("/a/{x}", cache_resp=True)(lambda x: x), "path parameters"),
    (lambda app: app.get("/q", cache_resp=True)(lambda q: q), "parameters q"),
    (lambda app: app.get("/r", cache_resp=True)(lambda request: 1), "parameters request"),
    (lambda app: app.get("/d", cache_resp=True, dependencies=[Depends(_dep)])(lambda: 1), "dependencies"),
    (lambda app: app.get("/d2", cache_resp=True)(lambda v=Depends(_dep): v), "parameters v"),
])
def test_request_dependent_handler_is_refused_at_registration(declare, needle):
    app = FastrAPI()
    with pytest.raises(TypeError, match="cache_resp=True") as info:
        declare(app)
    assert needle in str(info.value)


def test_app_dependencies_are_refused_too():
    app = FastrAPI(dependencies=[Depends(_dep)])
    with pytest.raises(TypeError, match="dependencies"):
        app.get("/c", cache_resp=True)(lambda: 1)


def test_a_handler_that_fails_at_startup_stops_the_startup(serve):
    app = FastrAPI()

    @app.get("/c", cache_resp=True)
    def broken():
        raise ValueError("no config")

    with pytest.raises(RuntimeError, match="no config"):
        serve(app)


def test_not_cached_routes_are_unchanged(serve):
    """Without cache_resp the handler runs per request, as before."""
    app = FastrAPI()
    calls = []

    @app.get("/live")
    def live():
        calls.append(1)
        return {"n": len(calls)}

    srv = serve(app)
    assert [httpx.get(srv.url + "/live").json()["n"] for _ in range(3)] == [1, 2, 3]


def test_request_object_is_not_available_but_response_classes_are(serve):
    app = FastrAPI()

    @app.get("/bytes", cache_resp=True, response_class=Response)
    def raw():
        return Response(b"\x00\x01", media_type="application/octet-stream")

    srv = serve(app)
    r = httpx.get(srv.url + "/bytes")
    assert r.content == b"\x00\x01" and r.headers["content-type"] == "application/octet-stream"
    assert Request  # (imported for the refusal test above)


def test_a_stored_response_with_a_header_that_would_split_the_head_is_refused(serve):
    app = FastrAPI()

    @app.get("/c", cache_resp=True)
    def bad():
        return PlainTextResponse("x", headers={"X-Bad": "a\r\nInjected: 1"})

    with pytest.raises(ValueError, match="X-Bad|x-bad"):
        serve(app)
