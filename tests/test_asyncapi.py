"""The AsyncAPI 3.0 document of the WebSocket routes (``/asyncapi.json``, ``app.asyncapi()``) and its page
(``/asyncapi``): the document's content, its validation by the official AsyncAPI parser (``@asyncapi/parser``,
run with node from tests/node, which scripts/test.sh installs with ``npm ci``) for several apps, the routes
being absent from apps without WebSocket routes (FastAPI parity of /docs), and the page rendered by headless
Chromium with AsyncAPI's React component (its npm package's files, served locally: no CDN here)."""
from __future__ import annotations

import enum
import json
import os
import shutil
import subprocess
from typing import Annotated, Literal, Union

import httpx
import pytest
from pydantic import BaseModel, Field

import fastrapi
from fastrapi import APIRouter, Depends, FastrAPI, Header, Path as PathParam, Query, WebSocket
from fastrapi.asyncapi.docs import ASYNCAPI_CSS_URL, ASYNCAPI_JS_URL, get_asyncapi_html
from fastrapi.mounting import Mount
from fastrapi.routing import Router, WebSocketRoute
from fastrapi.staticfiles import StaticFiles
from modules import ROOT, load_module

NODE_DIR = ROOT / "tests" / "node"
REACT_DIR = NODE_DIR / "node_modules" / "@asyncapi" / "react-component"
from chromium import CHROMIUM  # noqa: E402


# ---------------------------------------------------------------- apps
class Join(BaseModel):
    """Enter a room."""

    type: Literal["join"]
    room: str


class Say(BaseModel):
    type: Literal["say"]
    text: str = Field(max_length=200)


class Event(BaseModel):
    kind: str
    text: str | None = None
    sent_at: int | None = Field(default=None, alias="sentAt")


ClientMessage = Annotated[Union[Join, Say], Field(discriminator="type")]


class Color(str, enum.Enum):
    red = "red"
    blue = "blue"


def typed_app(**kw) -> FastrAPI:
    app = FastrAPI(title="Chat", version="2.0", description="A chat.",
                   openapi_tags=[{"name": "chat", "description": "Talking"}], **kw)

    @app.post("/rooms/{room}/say")
    async def say_http(room: str, body: Say) -> Event:
        return Event(kind="said", text=body.text)

    @app.websocket("/rooms/{room}", receive=ClientMessage, send=Event, summary="Join a room", tags=["chat"],
                   subprotocols=["chat.v1", "chat.v2"])
    async def chat(ws: WebSocket, room: Annotated[str, PathParam(description="The room's name")],
                   nick: Annotated[str, Query(description="Your nickname", examples=["ada"])],
                   x_client: Annotated[str | None, Header()] = None):
        """Talk in a room.

        Every message is relayed to the room.
        \f
        (not documented)"""

    @app.websocket("/hidden", include_in_schema=False)
    async def hidden(ws: WebSocket):
        pass

    return app


def untyped_app() -> FastrAPI:
    app = FastrAPI()

    @app.websocket("/ws")
    async def websocket_endpoint(ws):
        await ws.accept()

    return app


class Ping(BaseModel):
    op: Literal["ping"]


class Pong(BaseModel):
    op: Literal["pong"]
    at: float


def unions_app() -> FastrAPI:
    app = FastrAPI()

    @app.websocket("/tagged", receive=ClientMessage, send=Union[Ping, Pong])
    async def tagged(ws: WebSocket):
        pass

    @app.websocket("/scalars", receive=Union[int, str], send=list[Event])
    async def scalars(ws: WebSocket):
        pass

    @app.websocket("/raw", receive=str, send=bytes)
    async def raw(ws: WebSocket):
        pass

    return app


def common_token(token: Annotated[str, Query(min_length=8)]) -> str:
    return token


