"""The OpenAPI document: the same app written against FastAPI and against FastrAPI must give the same document
(compared as dicts), the document must be valid OpenAPI 3.1, and it is served at /openapi.json and at
/api-docs/openapi.json (both off with openapi_url=None), cached by app.openapi() and overridable."""
import datetime
import enum
import importlib
import uuid
import warnings
from typing import Annotated, Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field, HttpUrl, computed_field

fastapi = pytest.importorskip("fastapi")
openapi_spec_validator = pytest.importorskip("openapi_spec_validator")
from fastapi.testclient import TestClient  # noqa: E402

import fastrapi  # noqa: E402
import fastrapi.responses  # noqa: E402
from fastrapi.openapi.utils import get_openapi  # noqa: E402

import fastapi.responses  # noqa: E402,F811


# ---------------------------------------------------------------- models
class Image(BaseModel):
    url: HttpUrl
    name: str


class Item(BaseModel):
    """An item for sale.\finternal note"""

    name: str
    description: str | None = Field(default=None, title="The description", max_length=300)
    price: float = Field(gt=0, description="Must be positive")
    tax: float | None = None
    tags: set[str] = set()
    images: list[Image] | None = None


class ItemOut(BaseModel):
    name: str
    price: float

    @computed_field
    @property
    def price_with_tax(self) -> float:
        return self.price * 1.2


class User(BaseModel):
    username: str
    full_name: str | None = None


class Message(BaseModel):
    message: str


class ModelName(str, enum.Enum):
    alexnet = "alexnet"
    resnet = "resnet"


class Offer(BaseModel):
    name: str
    items: list[Item]
    kind: Literal["a", "b"] = "a"


class Token(BaseModel):
    access_token: str
    token_type: str


class Rect(BaseModel):
    w: float
    h: float

    @computed_field
    @property
    def area(self) -> float:
        return self.w * self.h


class Opt(BaseModel):
    name: str
    note: str | None = None


class FormIn(BaseModel):
    username: str
    remember: bool = False


class Event(BaseModel):
    kind: str
    payload: dict[str, Any] = {}


class Color(enum.Enum):
    red = "red"
    blue = "blue"


