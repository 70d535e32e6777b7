"""Custom Request and APIRoute classes (FastAPI's "Custom Request and APIRoute class" page).

The page's three programs, unchanged but for the import: a ``GzipRequest`` built from ``request.scope`` and
``request.receive`` by a ``GzipRoute``, the body read again in a route class catching
``RequestValidationError``, and a ``TimedRoute`` adding ``X-Response-Time`` (``APIRouter(route_class=...)``,
``app.router.route_class = ...``). Each runs on a real server and through FastAPI's TestClient, compared
(status, content type, body); plus what a route class sees and what a route of the default class keeps.
"""
# NB: no ``from __future__ import annotations``: FastAPI resolves string annotations from module globals only.
import asyncio
import gzip
import json
import threading
import time
import warnings
from collections.abc import Callable
from typing import Annotated

import httpx
import pytest

import fastrapi
import fastrapi.exceptions
import fastrapi.routing
from fastrapi import BackgroundTasks, Depends, Form, Request, Response

fastapi = pytest.importorskip("fastapi")
import fastapi.exceptions  # noqa: E402
import fastapi.routing  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402


# ---------------------------------------------------------------- the docs' programs, for either framework
def gzip_app(fw):
    class GzipRequest(fw.Request):
        async def body(self) -> bytes:
            if not hasattr(self, "_body"):
                body = await super().body()
                if "gzip" in self.headers.getlist("Content-Encoding"):
                    body = gzip.decompress(body)
                self._body = body
            return self._body

    class GzipRoute(fw.routing.APIRoute):
        def get_route_handler(self) -> Callable:
            original_route_handler = super().get_route_handler()

            async def custom_route_handler(request: fw.Request) -> fw.Response:
                request = GzipRequest(request.scope, request.receive)
                return await original_route_handler(request)

            return custom_route_handler

    app = fw.FastAPI()
    app.router.route_class = GzipRoute

    @app.post("/sum")
    async def sum_numbers(numbers: list[int] = fw.Body()):
        return {"sum": sum(numbers)}

    @app.post("/login")
    def login(username: Annotated[str, fw.Form()], tags: Annotated[list[str], fw.Form()] = []):
        return {"username": username, "tags": tags}

    return app


def logging_app(fw):
    class ValidationErrorLoggingRoute(fw.routing.APIRoute):
        def get_route_handler(self) -> Callable:
            original_route_handler = super().get_route_handler()

            async def custom_route_handler(request: fw.Request) -> fw.Response:
                try:
                    return await original_route_handler(request)
                except fw.exceptions.RequestValidationError as exc:
                    body = await request.body()
                    detail = {"errors": exc.errors(), "body": body.decode()}
                    raise fw.HTTPException(status_code=422, detail=detail)

            return custom_route_handler

    app = fw.FastAPI()
    app.router.route_class = ValidationErrorLoggingRoute

    @app.post("/")
    async def sum_numbers(numbers: Annotated[list[int], fw.Body()]):
        return sum(numbers)

    return app


def timed_app(fw):
    class TimedRoute(fw.routing.APIRoute):
        def get_route_handler(self) -> Callable:
            original_route_handler = super().get_route_handler()

            async def custom_route_handler(request: fw.Request) -> fw.Response:
                before = time.time()
                response: fw.Response = await original_route_handler(request)
                duration = time.time() - before
                response.headers["X-Response-Time"] = str(duration)
                print(f"route duration: {duration}")
                print(f"route response: {response}")
                print(f"route response headers: {response.headers}")
                return response

            return custom_route_handler

    app = fw.FastAPI()
    router = fw.APIRouter(route_class=TimedRoute)

    @app.get("/")
    async def not_timed():
        return {"message": "Not timed"}

    @router.get("/timed")
    async def timed():
        return {"message": "It's the time of my life"}

    @router.get("/timed-sync/{n}")
    def timed_sync(n: int, response: fw.Response, tasks: fw.BackgroundTasks):
        response.headers["X-N"] = str(n)
        response.status_code = 201
        tasks.add_task(print, "background", n)
        return {"n": n}

    app.include_router(router)
    return app


