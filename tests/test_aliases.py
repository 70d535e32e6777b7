"""The original FastrAPI's small aliases, on real servers: ``app.fallback(handler)`` (the handler for unmatched
paths), ``app.nest(prefix, router)`` / ``APIRouter.nest``, ``app.const_get(path)``, and ``serve(...,
reload_ignore_dirs=, reload_ignore_patterns=, reload_ignore_paths=, reload_tick=,
reload_ignore_worker_failure=)`` with the watchfiles reloader."""
from __future__ import annotations

import inspect
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from fastrapi import APIRouter, Depends, FastrAPI, HTTPException, Request
from fastrapi.responses import HTMLResponse, JSONResponse
from fastrapi.routing import RouteDecorators
from fastrapi.server.workers import ReloadFilter
from fastrapi.testclient import TestClient
from test_cli import Proc, free_port


# ------------------------------------------------------------------ fallback
def fallback_app(**options):
    app = FastrAPI()
    calls = []

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {"item_id": item_id}

    @app.post("/only-post")
    def only_post():
        return {"posted": True}

    @app.websocket("/ws")
    async def ws(websocket):
        await websocket.accept()

    def unmatched(request: Request, path: str, q: str | None = None):
        calls.append((request.method, path))
        return JSONResponse({"unmatched": path, "method": request.method, "q": q}, status_code=404)

    app.fallback(unmatched, **options)
    return app, calls


def test_fallback_answers_unmatched_paths(serve):
    app, calls = fallback_app()
    srv = serve(app)
    r = httpx.get(srv.url + "/no/such/page?q=x")
    assert r.status_code == 404 and r.json() == {"unmatched": "no/such/page", "method": "GET", "q": "x"}
    assert httpx.delete(srv.url + "/gone").json()["method"] == "DELETE"
    head = httpx.head(srv.url + "/nothing")
    assert head.status_code == 404 and head.content == b""
    # routes still win; a known path with another method is still 405; a bad parameter still 422
    assert httpx.get(srv.url + "/items/3").json() == {"item_id": 3}
    r = httpx.get(srv.url + "/only-post")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert httpx.get(srv.url + "/items/x").status_code == 422
    # a slash redirect comes before the fallback, as Starlette's router does it
    r = httpx.get(srv.url + "/items/3/")
    assert r.status_code == 307 and r.headers["location"].endswith("/items/3")
    # a plain GET at a WebSocket path is the handshake error, not the fallback
    assert httpx.get(srv.url + "/ws").status_code == 400
    assert calls == [("GET", "no/such/page"), ("DELETE", "gone"), ("HEAD", "nothing")]
    assert "/{path}" not in str(app.openapi()["paths"]) and app.openapi()["paths"].keys() == {"/items/{item_id}",
                                                                                              "/only-post"}


def test_fallback_as_a_decorator_with_options_and_dependencies(serve):
    app = FastrAPI()

    def needs_token(token: str | None = None):
        if token != "secret":
            raise HTTPException(401, "no token")
        return token

    @app.fallback(status_code=200, response_class=HTMLResponse, dependencies=[Depends(needs_token)])
    async def spa():  # a single-page app: every unknown path gets index.html
        return "<html>index</html>"

    srv = serve(app)
    r = httpx.get(srv.url + "/deep/link?token=secret")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == "<html>index</html>"
    assert httpx.get(srv.url + "/deep/link").json() == {"detail": "no token"}
    assert spa.__name__ == "spa"  # the decorator returns the function


def test_fallback_behind_middleware_and_through_asgi(serve):
    app, calls = fallback_app()

    @app.middleware("http")
    async def tag(request, call_next):
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        return response

    srv = serve(app)
    r = httpx.get(srv.url + "/missing")
    assert r.status_code == 404 and r.json()["unmatched"] == "missing" and r.headers["x-mw"] == "1"
    client = TestClient(app)
    assert client.get("/also/missing").json()["unmatched"] == "also/missing"


def test_no_fallback_keeps_the_404(serve):
    app = FastrAPI()
    app.get("/a")(lambda: 1)
    srv = serve(app)
    r = httpx.get(srv.url + "/b")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


# ------------------------------------------------------------------ nest
def test_nest_on_the_app_and_on_routers(serve):
    users = APIRouter(tags=["users"])

    @users.get("/{name}")
    def user(name: str):
        return {"user": name}

    admin = APIRouter()
    admin.get("/stats")(lambda: {"stats": True})
    api = APIRouter()
    api.get("/health")(lambda: {"ok": True})
    api.nest("/users", users)
    api.nest("admin/", admin, tags=["admin"])  # the original joins paths: slashes are optional
    app = FastrAPI()
    app.nest("/api/v1", api)
    srv = serve(app)
    assert httpx.get(srv.url + "/api/v1/health").json() == {"ok": True}
    assert httpx.get(srv.url + "/api/v1/users/ann").json() == {"user": "ann"}
    assert httpx.get(srv.url + "/api/v1/admin/stats").json() == {"stats": True}
    paths = app.openapi()["paths"]
    assert paths["/api/v1/users/{name}"]["get"]["tags"] == ["users"]
    assert paths["/api/v1/admin/stats"]["get"]["tags"] == ["admin"]
    same = FastrAPI()
    same.include_router(api, prefix="/api/v1")
    assert same.openapi()["paths"] == paths  # nest is include_router