# ---------------------------------------------------------------- apps (fw: the fastapi or the fastrapi module)
def make_shop(fw, **app_kw):
    """The tutorial-style app: params of every kind, bodies, nested models, response models, tags, OAuth2 and
    API-key security, forms and uploads, a router with prefix/dependencies/responses, hidden and extra routes."""
    sec = importlib.import_module(fw.__name__ + ".security")
    responses = importlib.import_module(fw.__name__ + ".responses")
    oauth2_scheme = sec.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read me", "items": "Read items"})
    api_key = sec.APIKeyHeader(name="X-API-Key", description="the key")
    basic = sec.HTTPBasic()
    app = fw.FastAPI(
        title="Shop", version="2.5.0", description="The **shop** API", summary="Shop summary",
        terms_of_service="http://example.com/terms/",
        contact={"name": "Deadpool", "url": "http://x-force.example.com/contact/", "email": "dp@x-force.example.com"},
        license_info={"name": "Apache 2.0", "identifier": "Apache-2.0"},
        openapi_tags=[{"name": "items", "description": "Manage items"},
                      {"name": "users", "externalDocs": {"description": "more", "url": "https://example.com/"}}],
        servers=[{"url": "https://stag.example.com", "description": "Staging"}],
        **app_kw,
    )

    async def common(q: str | None = None, skip: int = 0, limit: int = 100):
        return {"q": q, "skip": skip, "limit": limit}

    async def get_current_user(token: Annotated[str, fw.Security(oauth2_scheme, scopes=["me"])]):
        return User(username=token)

    async def verify_key(x_api_key: str = fw.Depends(api_key)):
        return x_api_key

    async def verify_token(x_token: Annotated[str, fw.Header()]):
        return x_token

    @app.get("/")
    async def root():
        """Say hello."""
        return {"message": "Hello World"}

    @app.get("/items/{item_id}", tags=["items"], response_model=Item,
             responses={404: {"model": Message, "description": "Not found"}})
    async def read_item(
        item_id: Annotated[int, fw.Path(title="The ID", ge=1, le=1000)],
        q: Annotated[str | None, fw.Query(alias="item-query", min_length=3, max_length=50, pattern="^fixedquery$",
                                          deprecated=True)] = None,
        size: Annotated[float, fw.Query(gt=0, lt=10.5)] = 1.0,
        hidden: Annotated[str | None, fw.Query(include_in_schema=False)] = None,
        user_agent: Annotated[str | None, fw.Header()] = None,
        ads_id: Annotated[str | None, fw.Cookie()] = None,
        x_token: list[str] | None = fw.Header(default=None),
    ):
        return {"name": "x", "price": 1}

    @app.get("/items/", tags=["items"], summary="List items", response_model=list[Item])
    async def read_items(commons: Annotated[dict, fw.Depends(common)],
                         qs: Annotated[list[str] | None, fw.Query(description="many")] = None):
        return []

    @app.post("/items/", tags=["items"], status_code=201, response_model=Item, response_description="The created item")
    async def create_item(item: Item):
        return item

    @app.put("/items/{item_id}", tags=["items"])
    async def update_item(item_id: uuid.UUID, item: Item, user: User, importance: Annotated[int, fw.Body(gt=0)],
                          q: str | None = None):
        return {}

    @app.patch("/items/{item_id}/embed", tags=["items"], deprecated=True)
    async def embed_item(item_id: int, item: Annotated[Item, fw.Body(embed=True)]) -> ItemOut:
        return ItemOut(name="x", price=1)

    @app.get("/models/{model_name}")
    async def get_model(model_name: ModelName, when: datetime.date | None = None):
        return {}

    @app.post("/offers/", response_model=Offer, operation_id="make_offer")
    async def create_offer(offer: Offer) -> Any:
        return offer

    @app.get("/users/me", tags=["users"])
    async def read_me(current_user: Annotated[User, fw.Depends(get_current_user)]) -> User:
        return current_user

    @app.get("/users/me/items", tags=["users"])
    async def read_my_items(current_user: Annotated[User, fw.Security(get_current_user, scopes=["items"])],
                            key: str = fw.Depends(verify_key)):
        return []

    @app.get("/basic")
    def basic_auth(credentials: Annotated[Any, fw.Depends(basic)]):
        return {}

    @app.post("/token", response_model=Token)
    async def login(form_data: Annotated[sec.OAuth2PasswordRequestForm, fw.Depends()]):
        return {"access_token": form_data.username, "token_type": "bearer"}

    @app.post("/files/")
    async def create_file(file: Annotated[bytes, fw.File(description="A file")], token: Annotated[str, fw.Form()]):
        return {}

    @app.post("/uploadfiles/")
    async def create_upload_files(files: list[fw.UploadFile], note: str | None = fw.Form(None)):
        return {}

    @app.post("/uploadfile/")
    async def create_upload_file(file: fw.UploadFile):
        return {}

    @app.post("/login/")
    async def form_login(username: Annotated[str, fw.Form()], password: Annotated[str, fw.Form()]):
        return {}

    @app.get("/hidden", include_in_schema=False)
    async def hidden_route():
        return {}

    @app.get("/extra", openapi_extra={"x-aperture-labs-portal": "blue",
                                      "parameters": [{"name": "extra", "in": "query", "schema": {"type": "string"}}]})
    async def extra():
        return {}

    @app.get("/html", response_class=responses.HTMLResponse)
    async def html():
        return "<p>hi</p>"

    @app.delete("/items/{item_id}", status_code=204, tags=["items"])
    async def delete_item(item_id: int):
        return None

    @app.get("/redirect", response_class=responses.RedirectResponse)
    async def redirect():
        return responses.RedirectResponse("/")

    router = fw.APIRouter(prefix="/admin", tags=["admin"], dependencies=[fw.Depends(verify_token)],
                          responses={418: {"description": "I'm a teapot"}})

    @router.get("/stats", responses={403: {"description": "Forbidden"}, "default": {"model": Message}})
    async def stats(verbose: bool = False):
        return {}

    @router.post("/reset/{what}")
    async def reset(what: str, confirm: Annotated[bool, fw.Body(embed=True)] = False, key: str = fw.Depends(verify_key)):
        return {}

    app.include_router(router)
    return app


