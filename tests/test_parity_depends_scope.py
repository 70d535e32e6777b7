"""Dependencies and errors as FastAPI documents them, each app run through FastAPI and through FastrAPI:

- "Dependencies with yield", early exit and ``scope``: ``Depends(..., scope="function")`` exits when the handler
  returns, before the response is sent; the default ("request") after it, after background tasks;
  a "request" yield dependency depending on a "function" one is a ``DependencyScopeError`` at declaration;
- "Dependencies with yield and except": a dependency that catches the handler's exception and does not raise
  again gives ``FastAPIError`` (500, raised in the TestClient);
- an invalid ``response_model`` / return annotation raises ``FastAPIError`` when the route is declared;
- ``@app.on_event`` emits FastAPI's DeprecationWarning;
- "Handling Errors", a handler registered for ``starlette.exceptions.HTTPException`` takes our HTTPException
  (and the router's 404) too;
- ``from fastrapi import FastAPI`` has FastAPI's defaults: the same document and docs page titles.
"""
import warnings
from typing import Any

import httpx
import pytest

from fastrapi.testclient import TestClient as OurClient

from docs_apps import both, docs_app

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TheirClient


# ------------------------------------------------------------------------------------------------ scope
SCOPE_APP = '''
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI
from fastapi.responses import StreamingResponse

app = FastAPI()
events = []


def get_username():
    try:
        yield "Rick"
    finally:
        events.append("function-scope exit")


def get_db():
    try:
        yield "db"
    finally:
        events.append("request-scope exit")


@app.get("/users/me")
def get_user_me(username: Annotated[str, Depends(get_username, scope="function")]):
    events.append("handler")
    return username


@app.get("/both")
def both(username: Annotated[str, Depends(get_username, scope="function")],
         db: Annotated[str, Depends(get_db)], tasks: BackgroundTasks):
    events.append("handler")
    tasks.add_task(events.append, "background")

    def body():
        events.append("body sent")
        yield f"{username} {db}"

    return StreamingResponse(body(), media_type="text/plain")
'''


@pytest.mark.parametrize("url,expected_body,expected_events", [
    ("/users/me", '"Rick"', ["handler", "function-scope exit"]),
    ("/both", "Rick db", ["handler", "function-scope exit", "body sent", "background", "request-scope exit"]),
])
def test_scope_function_and_request(url, expected_body, expected_events):
    theirs, ours = both(SCOPE_APP)
    for ns, client_cls in ((theirs, TheirClient), (ours, OurClient)):
        ns["events"].clear()
        response = client_cls(ns["app"]).get(url)
        assert (response.status_code, response.text) == (200, expected_body)
        assert ns["events"] == expected_events, client_cls
    assert ours["app"].openapi() == theirs["app"].openapi()


def test_scope_on_the_server(serve):
    ours = docs_app(SCOPE_APP, "fastrapi")
    srv = serve(ours["app"])
    with httpx.Client() as client:
        assert client.get(srv.url + "/users/me").json() == "Rick"
        assert ours["events"] == ["handler", "function-scope exit"]
        ours["events"].clear()
        assert client.get(srv.url + "/both").text == "Rick db"
        client.get(srv.url + "/users/me")  # the connection's next request: /both's teardown is over
    assert ours["events"][:5] == ["handler", "function-scope exit", "body sent", "background", "request-scope exit"]


SCOPE_ERROR_APP = '''
from typing import Annotated

from fastapi import Depends, FastAPI

app = FastAPI()


def get_session():
    yield "session"


def get_user(session: Annotated[str, Depends(get_session, scope="function")]):
    yield session


@app.get("/me")
def me(user: Annotated[str, Depends(get_user)]):
    return user
'''


def test_request_scope_depending_on_function_scope_is_an_error():
    import fastrapi.exceptions

    errors = []
    for fw, cls in (("fastapi", fastapi.exceptions.DependencyScopeError),
                    ("fastrapi", fastrapi.exceptions.DependencyScopeError)):
        with pytest.raises(cls) as info:
            docs_app(SCOPE_ERROR_APP, fw)
        assert isinstance(info.value, (fastapi.exceptions.FastAPIError, fastrapi.exceptions.FastAPIError))
        errors.append(str(info.value))
    assert errors[1] == errors[0]


# ----------------------------------------------------------------------------------- yield and except
SWALLOW_APP = '''
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException

app = FastAPI()


class InternalError(Exception):
    pass


def get_username():
    try:
        yield "Rick"
    except InternalError:
        print("Oops, we didn't raise again, Britney 😱")


@app.get("/items/{item_id}")
def get_item(item_id: str, username: Annotated[str, Depends(get_username)]):
    if item_id == "portal-gun":
        raise InternalError(
            f"The portal gun is too dangerous to be owned by {username}"
        )
    if item_id != "plumbus":
        raise HTTPException(
            status_code=404, detail="Item not found, there's only a plumbus here"
        )
    return item_id
'''


