"""The original FastrAPI's middleware, on a real server: the ``@app.middleware("http")`` function of one argument
(a dict in; None continues, a Response / dict / ``(body, status)`` answers), told apart from Starlette's
``(request, call_next)`` at registration; built-in middleware configured without an app and passed as
``FastrAPI(middleware=[...])``; and the original README's Middleware example, as documented."""
import threading

import httpx
import pytest

from fastrapi import FastrAPI, Request
from fastrapi.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    HTTPSRedirectMiddleware,
    Middleware,
    SessionMiddleware,
    TrustedHostMiddleware,
)
from fastrapi.responses import JSONResponse, PlainTextResponse
from fastrapi.testclient import TestClient


def filter_app():
    app = FastrAPI()
    seen: list = []
    threads: list = []

    @app.middleware("http")
    def record(request):
        seen.append(request)
        threads.append(threading.current_thread().name)
        path = request["path"]
        if path == "/blocked":
            return JSONResponse({"blocked": True}, status_code=403)
        if path == "/tuple":
            return {"t": 1}, 418
        if path == "/tuple-response":
            return PlainTextResponse("teapot"), 418
        if path == "/dict":
            return {"d": 1}
        if path == "/list":
            return [1, "two"]
        if path == "/empty":  # the original's examples/middleware_204.py
            return PlainTextResponse("", status_code=204)
        if path == "/raise":
            raise RuntimeError("filter failed")
        return None

    @app.get("/hello world")
    def hello(a: str = ""):
        return {"Hello": "World", "a": a}

    for path in ("/blocked", "/tuple", "/tuple-response", "/dict", "/list", "/empty", "/raise"):
        app.get(path)(lambda: {"route": "ran"})
    return app, seen, threads


def test_filter_gets_the_request_as_a_dict(serve):
    app, seen, threads = filter_app()
    srv = serve(app)
    r = httpx.get(srv.url + "/hello%20world?a=%20b", headers=[("X-Foo", "1"), ("X-Foo", "2"), ("X-Bar", "b")])
    assert r.status_code == 200 and r.json() == {"Hello": "World", "a": " b"}
    info = seen[-1]
    assert set(info) == {"method", "path", "query", "headers"}
    assert info["method"] == "GET"
    assert info["path"] == "/hello%20world"  # as sent, like the original
    assert info["query"] == "a=%20b"
    assert info["headers"]["x-foo"] == "1, 2" and info["headers"]["x-bar"] == "b"
    assert info["headers"]["host"] == f"127.0.0.1:{srv.port}"
    assert threads[-1] != "MainThread"  # a plain def runs in the thread pool, as sync handlers do


@pytest.mark.parametrize("path,status,ctype,body", [
    ("/blocked", 403, "application/json", b'{"blocked":true}'),
    ("/tuple", 418, "application/json", b'{"t":1}'),
    ("/tuple-response", 418, "text/plain; charset=utf-8", b"teapot"),
    ("/dict", 200, "application/json", b'{"d":1}'),
    ("/list", 200, "application/json", b'[1,"two"]'),
    ("/empty", 204, "text/plain; charset=utf-8", b""),
])
def test_filter_answers_instead_of_the_route(serve, path, status, ctype, body):
    app, _, _ = filter_app()
    srv = serve(app)
    r = httpx.get(srv.url + path)
    assert r.status_code == status
    assert r.headers.get("content-type") == ctype
    assert r.content == body


def test_filter_sees_unmatched_paths_and_errors_become_500(serve):
    app, seen, _ = filter_app()
    srv = serve(app)
    assert httpx.post(srv.url + "/nowhere").status_code == 404
    assert seen[-1]["method"] == "POST" and seen[-1]["path"] == "/nowhere"
    r = httpx.get(srv.url + "/raise")
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert httpx.get(srv.url + "/hello%20world").status_code == 200  # the server goes on


