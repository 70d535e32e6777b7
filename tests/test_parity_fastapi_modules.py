"""FastAPI's docs apps that import from its other modules, run through FastAPI and through FastrAPI (TestClient
and the built-in server): "Re-use FastAPI's exception handlers" (``fastapi.exception_handlers``), "Including
WSGI" (``fastapi.middleware.wsgi``), a dependency taking Starlette's ``HTTPConnection`` (``fastapi.requests``),
and ``fastapi.websockets``."""
import warnings

import httpx
import pytest

from docs_apps import both

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("starlette")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TheirClient

from fastrapi.testclient import TestClient as OurClient  # noqa: E402

REUSE_HANDLERS_APP = '''
from fastapi import FastAPI, HTTPException
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

app = FastAPI()
seen = []


@app.exception_handler(StarletteHTTPException)
async def custom_http_exception_handler(request, exc):
    seen.append(f"OMG! An HTTP error!: {exc.status_code}")
    return await http_exception_handler(request, exc)


@app.exception_handler(RequestValidationError)
async def validation_exception_handler(request, exc):
    seen.append("OMG! The client sent invalid data!")
    return await request_validation_exception_handler(request, exc)


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    if item_id == 3:
        raise HTTPException(status_code=418, detail="Nope! I don't like 3.")
    return {"item_id": item_id}
'''

WSGI_APP = '''
import html

from fastapi import FastAPI
from fastapi.middleware.wsgi import WSGIMiddleware


def flask_like_app(environ, start_response):
    name = environ.get("QUERY_STRING", "").partition("name=")[2] or "World"
    body = f"Hello, {html.escape(name)} from {environ['SCRIPT_NAME']}{environ['PATH_INFO']}!".encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("X-WSGI", "yes")])
    return [body]


app = FastAPI()


@app.get("/v2")
def read_main():
    return {"message": "Hello World"}


app.mount("/v1", WSGIMiddleware(flask_like_app))
'''

CONNECTION_APP = '''
from fastapi import Depends, FastAPI, WebSocket
from fastapi.requests import HTTPConnection
from fastapi.websockets import WebSocketDisconnect

app = FastAPI()


def client_agent(conn: HTTPConnection):
    return conn.headers.get("user-agent", "")


@app.get("/agent")
def agent(value: str = Depends(client_agent)):
    return {"agent": value}


@app.websocket("/ws")
async def ws(websocket: WebSocket, value: str = Depends(client_agent)):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(value + ":" + await websocket.receive_text())
    except WebSocketDisconnect:
        pass
'''


def _view(response):
    return response.status_code, response.headers.get("content-type"), response.text


def test_reuse_exception_handlers(serve):
    theirs, ours = both(REUSE_HANDLERS_APP)
    their_client, our_client = TheirClient(theirs["app"]), OurClient(ours["app"])
    srv = serve(ours["app"])
    for url in ("/items/3", "/items/2", "/items/x", "/nowhere"):
        expected = _view(their_client.get(url))
        assert _view(our_client.get(url)) == expected, url
        assert _view(httpx.get(srv.url + url)) == expected, url
    assert sorted(ours["seen"]) == sorted(theirs["seen"] * 2)  # (once per client)
    assert "OMG! The client sent invalid data!" in theirs["seen"]


def test_wsgi_middleware(serve):
    theirs, ours = both(WSGI_APP)
    their_client, our_client = TheirClient(theirs["app"]), OurClient(ours["app"])
    srv = serve(ours["app"])
    for url in ("/v1/", "/v1/greet?name=<Ann>", "/v2"):
        a = their_client.get(url)
        for b in (our_client.get(url), httpx.get(srv.url + url)):
            assert _view(b) == _view(a), url
            assert b.headers.get("x-wsgi") == a.headers.get("x-wsgi")
    assert their_client.get("/v1/greet?name=<Ann>").text == "Hello, %3CAnn%3E from /v1/greet!"


def test_http_connection_dependency(serve):
    theirs, ours = both(CONNECTION_APP)
    headers = {"user-agent": "probe/1"}
    expected = TheirClient(theirs["app"]).get("/agent", headers=headers).json()
    assert OurClient(ours["app"]).get("/agent", headers=headers).json() == expected == {"agent": "probe/1"}
    srv = serve(ours["app"])
    assert httpx.get(srv.url + "/agent", headers=headers).json() == expected
    for client in (TheirClient(theirs["app"]), OurClient(ours["app"])):
        with client.websocket_connect("/ws", headers=headers) as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "probe/1:hi"


INTERNALS_APP = '''
from contextlib import AsyncExitStack
from typing import Optional

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.utils import get_dependant, solve_dependencies
from fastapi.routing import serialize_response
from fastapi.utils import create_model_field
from pydantic import BaseModel


class Out(BaseModel):
    name: str
    size: Optional[int] = None


def page(limit: int = 10, q: Optional[str] = None):
    return {"limit": limit, "q": q}


def search(p: dict = Depends(page), token: str = "none"):
    return {**p, "token": token}


app = FastAPI()


@app.get("/solve")
async def solve(request: Request):
    dependant = get_dependant(path="/solve", call=search)
    async with AsyncExitStack() as stack:
        request.scope["fastapi_inner_astack"] = stack
        request.scope["fastapi_function_astack"] = stack
        solved = await solve_dependencies(request=request, dependant=dependant, async_exit_stack=stack,
                                          embed_body_fields=False)
    value = search(**solved.values) if not solved.errors else None
    field = create_model_field("Response_solve", Out, mode="serialization")
    out = await serialize_response(field=field, response_content={"name": "n", "size": 3, "x": 1},
                                   exclude_none=True)
    return {"value": value, "errors": [e["loc"] for e in solved.errors], "serialized": out}
'''


def test_fastapi_internals_used_by_extensions():
    """``get_dependant`` + ``solve_dependencies``, ``create_model_field`` + ``serialize_response``, as FastAPI
    extensions call them from a handler."""
    theirs, ours = both(INTERNALS_APP)
    for url in ("/solve?limit=5&token=t", "/solve?limit=x"):
        a = TheirClient(theirs["app"]).get(url)
        b = OurClient(ours["app"]).get(url)
        assert (b.status_code, b.json()) == (a.status_code, a.json()), url
    assert OurClient(ours["app"]).get("/solve?limit=5").json()["value"] == {"limit": 5, "q": None, "token": "none"}
