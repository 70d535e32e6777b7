"""Parity audit, parameter models: ``Annotated[Model, Query()]`` / ``Header()`` / ``Cookie()`` / ``Form()``.

The apps of FastAPI's "Query Parameter Models", "Header Parameter Models", "Cookie Parameter Models" and "Form
Models" pages, plus aliases, optional models, models in dependencies and mixed parameters, run through FastAPI
(its TestClient) and through FastrAPI (a real server); status, content type, the JSON body (422 errors field by
field) and ``app.openapi()`` must be the same.
"""
# NB: no ``from __future__ import annotations``: FastAPI resolves string annotations from module globals only.
import enum
import warnings
from typing import Annotated, Literal, Optional

import httpx
import pytest
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

import fastrapi
from fastrapi.dependencies import build_plan

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


class Kind(str, enum.Enum):
    book = "book"
    film = "film"


class FilterParams(BaseModel):  # the docs' query model
    model_config = {"extra": "forbid"}

    limit: int = Field(100, gt=0, le=100)
    offset: int = Field(0, ge=0)
    order_by: Literal["created_at", "updated_at"] = "created_at"
    tags: list[str] = []


class Search(BaseModel):  # extras ignored (the default), aliases, documentation options
    model_config = ConfigDict(populate_by_name=True)

    q: str = Field(validation_alias=AliasChoices("q", "query"))
    page_size: int = Field(10, alias="page-size", description="items per page")
    kind: Optional[Kind] = None
    old: Optional[str] = Field(None, deprecated=True, examples=["x"])
    ids: Optional[list[int]] = None


class Paging(BaseModel):
    page: int = 1
    size: int = 10


class CommonHeaders(BaseModel):  # the docs' header model
    model_config = {"extra": "forbid"}

    host: str
    save_data: bool
    if_modified_since: Optional[str] = None
    traceparent: Optional[str] = None
    x_tag: list[str] = []


class LooseHeaders(BaseModel):
    save_data: bool = False
    x_tag: list[str] = []
    x_token: Optional[str] = Field(None, alias="X-Auth-Token")


class Cookies(BaseModel):  # the docs' cookie model
    model_config = {"extra": "forbid"}

    session_id: str
    fatebook_tracker: Optional[str] = None
    googall_tracker: Optional[str] = None


class CookieList(BaseModel):
    ids: list[str] = []
    name: Optional[str] = None


class Login(BaseModel):  # the docs' form model
    model_config = {"extra": "forbid"}

    username: str
    password: str


def make_app(fw):
    """The parameter-model app, built with ``fw`` = the fastapi or the fastrapi module."""
    Query, Header, Cookie, Form, Depends = fw.Query, fw.Header, fw.Cookie, fw.Form, fw.Depends
    app = fw.FastAPI(title="Models", version="1")

    @app.get("/items/")
    async def read_items(filter_query: Annotated[FilterParams, Query()]):
        return filter_query

    @app.get("/search")
    def search(s: Annotated[Search, Query()]):
        return s.model_dump()

    @app.get("/paging")
    def paging(p: Annotated[Optional[Paging], Query()] = None):
        return {"p": p.model_dump() if p else None}

    @app.get("/paging-required")
    def paging_required(p: Annotated[Optional[Paging], Query()]):
        return {"p": p.model_dump() if p else None}

    @app.get("/hidden")
    def hidden(p: Annotated[Paging, Query(include_in_schema=False)], q: int = 0):
        return {"p": p.model_dump(), "q": q}

    @app.get("/mixed/{item_id}")
    def mixed(item_id: int, q: int, paging: Annotated[Paging, Query()], x_n: Annotated[int, Header()] = 0,
              after: int = 0):
        return {"item_id": item_id, "q": q, "paging": paging.model_dump(), "x_n": x_n, "after": after}

    def paged(paging: Annotated[Paging, Query()]) -> Paging:
        return paging

    @app.get("/dep")
    def dep(paging: Annotated[Paging, Depends(paged)], extra: Optional[str] = None):
        return {"paging": paging.model_dump(), "extra": extra}

    @app.get("/headers/")
    async def read_headers(headers: Annotated[CommonHeaders, Header()]):
        return headers

    @app.get("/loose-headers")
    def loose_headers(headers: Annotated[LooseHeaders, Header()]):
        return headers.model_dump()

    @app.get("/raw-headers")
    def raw_headers(headers: Annotated[LooseHeaders, Header(convert_underscores=False)]):
        return headers.model_dump()

    @app.get("/cookies/")
    async def read_cookies(cookies: Annotated[Cookies, Cookie()]):
        return cookies

    @app.get("/cookie-list")
    def cookie_list(c: Annotated[CookieList, Cookie()]):
        return c

    @app.get("/paging-factory")
    def paging_factory(p: Annotated[Optional[Paging], Query(default_factory=lambda: Paging(page=9))]):
        return p

    @app.get("/nullable-elsewhere")
    def nullable_elsewhere(h: Annotated[Optional[Paging], Header()] = None,
                           c: Annotated[Optional[Paging], Cookie()] = None):
        return {"h": h, "c": c}

    @app.post("/login/")
    async def login(data: Annotated[Login, Form()]):
        return data

    return app