def test_async_filter_and_starlette_form_together_in_order(serve):
    app = FastrAPI()
    order: list = []

    @app.get("/x")
    async def x(request: Request):
        return {"order": order + ["route"]}

    @app.middleware("http")
    async def first_registered(request):
        order.append("filter-async")
        if request["headers"].get("x-deny"):
            return {"detail": "denied"}, 401

    @app.middleware("http")
    async def starlette_form(request, call_next):
        order.append("call_next")
        response = await call_next(request)
        response.headers["x-wrapped"] = "yes"
        return response

    srv = serve(app)
    r = httpx.get(srv.url + "/x")
    # the last registered runs first, in both projects and in Starlette
    assert r.json() == {"order": ["call_next", "filter-async", "route"]} and r.headers["x-wrapped"] == "yes"
    order.clear()
    r = httpx.get(srv.url + "/x", headers={"x-deny": "1"})
    assert r.status_code == 401 and r.json() == {"detail": "denied"} and r.headers["x-wrapped"] == "yes"


def test_callable_object_and_method_filters(serve):
    class Gate:
        def __init__(self):
            self.calls = 0

        def __call__(self, request):
            self.calls += 1
            return {"gate": self.calls} if request["path"] == "/gate" else None

    gate = Gate()
    app = FastrAPI()
    app.middleware("http")(gate)
    app.get("/open")(lambda: {"open": True})
    srv = serve(app)
    assert httpx.get(srv.url + "/gate").json() == {"gate": 1}
    assert httpx.get(srv.url + "/open").json() == {"open": True}


def test_filter_works_through_asgi_too():
    app, seen, _ = filter_app()
    client = TestClient(app)
    assert client.get("/tuple").status_code == 418
    assert client.get("/hello%20world", params={"a": "z"}).json()["a"] == "z"
    assert seen[-1]["query"] == "a=z"


def noop_two(request, call_next):  # a sync (request, call_next): call_next could never be awaited
    return None


@pytest.mark.parametrize("func,message", [
    (lambda: None, "is neither"),
    (lambda a, b, c: None, "is neither"),
    (lambda *, request: None, "is neither"),
    (noop_two, "must be 'async def'"),
    ("not callable", "got 'not callable'"),
])
def test_a_function_of_neither_shape_fails_at_registration(func, message):
    app = FastrAPI()
    with pytest.raises(TypeError, match=message):
        app.middleware("http")(func)
    assert app.user_middleware == []  # nothing half-registered


def test_ambiguous_signatures_are_decided_by_their_positional_slots():
    from fastrapi.middleware.filter import middleware_form

    async def starlette_default(request, call_next=None): ...
    async def star(*args): ...
    def one_with_kwonly(request, *, extra=None): ...
    assert middleware_form(starlette_default) == "call_next"
    assert middleware_form(star) == "call_next"
    assert middleware_form(one_with_kwonly) == "filter"