# ------------------------------------------------------------------ const_get
HAS_CACHE_RESP = "cache_resp" in inspect.signature(RouteDecorators.add_api_route).parameters


@pytest.mark.skipif(not HAS_CACHE_RESP, reason="needs cache_resp=True routes (the original's route option)")
def test_const_get_is_a_cached_get(serve):
    app = FastrAPI()
    calls = []

    @app.const_get("/")
    def hello():
        calls.append(1)
        return {"Hello": "World"}

    srv = serve(app)
    for _ in range(3):
        r = httpx.get(srv.url + "/")
        assert r.status_code == 200 and r.json() == {"Hello": "World"}
    assert len(calls) == 1  # computed once, at startup
    assert httpx.post(srv.url + "/").status_code == 405


def test_const_get_asks_for_a_cached_route():
    """``const_get`` is ``get(path, cache_resp=True)``: what it passes, whatever the route option does."""
    seen = {}

    class Recorder(RouteDecorators):
        def add_api_route(self, path, endpoint, **options):
            seen.update(options, path=path)

    Recorder().const_get("/c", tags=["x"])(lambda: 1)
    assert seen == {"path": "/c", "methods": ["GET"], "cache_resp": True, "tags": ["x"]}


# ------------------------------------------------------------------ reload options
def test_reload_filter_options(tmp_path):
    root = tmp_path.resolve()
    f = ReloadFilter(ignore_dirs=["generated", str(root / "vendor")], ignore_patterns=["*_tmp.py", "scratch"],
                     ignore_paths=["settings_local.py"])
    added = 1
    assert f(added, str(root / "app.py"))
    assert not f(added, str(root / "notes.txt"))  # only .py files
    assert not f(added, str(root / "__pycache__" / "app.py"))  # watchfiles' defaults stay
    assert not f(added, str(root / "generated" / "models.py"))
    assert not f(added, str(root / "pkg" / "generated" / "models.py"))
    assert not f(added, str(root / "vendor" / "lib.py")) and f(added, str(root / "pkg" / "vendor.py"))
    assert not f(added, str(root / "x_tmp.py")) and not f(added, str(root / "my_scratch_file.py"))
    assert not f(added, str(root / "settings_local.py")) and f(added, str(root / "settings.py"))


RELOAD_SCRIPT = """
import os
from fastrapi import FastrAPI

app = FastrAPI()

@app.get("/pid")
def pid():
    return {"pid": os.getpid(), "version": 1}

@app.get("/exit")
def exit_now():
    os._exit(1)

if __name__ == "__main__":
    app.serve("127.0.0.1", {port}, reload=True, reload_ignore_dirs=["generated"],
              reload_ignore_patterns=["*_tmp.py"], reload_ignore_paths=["local_settings.py"], reload_tick=100,
              reload_ignore_worker_failure=True, graceful_timeout=2)
"""


def _pid(port: int, timeout: float = 15.0, other_than: int | None = None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = httpx.get(f"http://127.0.0.1:{port}/pid", timeout=2).json()["pid"]
            if pid != other_than:
                return pid
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no (new) server on port {port} in {timeout}s")


@pytest.mark.timeout(90)
def test_serve_reload_options(tmp_path):
    port = free_port()
    (tmp_path / "app.py").write_text(textwrap.dedent(RELOAD_SCRIPT).replace("{port}", str(port)))
    (tmp_path / "generated").mkdir()
    proc = Proc([sys.executable, "app.py"], tmp_path)
    try:
        first = _pid(port)
        # changes the options exclude: the same server keeps running
        (tmp_path / "generated" / "models.py").write_text("X = 1\n")
        (tmp_path / "cache_tmp.py").write_text("X = 1\n")
        (tmp_path / "local_settings.py").write_text("X = 1\n")
        time.sleep(1.5)
        assert _pid(port) == first
        assert "Reloading" not in proc.stderr
        # a watched file: reloaded
        (tmp_path / "models.py").write_text("X = 2\n")
        second = _pid(port, other_than=first)
        assert "WatchFiles detected changes in 'models.py'. Reloading..." in proc.stderr
        # the server exits on its own: started again at once (reload_ignore_worker_failure), no change needed
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/exit", timeout=5)
        third = _pid(port, other_than=second)
        assert third not in (first, second)
        assert "exited with code 1: starting it again" in proc.stderr
    finally:
        proc.stop()
    assert Path(tmp_path / "app.py").exists()
