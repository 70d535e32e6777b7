"""URLs from route names (``url_path_for``, ``request.url_for``, ``websocket.url_for``), ``root_path``, and
Starlette's ``redirect_slashes``, compared with FastAPI (TestClient) answering the same app."""

import uuid
import warnings

import httpx
import pytest

import fastrapi
from fastrapi.exceptions import NoMatchFound
from fastrapi.routing import NoMatchFound as RoutingNoMatchFound

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.routing import NoMatchFound as StarletteNoMatchFound  # noqa: E402

HOST = {"host": "example.com:8080"}
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def make_app(fw, **app_options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI deprecates root_path=
        app = fw.FastAPI(**app_options)

    @app.get("/items/{item_id:int}", name="item")
    def item(item_id: int, request: fw.Request):
        return {
            "next": str(request.url_for("item", item_id=item_id + 1)),
            "file": str(request.url_for("file", p="a/b c.txt")),
            "ws": str(request.url_for("room", room="lobby")),
            "price": str(request.url_for("price", v=1.5)),
            "uuid": str(request.url_for("by_uuid", u=UID)),
            "routed": str(request.url_for("routed", x="y")),
            "path_only": request.app.url_path_for("item", item_id=3),
            "url": str(request.url),
            "base": str(request.base_url),
        }

    @app.get("/files/{p:path}")
    def file(p: str):
        return p

    @app.get("/price/{v:float}")
    def price(v: float):
        return v

    @app.get("/uuid/{u:uuid}")
    def by_uuid(u: uuid.UUID):
        return str(u)

    @app.websocket("/ws/{room}")
    async def room(websocket: fw.WebSocket, room: str):
        await websocket.accept()
        await websocket.send_json({
            "self": str(websocket.url_for("room", room=room)),
            "http": str(websocket.url_for("item", item_id=1)),
        })
        await websocket.close()

    router = fw.APIRouter(prefix="/r")

    @router.get("/{x}/end")
    def routed(x: str):
        return x

    app.include_router(router, prefix="/v1")

    # for redirect_slashes
    @app.get("/plain")
    def plain():
        return "plain"

    @app.get("/slashed/")
    def slashed():
        return "slashed"

    @app.post("/post-only")
    def post_only():
        return "post"

    @app.get("/both")
    def both_get():
        return "get"

    @app.post("/both/")
    def both_post():
        return "post"

    @app.get("/dyn/{x}/")
    def dyn(x: str):
        return x

    @app.get("/café")
    def cafe():
        return "café"

    return app


def answer(r):
    ctype = r.headers.get("content-type", "")
    return {
        "status": r.status_code,
        "location": r.headers.get("location"),
        "body": r.json() if ctype.startswith("application/json") and r.content else r.text,
    }


URL_CASES = [("GET", "/items/5")]
REDIRECT_CASES = [
    ("GET", "/plain/"), ("GET", "/plain//"), ("GET", "/slashed?a=1&b=%C3%A9"), ("POST", "/slashed"),
    ("HEAD", "/slashed"), ("GET", "/post-only/"), ("GET", "/both/"), ("GET", "/dyn/5"), ("GET", "/dyn/5/"),
    ("GET", "/caf%C3%A9/"), ("GET", "/nothing/"), ("GET", "/nothing"), ("GET", "/"), ("GET", "/plain"),
    ("GET", "/v1/r/x/end/"), ("GET", "/ws/lobby/"),
]


def compare(serve, cases, **app_options):
    with TestClient(make_app(fastapi, **app_options), headers=HOST, follow_redirects=False) as fa:
        expected = [answer(fa.request(m, u)) for m, u in cases]
    srv = serve(make_app(fastrapi, **app_options))
    with httpx.Client(base_url=srv.url, headers=HOST, follow_redirects=False, timeout=5) as c:
        actual = [answer(c.request(m, u)) for m, u in cases]
    for (m, u), e, a in zip(cases, expected, actual):
        assert a == e, f"{m} {u}"
    return actual


def test_url_for_same_as_fastapi(serve):
    [got] = compare(serve, URL_CASES)
    assert got["body"]["next"] == "http://example.com:8080/items/6"
    assert got["body"]["file"] == "http://example.com:8080/files/a/b c.txt"
    assert got["body"]["ws"] == "ws://example.com:8080/ws/lobby"


def test_url_for_under_root_path_same_as_fastapi(serve):
    got = compare(serve, [("GET", "/items/5"), ("GET", "/api/items/5"), ("GET", "/api/plain/"),
                          ("GET", "/api/slashed"), ("GET", "/api"), ("GET", "/api/nothing")], root_path="/api")
    assert got[0]["body"]["next"] == "http://example.com:8080/api/items/6"
    assert got[1]["status"] == 200


def test_redirect_slashes_same_as_fastapi(serve):
    got = compare(serve, REDIRECT_CASES)
    assert got[0] == {"status": 307, "location": "http://example.com:8080/plain", "body": ""}
    assert got[2]["location"] == "http://example.com:8080/slashed/?a=1&b=%C3%A9"


def test_redirect_slashes_off_same_as_fastapi(serve):
    got = compare(serve, REDIRECT_CASES, redirect_slashes=False)
    assert got[0]["status"] == 404


def test_redirect_is_followed_by_clients(serve):
    srv = serve(make_app(fastrapi))
    r = httpx.get(srv.url + "/slashed?q=1", follow_redirects=True)
    assert (r.status_code, r.json(), str(r.url)) == (200, "slashed", srv.url + "/slashed/?q=1")


def test_no_redirect_for_websockets(serve):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    srv = serve(make_app(fastrapi))
    with pytest.raises(InvalidStatus) as err:
        connect(srv.ws_url + "/ws/lobby/", proxy=None, open_timeout=3)
    assert err.value.response.status_code == 404


def ws_messages(serve, **app_options):
    from websockets.sync.client import connect

    with TestClient(make_app(fastapi, **app_options)) as fa:
        with fa.websocket_connect("/ws/hall") as ws:
            expected = ws.receive_json()
    srv = serve(make_app(fastrapi, **app_options))
    with connect(srv.ws_url + "/ws/hall", proxy=None) as c:
        import json

        actual = json.loads(c.recv(timeout=3))
    netloc = f"127.0.0.1:{srv.port}"
    return actual, {k: v.replace("testserver", netloc) for k, v in expected.items()}


def test_websocket_url_for_same_as_fastapi(serve):
    actual, expected = ws_messages(serve)
    assert actual == expected
    assert actual["self"].startswith("ws://") and actual["http"].startswith("http://")


def test_websocket_url_for_under_root_path(serve):
    actual, expected = ws_messages(serve, root_path="/api")
    assert actual == expected and actual["self"].endswith("/api/ws/hall")


def url_path_outcomes(fw):
    app = make_app(fw)
    calls = [
        ("item", {"item_id": 7}), ("item", {"item_id": "8"}), ("item", {"item_id": -1}), ("item", {}),
        ("item", {"item_id": 1, "extra": 2}), ("nope", {"a": 1, "b": 2}), ("file", {"p": "x/y"}),
        ("routed", {"x": "a/b"}), ("routed", {"x": ""}), ("price", {"v": 2}), ("price", {"v": 0.1}),
        ("price", {"v": -2.0}), ("price", {"v": float("nan")}), ("price", {"v": float("inf")}),
        ("by_uuid", {"u": UID}), ("room", {"room": "r1"}), ("plain", {}),
    ]
    out = []
    for name, params in calls:
        try:
            path = app.url_path_for(name, **params)
            out.append(("ok", str(path), type(path).__name__, getattr(path, "protocol", None)))
        except AssertionError as exc:
            out.append(("assert", str(exc)))
        except Exception as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


def test_url_path_for_same_as_starlette():
    assert url_path_outcomes(fastrapi) == url_path_outcomes(fastapi)


def test_no_match_found_is_exported_and_named_like_starlette():
    app = make_app(fastrapi)
    with pytest.raises(NoMatchFound, match=r'^No route exists for name "nope" and params "a"\.$'):
        app.url_path_for("nope", a=1)
    assert RoutingNoMatchFound is NoMatchFound
    assert NoMatchFound.__name__ == StarletteNoMatchFound.__name__


def test_router_url_path_for():
    for fw in (fastapi, fastrapi):
        router = fw.APIRouter(prefix="/users")

        @router.get("/{user_id:int}/posts/{slug}")
        def post(user_id: int, slug: str):
            return 1

        assert router.url_path_for("post", user_id=4, slug="hi") == "/users/4/posts/hi"
        with pytest.raises(Exception, match="No route exists"):
            router.url_path_for("post", user_id=4)


def test_root_path_is_stored_and_changeable():
    app = fastrapi.FastrAPI(root_path="/api")
    assert app.root_path == "/api"
    app.root_path = "/v2"
    assert app.router.root_path == "/v2"