def params_app() -> FastrAPI:
    app = FastrAPI()

    @app.websocket("/items/{item_id:int}/{color}/{mode}", dependencies=[Depends(common_token)])
    async def item(ws: WebSocket, item_id: int, color: Color, mode: Literal["fast", "slow"],
                   limit: Annotated[int, Query(ge=1, le=100)] = 10, tags: Annotated[list[str], Query()] = [],
                   user_agent: Annotated[str | None, Header()] = None):
        pass

    @app.websocket("/files/{rest:path}", receive=Event)
    async def files(ws: WebSocket, rest: str):
        pass

    return app


def routers_app() -> FastrAPI:
    inner = APIRouter(prefix="/inner", tags=["inner"])

    @inner.websocket("/echo", receive=Say, send=Say)
    async def echo(ws: WebSocket):
        pass

    outer = APIRouter(prefix="/outer")
    outer.include_router(inner, prefix="/v1", tags=["v1"])

    @outer.websocket("/echo", name="outer_echo")  # the same function name as another route
    async def echo2(ws: WebSocket):
        pass

    app = FastrAPI()
    app.include_router(outer, prefix="/api")
    hidden = APIRouter(include_in_schema=False)

    @hidden.websocket("/secret")
    async def secret(ws: WebSocket):
        pass

    app.include_router(hidden)
    return app


def mounted_app() -> FastrAPI:
    sub = FastrAPI(title="Sub")

    @sub.websocket("/feed/{topic}", send=Event)
    async def feed(ws: WebSocket, topic: str):
        pass

    async def plain(ws: WebSocket):
        pass

    app = FastrAPI()

    @app.websocket("/echo", receive=str, send=str)
    async def echo(ws: WebSocket):
        pass

    app.mount("/tenants/{tenant}", sub)
    app.mount("/empty", Router())  # a router with nothing to document
    app.router.add_route(Mount("/more", routes=[WebSocketRoute("/socket", plain, receive=Ping)]))
    return app


APPS = {"typed": typed_app, "untyped": untyped_app, "unions": unions_app, "params": params_app,
        "routers": routers_app, "mounted": mounted_app}


# ---------------------------------------------------------------- the official parser
def _node_ready() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "@asyncapi" / "parser").is_dir()


needs_node = pytest.mark.skipif(
    not _node_ready() and not os.environ.get("CI"),
    reason="needs node and tests/node/node_modules (scripts/test.sh runs `npm ci` in tests/node)",
)