CASES = [
    # the docs' query model, extra forbidden
    ("GET", "/items/", {}),
    ("GET", "/items/?limit=5&offset=2&order_by=updated_at&tags=a&tags=b", {}),
    ("GET", "/items/?tool=plumbus", {}),
    ("GET", "/items/?limit=0&tool=plumbus&tool=x&z=", {}),
    ("GET", "/items/?order_by=name&offset=-1&limit=x", {}),
    ("GET", "/items/?tags=", {}),
    # aliases, choices, populate_by_name, enums, lists; extras ignored
    ("GET", "/search", {}),
    ("GET", "/search?q=a&page-size=3&kind=book&ids=1&ids=2&other=1", {}),
    ("GET", "/search?query=b&page_size=4", {}),
    ("GET", "/search?q=a&query=b&kind=music&ids=x", {}),
    ("GET", "/search?q=a&page-size=0.5", {}),
    # an optional model: None when none of its names is sent
    ("GET", "/paging", {}),
    ("GET", "/paging?size=3", {}),
    ("GET", "/paging?page=x", {}),
    ("GET", "/paging?other=1", {}),
    ("GET", "/paging-required", {}),
    ("GET", "/paging-required?page=2", {}),
    ("GET", "/hidden?page=3&q=1", {}),
    # mixed with other parameters: errors by location (path, query, header), as declared within one
    ("GET", "/mixed/1?q=2&page=3", {"headers": {"x-n": "4"}}),
    ("GET", "/mixed/x?page=y&after=z", {"headers": {"x-n": "w"}}),
    ("GET", "/mixed/1?after=z&size=y", {}),
    # in a dependency
    ("GET", "/dep?page=2&extra=e", {}),
    ("GET", "/dep?page=no", {}),
    # the docs' header model, extra forbidden (every header the client sends is checked)
    ("GET", "/headers/", {"headers": {"save-data": "true", "x-tag": "a"}}),
    ("GET", "/headers/", {}),
    # headers: underscores converted, repeated values, aliases; convert_underscores=False
    ("GET", "/loose-headers", {"headers": [("save-data", "1"), ("x-tag", "a"), ("x-tag", "b"), ("x-auth-token", "t")]}),
    ("GET", "/loose-headers", {"headers": [("save_data", "1"), ("x_tag", "a")]}),
    ("GET", "/loose-headers", {"headers": {"save-data": "maybe"}}),
    ("GET", "/raw-headers", {"headers": [("save_data", "1"), ("x_tag", "a"), ("x_tag", "b"), ("save-data", "0")]}),
    ("GET", "/raw-headers", {"headers": {"save_data": "maybe"}}),
    # the docs' cookie model, extra forbidden
    ("GET", "/cookies/", {"headers": {"cookie": "session_id=123; fatebook_tracker=f"}}),
    ("GET", "/cookies/", {"headers": {"cookie": "session_id=123; santa_tracker=good-list-please"}}),
    ("GET", "/cookies/", {}),
    # a list field in a cookie model (one value: an empty one counts as not sent); nullable models elsewhere
    ("GET", "/cookie-list", {"headers": {"cookie": "ids=; name=x"}}),
    ("GET", "/cookie-list", {"headers": {"cookie": "ids=a"}}),
    ("GET", "/paging-factory", {}),
    ("GET", "/paging-factory?page=2", {}),
    ("GET", "/nullable-elsewhere", {"headers": {"page": "3", "cookie": "page=x"}}),
    ("GET", "/nullable-elsewhere", {"headers": {"size": "3"}}),
    ("GET", "/nullable-elsewhere", {}),
    # the docs' form model, extra forbidden
    ("POST", "/login/", {"data": {"username": "u", "password": "p"}}),
    ("POST", "/login/", {"data": {"username": "u", "password": "p", "extra": "x"}}),
    ("POST", "/login/", {"data": {"username": "u"}}),
]

