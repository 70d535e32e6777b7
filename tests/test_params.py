"""Query/Path/Header/Cookie/Body declarations behave as in FastAPI: same values, same 422 bodies.

One app factory builds the same handlers on FastAPI (served in-process by its TestClient) and on FastrAPI
(a real server on 127.0.0.1); every case compares status and JSON body field by field.
"""

from typing import Annotated, Optional

import httpx
import pytest

import fastrapi

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


def make_app(fw):
    app = fw.FastAPI()
    Query, Path, Header, Cookie, Body = fw.Query, fw.Path, fw.Header, fw.Cookie, fw.Body

    @app.get("/items/{item_id}")
    async def items(
        item_id: Annotated[int, Path(gt=0, le=1000)],
        q: Optional[str] = Query(None, min_length=2, max_length=5),
        size: Annotated[int, Query(alias="page-size", ge=1, le=100)] = 10,
    ):
        return {"item_id": item_id, "q": q, "size": size}

    @app.get("/tags")
    def tags(tag: list[str] = Query([]), n: Annotated[list[int], Query()] = []):  # noqa: B006
        return {"tag": tag, "n": n}

    @app.get("/required")
    def required(q: str = Query(), code: Annotated[str, Query(pattern="^[A-Z]{3}$")] = "ABC"):
        return {"q": q, "code": code}

    @app.get("/headers")
    def headers(
        x_token: str = Header(),
        user_agent: Optional[str] = Header(None),
        x_count: Annotated[int, Header(lt=10)] = 0,
        x_raw_name: Optional[str] = Header(None, convert_underscores=False),
    ):
        return {"x_token": x_token, "user_agent": user_agent, "x_count": x_count, "x_raw_name": x_raw_name}

    @app.get("/cookies")
    def cookies(session: str = Cookie(), theme: Optional[str] = Cookie(None)):
        return {"session": session, "theme": theme}

    @app.post("/embed")
    def embed(name: str = Body(embed=True)):
        return {"name": name}

    @app.post("/two")
    def two(name: str = Body(), age: int = Body(gt=0)):
        return {"name": name, "age": age}

    return app


CASES = [
    ("GET", "/items/5", {}),
    ("GET", "/items/5?q=abc&page-size=20", {}),
    ("GET", "/items/0", {}),
    ("GET", "/items/1001", {}),
    ("GET", "/items/x", {}),
    ("GET", "/items/5?q=a", {}),
    ("GET", "/items/5?q=abcdef", {}),
    ("GET", "/items/5?page-size=0", {}),
    ("GET", "/items/5?page-size=abc", {}),
    ("GET", "/items/5?size=50", {}),
    ("GET", "/tags", {}),
    ("GET", "/tags?tag=a&tag=b&n=1&n=2", {}),
    ("GET", "/tags?n=1&n=x", {}),
    ("GET", "/required", {}),
    ("GET", "/required?q=1&code=ABD", {}),
    ("GET", "/required?q=1&code=abc", {}),
    ("GET", "/headers", {}),
    ("GET", "/headers", {"headers": {"X-Token": "t", "User-Agent": "ua", "X-Count": "3"}}),
    ("GET", "/headers", {"headers": {"x-token": "t", "x-count": "12"}}),
    ("GET", "/headers", {"headers": {"x-token": "t", "x_raw_name": "r", "User-Agent": "ua"}}),
    ("GET", "/cookies", {}),
    ("GET", "/cookies", {"headers": {"Cookie": "session=s1; theme=dark"}}),
    ("POST", "/embed", {"json": {"name": "n"}}),
    ("POST", "/embed", {"json": "n"}),
    ("POST", "/embed", {"json": {}}),
    ("POST", "/two", {"json": {"name": "n", "age": 3}}),
    ("POST", "/two", {"json": {"name": "n", "age": 0}}),
    ("POST", "/two", {"json": {"name": "n"}}),
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


@pytest.mark.parametrize("method,url,kwargs", CASES, ids=[f"{m} {u} #{i}" for i, (m, u, _) in enumerate(CASES)])
def test_same_as_fastapi(fastapi_client, client, method, url, kwargs):
    expected = fastapi_client.request(method, url, **kwargs)
    actual = client.request(method, url, **kwargs)
    assert actual.status_code == expected.status_code, actual.text
    assert actual.json() == expected.json()


def test_values_arrive_converted(client):
    r = client.get("/items/7?q=abc&page-size=20")
    assert r.json() == {"item_id": 7, "q": "abc", "size": 20}
    r = client.get("/tags?tag=a&tag=b&n=1&n=2")
    assert r.json() == {"tag": ["a", "b"], "n": [1, 2]}
    r = client.get("/headers", headers={"X-Token": "t", "X-Count": "3"})
    assert r.json()["x_token"] == "t" and r.json()["x_count"] == 3


def test_errors_name_the_alias_and_source(client):
    r = client.get("/items/0?page-size=500")
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["path", "item_id"] in locs and ["query", "page-size"] in locs
    r = client.get("/headers")
    assert r.json()["detail"][0]["loc"] == ["header", "x-token"]


def test_websocket_handler_gets_query_and_header_params(serve):
    from websockets.sync.client import connect

    app = fastrapi.FastrAPI()

    @app.websocket("/ws")
    async def ws_handler(ws, token: str = fastrapi.Query(), x_client: str = fastrapi.Header("anon")):
        await ws.accept()
        await ws.send_json({"token": token, "client": x_client})

    srv = serve(app)
    with connect(srv.ws_url + "/ws?token=abc", additional_headers={"X-Client": "c1"}, proxy=None) as c:
        assert c.recv(timeout=3) == '{"token":"abc","client":"c1"}'
