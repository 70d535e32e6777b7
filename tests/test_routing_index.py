"""The router's segment tree (``fastrapi.route_index``): the same answers as trying every route, in less time.

* For random route sets and requests, a router that always uses the tree gives exactly what one that scans
  every templated route gives (route, path parameters, 404, 405 and its Allow list, slash redirects,
  root_path, fallback, WebSocket routes, mounts); and the route chosen is the one Starlette's router picks.
* Through a real server: an earlier declared route wins over a later one that also matches (as in FastAPI,
  compared response by response), with few routes and with enough for the tree.
* With 10,000 templated routes, matching the last tries two routes' matchers at most (counted, not timed).
"""
from __future__ import annotations

import sys

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fastrapi
from fastrapi.mounting import Mount
from fastrapi.routing import APIRoute, Router, WebSocketRoute
from wsclient import recv, ws_connect

fastapi = pytest.importorskip("fastapi")
starlette_routing = pytest.importorskip("starlette.routing")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.routing import Match  # noqa: E402

LINEAR = 1 << 30  # ``Router.index_min`` that keeps the linear scan whatever the number of routes


async def _endpoint():
    return None


async def _ws_endpoint(websocket):
    return None


# ---------------------------------------------------------------------------------------------- random routes
TEMPLATE_SEGMENTS = ["a", "b", "me", "x.txt", "", "{p}", "{p:int}", "{p:float}", "{p:path}", "{p}.{q}",
                     "v{p:int}", "{p:uuid}"]
PATH_SEGMENTS = ["a", "b", "me", "x.txt", "", "12", "3.5", "v7", "zz", "a.b.c",
                 "550e8400-e29b-41d4-a716-446655440000"]
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT"]


def _name_params(segments: list[str]) -> str:
    """``/{p}/{p:int}`` -> ``/{p0}/{p1:int}``: parameter names unique within the path."""
    out, n = [], 0
    for segment in segments:
        while "{p" in segment or "{q" in segment:
            for letter in "pq":
                if "{" + letter in segment:
                    segment = segment.replace("{" + letter, "{n%d" % n, 1)
                    n += 1
        out.append(segment)
    return "/" + "/".join(out)


templates = st.lists(st.sampled_from(TEMPLATE_SEGMENTS), max_size=4).map(_name_params)
request_paths = st.builds(  # a third end in "\n" (a decoded "%0A")
    lambda segments, newline: "/" + "/".join(segments) + ("\n" if newline else ""),
    st.lists(st.sampled_from(PATH_SEGMENTS), max_size=5), st.sampled_from([False, False, True]))
plain_paths = st.lists(st.sampled_from(PATH_SEGMENTS), max_size=5).map(lambda segments: "/" + "/".join(segments))
route_specs = st.one_of(
    st.tuples(st.just("http"), templates, st.lists(st.sampled_from(HTTP_METHODS), min_size=1, max_size=3, unique=True)),
    st.tuples(st.just("ws"), templates, st.just([])),
    st.tuples(st.just("mount"), templates.filter(lambda t: t != "/").map(lambda t: t.rstrip("/")), st.just([])),
)


def _make_routes(specs: list[tuple[str, str, list[str]]]) -> list:
    routes = []
    for kind, path, methods in specs:
        if kind == "http":
            routes.append(APIRoute(path, _endpoint, methods))
        elif kind == "ws":
            routes.append(WebSocketRoute(path, _ws_endpoint))
        else:
            routes.append(Mount(path, routes=[]))
    return routes


def _router(routes: list, index_min: int, **options) -> Router:
    router = Router(**options)
    router.index_min = index_min
    for route in routes:
        router.add_route(route)
    return router


_FALLBACK = APIRoute("/{path:path}", _endpoint, ["GET", "HEAD", "POST", "PUT", "DELETE"], name="fallback")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(route_specs, max_size=14),
       requests=st.lists(st.tuples(st.sampled_from(HTTP_METHODS + ["DELETE"]), request_paths), min_size=1, max_size=8),
       redirect_slashes=st.booleans(), root_path=st.sampled_from(["", "/a", "/root"]), fallback=st.booleans())
# a regex's "$" matches before a final newline: "/zz/a\n" (a decoded "%0A") is taken by "/{n0}/a"
@example(specs=[("http", "/{n0}/a", ["GET"]), ("ws", "/{n0}/a", [])], requests=[("GET", "/zz/a\n")],
         redirect_slashes=False, root_path="", fallback=False)
def test_tree_answers_as_the_linear_scan(specs, requests, redirect_slashes, root_path, fallback):
    routes = _make_routes(specs)
    options = {"redirect_slashes": redirect_slashes, "root_path": root_path}
    linear, tree = _router(routes, LINEAR, **options), _router(routes, 0, **options)
    if fallback:
        linear.fallback = tree.fallback = _FALLBACK
    assert linear._index is None and (tree._index is not None or not tree._dynamic)
    for method, path in requests:
        assert tree.match(method, path) == linear.match(method, path), (method, path)
        assert tree.match_websocket(path) == linear.match_websocket(path), path


