"""Starlette's and FastAPI's routing helpers at the ASGI level (``fastapi.routing`` re-exports them): turning a
``request -> response`` function or a path operation's dependency tree into an ASGI app, serializing a result
as FastAPI does, and small routing utilities.

FastrAPI's own routes do not go through these (the router calls each route's prebuilt ``handle``); they are
here for code written against FastAPI's internals: custom route classes, extensions, tests.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
from typing import Any, Awaitable, Callable, Iterator, Sequence

from pydantic import ValidationError

from .asgi import ASGIWebSocket, ScopePeer, build_request, send_complete, send_response
from .concurrency import run_in_threadpool
from .datastructures import Default
from .dependencies import SolveContext, solve_async
from .encoders import jsonable_encoder
from .exceptions import ResponseValidationError
from .requests import Request
from .responses import JSONResponse, Response, encoded_json_response, finalize_response
from .routing import APIRoute, BaseRoute, WebSocketRoute, _endpoint_name
from .websocket import WebSocket

__all__ = [
    "APIWebSocketRoute", "Match", "RouteContext", "get_name", "get_request_handler", "get_route_path",
    "get_websocket_app", "is_async_callable", "iter_route_contexts", "request_response", "run_endpoint_function",
    "serialize_response", "websocket_session", "wrap_app_handling_exceptions",
]

#: FastAPI's WebSocket route class (FastrAPI's WebSocketRoute takes the same arguments)
APIWebSocketRoute = WebSocketRoute


class Match(enum.Enum):
    """How a route matches a scope (Starlette's)."""

    NONE = 0
    PARTIAL = 1
    FULL = 2


def get_name(endpoint: Callable[..., Any]) -> str:
    """A route's default name: the endpoint's ``__name__`` (its class name for an instance)."""
    return _endpoint_name(endpoint)


def get_route_path(scope: Any) -> str:
    """The scope's path without its ``root_path`` (what routing matches, Starlette's)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):]
    return path


def is_async_callable(obj: Any) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or (callable(obj) and inspect.iscoroutinefunction(obj.__call__))


async def _respond(request: Request, response: Any, scope: Any, receive: Any, send: Any) -> None:
    if type(response) is bytes:
        response = encoded_json_response(response)
    await send_response(request.app, request, response, scope, receive, send, request._transport)


def request_response(func: Callable[[Request], Awaitable[Response] | Response]) -> Callable[..., Awaitable[None]]:
    """An ASGI app calling ``func(request)`` (in the thread pool if sync) and sending its response."""
    call = func if is_async_callable(func) else functools.partial(run_in_threadpool, func)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        body = message.get("body", b"") if message["type"] == "http.request" else b""
        request = build_request(scope.get("app"), scope, bytes(body), ScopePeer(scope))
        try:
            response = await call(request)  # type: ignore[operator]
        except Exception as exc:
            handle = getattr(request.app, "handle_exception", None)
            if handle is None:
                raise
            response = await handle(request, exc)
        await _respond(request, response, scope, receive, send)

    return app


def websocket_session(func: Callable[[WebSocket], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """An ASGI app running ``func(websocket)`` for a ``websocket`` scope."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        conn = ASGIWebSocket(scope, receive, send)
        websocket = WebSocket(conn, scope["path"], scope.get("query_string", b""), scope.get("path_params", {}),
                              app=scope.get("app"))
        try:
            await func(websocket)
        finally:
            conn.finish(1000)
            await conn.flush()
            conn.gone()

    return app


def wrap_app_handling_exceptions(app: Callable[..., Awaitable[None]], conn: Any) -> Callable[..., Awaitable[None]]:
    """``app`` with the exceptions it raises before responding answered by ``conn.app``'s exception handlers
    (FastrAPI's ``handle_exception``: user handlers, then FastAPI's defaults)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, watch)
        except Exception as exc:
            handle = getattr(getattr(conn, "app", None), "handle_exception", None)
            if started or handle is None or scope.get("type") != "http":
                raise
            await send_complete(conn, await handle(conn, exc), send)

    return wrapped


async def serialize_response(*, field: Any = None, response_content: Any, include: Any = None, exclude: Any = None,
                             by_alias: bool = True, exclude_unset: bool = False, exclude_defaults: bool = False,
                             exclude_none: bool = False, is_coroutine: bool = True, endpoint_ctx: Any = None,
                             dump_json: bool = False) -> Any:
    """A handler's result as FastAPI sends it: validated by the response ``field`` and dumped with the
    ``response_model_*`` options (JSON bytes with ``dump_json``), else made JSON-ready."""
    if field is None:
        return jsonable_encoder(response_content)
    adapter = field.type_adapter
    try:
        value = adapter.validate_python(response_content, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("response", *e["loc"])} for e in exc.errors(include_url=False)]
        raise ResponseValidationError(errors, body=response_content, endpoint_ctx=endpoint_ctx) from None
    options = {"include": include, "exclude": exclude, "by_alias": by_alias, "exclude_unset": exclude_unset,
               "exclude_defaults": exclude_defaults, "exclude_none": exclude_none}
    if dump_json:
        return adapter.dump_json(value, **options)
    return adapter.dump_python(value, mode="json", **options)


async def run_endpoint_function(*, dependant: Any, values: dict[str, Any], is_coroutine: bool) -> Any:
    """Call the path operation function with its solved ``values`` (sync ones in the thread pool)."""
    if is_coroutine:
        return await dependant.call(**values)
    return await run_in_threadpool(dependant.call, **values)


def get_request_handler(dependant: Any, body_field: Any = None, status_code: int | None = None,
                        response_class: Any = Default(JSONResponse), response_field: Any = None,
                        response_model_include: Any = None, response_model_exclude: Any = None,
                        response_model_by_alias: bool = True, response_model_exclude_unset: bool = False,
                        response_model_exclude_defaults: bool = False, response_model_exclude_none: bool = False,
                        dependency_overrides_provider: Any = None, embed_body_fields: bool = False,
                        **_: Any) -> Callable[[Request], Awaitable[Any]]:
    """``request -> response`` for a path operation's dependency tree (its parameters, dependencies, response
    model and class), as a FastrAPI route runs it."""
    from .dependencies import PATH

    path = "/" + "/".join("{%s}" % p.name for p in dependant.plan.params if p.kind == PATH)
    route = APIRoute(
        path, dependant.call, status_code=status_code, response_class=response_class,
        response_model=response_field.field_info.annotation if response_field is not None else None,
        response_model_include=response_model_include, response_model_exclude=response_model_exclude,
        response_model_by_alias=response_model_by_alias, response_model_exclude_unset=response_model_exclude_unset,
        response_model_exclude_defaults=response_model_exclude_defaults,
        response_model_exclude_none=response_model_exclude_none,
    )

    async def app(request: Request) -> Any:
        response = finalize_response(request, await route.handle(request))
        return encoded_json_response(response) if type(response) is bytes else response

    return app


def get_websocket_app(dependant: Any, dependency_overrides_provider: Any = None,
                      embed_body_fields: bool = False) -> Callable[[WebSocket], Awaitable[None]]:
    """``websocket -> None`` running the WebSocket endpoint of ``dependant`` with its parameters solved."""
    from contextlib import AsyncExitStack

    async def app(websocket: WebSocket) -> None:
        overrides = getattr(dependency_overrides_provider, "dependency_overrides", None)
        async with AsyncExitStack() as stack:
            kwargs = await solve_async(dependant.plan, websocket, SolveContext(stack, overrides,
                                                                              set(websocket.path_params)))
            if dependant.plan.websocket_name is not None:
                kwargs[dependant.plan.websocket_name] = websocket
            await dependant.call(**kwargs)

    return app


@dataclasses.dataclass
class RouteContext:
    """A route as FastAPI walks an app's routes (the route, and the one it was declared as)."""

    route: BaseRoute

    @property
    def original_route(self) -> BaseRoute:
        return self.route


def iter_route_contexts(routes: Sequence[Any]) -> Iterator[RouteContext]:
    """Each route (or context) of ``routes`` as a ``RouteContext``."""
    for route in routes:
        yield route if isinstance(route, RouteContext) else RouteContext(route)
