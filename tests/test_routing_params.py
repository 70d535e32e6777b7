"""Routing, parameters, validation and responses, over real HTTP (httpx) against a FastrAPI server.

The same application (same decorators and handlers, only the framework classes differ) is also run through
FastAPI's TestClient and the two are compared response by response (status, JSON body, content type...).
"""
# NB: no ``from __future__ import annotations`` -- handlers are defined inside a factory and FastAPI resolves
# string annotations from module globals only.
import asyncio
import threading
import time
import uuid
import warnings
from typing import Optional

import httpx
import pytest
from pydantic import BaseModel

import fastrapi
import fastrapi.responses
from fastrapi import FastrAPI, HTTPException, Request
from fastrapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)


class User(BaseModel):
    name: str
    age: int


class UserOut(BaseModel):
    name: str


class UserIn(UserOut):
    password: str


class Item(BaseModel):
    title: str
    price: float
    tags: list[str] = []


def build_app(app_cls, http_exception, responses):
    """Build the test application with either FastAPI's or FastrAPI's classes."""
    app = app_cls()

    # ---- static paths and path parameters ------------------------------------------------------------------
    @app.get("/")
    def root():
        return {"root": True}

    @app.get("/static/path")
    def static_path():
        return {"static": True}

    @app.get("/users/me")
    def users_me():
        return {"user": "me"}

    @app.get("/users/{user_id}")
    def users_by_id(user_id: int):
        return {"user_id": user_id}

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: Optional[str] = None, limit: int = 10):
        return {"item_id": item_id, "q": q, "limit": limit}

    @app.get("/floats/{x}")
    def floats(x: float):
        return {"x": x}

    @app.get("/strs/{s}")
    def strs(s: str):
        return {"s": s}

    @app.get("/uuids/{u}")
    def uuids(u: uuid.UUID):
        return {"u": str(u), "is_uuid": isinstance(u, uuid.UUID)}

    @app.get("/files/{file_path:path}")
    def files(file_path: str):
        return {"file_path": file_path}

    @app.get("/two/{a}/and/{b}")
    def two(a: str, b: int):
        return {"a": a, "b": b}

    # ---- query parameters ------------------------------------------------------------------------------------
    @app.get("/query")
    def query(
        count: int = 1,
        ratio: float = 0.5,
        flag: bool = False,
        name: Optional[str] = None,
        opt: int | None = None,
    ):
        return {"count": count, "ratio": ratio, "flag": flag, "name": name, "opt": opt}

    @app.get("/need")
    def need(limit: int):
        return {"limit": limit}

    @app.get("/need-bool")
    def need_bool(b: bool):
        return {"b": b}

    # ---- bodies ----------------------------------------------------------------------------------------------
    @app.post("/users")
    def create_user(user: User) -> User:
        return user

    @app.post("/async-users")
    async def create_user_async(user: User):
        return {"name": user.name, "age": user.age, "cls": type(user).__name__}

    @app.post("/raw")
    def raw(data: dict):
        return {"received": data}

    @app.put("/items/{item_id}")
    def update_item(item_id: int, item: Item, q: Optional[str] = None):
        return {"item_id": item_id, "item": item.model_dump(), "q": q}

    # ---- return values ---------------------------------------------------------------------------------------
    @app.get("/ret/dict")
    def ret_dict():
        return {"a": 1, "b": [1, 2], "c": None}

    @app.get("/ret/list")
    def ret_list():
        return [1, "two", {"three": 3}]

    @app.get("/ret/model")
    def ret_model():
        return User(name="m", age=3)

    @app.get("/ret/str")
    def ret_str():
        return "hello"

    @app.get("/ret/none")
    def ret_none():
        return None

    @app.get("/ret/int")
    async def ret_int():
        return 42

    @app.get("/ret/filtered")
    def ret_filtered() -> UserOut:
        return {"name": "a", "password": "secret"}

    @app.get("/ret/filtered-model")
    def ret_filtered_model() -> UserOut:
        return UserIn(name="b", password="secret")

    @app.get("/ret/async-filtered")
    async def ret_async_filtered() -> UserOut:
        return UserIn(name="c", password="secret")

    @app.get("/ret/list-model")
    def ret_list_model() -> list[UserOut]:
        return [UserIn(name="x", password="p"), {"name": "y", "password": "q"}]

    # ---- methods ---------------------------------------------------------------------------------------------
    @app.get("/m")
    def m_get():
        return {"method": "GET"}

    @app.post("/m")
    def m_post():
        return {"method": "POST"}

    @app.put("/m")
    def m_put():
        return {"method": "PUT"}

    @app.patch("/m")
    def m_patch():
        return {"method": "PATCH"}

    @app.delete("/m")
    def m_delete():
        return {"method": "DELETE"}

    @app.options("/m")
    def m_options():
        return {"method": "OPTIONS"}

    @app.head("/m")
    def m_head():
        return {"method": "HEAD"}

    @app.get("/only-get")
    def only_get():
        return {"ok": True}

    @app.put("/put-delete")
    def pd_put():
        return {"method": "PUT"}

    @app.delete("/put-delete")
    def pd_delete():
        return {"method": "DELETE"}

    # ---- HTTPException ---------------------------------------------------------------------------------------
    @app.get("/exc/teapot")
    def exc_teapot():
        raise http_exception(status_code=418, detail="I am a teapot", headers={"X-Error": "brewing"})

    @app.get("/exc/dict")
    async def exc_dict():
        raise http_exception(status_code=400, detail={"reason": "bad", "codes": [1, 2]})

    @app.get("/exc/default")
    def exc_default():
        raise http_exception(status_code=404)

    @app.get("/exc/item/{item_id}")
    async def exc_item(item_id: int):
        if item_id != 1:
            raise http_exception(status_code=404, detail="Item not found")
        return {"item_id": 1}

    # ---- responses -------------------------------------------------------------------------------------------
    @app.get("/r/plain")
    def r_plain():
        return responses.PlainTextResponse("hello", status_code=201, headers={"X-A": "b"})

    @app.get("/r/unicode")
    def r_unicode():
        return responses.PlainTextResponse("héllo ✓")

    @app.get("/r/html")
    def r_html():
        return responses.HTMLResponse("<h1>hi</h1>")

    @app.get("/r/json")
    def r_json():
        return responses.JSONResponse({"a": [1, 2], "b": "é"}, status_code=202, headers={"X-J": "1"})

    @app.get("/r/raw")
    async def r_raw():
        return responses.Response(content=b"\x00\x01binary", media_type="application/octet-stream")

    @app.get("/r/text-media")
    def r_text_media():
        return responses.Response(content="text body", media_type="text/plain")

    @app.get("/r/custom-media")
    def r_custom_media():
        return responses.Response(content="{}", media_type="application/vnd.api+json")

    @app.get("/r/redirect")
    def r_redirect():
        return responses.RedirectResponse("/static/path")

    @app.get("/r/redirect302")
    def r_redirect302():
        return responses.RedirectResponse(url="/static/path", status_code=302)

    @app.get("/r/empty")
    def r_empty():
        return responses.Response(status_code=204)

    @app.get("/r/status-only")
    def r_status_only():
        return responses.Response(content=b"created", status_code=201)

    return app