def test_swallowed_exception_is_fastapi_error():
    import fastrapi.exceptions

    theirs, ours = both(SWALLOW_APP)
    for ns, client_cls, error in ((theirs, TheirClient, fastapi.exceptions.FastAPIError),
                                  (ours, OurClient, fastrapi.exceptions.FastAPIError)):
        client = client_cls(ns["app"])
        assert client.get("/items/plumbus").json() == "plumbus"
        not_found = client.get("/items/other")
        assert (not_found.status_code, not_found.json()) == (404, {"detail": "Item not found, there's only a plumbus here"})
        with pytest.raises(error, match="Response not awaited"):
            client.get("/items/portal-gun")
        answer = client_cls(ns["app"], raise_server_exceptions=False).get("/items/portal-gun")
        assert (answer.status_code, answer.text) == (500, "Internal Server Error")


# ----------------------------------------------------------------------------------- response models
class NotAModel:
    pass


@pytest.mark.parametrize("how", ["annotation", "response_model", "union annotation"])
def test_invalid_response_model_is_an_error_at_declaration(how):
    import fastrapi

    messages = []
    for fw in (fastapi, fastrapi):
        app = fw.FastAPI()
        with pytest.raises(fw.exceptions.FastAPIError) as info:
            if how == "annotation":
                @app.get("/a")
                def a() -> NotAModel:
                    return NotAModel()
            elif how == "response_model":
                app.add_api_route("/b", lambda: {}, response_model=NotAModel)
            else:
                @app.get("/c")
                def c(flag: bool) -> fw.responses.Response | dict:
                    return {}
        messages.append(str(info.value).replace("fastrapi", "X").replace("starlette", "X"))
        assert "/a" not in app.openapi()["paths"]
    assert messages[1] == messages[0]
    assert "response_model=None" in messages[0]


# -------------------------------------------------------------------------------------------- on_event
def test_on_event_deprecation_warning():
    import fastrapi

    found = []
    for fw in (fastapi, fastrapi):
        app = fw.FastAPI()
        with pytest.warns(DeprecationWarning) as record:
            @app.on_event("startup")
            def startup():
                pass
        messages = {str(w.message).strip() for w in record if w.category is DeprecationWarning}
        found.append(messages)
        assert app.router.on_startup if fw is fastapi else app.on_startup
    assert found[1] <= found[0]
    assert any(m.startswith("on_event is deprecated, use lifespan event handlers instead.") for m in found[1])


# ---------------------------------------------------------------------- Starlette's HTTPException handler
STARLETTE_HANDLER_APP = '''
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI()


@app.exception_handler(StarletteHTTPException)
async def http_exception_handler(request, exc):
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code)


@app.exception_handler(RequestValidationError)
async def validation_exception_handler(request, exc: RequestValidationError):
    message = "Validation errors:"
    for error in exc.errors():
        message += f"\\nField: {error['loc']}, Error: {error['msg']}"
    return PlainTextResponse(message, status_code=400)


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    if item_id == 3:
        raise HTTPException(status_code=418, detail="Nope! I don't like 3.")
    return {"item_id": item_id}
'''

STARLETTE_CASES = [("GET", "/items/3"), ("GET", "/items/2"), ("GET", "/items/foo"), ("GET", "/nowhere"),
                   ("POST", "/items/2")]


def _view(response: Any) -> tuple[int, str, str]:
    return response.status_code, response.headers.get("content-type", ""), response.text


def test_starlette_http_exception_handler(serve):
    theirs, ours = both(STARLETTE_HANDLER_APP)
    their_client, our_client = TheirClient(theirs["app"]), OurClient(ours["app"])
    srv = serve(ours["app"])
    for method, url in STARLETTE_CASES:
        expected = _view(their_client.request(method, url))
        assert _view(our_client.request(method, url)) == expected, url
        assert _view(httpx.request(method, srv.url + url)) == expected, url
    assert _view(their_client.get("/items/3"))[:1] == (418,)


# ---------------------------------------------------------------------------------- FastAPI's defaults
FIRST_STEPS_APP = '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello World"}
'''


def test_fastapi_name_has_fastapi_defaults(serve):
    import fastrapi

    theirs, ours = both(FIRST_STEPS_APP)
    assert isinstance(ours["app"], fastrapi.FastrAPI) and isinstance(ours["app"], fastrapi.FastAPI)
    assert ours["app"].title == "FastAPI" and fastrapi.FastrAPI().title == "FastrAPI"
    assert ours["app"].openapi() == theirs["app"].openapi()
    their_client = TheirClient(theirs["app"])
    srv = serve(ours["app"])
    for url in ("/openapi.json", "/docs", "/redoc", "/"):
        a, b = their_client.get(url), httpx.get(srv.url + url)
        assert (b.status_code, b.headers["content-type"]) == (a.status_code, a.headers["content-type"])
        if url.endswith(".json") or url == "/":
            assert b.json() == a.json()
        else:
            assert "<title>FastAPI - " in b.text
            assert b.text.split("<title>")[1].split("</title>")[0] == a.text.split("<title>")[1].split("</title>")[0]
    # the name is a class of its own: subclassing and keyword arguments work as on FastAPI
    app = fastrapi.FastAPI(title="Mine", version="2.0")
    assert (app.title, app.version) == ("Mine", "2.0")