def summary(r):
    ctype = r.headers.get("content-type")
    out = {"status": r.status_code, "content-type": ctype}
    out["json" if ctype == "application/json" else "body"] = r.json() if ctype == "application/json" else r.text
    return out


JSON = {"content-type": "application/json"}
GZ = {"content-type": "application/json", "content-encoding": "gzip"}
BIG = json.dumps(list(range(30000))).encode()  # ~190 KB: streamed to the handler as it arrives

CASES = {
    gzip_app: [
        ("POST", "/sum", {"content": gzip.compress(b"[1, 2, 3]"), "headers": GZ}),
        ("POST", "/sum", {"content": b"[1, 2]", "headers": JSON}),
        ("POST", "/sum", {"content": gzip.compress(BIG), "headers": GZ}),
        ("POST", "/sum", {"content": BIG, "headers": JSON}),
        ("POST", "/sum", {"content": gzip.compress(b'[1, "x"]'), "headers": GZ}),
        ("POST", "/sum", {"content": gzip.compress(b"[1, "), "headers": GZ}),
        ("POST", "/sum", {}),
        ("POST", "/login", {"data": {"username": "u", "tags": ["a", "b"]}}),
        ("POST", "/login", {"data": {"tags": "a"}}),
    ],
    logging_app: [
        ("POST", "/", {"content": b"[1, 2, 3]", "headers": JSON}),
        ("POST", "/", {"content": b'[1, "x", 3]', "headers": JSON}),
        ("POST", "/", {"content": b"{}", "headers": JSON}),
        ("POST", "/", {}),
    ],
    timed_app: [
        ("GET", "/", {}),
        ("GET", "/timed", {}),
        ("GET", "/timed-sync/3", {}),
        ("GET", "/timed-sync/x", {}),
        ("POST", "/timed", {}),
    ],
}
PARAMS = [(make, *case) for make, cases in CASES.items() for case in cases]


@pytest.fixture(scope="module")
def fastapi_clients():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        clients = {make: TestClient(make(fastapi), raise_server_exceptions=False) for make in CASES}
    yield clients
    for c in clients.values():
        c.close()


@pytest.mark.parametrize("make,method,url,kwargs", PARAMS,
                         ids=[f"{m.__name__} {meth} {u} #{i}" for i, (m, meth, u, _) in enumerate(PARAMS)])
def test_same_as_fastapi(serve, fastapi_clients, make, method, url, kwargs):
    expected_r = fastapi_clients[make].request(method, url, **kwargs)
    srv = serve(make(fastrapi))
    actual_r = httpx.request(method, srv.url + url, timeout=10, **kwargs)
    expected, actual = summary(expected_r), summary(actual_r)
    assert actual == expected
    for name in ("x-response-time", "x-n", "allow"):  # what the route class and the handler set
        assert (name in actual_r.headers) == (name in expected_r.headers), name
    if "x-response-time" in actual_r.headers:
        assert 0 <= float(actual_r.headers["x-response-time"]) < 5
    if "x-n" in actual_r.headers:
        assert actual_r.headers["x-n"] == expected_r.headers["x-n"]


def test_gzip_request_decompresses_on_the_native_server(serve):
    srv = serve(gzip_app(fastrapi))
    r = httpx.post(srv.url + "/sum", content=gzip.compress(BIG), headers=GZ, timeout=10)
    assert r.status_code == 200 and r.json() == {"sum": sum(range(30000))}
    r = httpx.post(srv.url + "/sum", content=gzip.compress(b"[40, 2]"), headers=GZ, timeout=10)
    assert r.json() == {"sum": 42}


