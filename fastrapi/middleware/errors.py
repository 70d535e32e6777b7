"""Starlette's ``ServerErrorMiddleware`` and ``ExceptionMiddleware`` (FastAPI re-exports them from
``fastapi.applications``), as plain ASGI middleware for apps that assemble their own stack.

A FastrAPI app does both jobs itself (``FastrAPI.handle_exception``); these wrap any other ASGI app.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

from ..exceptions import HTTPException, WebSocketException
from ..responses import JSONResponse, PlainTextResponse, Response

logger = logging.getLogger("fastrapi.error")


async def _call(handler: Callable[..., Any], *args: Any) -> Any:
    result = handler(*args)
    return await result if inspect.isawaitable(result) else result


async def _send_response(response: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": list(response.raw_headers)
                + [(b"content-length", b"%d" % len(response.body))]})
    await send({"type": "http.response.body", "body": response.body})


class ServerErrorMiddleware:
    """An exception escaping ``app`` before the response started becomes a 500 (``handler(request, exc)``'s
    response if given, else "Internal Server Error"); the exception is then raised again, as in Starlette."""

    def __init__(self, app: Any, handler: Callable[..., Any] | None = None, debug: bool = False) -> None:
        self.app = app
        self.handler = handler
        self.debug = debug

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if not started:
                response: Any = PlainTextResponse("Internal Server Error", status_code=500)
                if self.handler is not None:
                    response = await _call(self.handler, _scope_request(scope, receive), exc)
                await _send_response(response, send)
            raise


class ExceptionMiddleware:
    """``HTTPException`` / ``WebSocketException`` (and classes or status codes in ``handlers``) raised by
    ``app`` become responses: the handler's, else ``{"detail": ...}`` with the status (Starlette's)."""

    def __init__(self, app: Any, handlers: dict[Any, Callable[..., Any]] | None = None, debug: bool = False) -> None:
        self.app = app
        self.debug = debug
        self.handlers: dict[Any, Callable[..., Any]] = dict(handlers or {})

    def add_exception_handler(self, exc_class_or_status_code: Any, handler: Callable[..., Any]) -> None:
        self.handlers[exc_class_or_status_code] = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            handler = None
            if isinstance(exc, HTTPException):
                handler = self.handlers.get(exc.status_code)
            for cls in type(exc).__mro__:
                handler = handler or self.handlers.get(cls)
            if handler is None and not isinstance(exc, (HTTPException, WebSocketException)):
                raise
            if scope["type"] == "websocket":
                code = exc.code if isinstance(exc, WebSocketException) else 1011
                await send({"type": "websocket.close", "code": code, "reason": getattr(exc, "reason", "")})
                return
            if handler is not None:
                response = await _call(handler, _scope_request(scope, receive), exc)
            elif exc.status_code in (204, 304):  # type: ignore[union-attr]
                response = Response(status_code=exc.status_code, headers=exc.headers)  # type: ignore[union-attr]
            else:
                response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code,  # type: ignore[union-attr]
                                        headers=exc.headers)  # type: ignore[union-attr]
            await _send_response(response, send)


def _scope_request(scope: Any, receive: Any) -> Any:
    """A Request for a handler called from ASGI middleware (built from the scope; the body is not read)."""
    from ..asgi import ScopePeer, build_request

    return build_request(scope.get("app"), scope, b"", ScopePeer(scope))
