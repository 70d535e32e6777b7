"""Depends: values, nesting, per-request caching, yield teardown after the response, overrides, errors."""
import threading
import time
from typing import Annotated, Optional

import httpx
import pytest

import fastrapi
from fastrapi import Depends, FastrAPI, Header, HTTPException, Query

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


def make_app(fw):
    app = fw.FastAPI()

    def pagination(skip: int = 0, limit: int = fw.Query(10, le=100)):
        return {"skip": skip, "limit": limit}

    async def token(x_token: str = fw.Header()):
        if x_token != "secret":
            raise fw.HTTPException(status_code=403, detail="bad token")
        return x_token

    class Filters:
        def __init__(self, q: Optional[str] = None, tag: str = "all"):
            self.q, self.tag = q, tag

    def user(tok: str = fw.Depends(token), page: dict = fw.Depends(pagination)):
        return {"name": "alice", "token": tok, "page": page}

    @app.get("/page")
    def page(p: dict = fw.Depends(pagination)):
        return p

    @app.get("/filters")
    async def filters(f: Annotated[Filters, fw.Depends()]):
        return {"q": f.q, "tag": f.tag}

    @app.get("/me")
    async def me(u: Annotated[dict, fw.Depends(user)]):
        return u

    @app.get("/guarded", dependencies=[fw.Depends(token)])
    async def guarded():
        return {"ok": True}

    return app


CASES = [
    ("/page", {}), ("/page?skip=5&limit=20", {}), ("/page?limit=500", {}), ("/page?skip=x", {}),
    ("/filters", {}), ("/filters?q=a&tag=b", {}),
    ("/me", {"headers": {"x-token": "secret"}}), ("/me", {"headers": {"x-token": "nope"}}), ("/me", {}),
    ("/me?limit=1000", {"headers": {"x-token": "secret"}}),
    ("/guarded", {"headers": {"x-token": "secret"}}), ("/guarded", {"headers": {"x-token": "no"}}), ("/guarded", {}),
]


@pytest.fixture(scope="module")
def fastapi_client():
    with TestClient(make_app(fastapi)) as c:
        yield c


@pytest.fixture
def client(serve):
    srv = serve(make_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        yield c


@pytest.mark.parametrize("url,kwargs", CASES, ids=[f"{u} #{i}" for i, (u, _) in enumerate(CASES)])
def test_same_as_fastapi(fastapi_client, client, url, kwargs):
    expected = fastapi_client.get(url, **kwargs)
    actual = client.get(url, **kwargs)
    assert actual.status_code == expected.status_code, actual.text
    assert actual.json() == expected.json()


def test_value_cached_per_request_unless_use_cache_false(serve):
    calls = []

    def counter():
        calls.append(1)
        return len(calls)

    def a(n: int = Depends(counter)):
        return n

    def b(n: int = Depends(counter)):
        return n

    def fresh(n: int = Depends(counter, use_cache=False)):
        return n

    app = FastrAPI()

    @app.get("/cached")
    def cached(x: int = Depends(a), y: int = Depends(b)):
        return {"x": x, "y": y}

    @app.get("/uncached")
    def uncached(x: int = Depends(counter), y: int = Depends(fresh)):
        return {"x": x, "y": y}

    srv = serve(app)
    assert httpx.get(srv.url + "/cached").json() == {"x": 1, "y": 1}
    assert httpx.get(srv.url + "/cached").json() == {"x": 2, "y": 2}  # a new request, a new value
    r = httpx.get(srv.url + "/uncached").json()
    assert r["x"] != r["y"]


def test_yield_teardown_runs_after_the_response(serve):
    events = []
    done = threading.Event()

    async def db():
        events.append("open")
        try:
            yield "conn"
        finally:
            import asyncio

            await asyncio.sleep(0.5)
            events.append("closed")
            done.set()

    app = FastrAPI()

    @app.get("/q")
    async def q(conn: str = Depends(db)):
        events.append("handler")
        return {"conn": conn}

    srv = serve(app)
    t0 = time.monotonic()
    r = httpx.get(srv.url + "/q")
    elapsed = time.monotonic() - t0
    assert r.json() == {"conn": "conn"}
    assert elapsed < 0.4, f"response waited for the teardown ({elapsed:.2f}s)"
    assert "closed" not in events
    assert done.wait(3)
    assert events == ["open", "handler", "closed"]


def test_yield_dependency_sees_the_handler_exception(serve):
    seen = []

    def session():
        try:
            yield "s"
        except ValueError as exc:
            seen.append(f"rollback: {exc}")
            raise
        else:
            seen.append("commit")

    app = FastrAPI()

    @app.get("/fail")
    def fail(s: str = Depends(session)):
        raise ValueError("boom")

    @app.get("/ok")
    def ok(s: str = Depends(session)):
        return {"s": s}

    srv = serve(app)
    assert httpx.get(srv.url + "/fail").status_code == 500
    assert seen == ["rollback: boom"]
    assert httpx.get(srv.url + "/ok").json() == {"s": "s"}
    deadline = time.monotonic() + 3
    while "commit" not in seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen == ["rollback: boom", "commit"]


def test_dependency_overrides(serve):
    def real_user():
        raise HTTPException(401, "no user")

    app = FastrAPI()

    @app.get("/who")
    async def who(user: str = Depends(real_user)):
        return {"user": user}

    srv = serve(app)
    assert httpx.get(srv.url + "/who").status_code == 401
    app.dependency_overrides[real_user] = lambda: "test-user"
    assert httpx.get(srv.url + "/who").json() == {"user": "test-user"}
    app.dependency_overrides.clear()
    assert httpx.get(srv.url + "/who").status_code == 401


def test_websocket_dependencies(serve):
    from websockets.sync.client import connect

    def room_user(token: str = Query(), x_client: str = Header("anon")):
        return f"{x_client}:{token}"

    app = FastrAPI()

    @app.websocket("/ws")
    async def handler(ws, user: str = Depends(room_user)):
        await ws.accept()
        await ws.send_text(user)

    srv = serve(app)
    with connect(srv.ws_url + "/ws?token=t1", additional_headers={"X-Client": "c"}, proxy=None) as c:
        assert c.recv(timeout=3) == "c:t1"
