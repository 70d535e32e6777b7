"""The FastrAPI application: route decorators, exception handling, WebSocket handler runs, ``serve``."""
from __future__ import annotations

import inspect
import logging
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator, Callable, Iterable, Sequence

import orjson

from .datastructures import State
from .dependencies import SolveContext, solve, solve_async
from .exceptions import (
    HTTPException,
    RequestValidationError,
    ResponseValidationError,
    WebSocketDisconnect,
    WebSocketException,
)
from .responses import PlainTextResponse, Response, encoded_json_response
from .routing import F, APIRoute, APIRouter, RouteDecorators, Router, WebSocketRoute
from .websocket import WebSocket

logger = logging.getLogger("fastrapi.error")

ExceptionHandler = Callable[[Any, Exception], Any]


def _json_response(status: int, content: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    return encoded_json_response(orjson.dumps(content, default=str), status, headers)


class FastrAPI(RouteDecorators):
    """A FastrAPI application. Declare routes with the decorators, then ``app.serve(host, port)``."""

    def __init__(
        self,
        *,
        title: str = "FastrAPI",
        version: str = "0.1.0",
        description: str = "",
        debug: bool = False,
        exception_handlers: dict[Any, ExceptionHandler] | None = None,
        lifespan: Callable[["FastrAPI"], Any] | None = None,
        dependencies: Sequence[Any] | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        **extra: Any,
    ) -> None:
        self.title = title
        self.version = version
        self.description = description
        self.debug = debug
        self.extra = extra
        self.router = Router()
        self.state = State()
        self.exception_handlers: dict[Any, ExceptionHandler] = dict(exception_handlers or {})
        #: ``{dependency: replacement}``, consulted per request (for tests)
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._not_found = _json_response(404, {"detail": "Not Found"})
        self.lifespan = lifespan
        #: dependencies every route of the app runs first
        self.dependencies: list[Any] = list(dependencies or ())
        self.on_startup: list[Callable[[], Any]] = list(on_startup or ())
        self.on_shutdown: list[Callable[[], Any]] = list(on_shutdown or ())

    # ------------------------------------------------------------------ lifespan
    def on_event(self, event_type: str) -> Callable[[F], F]:
        """``@app.on_event("startup")`` / ``("shutdown")``: run the function when the server starts / stops."""
        if event_type not in ("startup", "shutdown"):
            raise ValueError(f"unknown event {event_type!r}: use 'startup' or 'shutdown'")

        def decorator(func: F) -> F:
            self.add_event_handler(event_type, func)
            return func

        return decorator

    def add_event_handler(self, event_type: str, func: Callable[[], Any]) -> None:
        (self.on_startup if event_type == "startup" else self.on_shutdown).append(func)

    @asynccontextmanager
    async def lifespan_context(self) -> AsyncIterator[None]:
        """Startup before the server accepts, shutdown after it stopped: ``lifespan`` if given, else the hooks.

        A ``lifespan`` that yields a mapping puts its items on ``app.state``.
        """
        if self.lifespan is not None:
            async with self.lifespan(self) as state:
                for key, value in (state or {}).items():
                    setattr(self.state, key, value)
                yield
            return
        for func in self.on_startup:
            result = func()
            if inspect.isawaitable(result):
                await result
        try:
            yield
        finally:
            for func in self.on_shutdown:
                result = func()
                if inspect.isawaitable(result):
                    await result

    @property
    def routes(self) -> list[Any]:
        return self.router.routes

    # ------------------------------------------------------------------ declaring routes
    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        status_code: int | None = None,
        response_model: Any = None,
        response_class: type[Response] | None = None,
        name: str | None = None,
        dependencies: Sequence[Any] | None = None,
        **options: Any,
    ) -> APIRoute:
        route = APIRoute(
            path,
            endpoint,
            methods or ["GET"],
            status_code=status_code,
            response_model=response_model,
            response_class=response_class,
            name=name,
            dependencies=[*self.dependencies, *(dependencies or ())],
        )
        self.router.add_route(route)
        return route

    def add_api_websocket_route(self, path: str, endpoint: Callable[..., Any], name: str | None = None,
                                dependencies: Sequence[Any] | None = None) -> WebSocketRoute:
        route = WebSocketRoute(path, endpoint, name=name, dependencies=[*self.dependencies, *(dependencies or ())])
        self.router.add_route(route)
        return route

    def include_router(
        self,
        router: "APIRouter",
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
    ) -> None:
        """Add every route of ``router`` under ``prefix``, with extra ``tags`` and ``dependencies``."""
        for kind, path, endpoint, options in router.route_specs(prefix, tags, dependencies):
            if kind == "websocket":
                self.add_api_websocket_route(path, endpoint, **options)
            else:
                self.add_api_route(path, endpoint, **options)

    def url_path_for(self, name: str, **path_params: Any) -> str:
        return self.router.url_path_for(name, **path_params)

    # ------------------------------------------------------------------ errors
    def exception_handler(self, exc_class_or_status_code: Any) -> Callable[[F], F]:
        """Register ``handler(request, exc)`` for an exception class or an HTTP status code."""

        def decorator(func: F) -> F:
            self.exception_handlers[exc_class_or_status_code] = func
            return func

        return decorator

    def add_exception_handler(self, exc_class_or_status_code: Any, handler: ExceptionHandler) -> None:
        self.exception_handlers[exc_class_or_status_code] = handler

    def _lookup_handler(self, exc: Exception) -> ExceptionHandler | None:
        handlers = self.exception_handlers
        if not handlers:
            return None
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None

    def error_response(self, status: int, allowed: list[str] | None) -> Response:
        """The 404 / 405 answers for requests no route takes."""
        if status == 405:
            return _json_response(405, {"detail": "Method Not Allowed"}, [(b"allow", ", ".join(allowed or ()).encode())])
        return self._not_found

    async def handle_exception(self, request: Any, exc: Exception) -> Response:
        """Turn an exception from a handler into a response (user handlers first, then FastAPI's defaults)."""
        handler = self._lookup_handler(exc)
        if handler is not None:
            try:
                result = handler(request, exc)
                if inspect.isawaitable(result):
                    result = await result
                return result
            except Exception as inner:
                exc = inner
        if isinstance(exc, HTTPException):
            headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (exc.headers or {}).items()]
            if exc.status_code in (204, 304) or exc.status_code < 200:
                resp = Response(status_code=exc.status_code, headers=exc.headers)
                return resp
            return _json_response(exc.status_code, {"detail": exc.detail}, headers)
        if isinstance(exc, RequestValidationError):
            return _json_response(422, {"detail": exc.errors()})
        if isinstance(exc, ResponseValidationError):
            logger.error("Response validation failed for %s %s: %s", request.method, request.path, exc.errors())
        else:
            logger.error("Exception in handler of %s %s", request.method, request.path, exc_info=exc)
        return PlainTextResponse("Internal Server Error", status_code=500)

    # ------------------------------------------------------------------ WebSocket handler runs
    async def run_websocket(self, route: WebSocketRoute, conn: Any, path: str, query: bytes, params: dict[str, Any]) -> None:
        """Run one WebSocket handler to its end and close (or refuse) the connection accordingly."""
        ws = WebSocket(conn, path, query, params, app=self)
        plan = route.plan
        try:
            async with AsyncExitStack() as stack:  # yield dependencies live as long as the connection
                if plan.has_deps:
                    kwargs = await solve_async(plan, ws, SolveContext(stack, self.dependency_overrides, set(route.convertors)))
                else:
                    kwargs = solve(plan, ws)
                if plan.websocket_name is not None:
                    kwargs[plan.websocket_name] = ws
                await route.endpoint(**kwargs)
        except WebSocketDisconnect:
            conn.finish(1000)
        except WebSocketException as exc:
            if conn.application_state == 0:
                conn.reject(403)
            else:
                conn.finish(exc.code, exc.reason)
        except RequestValidationError as exc:
            if conn.application_state == 0:
                conn.reject(403)
            else:
                conn.finish(1008, "invalid request parameters")
            logger.info("WebSocket %s refused: %s", path, exc.errors())
        except Exception as exc:
            logger.error("Exception in WebSocket handler for %s", path, exc_info=exc)
            if conn.application_state == 0:
                conn.reject(500)
            else:
                conn.finish(1011, "internal error")
        else:
            if conn.application_state == 0:
                conn.reject(403)
            else:
                conn.finish(1000)
        if ws.background is not None:
            await ws.background()

    # ------------------------------------------------------------------ running
    def serve(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Run the built-in server until Ctrl-C / SIGTERM (see ``fastrapi.server.Server`` for options)."""
        from .server import Server

        Server(self, host, port, **options).run_forever()


FastAPI = FastrAPI