# ------------------------------------------------------------------ configured middleware objects
def test_configured_objects_in_the_constructor(serve):
    app = FastrAPI(middleware=[
        CORSMiddleware(allow_origins=["https://a.example"], expose_headers=["x-n"]),
        GZipMiddleware(minimum_size=100),
        Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
    ])

    @app.get("/big")
    def big():
        return {"data": "x" * 1000}

    srv = serve(app)
    r = httpx.get(srv.url + "/big", headers={"Origin": "https://a.example", "Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {"data": "x" * 1000}
    assert r.headers["content-encoding"] == "gzip" and r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-expose-headers"] == "x-n"
    assert int(r.headers["content-length"]) < 200  # the compressed size (httpx decoded the body)
    assert httpx.get(srv.url + "/big", headers={"Host": "evil.example"}).status_code == 400


def test_configured_objects_with_add_middleware_and_starlette_records(serve):
    from starlette.middleware import Middleware as StarletteMiddleware
    from starlette.middleware.gzip import GZipMiddleware as StarletteGZip

    app = FastrAPI(middleware=[StarletteMiddleware(StarletteGZip, minimum_size=10)])
    app.add_middleware(CORSMiddleware(allow_origins=["*"]))
    app.add_middleware(SessionMiddleware, secret_key="k" * 32)

    @app.get("/s")
    def s(request: Request):
        request.session["n"] = request.session.get("n", 0) + 1
        return {"n": request.session["n"], "pad": "y" * 50}

    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        first = client.get("/s", headers={"Origin": "https://b.example", "Accept-Encoding": "gzip"})
        assert first.json()["n"] == 1 and first.headers["content-encoding"] == "gzip"
        assert first.headers["access-control-allow-origin"] == "*"
        assert client.get("/s").json()["n"] == 2  # the session cookie came back


def test_configured_objects_check_their_options_when_built():
    with pytest.raises(AssertionError, match="Domain wildcard"):
        TrustedHostMiddleware(allowed_hosts=["example.*"])
    with pytest.raises(TypeError):
        GZipMiddleware(no_such_option=1)
    with pytest.raises(TypeError, match="built around an app"):
        FastrAPI(middleware=[CORSMiddleware(lambda request: None, allow_origins=["*"])])
    with pytest.raises(TypeError, match="not middleware"):
        FastrAPI(middleware=["CORSMiddleware"])
    HTTPSRedirectMiddleware()  # no options at all


def test_https_redirect_object(serve):
    app = FastrAPI(middleware=[HTTPSRedirectMiddleware()])
    app.get("/")(lambda: {"ok": True})
    srv = serve(app)
    r = httpx.get(srv.url + "/?q=1")
    assert r.status_code == 307 and r.headers["location"] == f"https://127.0.0.1:{srv.port}/?q=1"


# ------------------------------------------------------------------ the original README's Middleware example
def readme_middleware_app(port_host: str):
    app = FastrAPI()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", port_host], www_redirect=True)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"],
                       allow_credentials=False)
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=9)
    app.add_middleware(SessionMiddleware,
                       secret_key="super-duper-secret-key-change-this-in-prod-pwease-uwu-BUT-MAKE-IT-LONGER-NOW",
                       session_cookie="fastrapi_session", max_age=3600, https_only=False)

    @app.get("/")
    def index() -> JSONResponse:
        return JSONResponse({"status": "running"})

    @app.get("/heavy")
    def heavy_data() -> JSONResponse:
        return JSONResponse({"data": "x" * 1000, "note": "Check content-encoding header!"})

    @app.get("/counter")
    def session_counter(request: Request) -> JSONResponse:  # (the README's bare `request` is a query parameter)
        request.session["count"] = request.session.get("count", 0) + 1
        return JSONResponse({"message": "Session cookie should be set", "count": request.session["count"]})

    return app


def test_readme_middleware_example(serve):
    srv = serve(readme_middleware_app("127.0.0.1:8000"))
    url = srv.url
    # curl -v -H "Host: 127.0.0.1" http://127.0.0.1:8000/
    r = httpx.get(url + "/", headers={"Host": "127.0.0.1"})
    assert r.status_code == 200 and r.json() == {"status": "running"}
    assert httpx.get(url + "/", headers={"Host": "evil.example"}).status_code == 400
    # curl -v -H "Origin: http://example.com" http://127.0.0.1:8000/
    r = httpx.get(url + "/", headers={"Host": "127.0.0.1", "Origin": "http://example.com"})
    assert r.headers["access-control-allow-origin"] == "*"
    pre = httpx.options(url + "/", headers={"Host": "127.0.0.1", "Origin": "http://example.com",
                                            "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-methods"] == "GET, POST"
    # /heavy: "Check content-encoding header!"; / is below minimum_size
    heavy = httpx.get(url + "/heavy", headers={"Host": "127.0.0.1", "Accept-Encoding": "gzip"})
    assert heavy.headers["content-encoding"] == "gzip" and heavy.json()["data"] == "x" * 1000
    small = httpx.get(url + "/", headers={"Host": "127.0.0.1", "Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    # /counter: the session cookie is set, and counts
    with httpx.Client(base_url=url, headers={"Host": "127.0.0.1"}) as client:
        first = client.get("/counter")
        assert "fastrapi_session=" in first.headers["set-cookie"] and "Max-Age=3600" in first.headers["set-cookie"]
        assert client.get("/counter").json()["count"] == 2


def test_readme_middleware_example_without_a_session_route_answers_422_for_a_bare_request_parameter(serve):
    app = FastrAPI()

    @app.get("/counter")
    def session_counter(request) -> JSONResponse:  # exactly as the README writes it
        return JSONResponse({"message": "Session cookie should be set"})

    srv = serve(app)
    r = httpx.get(srv.url + "/counter")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "request"]
