"""FastrAPI: a FastAPI-compatible web framework with its own uvloop server, built for speed.

    from fastrapi import FastrAPI

    app = FastrAPI()

    @app.get("/")
    async def hello():
        return {"Hello": "World"}

    @app.websocket("/ws")
    async def echo(ws):
        await ws.accept()
        while True:
            await ws.send_text(await ws.receive_text())

    app.serve(host="127.0.0.1", port=8000)
"""
from . import status
from .applications import FastAPI, FastrAPI
from .background import BackgroundTasks
from .datastructures import UploadFile
from .param_functions import Body, Cookie, Depends, File, Form, Header, Path, Query, Security
from .exceptions import HTTPException, RequestValidationError, WebSocketDisconnect, WebSocketException
from .requests import Request
from .security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    SecurityScopes,
)
from .routing import APIRouter
from .responses import (
    HTMLResponse,
    JSONResponse,
    ORJSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from .websocket import WebSocket, WebSocketState

__version__ = "0.3.0"

#: names the original FastrAPI exports at top level, loaded on first use (their modules cost nothing until then;
#: Instrumentator needs the `metrics` extra, so it is left out of ``__all__``)
_LAZY = {"StaticFiles": ".staticfiles", "Instrumentator": ".metrics"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastrapi' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "HTTPDigest",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "StaticFiles",
    "APIRouter",
    "BackgroundTasks",
    "Body",
    "Cookie",
    "Depends",
    "File",
    "Form",
    "Header",
    "Path",
    "Query",
    "Security",
    "SecurityScopes",
    "FastrAPI",
    "FastAPI",
    "HTTPException",
    "HTMLResponse",
    "JSONResponse",
    "ORJSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketState",
    "UploadFile",
    "status",
]