def parse(documents: dict) -> dict[str, list[dict]]:
    """Diagnostics of the official AsyncAPI parser for each document (one node process for all)."""
    done = subprocess.run(["node", str(NODE_DIR / "validate.mjs")], input=json.dumps(documents), cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def problems(diagnostics: list[dict]) -> list[dict]:
    """Errors and warnings (information and hints, such as "3.1.0 exists", are not problems)."""
    return [d for d in diagnostics if d["severity"] in ("error", "warning")]


@needs_node
@pytest.mark.timeout(300)  # the parser lints each document for about a CPU second; the machine may be busy
def test_documents_pass_the_official_parser(serve):
    documents = {name: make().asyncapi() for name, make in APPS.items()}
    documents["chat demo"] = load_module(ROOT / "examples" / "chat" / "app.py", "fastrapi_chat_asyncapi").app.asyncapi()
    # as served, with a server taken from the request
    srv = serve(typed_app(root_path="/proxy"))
    documents["served"] = httpx.get(srv.url + "/asyncapi.json", headers={"x-forwarded-proto": "https"}).json()
    assert documents["served"]["servers"]["default"]["protocol"] == "wss"
    broken = json.loads(json.dumps(documents["typed"]))
    broken["operations"]["chat_receive"]["channel"] = {"$ref": "#/channels/nowhere"}
    broken["channels"]["chat"]["bindings"]["ws"]["method"] = "PUT"
    documents["broken"] = broken
    found = parse(documents)
    for name in documents:
        if name != "broken":
            assert problems(found[name]) == [], name
    # the checker does find problems
    messages = " ".join(d["message"] for d in problems(found["broken"]))
    assert "#/channels/nowhere" in messages and "method" in messages


# ---------------------------------------------------------------- the document
def test_typed_document():
    app = typed_app()
    doc = app.asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"] == {"title": "Chat", "version": "2.0", "description": "A chat.",
                           "tags": [{"name": "chat", "description": "Talking"}]}
    assert doc["defaultContentType"] == "application/json"
    assert "servers" not in doc  # no absolute `servers`: the served document adds the request's
    assert list(doc["channels"]) == ["chat"]  # include_in_schema=False is left out
    channel = doc["channels"]["chat"]
    assert channel["address"] == "/rooms/{room}"
    assert channel["summary"] == "Join a room"
    assert channel["description"] == "Talk in a room.\n\nEvery message is relayed to the room."
    assert channel["tags"] == [{"name": "chat", "description": "Talking"}]
    assert channel["parameters"] == {"room": {"description": "The room's name"}}
    assert channel["messages"] == {name: {"$ref": f"#/components/messages/{name}"} for name in ("Join", "Say", "Event")}
    ws = channel["bindings"]["ws"]
    assert ws["method"] == "GET" and ws["bindingVersion"] == "0.1.0"
    assert ws["query"] == {"type": "object", "required": ["nick"], "properties": {
        "nick": {"type": "string", "title": "Nick", "description": "Your nickname", "examples": ["ada"]}}}
    headers = ws["headers"]["properties"]
    assert headers["x-client"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert headers["Sec-WebSocket-Protocol"]["examples"] == ["chat.v1", "chat.v2"]
    assert "chat.v1, chat.v2" in headers["Sec-WebSocket-Protocol"]["description"]

    ops = doc["operations"]
    assert ops["chat_receive"]["action"] == "receive" and ops["chat_send"]["action"] == "send"
    assert ops["chat_receive"]["channel"] == {"$ref": "#/channels/chat"}
    assert ops["chat_receive"]["summary"] == "Join a room"
    assert ops["chat_receive"]["messages"] == [{"$ref": "#/channels/chat/messages/Join"},
                                               {"$ref": "#/channels/chat/messages/Say"}]
    assert ops["chat_send"]["messages"] == [{"$ref": "#/channels/chat/messages/Event"}]

    messages = doc["components"]["messages"]
    assert messages["Join"] == {"name": "Join", "title": "Join", "payload": {"$ref": "#/components/schemas/Join"}}
    assert messages["Event"]["payload"] == {"$ref": "#/components/schemas/Event"}
    # the same JSON Schemas, under the same names, as the OpenAPI document's
    schemas = doc["components"]["schemas"]
    assert set(schemas) == {"Join", "Say", "Event"}
    openapi = app.openapi()["components"]["schemas"]
    assert schemas["Say"] == openapi["Say"] and schemas["Event"] == openapi["Event"]
    assert schemas["Event"]["properties"]["sentAt"]  # serialization by alias
    assert schemas["Join"]["description"] == "Enter a room."


def test_untyped_route_has_untyped_messages():
    doc = untyped_app().asyncapi()
    channel = doc["channels"]["websocket_endpoint"]
    assert channel["address"] == "/ws" and "parameters" not in channel
    assert channel["messages"] == {"AnyMessage": {"$ref": "#/components/messages/AnyMessage"}}
    assert doc["components"]["messages"]["AnyMessage"]["title"] == "Any message"
    assert "payload" not in doc["components"]["messages"]["AnyMessage"]
    assert "schemas" not in doc["components"]
    for action in ("receive", "send"):
        assert doc["operations"][f"websocket_endpoint_{action}"]["messages"] == [
            {"$ref": "#/channels/websocket_endpoint/messages/AnyMessage"}]


def test_unions_become_one_message_per_model():
    doc = unions_app().asyncapi()
    ops = doc["operations"]
    assert [m["$ref"].rsplit("/", 1)[1] for m in ops["tagged_receive"]["messages"]] == ["Join", "Say"]
    assert [m["$ref"].rsplit("/", 1)[1] for m in ops["tagged_send"]["messages"]] == ["Ping", "Pong"]
    messages = doc["components"]["messages"]
    assert messages["scalars_receive"]["payload"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert messages["scalars_send"]["payload"]["items"] == {"$ref": "#/components/schemas/Event"}
    assert "Event" in doc["components"]["schemas"]
    assert messages["raw_receive"]["contentType"] == "text/plain"
    assert messages["raw_receive"]["title"] == "Text message"
    assert messages["raw_receive"]["payload"]["type"] == "string"
    assert messages["raw_send"]["contentType"] == "application/octet-stream"


def test_path_query_header_and_dependency_parameters():
    channel = params_app().asyncapi()["channels"]["item"]
    assert channel["address"] == "/items/{item_id}/{color}/{mode}"
    assert channel["parameters"] == {"item_id": {}, "color": {"enum": ["red", "blue"]},
                                     "mode": {"enum": ["fast", "slow"]}}
    query = channel["bindings"]["ws"]["query"]
    assert query["required"] == ["token"]  # the dependency's parameter
    assert query["properties"]["token"]["minLength"] == 8
    assert query["properties"]["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10,
                                            "title": "Limit"}
    assert query["properties"]["tags"]["type"] == "array"
    assert "user-agent" in channel["bindings"]["ws"]["headers"]["properties"]
    files = params_app().asyncapi()["channels"]["files"]
    assert files["address"] == "/files/{rest}" and list(files["parameters"]) == ["rest"]


def test_routers_with_prefixes():
    doc = routers_app().asyncapi()
    assert {k: c["address"] for k, c in doc["channels"].items()} == {
        "echo": "/api/outer/v1/inner/echo", "outer_echo": "/api/outer/echo"}
    assert doc["channels"]["echo"]["tags"] == [{"name": "v1"}, {"name": "inner"}]
    # one model both ways: one schema (its input and output schemas are the same)
    assert [m["$ref"] for m in doc["operations"]["echo_send"]["messages"]] == ["#/channels/echo/messages/Say"]


def test_mounted_apps_and_routers():
    doc = mounted_app().asyncapi()
    assert {c["address"] for c in doc["channels"].values()} == {
        "/echo", "/tenants/{tenant}/feed/{topic}", "/more/socket"}
    feed = next(c for c in doc["channels"].values() if c["address"].startswith("/tenants"))
    assert list(feed["parameters"]) == ["tenant", "topic"]


def test_servers_from_app_servers():
    app = typed_app(servers=[{"url": "https://api.example.com/v1", "description": "Production"},
                             {"url": "http://localhost:8000"}, {"url": "/relative"}])
    assert app.asyncapi()["servers"] == {
        "default": {"host": "api.example.com", "protocol": "wss", "pathname": "/v1", "description": "Production"},
        "server2": {"host": "localhost:8000", "protocol": "ws"},
    }


def test_document_is_cached_and_rebuilt_when_routes_change():
    app = untyped_app()
    first = app.asyncapi()
    assert app.asyncapi() is first

    @app.websocket("/later")
    async def later(ws: WebSocket):
        pass

    assert set(app.asyncapi()["channels"]) == {"websocket_endpoint", "later"}


# ---------------------------------------------------------------- served
def test_served_document_and_page(serve):
    srv = serve(typed_app())
    r = httpx.get(srv.url + "/asyncapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["servers"] == {"default": {"host": f"127.0.0.1:{srv.port}", "protocol": "ws"}}
    assert doc["channels"]["chat"]["address"] == "/rooms/{room}"
    proxied = httpx.get(srv.url + "/asyncapi.json", headers={"forwarded": 'for=1.2.3.4;proto="https"',
                                                             "x-forwarded-host": "chat.example.com"}).json()
    assert proxied["servers"]["default"] == {"host": "chat.example.com", "protocol": "wss"}
    page = httpx.get(srv.url + "/asyncapi")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>Chat - AsyncAPI</title>" in page.text
    assert f'src="{ASYNCAPI_JS_URL}"' in page.text and f'href="{ASYNCAPI_CSS_URL}"' in page.text
    assert 'url: "/asyncapi.json"' in page.text
    # the documentation routes are not in the OpenAPI document
    assert set(httpx.get(srv.url + "/openapi.json").json()["paths"]) == {"/rooms/{room}/say"}
    docs = httpx.get(srv.url + "/docs").text
    assert '<a href="/asyncapi">' in docs


def test_root_path_and_options(serve):
    srv = serve(typed_app(root_path="/proxy", asyncapi_url="/spec/ws.json", asyncapi_docs_url="/ws-docs",
                          asyncapi_js_url="/static/a.js", asyncapi_css_url="/static/a.css"))
    doc = httpx.get(srv.url + "/spec/ws.json").json()
    assert doc["servers"]["default"]["pathname"] == "/proxy"
    page = httpx.get(srv.url + "/ws-docs").text
    assert 'url: "/proxy/spec/ws.json"' in page and 'src="/static/a.js"' in page and 'href="/static/a.css"' in page
    assert '<a href="/proxy/ws-docs">' in httpx.get(srv.url + "/docs").text
    assert httpx.get(srv.url + "/asyncapi.json").status_code == 404


@pytest.mark.parametrize("kw, json_status, page_status", [
    ({"asyncapi_url": None}, 404, 404),
    ({"asyncapi_docs_url": None}, 200, 404),
])
def test_switched_off(serve, kw, json_status, page_status):
    srv = serve(typed_app(**kw))
    assert httpx.get(srv.url + "/asyncapi.json").status_code == json_status
    assert httpx.get(srv.url + "/asyncapi").status_code == page_status
    assert "asyncapi" not in httpx.get(srv.url + "/docs").text


def test_app_without_websocket_routes_is_fastapis(serve):
    """No AsyncAPI routes, and /docs byte for byte FastAPI's."""
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    def make(fw):
        app = fw.FastAPI(title="HTTP only")

        @app.get("/items/{item_id}")
        async def read_item(item_id: int):
            return {"item_id": item_id}

        return app

    ours = make(fastrapi)
    assert not [r.path for r in ours.routes if "asyncapi" in r.path]
    srv = serve(ours)
    with TestClient(make(fastapi)) as client:
        assert httpx.get(srv.url + "/docs").text == client.get("/docs").text
    for url in ("/asyncapi.json", "/asyncapi"):
        assert httpx.get(srv.url + url).status_code == 404


def test_mounted_app_without_websocket_routes_answers_404(serve):
    sub = FastrAPI()

    @sub.get("/x")
    async def x():
        return {}

    app = FastrAPI()
    app.mount("/sub", sub)
    srv = serve(app)
    assert httpx.get(srv.url + "/asyncapi.json").status_code == 404
    assert "asyncapi" not in httpx.get(srv.url + "/docs").text

    @sub.websocket("/ws")
    async def ws(ws: WebSocket):
        pass

    assert httpx.get(srv.url + "/asyncapi.json").json()["channels"]["ws"]["address"] == "/sub/ws"


def test_page_escapes_its_urls():
    html = get_asyncapi_html(asyncapi_url="/a</script>.json", title="<T>", asyncapi_js_url='/x".js').body.decode()
    assert "</script>.json" not in html and "&lt;T&gt;" in html and '/x&quot;.js' in html


# ---------------------------------------------------------------- in Chromium
needs_browser = pytest.mark.skipif(
    (not os.path.exists(CHROMIUM) or not REACT_DIR.is_dir()) and not os.environ.get("CI"),
    reason=f"needs {CHROMIUM} and tests/node/node_modules (scripts/test.sh installs both)",
)


@pytest.fixture
def page(browser):
    """A page that reaches 127.0.0.1 only; the React component's CDN files are answered from its npm package."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(45_000)  # generous: the suite runs with -n 2 on a 2-core machine, next to Chromium
    page.errors = []
    page.outside = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    cdn = ASYNCAPI_JS_URL.split("/browser/")[0] + "/"

    def handle(route):
        url = route.request.url
        if url.startswith("http://127.0.0.1:"):
            return route.continue_()
        if url.startswith(cdn) and (REACT_DIR / url[len(cdn):]).is_file():
            return route.fulfill(path=str(REACT_DIR / url[len(cdn):]))
        page.outside.append(url)  # the favicon: not needed to render
        return route.abort()

    page.route("**/*", handle)
    yield page
    ctx.close()


def _expect_channels(page, expect):
    body = page.locator("#asyncapi")
    expect(body).to_contain_text("Chat 2.0", timeout=45_000)  # a 3 MB bundle, on a busy 2-core machine
    expect(body).to_contain_text("Talk in a room.")
    for action in ("receive", "send"):  # the two operations of the channel, with its address
        operation = page.locator(f"[id='operation-{action}-chat_{action}']")
        expect(operation).to_be_visible()
        expect(operation).to_contain_text("/rooms/{room}")
        expect(operation).to_contain_text("Join a room")
    for name in ("Join", "Say", "Event"):  # the messages and their schemas, named after the models
        expect(page.locator(f"[id='message-{name}']")).to_be_attached()
        expect(page.locator(f"[id='schema-{name}']")).to_be_attached()
    expect(page.locator("[id='message-Join']")).to_contain_text("Enter a room.")  # the model's docstring
    expect(page.locator("[id='operation-receive-chat_receive']")).to_contain_text("Say")
    assert page.errors == []


@needs_browser
@pytest.mark.timeout(180)
def test_page_renders_channels_self_hosted(serve, page):
    """``asyncapi_js_url`` / ``asyncapi_css_url`` pointing at the app's own copy of the component's files."""
    from playwright.sync_api import expect

    app = typed_app(asyncapi_js_url="/vendor/asyncapi/browser/standalone/index.js",
                    asyncapi_css_url="/vendor/asyncapi/styles/default.min.css")
    app.mount("/vendor/asyncapi", StaticFiles(directory=REACT_DIR))
    srv = serve(app)
    page.goto(srv.url + "/asyncapi")
    expect(page).to_have_title("Chat - AsyncAPI")
    _expect_channels(page, expect)
    assert page.locator("link[rel=stylesheet]").evaluate("l => l.sheet.cssRules.length") > 100
    assert not any("jsdelivr" in url for url in page.outside)


@needs_browser
@pytest.mark.timeout(180)
def test_docs_links_to_page_with_default_cdn_urls(serve, page):
    """From /docs to /asyncapi by its link; the default CDN URLs name files the npm package has."""
    from playwright.sync_api import expect

    srv = serve(typed_app())
    page.goto(srv.url + "/docs")
    page.locator("#asyncapi-link a").click()
    expect(page).to_have_url(srv.url + "/asyncapi")
    page.errors.clear()  # /docs itself had no Swagger UI files here (tests/test_docs_pages.py renders it)
    _expect_channels(page, expect)
    assert not any(url.startswith("https://cdn.jsdelivr.net/npm/@asyncapi") for url in page.outside)


def test_type_without_json_schema_is_documented_untyped():
    from pydantic import ConfigDict

    class Opaque:
        pass

    class Holder(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        thing: Opaque

    app = untyped_app()

    @app.websocket("/opaque", receive=Holder, send=Event)
    async def opaque(ws: WebSocket):
        pass

    doc = app.asyncapi()
    assert doc["operations"]["opaque_receive"]["messages"] == [{"$ref": "#/channels/opaque/messages/AnyMessage"}]
    assert doc["operations"]["opaque_send"]["messages"] == [{"$ref": "#/channels/opaque/messages/Event"}]
    assert "Event" in doc["components"]["schemas"]


def test_websocket_routes_given_in_routes_argument(serve):
    async def feed(ws: WebSocket):
        pass

    srv = serve(FastrAPI(routes=[WebSocketRoute("/feed", feed, send=Event)]))
    doc = httpx.get(srv.url + "/asyncapi.json").json()
    assert doc["channels"]["feed"]["address"] == "/feed"
    assert doc["operations"]["feed_send"]["messages"] == [{"$ref": "#/channels/feed/messages/Event"}]
