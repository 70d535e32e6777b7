"""Parity of request-body failures and of what a RequestValidationError handler sees, against FastAPI.

The same app runs on FastAPI (TestClient) and on FastrAPI (real server). Its validation handler echoes
``exc.body`` (and its type), ``exc.errors()`` and the first line of ``str(exc)``, so the comparison covers:
the body FastAPI hands over (parsed JSON, raw bytes of another media type, None without a body parameter,
the document text of invalid JSON), 400 for a body that cannot be decoded, the content-type rules of
FastAPI 0.165, a malformed body reported before dependencies run, ``default_factory`` called per request,
and raw ``ctx`` values (Decimal limits) encoded the way FastAPI's ``jsonable_encoder`` does.
"""
# NB: no ``from __future__ import annotations``: FastAPI resolves string annotations from module globals only.
import warnings
from decimal import Decimal
from typing import Annotated, Optional

import httpx
import pytest
from pydantic import BaseModel

import fastrapi
import fastrapi.encoders
import fastrapi.exceptions
import fastrapi.responses

fastapi = pytest.importorskip("fastapi")
import fastapi.encoders  # noqa: E402
import fastapi.exceptions  # noqa: E402
import fastapi.responses  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402


class Item(BaseModel):
    name: str
    price: float


def make_app(fw, responses, encoders, echo_errors=True):
    """``echo_errors``: a RequestValidationError handler that reports what it was given; else FastAPI's 422."""
    app = fw.FastAPI()

    if echo_errors:
        @app.exception_handler(fw.exceptions.RequestValidationError)
        async def validation(request, exc):
            body = exc.body  # a form's FormData compared by its items (jsonable_encoder differs there, see report)
            return responses.JSONResponse(
                {"body": encoders.jsonable_encoder(body) if not hasattr(body, "multi_items") else sorted(body.multi_items()),
                 "type": type(body).__name__, "errors": encoders.jsonable_encoder(exc.errors()),
                 "str": str(exc).splitlines()[0]},
                status_code=422)

    def auth(x_token: Optional[str] = fw.Header(None)):
        if x_token != "ok":
            raise fw.HTTPException(401, "no token")

    def body_dep(extra: int = fw.Body(embed=True)):
        return extra

    @app.post("/form")
    def form(a: int = fw.Form(), b: str = fw.Form()):
        return {"a": a, "b": b}

    @app.get("/nobody")
    def nobody(n: int):
        return {"n": n}

    @app.post("/item")
    def item(it: Item):
        return it

    @app.post("/auth-item", dependencies=[fw.Depends(auth)])
    def auth_item(it: Item):
        return it

    @app.post("/dep-body")
    def dep_body(e: int = fw.Depends(body_dep), q: int = 0):
        return {"e": e}

    @app.post("/factory")
    def factory(tags: list[str] = fw.Body(default_factory=list, embed=True),
                n: int = fw.Query(default_factory=lambda: 2)):
        tags.append("x")  # a shared default would grow from request to request
        return {"tags": tags, "n": n}

    @app.post("/limits")
    def limits(d: Annotated[Decimal, fw.Body(ge=0, embed=True)],
               m: Annotated[int, fw.Query(multiple_of=3)] = 3,
               s: Annotated[Optional[str], fw.Query(max_length=2)] = None):
        return {"d": str(d)}

    return app


JSON = {"content-type": "application/json"}