fr_app = build_app(FastrAPI, HTTPException, fastrapi.responses)


# --------------------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def client(serve):
    srv = serve(fr_app)
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def fastapi_client():
    fastapi = pytest.importorskip("fastapi")
    import fastapi.responses as fa_responses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    fa_app = build_app(fastapi.FastAPI, fastapi.HTTPException, fa_responses)
    with TestClient(fa_app) as c:
        yield c


# --------------------------------------------------------------------------------------------------------------
# FastAPI comparison
# --------------------------------------------------------------------------------------------------------------

SAMPLE_UUID = "12345678-1234-5678-1234-567812345678"

COMPARE_CASES = [
    # routing
    ("GET", "/", {}),
    ("GET", "/static/path", {}),
    ("GET", "/users/me", {}),
    ("GET", "/users/7", {}),
    ("GET", "/users/-3", {}),
    ("GET", "/items/5", {}),
    ("GET", "/items/5?q=hello&limit=3", {}),
    ("GET", "/floats/1.5", {}),
    ("GET", "/floats/7", {}),
    ("GET", "/floats/1e3", {}),
    ("GET", "/strs/plain", {}),
    ("GET", "/strs/hello%20world", {}),
    ("GET", f"/uuids/{SAMPLE_UUID}", {}),
    ("GET", "/files/a/b/c.txt", {}),
    ("GET", "/files/top.txt", {}),
    ("GET", "/two/x/and/2", {}),
    # query
    ("GET", "/query", {}),
    ("GET", "/query?count=5&ratio=2.25&flag=true&name=bob&opt=3", {}),
    ("GET", "/query?name=J%C3%BCrgen+X", {}),
    ("GET", "/query?count=1&count=2", {}),
    ("GET", "/query?unknown=1", {}),
    ("GET", "/need?limit=4", {}),
    *[("GET", f"/need-bool?b={v}", {}) for v in ["true", "True", "1", "yes", "on", "false", "0", "no", "off"]],
    # bodies
    ("POST", "/users", {"json": {"name": "ann", "age": 30}}),
    ("POST", "/users", {"json": {"name": "ann", "age": "31"}}),
    ("POST", "/users", {"json": {"name": "ann", "age": 32, "extra": "ignored"}}),
    ("POST", "/async-users", {"json": {"name": "bo", "age": 4}}),
    ("POST", "/raw", {"json": {"any": ["thing", 1, None]}}),
    ("PUT", "/items/3?q=z", {"json": {"title": "t", "price": 1}}),
    # return values
    ("GET", "/ret/dict", {}),
    ("GET", "/ret/list", {}),
    ("GET", "/ret/model", {}),
    ("GET", "/ret/str", {}),
    ("GET", "/ret/none", {}),
    ("GET", "/ret/int", {}),
    ("GET", "/ret/filtered", {}),
    ("GET", "/ret/filtered-model", {}),
    ("GET", "/ret/async-filtered", {}),
    ("GET", "/ret/list-model", {}),
    # methods
    ("GET", "/m", {}),
    ("POST", "/m", {}),
    ("PUT", "/m", {}),
    ("PATCH", "/m", {}),
    ("DELETE", "/m", {}),
    ("OPTIONS", "/m", {}),
    ("HEAD", "/m", {}),
    # 404 / 405
    ("GET", "/nope", {}),
    ("POST", "/nope", {}),
    ("GET", "/users/me/extra", {}),
    ("GET", "/static", {}),
    ("POST", "/only-get", {}),
    ("DELETE", "/only-get", {}),
    ("GET", "/put-delete", {}),
    ("POST", "/items/1", {}),
    # 422: path
    ("GET", "/items/abc", {}),
    ("GET", "/items/1.5", {}),
    ("GET", "/users/abc", {}),
    ("GET", "/floats/abc", {}),
    ("GET", "/uuids/not-a-uuid", {}),
    ("GET", "/two/x/and/y", {}),
    # 422: query
    ("GET", "/items/1?limit=x", {}),
    ("GET", "/items/x?limit=y", {}),
    ("GET", "/need", {}),
    ("GET", "/need?limit=", {}),
    ("GET", "/need-bool?b=maybe", {}),
    ("GET", "/need-bool?b=2", {}),
    ("GET", "/query?count=a&ratio=b&flag=c&opt=d", {}),
    # 422: body
    ("POST", "/users", {"json": {"name": "a", "age": "x"}}),
    ("POST", "/users", {"json": {"name": "a"}}),
    ("POST", "/users", {"json": {"age": "x"}}),
    ("POST", "/users", {"json": {}}),
    ("POST", "/users", {}),
    ("POST", "/raw", {}),
    ("POST", "/raw", {"json": [1, 2]}),
    ("POST", "/users", {"content": b'{"name":', "headers": {"content-type": "application/json"}}),
    ("POST", "/users", {"content": b"{not json}", "headers": {"content-type": "application/json"}}),
    ("POST", "/raw", {"content": b'{"a": 1', "headers": {"content-type": "application/json"}}),
    ("PUT", "/items/x", {"json": {"title": "t"}}),
    # HTTPException
    ("GET", "/exc/teapot", {}),
    ("GET", "/exc/dict", {}),
    ("GET", "/exc/default", {}),
    ("GET", "/exc/item/1", {}),
    ("GET", "/exc/item/2", {}),
    # responses
    ("GET", "/r/plain", {}),
    ("GET", "/r/unicode", {}),
    ("GET", "/r/html", {}),
    ("GET", "/r/json", {}),
    ("GET", "/r/raw", {}),
    ("GET", "/r/text-media", {}),
    ("GET", "/r/custom-media", {}),
    ("GET", "/r/redirect", {}),
    ("GET", "/r/redirect302", {}),
    ("GET", "/r/empty", {}),
    ("GET", "/r/status-only", {}),
]


