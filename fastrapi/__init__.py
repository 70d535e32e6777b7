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
from .security import SecurityScopes
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

__all__ = [
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