CASES = [
    ("POST", "/form", {"data": {"a": "x", "b": "y"}}),
    ("POST", "/form", {"data": {"a": "1"}}),
    ("GET", "/nobody?n=x", {"content": b'{"a": 1}', "headers": JSON}),
    ("POST", "/item", {"json": {"name": "n"}}),
    ("POST", "/item", {"json": [1, 2]}),
    ("POST", "/item", {"content": b"null", "headers": JSON}),
    ("POST", "/item", {}),
    ("POST", "/item", {"content": b'{"name": "n"}', "headers": {"content-type": "text/plain"}}),
    ("POST", "/item", {"content": b'{"name": "n", "price": 1}'}),
    ("POST", "/item", {"content": b'{"name": "n", "price": 1}', "headers": {"content-type": "Application/JSON"}}),
    ("POST", "/item", {"content": b'{"name": "n", "price": 1}',
                       "headers": {"content-type": "application/merge-patch+json"}}),
    ("POST", "/item", {"content": b'\xef\xbb\xbf{"name": "n", "price": 1}', "headers": JSON}),
    ("POST", "/item", {"content": b'{"name": "n", "price": 100000000000000000000000000}', "headers": JSON}),
    ("POST", "/item", {"content": b'{"name": ', "headers": JSON}),
    ("POST", "/item", {"content": b"   ", "headers": JSON}),
    ("POST", "/item", {"content": b'{"name": "\xff", "price": 1}', "headers": JSON}),
    ("POST", "/item", {"content": b"[" * 100000, "headers": JSON}),
    ("POST", "/auth-item", {"content": b'{"name": ', "headers": JSON}),
    ("POST", "/auth-item", {"content": b'{"name": "\xff"}', "headers": JSON}),
    ("POST", "/auth-item", {"json": {"name": "n"}}),
    ("POST", "/auth-item", {"json": {"name": "n"}, "headers": {"x-token": "ok"}}),
    ("POST", "/dep-body?q=x", {"json": {"extra": "y"}}),
    ("POST", "/dep-body", {"content": b'{"extra": ', "headers": JSON}),
    ("POST", "/factory", {}),
    ("POST", "/factory", {}),
    ("POST", "/factory?n=5", {"json": {"tags": ["a"]}}),
    ("POST", "/limits?m=4&s=abc", {"json": {"d": -1}}),
    ("POST", "/limits", {"json": {"d": "1.5"}}),
]


def summary(r):
    ctype = r.headers.get("content-type")
    out = {"status": r.status_code, "content-type": ctype}
    if ctype and ctype.startswith("application/json"):
        out["json"] = r.json()
    else:
        out["body"] = r.text
    return out


@pytest.fixture(scope="module", params=[True, False], ids=["handler", "default-422"])
def pair(request):
    echo = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = TestClient(make_app(fastapi, fastapi.responses, fastapi.encoders, echo), raise_server_exceptions=False)
    from fastrapi.server import Server

    srv = Server(make_app(fastrapi, fastrapi.responses, fastrapi.encoders, echo), host="127.0.0.1", port=0)
    srv.start_in_thread()
    try:
        with client, httpx.Client(base_url=srv.url, timeout=10) as ours:
            yield client, ours
    finally:
        srv.stop()


@pytest.mark.parametrize("method,url,kwargs", CASES, ids=[f"{m} {u} #{i}" for i, (m, u, _) in enumerate(CASES)])
def test_same_as_fastapi(pair, method, url, kwargs):
    theirs, ours = pair
    expected = summary(theirs.request(method, url, **kwargs))
    actual = summary(ours.request(method, url, **kwargs))
    assert actual["status"] == expected["status"], (actual, expected)
    assert actual == expected


def test_default_factory_is_called_per_request(serve):
    srv = serve(make_app(fastrapi, fastrapi.responses, fastrapi.encoders))
    for _ in range(3):
        r = httpx.post(srv.url + "/factory")
        assert r.json() == {"tags": ["x"], "n": 2}


def test_errors_keep_raw_values_for_handlers():
    """``exc.errors()`` as FastAPI gives it: tuple locs, raw ctx (a Decimal), bytes input kept as bytes."""
    from fastrapi.dependencies import build_plan, solve
    from fastrapi.requests import Request

    def handler(d: Annotated[Decimal, fastrapi.Body(ge=0, embed=True)], it: Item = fastrapi.Body()):
        return None

    def raw(it: Item):
        return None

    request = Request("POST", "/", b"/", b"", [(b"content-type", b"application/json")], b'{"d": -1, "it": {}}', None)
    with pytest.raises(fastrapi.RequestValidationError) as info:
        solve(build_plan(handler, set()), request)
    errors = info.value.errors()
    assert errors[0]["loc"] == ("body", "d") and errors[0]["ctx"] == {"ge": Decimal("0")}
    assert info.value.body == {"d": -1, "it": {}}
    assert str(info.value).startswith("3 validation errors:\n  {'type': 'greater_than_equal', 'loc': ('body', 'd')")

    request = Request("POST", "/", b"/", b"", [(b"content-type", b"text/plain")], b"abc", None)
    with pytest.raises(fastrapi.RequestValidationError) as info:
        solve(build_plan(raw, set()), request)
    assert info.value.body == b"abc" and info.value.errors()[0]["input"] == b"abc"
    assert info.value.errors()[0]["type"] == "model_attributes_type"