def _starlette_routes(specs: list[tuple[str, str, list[str]]]) -> list:
    routes = []
    for kind, path, methods in specs:
        if kind == "http":
            routes.append(starlette_routing.Route(path, _endpoint, methods=methods))
        elif kind == "ws":
            routes.append(starlette_routing.WebSocketRoute(path, _ws_endpoint))
        else:
            routes.append(starlette_routing.Mount(path, routes=[]))
    return routes


def _starlette_pick(routes: list, scope: dict) -> tuple[int | None, bool]:
    """(index of the route Starlette's router hands ``scope`` to, whether some route matched the path only)."""
    partial = False
    for i, route in enumerate(routes):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return i, partial
        partial = partial or match is Match.PARTIAL
    return None, partial


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(route_specs, max_size=14),
       requests=st.lists(st.tuples(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), plain_paths),
                         min_size=1, max_size=8),
       index_min=st.sampled_from([0, LINEAR]))
def test_route_chosen_as_starlette_chooses(specs, requests, index_min):
    """Declaration order decides, static paths included: the route we pick for a request is Starlette's, and
    we answer 405 exactly when Starlette would (HEAD, whose implicit GET route yields to an explicit HEAD
    route here, and the Allow list are ours)."""
    ours = _make_routes(specs)
    router = _router(ours, index_min, redirect_slashes=False)
    theirs = _starlette_routes(specs)
    position = {id(route): i for i, route in enumerate(ours)}
    for method, path in requests:
        route, _, allowed = router.match(method, path)
        want, partial = _starlette_pick(theirs, {"type": "http", "path": path, "root_path": "", "method": method})
        assert (position[id(route)] if route is not None else None) == want, (method, path)
        assert (allowed is not None) == (want is None and partial), (method, path)
        ws_route = router.match_websocket(path)[0]
        ws_want, _ = _starlette_pick(theirs, {"type": "websocket", "path": path, "root_path": ""})
        if ws_want is not None and isinstance(ours[ws_want], Mount):
            assert ws_route is None  # an empty mount: Starlette's router would fail inside it, we answer 404
        else:
            assert (position[id(ws_route)] if ws_route is not None else None) == ws_want, path


# ------------------------------------------------------------------------------------------------- many routes
@pytest.fixture(scope="module")
def big_router():
    async def res(x: str):
        return x

    async def ws(websocket, x: str):
        return None

    router = Router()
    for i in range(10_000):
        router.add_route(APIRoute(f"/res{i}/{{x}}", res, ["GET"]))
        router.add_route(WebSocketRoute(f"/res{i}/{{x}}", ws))
    return router


def _matchers_called(call) -> tuple[object, int]:
    """(what ``call()`` returns, how many times a route's matcher ran meanwhile)."""
    calls = 0
    code = APIRoute.matches.__code__

    def profile(frame, event, arg):
        nonlocal calls
        if event == "call" and frame.f_code is code:
            calls += 1

    sys.setprofile(profile)
    try:
        result = call()
    finally:
        sys.setprofile(None)
    return result, calls


@pytest.mark.timeout(180)  # the first to run builds the 20,000 routes (about 10 s, more on a busy machine)
@pytest.mark.parametrize("i", [0, 5_000, 9_999])
def test_10000_routes_try_a_constant_number_of_matchers(big_router, i):
    (route, params, allowed), calls = _matchers_called(lambda: big_router.match("GET", f"/res{i}/abc"))
    assert route.path == f"/res{i}/{{x}}" and params == {"x": "abc"} and allowed is None
    assert calls <= 2
    (ws_route, ws_params), calls = _matchers_called(lambda: big_router.match_websocket(f"/res{i}/abc"))
    assert ws_route.path == f"/res{i}/{{x}}" and ws_params == {"x": "abc"}
    assert calls <= 2


@pytest.mark.timeout(180)
def test_10000_routes_miss_tries_no_matcher(big_router):
    found, calls = _matchers_called(lambda: big_router.match("GET", "/res10000/abc"))
    # the miss looks again with a trailing slash (redirect_slashes): still no route's regex is tried
    assert found == (None, None, None) and calls == 0
    assert big_router.match("POST", "/res9999/abc") == (None, None, ["GET", "HEAD"])