def make_misc(fw, **app_kw):
    """Rarer features: input/output schemas of a model with a computed field, explicit HEAD, ``-> None``, examples,
    form models, every security scheme (one app-wide), callbacks, webhooks, nested routers, custom operation ids."""
    sec = importlib.import_module(fw.__name__ + ".security")
    bearer = sec.HTTPBearer(bearerFormat="JWT")
    oidc = sec.OpenIdConnect(openIdConnectUrl="https://example.com/.well-known/openid-configuration")
    qkey = sec.APIKeyQuery(name="api_key", auto_error=False)
    ckey = sec.APIKeyCookie(name="session")
    oauth = sec.OAuth2AuthorizationCodeBearer(authorizationUrl="https://a/auth", tokenUrl="https://a/token",
                                              scopes={"read": "Read", "write": "Write"})
    app = fw.FastAPI(title="Misc", dependencies=[fw.Depends(ckey)], **app_kw)

    async def reader(tok=fw.Security(oauth, scopes=["read"])):
        return tok

    @app.post("/rect")
    async def rect(r: Rect) -> Rect:
        return r

    @app.head("/headonly")
    async def headonly():
        return None

    @app.get("/nothing")
    async def nothing() -> None:
        return None

    @app.get("/noresp", response_model=None)
    async def noresp() -> Opt:
        return Opt(name="x")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI: `example` is deprecated

        @app.get("/examples")
        async def examples(
            q: Annotated[str, fw.Query(examples=["a", "b"],
                                       openapi_examples={"one": {"summary": "One", "value": "1"}})] = "a",
            x_custom: Annotated[str | None, fw.Header(convert_underscores=False)] = None,
            color: Color = Color.red,
            n: Annotated[int, fw.Query(example=5)] = 1,
        ):
            return {}

    @app.post("/body-examples")
    async def body_examples(opt: Annotated[Opt, fw.Body(openapi_examples={"n": {"summary": "N", "value": {"name": "n"}}})]):
        return {}

    @app.post("/body-example")
    async def body_example(opt: Annotated[Opt, fw.Body(examples=[{"name": "n"}])],
                           other: Annotated[Opt | None, fw.Body()] = None):
        return {}

    @app.post("/formmodel")
    async def formmodel(data: Annotated[FormIn, fw.Form()]):
        return {}

    @app.get("/secure")
    async def secure(a=fw.Depends(bearer), b=fw.Depends(oidc), c=fw.Depends(qkey), r=fw.Depends(reader),
                     w=fw.Security(oauth, scopes=["write"])):
        return {}

    callbacks = fw.APIRouter()

    @callbacks.post("{$callback_url}/events/{$request.body.id}", response_model=Event)
    def event_cb(body: Event):
        pass

    @app.post("/subscribe", callbacks=callbacks.routes)
    async def subscribe(url: str):
        return {}

    @app.webhooks.post("new-event")
    def new_event(body: Event):
        pass

    inner = fw.APIRouter(prefix="/inner", tags=["inner"], deprecated=True)

    @inner.get("/{color}", responses={"4XX": {"description": "client"}})
    async def inner_get(color: Color, opt: bool = True):
        return {}

    outer = fw.APIRouter(prefix="/outer", tags=["outer"])
    outer.include_router(inner)
    app.include_router(outer, prefix="/v1", tags=["v1"], responses={500: {"model": Event}})

    def custom_id(route):
        return f"{route.tags[0] if route.tags else 'x'}-{route.name}"

    custom_router = fw.APIRouter(generate_unique_id_function=custom_id, tags=["custom"])

    @custom_router.post("/custom/{a}")
    async def custom(a: int, items: list[Opt], flag: Annotated[bool, fw.Body()] = False):
        return {}

    app.include_router(custom_router)
    return app