def _summary(resp):
    """What a user observes of a response, minus server-specific headers."""
    ctype = resp.headers.get("content-type")
    out = {"status": resp.status_code, "content-type": ctype}
    if resp.request.method == "HEAD":
        out["content-length"] = resp.headers.get("content-length")
        out["body"] = resp.content
    elif ctype and ctype.startswith("application/json"):
        out["json"] = resp.json()
    else:
        out["body"] = resp.content
    for h in ("location", "x-error", "x-a", "x-j"):
        if h in resp.headers:
            out[h] = resp.headers[h]
    return out


@pytest.mark.parametrize(
    "method,url,kwargs",
    COMPARE_CASES,
    ids=[f"{m} {u} {sorted(k)[0] if k else ''}".strip() + f"#{i}" for i, (m, u, k) in enumerate(COMPARE_CASES)],
)
def test_same_as_fastapi(fastapi_client, client, method, url, kwargs):
    expected = fastapi_client.request(method, url, follow_redirects=False, **kwargs)
    actual = client.request(method, url, follow_redirects=False, **kwargs)
    exp, act = _summary(expected), _summary(actual)
    assert act["status"] == exp["status"]
    if "json" in exp:
        assert act.get("json", act.get("body")) == exp["json"]
    assert act == exp
    if exp["status"] == 405:
        allow_fa = {m.strip() for m in expected.headers["allow"].split(",")}
        allow_fr = {m.strip() for m in actual.headers.get("allow", "").split(",") if m.strip()}
        assert allow_fa <= allow_fr