def test_timed_route_adds_the_header_to_its_routes_only(serve, capsys):
    srv = serve(timed_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        timed = c.get("/timed")
        plain = c.get("/")
        sync = c.get("/timed-sync/7")
    assert timed.json() == {"message": "It's the time of my life"} and "x-response-time" in timed.headers
    assert "x-response-time" not in plain.headers and plain.json() == {"message": "Not timed"}
    # the handler's ``response: Response`` applies once, before the route class sees the response
    assert sync.status_code == 201 and sync.headers.get_list("x-n") == ["7"] and "x-response-time" in sync.headers
    out = capsys.readouterr().out
    assert "route duration:" in out and "x-response-time" in out.lower()


def test_route_class_of_the_app_and_of_routers():
    app = timed_app(fastrapi)
    classes = {r.path: type(r).__name__ for r in app.routes if isinstance(r, fastrapi.routing.APIRoute)}
    assert classes["/"] == "APIRoute" and classes["/timed"] == "TimedRoute"

    class Marked(fastrapi.routing.APIRoute):
        pass

    app = fastrapi.FastAPI()

    @app.get("/before")
    def before():
        return {}

    app.router.route_class = Marked

    @app.get("/after")
    def after():
        return {}

    inner = fastrapi.APIRouter()  # an included route keeps its router's class (APIRoute), as in FastAPI

    @inner.get("/inner")
    def inner_route():
        return {}

    app.include_router(inner)
    kinds = {r.path: type(r) for r in app.routes if isinstance(r, fastrapi.routing.APIRoute)}
    assert kinds["/before"] is fastrapi.routing.APIRoute and kinds["/after"] is Marked
    assert kinds["/inner"] is fastrapi.routing.APIRoute
    assert fastrapi.APIRouter(route_class=Marked).route_class is Marked


def test_default_class_keeps_the_fast_path():
    """A route whose class does not override get_route_handler keeps its prebuilt handle and fast path;
    one whose class does is answered only through the handler it built."""
    app = timed_app(fastrapi)
    plain = app.router.static["/"]["GET"]
    timed = app.router.static["/timed"]["GET"]
    assert plain.call_fast is not None and b"/" in app.router.fast
    assert timed.call_fast is None and timed.call_inline is None and b"/timed" not in app.router.fast

    class Subclass(fastrapi.routing.APIRoute):  # not overriding get_route_handler: nothing changes
        pass

    app = fastrapi.FastAPI()
    app.router.route_class = Subclass

    @app.get("/x")
    async def x():
        return {}

    assert app.router.static["/x"]["GET"].call_fast is not None


def test_request_from_scope_and_receive(serve):
    """``Request(request.scope, request.receive)`` on the native server: the same request, its body read
    through ``receive`` (``_body`` unset until then, as in Starlette)."""
    seen = {}

    class Shadow(fastrapi.routing.APIRoute):
        def get_route_handler(self):
            original = super().get_route_handler()

            async def handler(request: Request) -> Response:
                other = Request(request.scope, request.receive)
                seen["unset"] = not hasattr(other, "_body")
                seen["body"] = await other.body()
                seen["again"] = await other.body()
                seen["view"] = (other.method, other.url.path, dict(other.query_params), other.headers["x-h"],
                                other.path_params, other.client is not None, other.app is request.app)
                seen["state"] = other.state is request.state
                return await original(other)

            return handler

    app = fastrapi.FastAPI()
    router = fastrapi.APIRouter(route_class=Shadow)

    @router.put("/items/{item_id}")
    async def put(item_id: int, request: Request, q: str = ""):
        return {"item_id": item_id, "q": q, "body": (await request.body()).decode()}

    app.include_router(router)
    srv = serve(app)
    r = httpx.put(srv.url + "/items/5?q=a", content=b"payload", headers={"x-h": "v"}, timeout=5)
    assert r.json() == {"item_id": 5, "q": "a", "body": "payload"}
    assert seen["unset"] and seen["body"] == seen["again"] == b"payload"
    assert seen["view"] == ("PUT", "/items/5", {"q": "a"}, "v", {"item_id": "5"}, True, True)
    assert seen["state"]


def test_request_receive_messages():
    """``request.receive`` gives the body as ASGI messages; a Request made from a scope without ``receive``
    cannot read a body (Starlette's error)."""
    async def main():
        request = Request("POST", "/", b"/", b"", [(b"content-type", b"text/plain")], b"abc", None)
        first = await request.receive()
        gone = await request.receive()
        bare = Request({"type": "http", "method": "GET", "path": "/p", "headers": [(b"x-a", b"1")]})
        assert bare.headers["x-a"] == "1" and bare.path == "/p"
        scope = {"type": "http", "method": "POST", "path": "/k", "query_string": b"a=1", "headers": []}
        keyword = Request(scope=scope, receive=request.receive)
        assert keyword.method == "POST" and keyword.query_params["a"] == "1"
        assert Request(scope, request.receive, None).path == "/k"  # Starlette's (scope, receive, send)
        with pytest.raises(RuntimeError, match="Receive channel"):
            await bare.body()
        with pytest.raises(AssertionError):
            Request({"type": "websocket", "path": "/"})
        return first, gone

    first, gone = asyncio.run(main())
    assert first == {"type": "http.request", "body": b"abc", "more_body": False}
    assert gone == {"type": "http.disconnect"}


def test_background_and_dependencies_run_once_through_a_route_class(serve):
    events = []
    done = threading.Event()

    class Passthrough(fastrapi.routing.APIRoute):
        def get_route_handler(self):
            original = super().get_route_handler()

            async def handler(request: Request) -> Response:
                response = await original(request)
                events.append("route class")
                return response

            return handler

    def resource():
        events.append("open")
        yield "r"
        events.append("close")

    app = fastrapi.FastAPI()
    app.router.route_class = Passthrough

    @app.post("/work")
    def work(value: Annotated[str, Form()], tasks: BackgroundTasks, res: str = Depends(resource)):
        tasks.add_task(lambda: (events.append("task"), done.set()))
        return {"value": value, "res": res}

    srv = serve(app)
    r = httpx.post(srv.url + "/work", data={"value": "v"}, timeout=5)
    assert r.json() == {"value": "v", "res": "r"}
    assert done.wait(5)
    time.sleep(0.05)
    assert events == ["open", "route class", "task", "close"] or events == ["open", "route class", "close", "task"]
    assert events.count("task") == 1


def test_route_classes_through_the_asgi_interface():
    """The same programs through ``FastrAPI.__call__`` (fastrapi.testclient): the body comes from ASGI messages."""
    from fastrapi.testclient import TestClient as OurClient

    with OurClient(gzip_app(fastrapi)) as c:
        assert c.post("/sum", content=gzip.compress(BIG), headers=GZ).json() == {"sum": sum(range(30000))}
    with OurClient(logging_app(fastrapi)) as c:
        r = c.post("/", content=b'[1, "x"]', headers=JSON)
        assert r.status_code == 422 and r.json()["detail"]["body"] == '[1, "x"]'
    with OurClient(timed_app(fastrapi)) as c:
        assert "x-response-time" in c.get("/timed").headers


def test_uploads_of_a_request_made_from_the_scope_are_closed(serve):
    """A form parsed by a Request the route class made (not by the server's): its files are closed after the
    response, as the server closes those of its own requests."""
    kept = []

    class Rewrap(fastrapi.routing.APIRoute):
        def get_route_handler(self):
            original = super().get_route_handler()

            async def handler(request: Request) -> Response:
                return await original(Request(request.scope, request.receive))

            return handler

    app = fastrapi.FastAPI()
    app.router.route_class = Rewrap

    @app.post("/upload")
    async def upload(file: fastrapi.UploadFile, note: Annotated[str, Form()] = ""):
        kept.append(file)
        return {"name": file.filename, "size": len(await file.read()), "note": note}

    srv = serve(app)
    content = b"x" * 300_000  # streamed to the handler while it arrives
    r = httpx.post(srv.url + "/upload", files={"file": ("a.bin", content)}, data={"note": "n"}, timeout=10)
    assert r.json() == {"name": "a.bin", "size": 300_000, "note": "n"}
    deadline = time.monotonic() + 5
    while not kept[0].file.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kept[0].file.closed