def documents(make, **app_kw):
    expected = make(fastapi, **app_kw).openapi()
    actual = make(fastrapi, **app_kw).openapi()
    return expected, actual


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON documents differ (readable assertion messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in {'fastrapi' if key not in a else 'fastapi'}")
            else:
                out += differences(a[key], b[key], f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: fastapi={a!r} fastrapi={b!r}"]


# ---------------------------------------------------------------- the document equals FastAPI's
@pytest.mark.parametrize("make,app_kw", [
    (make_shop, {}),
    (make_shop, {"separate_input_output_schemas": False}),
    (make_misc, {}),
    (make_misc, {"separate_input_output_schemas": False}),
], ids=["shop", "shop-shared-schemas", "misc", "misc-shared-schemas"])
def test_document_equals_fastapis(make, app_kw):
    expected, actual = documents(make, **app_kw)
    assert differences(expected, actual) == []
    assert actual == expected


@pytest.mark.parametrize("make", [make_shop, make_misc])
def test_document_is_valid_openapi(make):
    document = make(fastrapi).openapi()
    openapi_spec_validator.validate(document)
    assert document["openapi"] == "3.1.0"


def test_document_shape():
    """A few things checked directly, so a regression in FastAPI could not hide one in ours."""
    doc = make_shop(fastrapi).openapi()
    paths = doc["paths"]
    assert "/hidden" not in paths and "/docs" not in paths and "/openapi.json" not in paths
    assert set(paths["/items/{item_id}"]) == {"get", "put", "delete"}  # no implicit HEAD
    op = paths["/items/{item_id}"]["get"]
    assert op["operationId"] == "read_item_items__item_id__get" and op["tags"] == ["items"]
    params = {(p["in"], p["name"]): p for p in op["parameters"]}
    assert set(params) == {("path", "item_id"), ("query", "item-query"), ("query", "size"),
                           ("header", "user-agent"), ("cookie", "ads_id"), ("header", "x-token")}
    assert params[("path", "item_id")]["schema"] == {"type": "integer", "maximum": 1000, "minimum": 1, "title": "The ID"}
    assert params[("query", "item-query")]["deprecated"] is True
    assert op["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Message"}
    assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/HTTPValidationError")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "token"
    assert paths["/users/me/items"]["get"]["security"] == [{"OAuth2PasswordBearer": ["items", "me"]},
                                                          {"APIKeyHeader": []}]
    token = paths["/token"]["post"]["requestBody"]["content"]
    assert list(token) == ["application/x-www-form-urlencoded"]
    upload = paths["/uploadfile/"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    body = doc["components"]["schemas"][upload["$ref"].rsplit("/", 1)[1]]
    assert body["properties"]["file"]["contentMediaType"] == "application/octet-stream"
    assert paths["/extra"]["get"]["x-aperture-labs-portal"] == "blue"
    assert paths["/items/{item_id}/embed"]["patch"]["deprecated"] is True
    assert "ItemOut" in doc["components"]["schemas"]
    assert doc["info"]["contact"]["email"] == "dp@x-force.example.com"


def test_multi_method_route_and_explicit_head():
    app = fastrapi.FastAPI()

    @app.api_route("/multi", methods=["GET", "POST"])
    async def multi():
        return {}

    @app.head("/h")
    async def h():
        return None

    with pytest.warns(UserWarning, match="Duplicate Operation ID multi_multi_get"):  # as FastAPI warns
        paths = app.openapi()["paths"]
    assert set(paths["/multi"]) == {"get", "post"}
    assert set(paths["/h"]) == {"head"}


def test_get_openapi_function_like_fastapis():
    app = make_shop(fastrapi)
    fa = make_shop(fastapi)
    kwargs = dict(title="Custom", version="9", summary="s", description="d", tags=[{"name": "items"}],
                  servers=[{"url": "/x"}], external_docs={"url": "https://example.com/docs"})
    from fastapi.openapi.utils import get_openapi as fastapi_get_openapi

    assert get_openapi(routes=app.routes, **kwargs) == fastapi_get_openapi(routes=fa.routes, **kwargs)


# ---------------------------------------------------------------- serving
def test_served_at_both_urls_like_fastapi(serve):
    with TestClient(make_shop(fastapi)) as client:
        expected = client.get("/openapi.json")
    srv = serve(make_shop(fastrapi))
    for url in ("/openapi.json", "/api-docs/openapi.json"):
        r = httpx.get(srv.url + url)
        assert r.status_code == 200
        assert r.headers["content-type"] == expected.headers["content-type"] == "application/json"
        assert r.json() == expected.json()
    head = httpx.head(srv.url + "/openapi.json")
    assert head.status_code == 200 and head.content == b""


def test_openapi_url_none_turns_everything_off(serve):
    app = fastrapi.FastAPI(openapi_url=None)

    @app.get("/a")
    async def a():
        return {}

    srv = serve(app)
    for url in ("/openapi.json", "/api-docs/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(srv.url + url).status_code == 404, url
    assert httpx.get(srv.url + "/a").status_code == 200
    assert "/a" in app.openapi()["paths"]  # the method still works, as in FastAPI


def test_custom_openapi_url(serve):
    app = fastrapi.FastAPI(openapi_url="/api/v1/openapi.json", docs_url=None)
    srv = serve(app)
    assert httpx.get(srv.url + "/api/v1/openapi.json").json()["info"]["title"] == "FastAPI"  # FastAPI's default title
    assert httpx.get(srv.url + "/api-docs/openapi.json").status_code == 200
    assert httpx.get(srv.url + "/openapi.json").status_code == 404
    assert httpx.get(srv.url + "/docs").status_code == 404
    assert "/api/v1/openapi.json" in httpx.get(srv.url + "/redoc").text


def test_openapi_is_cached_and_rebuilt_for_new_routes():
    app = fastrapi.FastAPI()

    @app.get("/a")
    async def a():
        return {}

    first = app.openapi()
    assert app.openapi() is first and app.openapi_schema is first

    @app.get("/b")
    async def b():
        return {}

    assert set(app.openapi()["paths"]) == {"/a", "/b"}


def test_openapi_can_be_overridden(serve):
    """FastAPI's "extending OpenAPI" recipe: replace app.openapi with a function using get_openapi."""
    app = fastrapi.FastAPI()

    @app.get("/items/")
    async def read_items():
        return [{"name": "Foo"}]

    def custom_openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title="Custom title", version="2.5.0", summary="This is a very custom OpenAPI schema",
                             routes=app.routes)
        schema["info"]["x-logo"] = {"url": "https://fastapi.tiangolo.com/img/logo-margin/logo-teal.png"}
        app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi
    srv = serve(app)
    doc = httpx.get(srv.url + "/openapi.json").json()
    assert doc["info"]["title"] == "Custom title" and "x-logo" in doc["info"]
    assert list(doc["paths"]) == ["/items/"]


def test_root_path_is_put_in_servers(serve):
    kw = dict(root_path="/api/v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI deprecates root_path=
        with TestClient(make_misc(fastapi, **kw)) as client:
            expected = client.get("/openapi.json").json()
    srv = serve(make_misc(fastrapi, **kw))
    actual = httpx.get(srv.url + "/openapi.json").json()
    assert actual["servers"] == expected["servers"] == [{"url": "/api/v1"}]
    assert actual == expected
    assert make_misc(fastrapi, **kw).openapi().get("servers") is None  # only the served copy has it
    srv = serve(make_misc(fastrapi, root_path="/api/v1", root_path_in_servers=False))
    assert "servers" not in httpx.get(srv.url + "/openapi.json").json()


def test_doc_routes_are_routes_not_in_the_schema():
    app = fastrapi.FastAPI()
    docs = {r.path: r for r in app.routes}
    assert set(docs) == {"/openapi.json", "/api-docs/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                         "/scalar", "/elements"}  # (the last two: the original FastrAPI's pages)
    assert all(r.include_in_schema is False for r in docs.values())
    assert app.openapi()["paths"] == {}


def test_route_metadata_attributes():
    """What the generator reads from routes, under FastAPI's attribute names."""
    app = make_shop(fastrapi)
    route = next(r for r in app.routes if getattr(r, "path", "") == "/items/{item_id}" and "GET" in r.methods)
    assert route.methods == ["GET", "HEAD"] and route.name == "read_item" and route.tags == ["items"]
    assert route.response_model is Item and route.status_code is None and 404 in route.responses
    assert route.include_in_schema is True and route.unique_id == "read_item_items__item_id__get"
    assert {p.name for p in route.plan.params} >= {"item_id", "q", "size", "hidden", "user_agent", "ads_id"}