# --------------------------------------------------------------------------------------------------------------
# explicit expectations (also meaningful without FastAPI installed)
# --------------------------------------------------------------------------------------------------------------


def test_404_shape(client):
    r = client.get("/does/not/exist")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}
    assert r.headers["content-type"] == "application/json"


def test_405_shape_and_allow_header(client):
    r = client.post("/only-get")
    assert r.status_code == 405
    assert r.json() == {"detail": "Method Not Allowed"}
    assert "GET" in {m.strip() for m in r.headers["allow"].split(",")}
    r = client.get("/put-delete")
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers["allow"].split(",")}
    assert {"PUT", "DELETE"} <= allow
    assert "GET" not in allow and "POST" not in allow


def test_all_method_decorators(client):
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        r = client.request(method, "/m")
        assert r.status_code == 200, method
        assert r.json() == {"method": method}
    r = client.head("/m")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(b'{"method":"HEAD"}'))


def test_path_param_conversions(client):
    assert client.get("/users/42").json() == {"user_id": 42}
    assert client.get("/floats/2.5").json() == {"x": 2.5}
    assert client.get("/strs/abc").json() == {"s": "abc"}
    assert client.get("/strs/hello%20world").json() == {"s": "hello world"}
    assert client.get(f"/uuids/{SAMPLE_UUID}").json() == {"u": SAMPLE_UUID, "is_uuid": True}
    assert client.get("/files/dir/sub/file.tar.gz").json() == {"file_path": "dir/sub/file.tar.gz"}
    assert client.get("/users/me").json() == {"user": "me"}


