"""Route options as in FastAPI: response_model_* serialization options, response classes and their
precedence (route > router > include > app), and APIRouter/include_router options combined across levels.

Each app is built twice from the same code (``fw`` = the fastapi or the fastrapi module); FastAPI answers
through its TestClient, FastrAPI through the real server and httpx, and the answers must agree.
"""
from __future__ import annotations

import warnings
from typing import Optional

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

import fastrapi
import fastrapi.responses

fastapi = pytest.importorskip("fastapi")
import fastapi.responses  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402


class Address(BaseModel):
    city: str
    zip_code: Optional[str] = Field(None, alias="zipCode")


class User(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    name: str = Field(alias="userName")
    email: Optional[str] = None
    tags: list[str] = []
    address: Optional[Address] = None
    password: str = "secret"


class Owner(BaseModel):
    user: User
    friends: list[User] = []


def route_at(app, path):
    """The route of ``app`` at ``path`` (the app may have routes of its own, such as the docs)."""
    return next(r for r in app.routes if r.path == path)


def own_routes(app):
    """The APIRoutes the test declared: without the ones every app has (/openapi.json, /docs...)."""
    builtin = {(r.path, r.name) for r in fastrapi.FastrAPI().routes}
    return [r for r in app.routes if isinstance(r, fastrapi.routing.APIRoute) and (r.path, r.name) not in builtin]


USER = {"id": 1, "userName": "ann", "email": None, "address": {"city": "Oslo"}}


def make_app(fw):
    """Routes that exercise every response-shaping option."""
    app = fw.FastAPI()

    @app.get("/default", response_model=User)
    def default():
        return USER

    @app.get("/by-name", response_model=User, response_model_by_alias=False)
    def by_name():
        return USER

    @app.get("/include", response_model=User, response_model_include={"id", "name"})
    def include():
        return USER

    @app.get("/exclude", response_model=User, response_model_exclude={"password", "tags"})
    def exclude():
        return USER

    @app.get("/nested-exclude", response_model=Owner,
             response_model_exclude={"user": {"password"}, "friends": {"__all__": {"address", "password"}}})
    def nested_exclude():
        return {"user": USER, "friends": [USER, {**USER, "id": 2}]}

    @app.get("/unset", response_model=User, response_model_exclude_unset=True)
    def unset():
        return {"id": 3, "userName": "bob"}

    @app.get("/unset-model", response_model=User, response_model_exclude_unset=True)
    def unset_model():
        return User(id=4, userName="cy", email=None)

    @app.get("/defaults", response_model=User, response_model_exclude_defaults=True)
    def defaults():
        return {"id": 5, "userName": "di", "tags": [], "password": "secret", "email": "d@x"}

    @app.get("/none", response_model=User, response_model_exclude_none=True)
    def none():
        return USER

    @app.get("/list", response_model=list[User], response_model_exclude_none=True,
             response_model_exclude={"password"})
    def users():
        return [USER, {**USER, "id": 2, "email": "b@x"}]

    @app.get("/dict-through-model", response_model=User)
    def dict_through_model():
        return {**USER, "extra": "dropped", "password": "pw"}

    @app.get("/annotation", response_model_exclude_unset=True, response_model_by_alias=False)
    def annotation() -> User:
        return {"id": 6, "userName": "ed", "extra": 1}  # type: ignore[return-value]

    @app.get("/annotation-off", response_model=None)
    def annotation_off() -> User:
        return {"id": 7, "extra": "kept"}  # type: ignore[return-value]

    @app.get("/invalid", response_model=User)
    def invalid():
        return {"id": "not a number"}

    @app.post("/created", response_model=User, status_code=201, response_model_include={"id"})
    def created():
        return USER

    @app.get("/html", response_class=fw.responses.HTMLResponse)
    def html():
        return "<b>hi</b>"

    @app.get("/text", response_class=fw.responses.PlainTextResponse, status_code=202)
    async def text():
        return "plain"

    @app.get("/html-model", response_class=fw.responses.PlainTextResponse, response_model=str)
    def text_model():
        return "validated"

    @app.api_route("/multi", methods=["GET", "POST"], response_model=User, response_model_include={"name"})
    def multi():
        return USER

    def added():
        return USER

    app.add_api_route("/added", added, methods=["PUT"], response_model=User, response_model_exclude_none=True,
                      response_model_by_alias=False)

    @app.get("/model-return")
    def model_return():
        return User(id=8, userName="fay")

    @app.get("/model-return-201", status_code=201)
    async def model_return_201():
        return User(id=9, userName="gus")

    @app.get("/models-in-data")
    def models_in_data():
        return {"users": [User(id=10, userName="hal")], "one": User(id=11, userName="ivy")}

    router = fw.APIRouter(prefix="/r")

    @router.get("/user", response_model=User, response_model_exclude={"address"}, response_model_exclude_none=True)
    def router_user():
        return USER

    app.include_router(router)
    return app


CASES = [
    ("GET", "/default"), ("GET", "/by-name"), ("GET", "/include"), ("GET", "/exclude"),
    ("GET", "/nested-exclude"), ("GET", "/unset"), ("GET", "/unset-model"), ("GET", "/defaults"),
    ("GET", "/none"), ("GET", "/list"), ("GET", "/dict-through-model"), ("GET", "/annotation"),
    ("GET", "/annotation-off"), ("POST", "/created"), ("GET", "/html"), ("GET", "/text"),
    ("GET", "/html-model"), ("GET", "/multi"), ("POST", "/multi"), ("PUT", "/added"), ("GET", "/r/user"),
    ("GET", "/model-return"), ("GET", "/model-return-201"), ("GET", "/models-in-data"),
]


def summary(r):
    ctype = r.headers.get("content-type")
    body = r.json() if ctype == "application/json" else r.text
    return {"status": r.status_code, "content-type": ctype, "body": body}


def test_serialization_options_same_as_fastapi(serve):
    with TestClient(make_app(fastapi)) as fa:
        expected = [summary(fa.request(m, u)) for m, u in CASES]
    srv = serve(make_app(fastrapi))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        actual = [summary(c.request(m, u)) for m, u in CASES]
    for (m, u), e, a in zip(CASES, expected, actual):
        assert a == e, f"{m} {u}"


def test_response_validation_failure_is_a_500(serve):
    with TestClient(make_app(fastapi), raise_server_exceptions=False) as fa:
        expected = fa.get("/invalid")
    srv = serve(make_app(fastrapi))
    actual = httpx.get(srv.url + "/invalid")
    assert actual.status_code == expected.status_code == 500


def test_byte_exact_json_for_models(serve):
    """The default JSON answer is byte for byte FastAPI's for models, nested models and lists of models."""
    with TestClient(make_app(fastapi)) as fa:
        expected = [fa.get(u).content for u in ("/default", "/nested-exclude", "/list", "/unset")]
    srv = serve(make_app(fastrapi))
    actual = [httpx.get(srv.url + u).content for u in ("/default", "/nested-exclude", "/list", "/unset")]
    assert actual == expected


def make_class_app(fw, app_class=None):
    """default_response_class at the app, router and include levels, and on a route."""
    r = fw.responses
    app = fw.FastAPI(default_response_class=app_class) if app_class else fw.FastAPI()

    @app.get("/app")
    def at_app():
        return "<p>app</p>"

    @app.get("/app-route", response_class=r.JSONResponse)
    def at_app_route():
        return {"route": "json"}

    plain_router = fw.APIRouter(default_response_class=r.PlainTextResponse)

    @plain_router.get("/router")
    def at_router():
        return "router text"

    @plain_router.get("/router-route", response_class=r.HTMLResponse)
    def at_router_route():
        return "<i>route wins</i>"

    app.include_router(plain_router, prefix="/p", default_response_class=r.HTMLResponse)

    bare = fw.APIRouter()

    @bare.get("/included")
    def at_include():
        return "include text"

    app.include_router(bare, prefix="/i", default_response_class=r.PlainTextResponse)
    app.include_router(bare, prefix="/a")  # the app's default

    outer = fw.APIRouter(default_response_class=r.PlainTextResponse)
    inner = fw.APIRouter()

    @inner.get("/nested")
    def nested():
        return "nested text"

    outer.include_router(inner, prefix="/in")
    app.include_router(outer, prefix="/out", default_response_class=r.HTMLResponse)
    return app


CLASS_CASES = ["/app", "/app-route", "/p/router", "/p/router-route", "/i/included", "/a/included", "/out/in/nested"]


@pytest.mark.parametrize("app_class", [None, "HTMLResponse", "ORJSONResponse", "PlainTextResponse"])
def test_default_response_class_precedence(serve, app_class):
    def cls(fw):
        return getattr(fw.responses, app_class) if app_class else None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI deprecates ORJSONResponse
        with TestClient(make_class_app(fastapi, cls(fastapi))) as fa:
            expected = [summary(fa.get(u)) for u in CLASS_CASES]
    srv = serve(make_class_app(fastrapi, cls(fastrapi)))
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        actual = [summary(c.get(u)) for u in CLASS_CASES]
    for u, e, a in zip(CLASS_CASES, expected, actual):
        assert a == e, u


def test_orjson_default_keeps_the_fast_path():
    """``default_response_class=ORJSONResponse`` is the default encoding: parameterless routes stay fast."""
    app = fastrapi.FastrAPI(default_response_class=fastrapi.ORJSONResponse)

    @app.get("/fast")
    async def fast():
        return {"ok": True}

    route = route_at(app, "/fast")
    assert route.call_fast is not None and route.call_fast() == b'{"ok":true}'

    html = fastrapi.FastrAPI(default_response_class=fastrapi.HTMLResponse)

    @html.get("/page")
    async def page():
        return "<p>x</p>"

    assert route_at(html, "/page").call_fast().body == b"<p>x</p>"


def make_options_app(fw):
    """Metadata options at every level: stored on the routes as FastAPI stores them."""
    def custom_id(route):
        return f"{route.tags[0] if route.tags else 'none'}-{route.name}"

    app = fw.FastAPI(responses={500: {"description": "app error"}})
    router = fw.APIRouter(prefix="/items", tags=["items"], responses={404: {"description": "router nf"}},
                          deprecated=None, include_in_schema=True)

    @router.get("/{item_id}", tags=["read"], summary="Read one", response_description="The item",
                responses={404: {"description": "route nf"}, 418: {"description": "teapot"}},
                operation_id="read_item_op", openapi_extra={"x-extra": 1}, name="read_item")
    def read_item(item_id: int):
        """Read an item.

        Long description.\fNot shown."""
        return {"item_id": item_id}

    @router.post("/", deprecated=True, include_in_schema=False, status_code=201)
    def create_item():
        return {}

    @router.delete("/{item_id}", generate_unique_id_function=custom_id, description="Explicit description")
    def delete_item(item_id: int):
        """Docstring not used."""
        return None

    hidden = fw.APIRouter(prefix="/hidden", deprecated=True, include_in_schema=False,
                          generate_unique_id_function=custom_id)

    @hidden.put("/thing")
    def put_thing():
        return 1

    app.include_router(router, prefix="/v1", tags=["v1"], responses={403: {"description": "include forbidden"}})
    app.include_router(hidden, deprecated=None, tags=["h"])

    @app.get("/plain")
    def plain():
        return 1

    return app


def route_facts(route):
    methods = sorted(m for m in route.methods if m != "HEAD")
    return {
        "path": route.path, "methods": methods, "name": route.name, "tags": list(route.tags),
        "summary": route.summary, "description": route.description,
        "response_description": route.response_description, "responses": route.responses,
        "deprecated": route.deprecated, "include_in_schema": route.include_in_schema,
        "operation_id": route.operation_id, "openapi_extra": route.openapi_extra, "unique_id": route.unique_id,
        "status_code": route.status_code,
    }


def fastapi_route_facts(app):
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazy included routers
        routes = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    return [route_facts(r) for r in routes if hasattr(r, "response_description")]


def test_route_metadata_same_as_fastapi():
    expected = fastapi_route_facts(make_options_app(fastapi))
    app = make_options_app(fastrapi)
    actual = [route_facts(r) for r in own_routes(app)]
    assert sorted(actual, key=repr) == sorted(expected, key=repr)


def test_route_options_are_stored_with_fastapi_names():
    app = fastrapi.FastrAPI()
    cb = fastrapi.APIRouter()

    @app.get("/o", response_model=User, response_model_include={"id"}, response_model_exclude={"email"},
             response_model_by_alias=False, response_model_exclude_unset=True, response_model_exclude_defaults=True,
             response_model_exclude_none=True, callbacks=cb.routes, openapi_extra={"a": 1})
    def o():
        return USER

    route = route_at(app, "/o")
    assert route.response_model is User
    assert route.response_model_include == {"id"} and route.response_model_exclude == {"email"}
    assert route.response_model_by_alias is False
    assert route.response_model_exclude_unset and route.response_model_exclude_defaults
    assert route.response_model_exclude_none
    assert route.callbacks == [] and route.openapi_extra == {"a": 1}
    assert route.response_class == fastrapi.datastructures.Default(fastrapi.JSONResponse)
    assert route.status_code is None and route.unique_id == "o_o_get"


def test_unknown_route_option_is_a_type_error():
    app = fastrapi.FastrAPI()
    with pytest.raises(TypeError):
        app.get("/x", no_such_option=1)(lambda: 1)
    router = fastrapi.APIRouter()
    with pytest.raises(TypeError):
        router.get("/x", no_such_option=1)(lambda: 1)


def test_body_status_with_response_model_is_rejected_like_fastapi():
    for fw in (fastapi, fastrapi):
        app = fw.FastAPI()
        with pytest.raises(AssertionError):
            @app.get("/x", status_code=204)
            def x() -> User: ...


def test_empty_prefix_and_path():
    router = fastrapi.APIRouter()

    @router.get("")
    def root():
        return 1

    with pytest.raises(fastrapi.exceptions.FastAPIError, match=r"Prefix and path cannot be both empty \(path operation: root\)"):
        fastrapi.FastrAPI().include_router(router)
    app = fastrapi.FastrAPI()
    app.include_router(router, prefix="/root")
    assert [r.path for r in own_routes(app)] == ["/root"]


def test_router_prefix_errors_are_assertions_too():
    with pytest.raises(AssertionError):
        fastrapi.APIRouter(prefix="/x/")
    with pytest.raises(AssertionError):
        fastrapi.FastrAPI().include_router(fastrapi.APIRouter(), prefix="x")


def test_router_routes_are_built_with_the_prefix():
    router = fastrapi.APIRouter(prefix="/r", tags=["t"])

    @router.get("/a/{x:int}", tags=["a"])
    def a(x: int):
        return x

    @router.websocket("/ws")
    async def ws(websocket):
        pass

    routes = router.routes
    assert [r.path for r in routes] == ["/r/a/{x:int}", "/r/ws"]
    assert routes[0].tags == ["t", "a"]


def test_dict_with_non_string_keys_same_as_fastapi(serve):
    """orjson refuses int keys: such a result goes through jsonable_encoder, as FastAPI encodes it."""

    def make(fw):
        app = fw.FastAPI()

        @app.get("/fast")
        async def fast():
            return {1: "one", 2.5: "x", None: "none"}

        @app.get("/inline/{n}")
        async def inline(n: int):
            return {n: [n], "s": {n: True}}

        return app

    paths = ["/fast", "/inline/7"]
    with TestClient(make(fastapi)) as client:
        expected = [(r.status_code, r.json()) for r in map(client.get, paths)]
    srv = serve(make(fastrapi))
    actual = [(r.status_code, r.json()) for r in (httpx.get(srv.url + p) for p in paths)]
    assert actual == expected
    assert actual[0] == (200, {"1": "one", "2.5": "x", "null": "none"})