# ------------------------------------------------------------------------------------------ through a server
def build_app(fw, users_me_first: bool, filler: int):
    app = fw.FastAPI()

    for i in range(filler):  # enough templated routes for the segment tree
        app.add_api_route(f"/filler{i}/{{x}}", lambda x: {"filler": x}, methods=["GET"])

    def users_me():
        return {"route": "me"}

    def users_by_id(user_id: str):
        return {"route": "id", "user_id": user_id}

    if users_me_first:
        app.get("/users/me")(users_me)
        app.get("/users/{user_id}")(users_by_id)
    else:
        app.get("/users/{user_id}")(users_by_id)
        app.get("/users/me")(users_me)

    @app.get("/things/{thing_id:int}")
    def get_thing(thing_id: int):
        return {"get": thing_id}

    @app.put("/things/{thing_id:int}")
    def put_thing(thing_id: int):
        return {"put": thing_id}

    @app.get("/files/{file_path:path}")
    def files(file_path: str):
        return {"file_path": file_path}

    @app.get("/files/special")  # declared after the path route, which takes its path
    def files_special():
        return {"special": True}

    @app.get("/docs2/{name}.{ext}")
    def doc(name: str, ext: str):
        return {"name": name, "ext": ext}

    @app.post("/forms/{kind}")
    def post_form(kind: str):
        return {"post": kind}

    @app.get("/forms/search")  # another method: the templated route declared first does not take it
    def search_forms():
        return {"search": True}

    @app.websocket("/ws/{room}" if users_me_first else "/ws/lobby")
    async def first_ws(websocket: fw.WebSocket):
        await websocket.accept()
        await websocket.send_text("first")
        await websocket.close()

    @app.websocket("/ws/lobby" if users_me_first else "/ws/{room}")
    async def second_ws(websocket: fw.WebSocket):
        await websocket.accept()
        await websocket.send_text("second")
        await websocket.close()

    return app


REQUESTS = [
    ("GET", "/users/me"), ("GET", "/users/42"), ("DELETE", "/users/me"),
    ("GET", "/things/7"), ("PUT", "/things/7"), ("GET", "/things/x"), ("GET", "/files/a/b/c.txt"),
    ("GET", "/files/special"), ("GET", "/files/"), ("GET", "/docs2/readme.v2.md"), ("GET", "/docs2/readme"),
    ("POST", "/forms/search"), ("GET", "/forms/search"), ("PUT", "/forms/search"), ("GET", "/filler3/q"),
    ("GET", "/nothing"),
]


@pytest.mark.parametrize("filler", [0, 20])
@pytest.mark.parametrize("users_me_first", [True, False])
def test_declaration_order_decides_as_in_fastapi(serve, users_me_first, filler):
    srv = serve(build_app(fastrapi, users_me_first, filler))
    with TestClient(build_app(fastapi, users_me_first, filler)) as theirs, \
            httpx.Client(base_url=srv.url, timeout=10) as ours:
        for method, path in REQUESTS:
            got, want = ours.request(method, path), theirs.request(method, path)
            assert got.status_code == want.status_code, (method, path)
            assert got.json() == want.json(), (method, path)
        me = ours.get("/users/me").json()
        assert me == ({"route": "me"} if users_me_first else {"route": "id", "user_id": "me"})
        # ours answers HEAD with a GET route, as Starlette's routes do (FastAPI's do not)
        assert ours.head("/users/me").status_code == 200 and ours.head("/files/special").status_code == 200
        # 405: every method of the routes at the path, ours as before (Starlette lists only the first route's)
        denied = ours.delete("/things/7")
        assert denied.status_code == 405 and denied.headers["allow"] == "GET, HEAD, PUT"
        assert ours.put("/forms/search").headers["allow"] == "POST, GET, HEAD"


@pytest.mark.parametrize("filler", [0, 20])
@pytest.mark.parametrize("users_me_first", [True, False])
def test_websocket_declaration_order(serve, users_me_first, filler):
    srv = serve(build_app(fastrapi, users_me_first, filler))
    with ws_connect(srv, "/ws/lobby") as ws:
        assert recv(ws) == "first"
    with ws_connect(srv, "/ws/kitchen") as ws:
        assert recv(ws) == ("first" if users_me_first else "second")


def test_routes_added_after_start_are_found(serve):
    """The tree grows with every route added, also once the server runs (and past the linear threshold)."""
    app = fastrapi.FastAPI()
    srv = serve(app)
    with httpx.Client(base_url=srv.url, timeout=10) as client:
        assert client.get("/late5/x").status_code == 404
        for i in range(30):
            app.add_api_route(f"/late{i}/{{x}}", lambda x, i=i: {"i": i, "x": x}, methods=["GET"])
        assert app.router._index is not None
        assert client.get("/late29/y").json() == {"i": 29, "x": "y"}
        sub = fastrapi.FastAPI()
        sub.add_api_route("/{x}", lambda x: {"sub": x}, methods=["GET"])
        app.mount("/late3", sub)  # after /late3/{x}: that route keeps its paths, the mount takes the others
        assert client.get("/late3/z").json() == {"i": 3, "x": "z"}
        app.mount("/late30", sub)
        assert client.get("/late30/q").json() == {"sub": "q"}