def test_query_param_conversions(client):
    r = client.get("/query", params={"count": "5", "ratio": "0.25", "flag": "yes", "name": "n", "opt": "9"})
    assert r.json() == {"count": 5, "ratio": 0.25, "flag": True, "name": "n", "opt": 9}
    assert client.get("/query").json() == {"count": 1, "ratio": 0.5, "flag": False, "name": None, "opt": None}
    for v, expected in [("true", True), ("1", True), ("yes", True), ("on", True), ("false", False), ("0", False),
                        ("no", False), ("off", False)]:
        assert client.get("/need-bool", params={"b": v}).json() == {"b": expected}, v


def test_422_bad_path_param(client):
    r = client.get("/items/abc")
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "type": "int_parsing",
                "loc": ["path", "item_id"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "abc",
            }
        ]
    }


def test_422_bad_and_missing_query_param(client):
    r = client.get("/items/1", params={"limit": "x"})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["type"] == "int_parsing" and err["loc"] == ["query", "limit"] and err["input"] == "x"
    r = client.get("/need")
    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "missing", "loc": ["query", "limit"], "msg": "Field required",
                                    "input": None}]}


def test_422_body(client):
    r = client.post("/users", json={"name": "a", "age": "x"})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "age"] and err["type"] == "int_parsing" and err["input"] == "x"
    r = client.post("/users")
    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]}
    r = client.post("/users", content=b'{"name":', headers={"content-type": "application/json"})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["type"] == "json_invalid" and err["loc"][0] == "body" and err["msg"] == "JSON decode error"


def test_body_into_dict_and_model(client):
    assert client.post("/raw", json={"k": [1, {"n": None}]}).json() == {"received": {"k": [1, {"n": None}]}}
    assert client.post("/users", json={"name": "z", "age": 1, "x": 2}).json() == {"name": "z", "age": 1}
    assert client.post("/async-users", json={"name": "q", "age": "2"}).json() == {"name": "q", "age": 2,
                                                                                  "cls": "User"}


def test_return_annotation_filters_and_validates(client):
    assert client.get("/ret/filtered").json() == {"name": "a"}
    assert client.get("/ret/filtered-model").json() == {"name": "b"}
    assert client.get("/ret/async-filtered").json() == {"name": "c"}
    assert client.get("/ret/list-model").json() == [{"name": "x"}, {"name": "y"}]


def test_invalid_return_value_is_500(serve):
    app = FastrAPI()

    @app.get("/bad")
    def bad() -> UserOut:
        return {"nope": 1}

    @app.get("/ok")
    def ok():
        return {"ok": True}

    srv = serve(app)
    assert httpx.get(srv.url + "/bad").status_code == 500
    assert httpx.get(srv.url + "/ok").json() == {"ok": True}


def test_return_values(client):
    r = client.get("/ret/str")
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", "hello")
    r = client.get("/ret/none")
    assert (r.status_code, r.content) == (200, b"null")
    assert client.get("/ret/list").json() == [1, "two", {"three": 3}]
    assert client.get("/ret/model").json() == {"name": "m", "age": 3}


def test_http_exception(client):
    r = client.get("/exc/teapot")
    assert r.status_code == 418
    assert r.json() == {"detail": "I am a teapot"}
    assert r.headers["x-error"] == "brewing"
    r = client.get("/exc/dict")
    assert (r.status_code, r.json()) == (400, {"detail": {"reason": "bad", "codes": [1, 2]}})
    r = client.get("/exc/default")
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})


