"""Parity audit, the Request object: the same app on FastAPI (TestClient) and on FastrAPI (real server).

Handlers report what they read from ``request`` (method, URL parts, headers, query/path params, cookies,
body, json, app, state, is_disconnected) and the two frameworks' reports are compared field by field.
Values that legitimately differ between a TestClient and a socket (host, client address) are replaced by
their type or compared to what each transport should give.
"""
import json
import warnings

import httpx
import pytest

import fastrapi

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


def make_app(fw):
    """The Request app, built with ``fw`` = the fastapi or the fastrapi module."""
    Request = fw.Request
    app = fw.FastAPI()
    app.state.hits = 0

    def mark(request: Request):
        request.state.user = "alice"
        request.state.seen = ["route dependency"]

    def current_user(request: Request):
        request.state.seen = [*getattr(request.state, "seen", []), "parameter dependency"]
        return request.state.user

    @app.api_route("/info/{name}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    async def info(name: str, request: Request):
        base = str(request.base_url)
        return {
            "method": request.method,
            "url": str(request.url).replace(base, "BASE/"),
            "base_url_ends_with_slash": base.endswith("/"),
            "path": request.url.path,
            "query": request.url.query,
            "scheme": request.url.scheme,
            "path_params": request.path_params,
            "query_params": dict(request.query_params),
            "q_getlist": request.query_params.getlist("a"),
            "q_get_missing": request.query_params.get("zzz", "dflt"),
            "q_multi": request.query_params.multi_items(),
            "q_str": str(request.query_params),
            "q_len": len(request.query_params),
            "q_keys": list(request.query_params.keys()),
            "q_in": "a" in request.query_params,
            "h_get_mixed_case": request.headers.get("X-Multi"),
            "h_index_upper": request.headers["X-MULTI"] if "X-MULTI" in request.headers else None,
            "h_getlist": request.headers.getlist("x-MULTI"),
            "h_missing": request.headers.get("x-nope", "dflt"),
            "h_content_type": request.headers.get("content-type"),
            "cookies": request.cookies,
            "app_is_app": request.app is app,
            "client_type": [type(request.client.host).__name__, type(request.client.port).__name__],
            "disconnected": await request.is_disconnected(),
        }

    @app.post("/body")
    async def body(request: Request):
        raw = await request.body()
        again = await request.body()
        try:
            data, err = await request.json(), None
        except json.JSONDecodeError as exc:  # what user code catches, as with Starlette
            data, err = None, exc
        chunks = b""
        async for chunk in request.stream():
            chunks += chunk
        return {"raw": raw.decode("latin-1"), "same": raw == again, "json": data, "json_failed": err is not None,
                "stream": chunks.decode("latin-1"), "len": len(raw)}

    @app.post("/body-then-param")
    async def body_then_param(request: Request, item: dict):
        return {"item": item, "raw_json": json.loads(await request.body()), "json": await request.json()}

    @app.get("/state", dependencies=[fw.Depends(mark)])
    def state(request: Request, user: str = fw.Depends(current_user)):
        request.app.state.hits += 1
        return {"user": user, "state_user": request.state.user, "seen": request.state.seen,
                "missing": getattr(request.state, "missing", "dflt"), "hits": request.app.state.hits,
                "app_hits": app.state.hits}

    @app.get("/fresh-state")
    async def fresh_state(request: Request):
        return {"user": getattr(request.state, "user", None), "hits": app.state.hits}

    @app.get("/sync-request")
    def sync_request(request: Request):
        return {"method": request.method, "path": request.url.path, "q": request.query_params.get("q")}

    return app


CASES = [
    ("GET", "/info/n", {}),
    ("GET", "/info/n?a=1&a=2&b=x%20y&c=", {}),
    ("GET", "/info/a%20b?a=%C3%A9", {}),
    ("GET", "/info/n?b=1+2", {"headers": [("X-Multi", "one"), ("x-multi", "two"), ("cookie", "s=1; t=two")]}),
    ("POST", "/info/n", {"json": {"k": 1}}),
    ("PUT", "/info/n", {}),
    ("DELETE", "/info/n", {}),
    ("PATCH", "/info/n", {}),
    ("OPTIONS", "/info/n", {}),
    ("POST", "/body", {"json": {"k": [1, None, "é"]}}),
    ("POST", "/body", {"content": b"not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/body", {"content": b"plain text", "headers": {"content-type": "text/plain"}}),
    ("POST", "/body", {}),
    ("POST", "/body-then-param", {"json": {"a": 1}}),
    ("GET", "/sync-request?q=x", {}),
]


def summary(r):
    ctype = r.headers.get("content-type")
    out = {"status": r.status_code, "content-type": ctype}
    if ctype and ctype.startswith("application/json"):
        out["json"] = r.json()
    else:
        out["body"] = r.text
    return out


@pytest.fixture(scope="module")
def fastapi_client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = make_app(fastapi)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def client(serve):
    srv = serve(make_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        yield c


@pytest.mark.parametrize("method,url,kwargs", CASES, ids=[f"{m} {u} #{i}" for i, (m, u, _) in enumerate(CASES)])
def test_same_as_fastapi(fastapi_client, client, method, url, kwargs):
    expected = summary(fastapi_client.request(method, url, **kwargs))
    actual = summary(client.request(method, url, **kwargs))
    assert actual["status"] == expected["status"], (actual, expected)
    assert actual == expected


def test_state_sequence_same_as_fastapi(serve):
    """request.state lives for one request (set in dependencies, read in the handler); app.state is shared."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fa_app = make_app(fastapi)
    seq = ["/state", "/fresh-state", "/state", "/state", "/fresh-state"]
    with TestClient(fa_app) as fa:
        expected = [(r.status_code, r.json()) for r in (fa.get(u) for u in seq)]
    srv = serve(make_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        actual = [(r.status_code, r.json()) for r in (c.get(u) for u in seq)]
    assert actual == expected
    assert actual[3][1]["hits"] == 3 and actual[4][1] == {"user": None, "hits": 3}


def test_transport_values(client):
    """What a socket gives (a TestClient cannot): the peer address, repeated headers as sent."""
    r = client.get("/info/n?a=1", headers=[("X-Multi", "one"), ("x-multi", "two")])
    body = r.json()
    assert body["url"] == "BASE/info/n?a=1"
    assert body["h_getlist"] == ["one", "two"] and body["h_get_mixed_case"] == "one"
    assert body["client_type"] == ["str", "int"]
    assert body["disconnected"] is False
    assert body["scheme"] == "http"


def test_client_address_and_url_host(serve):
    app = fastrapi.FastrAPI()

    @app.get("/peer")
    async def peer(request: fastrapi.Request):
        return {"host": request.client.host, "url": str(request.url), "base": str(request.base_url),
                "hostname": request.url.hostname, "port": request.url.port}

    srv = serve(app)
    body = httpx.get(srv.url + "/peer?x=1").json()
    assert body == {"host": "127.0.0.1", "url": f"{srv.url}/peer?x=1", "base": f"{srv.url}/",
                    "hostname": "127.0.0.1", "port": srv.port}