#: what FastAPI's TestClient sends on its own, sent to the real server too (a header model sees every header)
CLIENT_HEADERS = {"host": "testserver", "user-agent": "testclient"}


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
    with httpx.Client(base_url=srv.url, timeout=5, headers={"user-agent": "testclient"}) as c:
        yield c


def _send(c, method, url, kwargs, extra_headers=None):
    kwargs = dict(kwargs)
    headers = kwargs.pop("headers", {})
    headers = list(headers.items()) if isinstance(headers, dict) else list(headers)
    return c.request(method, url, headers=[*(extra_headers or {}).items(), *headers], **kwargs)


@pytest.mark.parametrize("method,url,kwargs", CASES, ids=[f"{m} {u} #{i}" for i, (m, u, _) in enumerate(CASES)])
def test_same_as_fastapi(fastapi_client, client, method, url, kwargs):
    expected = summary(_send(fastapi_client, method, url, kwargs))
    actual = summary(_send(client, method, url, kwargs, {"host": "testserver"}))
    assert actual["status"] == expected["status"], (actual, expected)
    assert actual == expected


def test_openapi_same_as_fastapi():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = make_app(fastapi).openapi()
    actual = make_app(fastrapi).openapi()
    for path in expected["paths"]:
        assert actual["paths"][path] == expected["paths"][path], path
    assert actual == expected


def test_each_field_is_a_documented_parameter():
    """Explicit expectations: the fields (not the model) are the parameters, named as the request sends them."""
    doc = make_app(fastrapi).openapi()
    params = doc["paths"]["/search"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in params] == [
        ("q", "query", True), ("page-size", "query", False), ("kind", "query", False), ("old", "query", False),
        ("ids", "query", False)]
    assert params[1]["description"] == "items per page" and params[3]["deprecated"] is True
    headers = doc["paths"]["/loose-headers"]["get"]["parameters"]
    assert [p["name"] for p in headers] == ["save-data", "x-tag", "X-Auth-Token"]
    assert [p["name"] for p in doc["paths"]["/raw-headers"]["get"]["parameters"]] == ["save_data", "x_tag",
                                                                                      "X-Auth-Token"]
    assert all(not p["required"] for p in doc["paths"]["/paging"]["get"]["parameters"])
    assert [p["name"] for p in doc["paths"]["/hidden"]["get"]["parameters"]] == ["q"]
    assert "Search" not in doc["components"]["schemas"] and "Kind" in doc["components"]["schemas"]


def test_values_arrive_as_the_model(client):
    r = client.get("/items/?limit=5&tags=a&tags=b")
    assert r.status_code == 200
    assert r.json() == {"limit": 5, "offset": 0, "order_by": "created_at", "tags": ["a", "b"]}
    r = client.get("/items/?tool=plumbus")
    assert r.status_code == 422
    assert r.json()["detail"] == [{"type": "extra_forbidden", "loc": ["query", "tool"],
                                   "msg": "Extra inputs are not permitted", "input": "plumbus"}]
    r = client.get("/loose-headers", headers=[("x-tag", "a"), ("x-tag", "b"), ("save-data", "yes")])
    assert r.json() == {"save_data": True, "x_tag": ["a", "b"], "x_token": None}
    r = client.get("/cookies/", headers={"cookie": "session_id=1; santa_tracker=x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["cookie", "santa_tracker"]


def test_a_model_is_validated_once_per_request(client, serve, monkeypatch):
    """One pydantic call per model per request: the validator built at registration, called once."""
    plan = build_plan(lambda p: None, set())  # a plan without models: no model loop at all
    assert plan.located is None
    app = fastrapi.FastAPI()
    calls = []

    @app.get("/m")
    def m(f: Annotated[FilterParams, fastrapi.Query()]):
        return {"limit": f.limit}

    route = app.router.static["/m"]["GET"]
    spec = route.plan.located[0].model
    validate = spec.validate

    def counting(value):
        calls.append(value)
        return validate(value)

    spec.validate = counting
    srv = serve(app)
    r = httpx.get(srv.url + "/m?limit=7&offset=1&tags=a&tags=b", timeout=5)
    assert r.json() == {"limit": 7}
    assert calls == [{"limit": "7", "offset": "1", "tags": ["a", "b"]}]