def test_responses(client):
    r = client.get("/r/plain")
    assert r.status_code == 201
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-a"] == "b"
    assert r.text == "hello"
    r = client.get("/r/unicode")
    assert r.content == "héllo ✓".encode()
    assert r.headers["content-length"] == str(len("héllo ✓".encode()))
    r = client.get("/r/html")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == "<h1>hi</h1>"
    r = client.get("/r/json")
    assert (r.status_code, r.headers["x-j"], r.json()) == (202, "1", {"a": [1, 2], "b": "é"})
    assert r.headers["content-type"] == "application/json"
    r = client.get("/r/raw")
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content == b"\x00\x01binary"
    r = client.get("/r/text-media")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = client.get("/r/custom-media")
    assert r.headers["content-type"] == "application/vnd.api+json"
    r = client.get("/r/redirect", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/static/path"
    r = client.get("/r/redirect302", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "/static/path")
    r = client.get("/r/redirect", follow_redirects=True)
    assert r.json() == {"static": True}
    r = client.get("/r/empty")
    assert r.status_code == 204 and r.content == b""


# --------------------------------------------------------------------------------------------------------------
# sync handlers in a thread pool, async handlers on the loop
# --------------------------------------------------------------------------------------------------------------

thread_app = FastrAPI()


@thread_app.get("/sync")
def sync_handler():
    t = threading.current_thread()
    return {"name": t.name, "ident": t.ident, "main": t is threading.main_thread()}


@thread_app.get("/async")
async def async_handler():
    t = threading.current_thread()
    asyncio.get_running_loop()  # raises if not on the loop
    return {"name": t.name, "ident": t.ident, "main": t is threading.main_thread()}


@thread_app.get("/sync-sleep")
def sync_sleep():
    time.sleep(0.5)
    return {"slept": True}


@thread_app.get("/sync-loop")
def sync_loop():
    try:
        asyncio.get_running_loop()
        return {"loop": True}
    except RuntimeError:
        return {"loop": False}


@thread_app.get("/req")
async def with_request(request: Request, x: int = 0):
    return {"path": request.url.path, "x": x, "q": request.query_params.get("x")}


def test_sync_handler_runs_in_thread_pool(serve):
    srv = serve(thread_app)
    with httpx.Client(base_url=srv.url) as c:
        s = c.get("/sync").json()
        a = c.get("/async").json()
        assert c.get("/sync-loop").json() == {"loop": False}
    assert s["main"] is False and a["main"] is False
    assert s["ident"] != threading.get_ident()
    assert s["ident"] != a["ident"], "sync handler ran on the event loop thread"
    assert s["name"] != a["name"]


def test_async_handlers_share_the_loop_thread(serve):
    srv = serve(thread_app)
    with httpx.Client(base_url=srv.url) as c:
        idents = {c.get("/async").json()["ident"] for _ in range(5)}
    assert len(idents) == 1


def test_sync_handlers_do_not_block_the_loop(serve):
    srv = serve(thread_app)
    results: dict = {}

    def call(key, path):
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            results[key] = c.get(path)

    with httpx.Client(base_url=srv.url, timeout=10) as probe:
        assert probe.get("/async").status_code == 200  # connection established before timing
        threads = [threading.Thread(target=call, args=(i, "/sync-sleep")) for i in range(3)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(0.1)
        # while three sync handlers sleep, an async handler answers right away
        t_async = time.monotonic()
        r = probe.get("/async")
        async_latency = time.monotonic() - t_async
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
    assert r.status_code == 200
    assert async_latency < 0.3, f"async handler waited {async_latency:.2f}s behind sync handlers"
    assert all(results[i].json() == {"slept": True} for i in range(3))
    assert elapsed < 1.2, f"3 sync 0.5s handlers took {elapsed:.2f}s: not run in parallel"


def test_request_parameter(serve):
    srv = serve(thread_app)
    r = httpx.get(srv.url + "/req?x=5")
    assert r.json() == {"path": "/req", "x": 5, "q": "5"}


def test_response_classes_are_public_and_related():
    for cls in (JSONResponse, HTMLResponse, PlainTextResponse, RedirectResponse):
        assert issubclass(cls, Response)
    assert RedirectResponse("/x").status_code == 307
    assert JSONResponse({"a": 1}).body == b'{"a":1}'
    assert fastrapi.HTTPException is HTTPException
