"""APIRouter and include_router: prefixes, tags and dependencies combine across levels as in FastAPI."""
import httpx
import pytest

import fastrapi

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


def make_app(fw):
    calls = []

    def dep(name):
        def record(x_block: str = fw.Header("")):
            if x_block == name:
                raise fw.HTTPException(403, f"blocked by {name}")
            calls.append(name)
        return record

    app = fw.FastAPI(dependencies=[fw.Depends(dep("app"))])
    items = fw.APIRouter(prefix="/items", tags=["items"], dependencies=[fw.Depends(dep("router"))])
    admin = fw.APIRouter(prefix="/admin")

    @items.get("/")
    def list_items():
        return {"items": ["a", "b"], "calls": list(calls)}

    @items.get("/{item_id}", dependencies=[fw.Depends(dep("route"))])
    def get_item(item_id: int):
        return {"item_id": item_id, "calls": list(calls)}

    @admin.post("/reset")
    def reset():
        calls.clear()
        return {"reset": True}

    items.include_router(admin)
    app.include_router(items, prefix="/v1", dependencies=[fw.Depends(dep("include"))])

    @app.get("/calls")
    def get_calls():
        return list(calls)

    return app


SEQUENCE = [
    ("POST", "/v1/items/admin/reset", {}),
    ("GET", "/v1/items/", {}),
    ("POST", "/v1/items/admin/reset", {}),
    ("GET", "/v1/items/7", {}),
    ("GET", "/v1/items/x", {}),
    ("GET", "/v1/items/7", {"headers": {"x-block": "route"}}),
    ("GET", "/v1/items/7", {"headers": {"x-block": "include"}}),
    ("GET", "/v1/items/7", {"headers": {"x-block": "app"}}),
    ("GET", "/items/7", {}),
    ("GET", "/calls", {}),
]


def test_same_as_fastapi(serve):
    """The same request sequence gives the same statuses and bodies, including the dependency call order."""
    with TestClient(make_app(fastapi)) as fa:
        expected = [fa.request(m, u, **kw) for m, u, kw in SEQUENCE]
    srv = serve(make_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        actual = [c.request(m, u, **kw) for m, u, kw in SEQUENCE]
    for (m, u, _), e, a in zip(SEQUENCE, expected, actual):
        assert (a.status_code, a.json()) == (e.status_code, e.json()), f"{m} {u}"


def test_dependency_order_is_app_include_router_route(serve):
    srv = serve(make_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        c.post("/v1/items/admin/reset")
        c.post("/v1/items/admin/reset")
        assert c.get("/v1/items/3").json()["calls"][-4:] == ["app", "include", "router", "route"]


def test_websocket_route_in_router(serve):
    from websockets.sync.client import connect

    router = fastrapi.APIRouter(prefix="/rt")

    @router.websocket("/ws/{room}")
    async def room(ws, room: str):
        await ws.accept()
        await ws.send_text(f"room {room}")

    app = fastrapi.FastrAPI()
    app.include_router(router, prefix="/chat")
    srv = serve(app)
    with connect(srv.ws_url + "/chat/rt/ws/lobby", proxy=None) as c:
        assert c.recv(timeout=3) == "room lobby"


def test_prefix_must_start_with_a_slash():
    with pytest.raises(ValueError):
        fastrapi.APIRouter(prefix="items")
