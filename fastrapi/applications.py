"""The FastrAPI application: route decorators, exception handling, WebSocket handler runs, ``serve``."""
from __future__ import annotations

import inspect
import logging
import os
import sys
import warnings
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Callable, Iterable, Sequence

import orjson

from .asgi import ASGIAdapter, server_errors
from .requests import ClientDisconnect
from .datastructures import Default, DefaultPlaceholder, State, URLPath
from .encoders import jsonable_encoder
from .jsoncodec import InvalidJSON
from .dependencies import SolveContext, solve, solve_async
from .exceptions import (
    HTTPException,
    RequestValidationError,
    ResponseValidationError,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketRequestValidationError,
)
from .responses import JSONResponse, PlainTextResponse, Response, encoded_json_response, finalize_response
from .openapi.serving import OpenAPIMixin
from .asyncapi.docs import ASYNCAPI_CSS_URL, ASYNCAPI_JS_URL
from .asyncapi.serving import AsyncAPIMixin
from .routing import F, APIRoute, BaseRoute, RouteDecorators, Router, WebSocketRoute, build_route, generate_unique_id
from .websocket import WebSocket
from .ws.codes import CloseCode, State as WSState
from .ws.handshake import OriginPolicy

logger = logging.getLogger("fastrapi.error")

ExceptionHandler = Callable[[Any, Exception], Any]


#: the original FastrAPI's default limits: request body, one form field, one uploaded file
MAX_BODY_SIZE = 16 * 1024 * 1024
MAX_FIELD_SIZE = 1024 * 1024
MAX_FILE_SIZE = 16 * 1024 * 1024

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _size_option(name: str, value: Any) -> int | None:
    """A byte limit: a positive int, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive number of bytes or None (no limit), not {value!r}")
    return value


def _header_option(option: str, value: str | None, *, name: bool) -> str | None:
    """A header name (``name=True``) or value given as an option: refused at construction if it could not
    be sent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{option} must be a string, not {value!r}")
    if name and not set(value) <= _TOKEN_CHARS:
        raise ValueError(f"{option}={value!r} is not a valid header name")
    if not name and (not value.isprintable() or not value.isascii()):
        raise ValueError(f"{option}={value!r} is not a valid header value (printable ASCII only)")
    return value


def _json_response(status: int, content: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    # (not the strict encoder: the answer to an error must not fail itself; a NaN in an error's detail is null)
    return encoded_json_response(orjson.dumps(content, default=str), status, headers)


class FastrAPI(RouteDecorators, AsyncAPIMixin, OpenAPIMixin):
    """A FastrAPI application. Declare routes with the decorators, then ``app.serve(host, port)``.

    Beyond FastAPI's arguments it takes the original FastrAPI's options (``max_body_size``, ``max_field_size``,
    ``max_file_size``, ``reject_unknown_multipart_fields``, ``request_timeout``, ``request_id_header``,
    ``powered_by_header``, ``trace_requests``, ``catch_panics``, ``sync_to_threadpool``...), each enforced; see
    docs/migrating-from-fastrapi.md. Route objects given in ``routes=`` are taken as they were built (the
    app's route settings such as ``sync_to_threadpool`` apply to routes declared through the app)."""

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
        default_response_class: Any = Default(JSONResponse),
        redirect_slashes: bool = True,
        root_path: str = "",
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Any = Default(generate_unique_id),
        openapi_url: str | None = "/openapi.json",
        openapi_tags: list[dict[str, Any]] | None = None,
        servers: list[dict[str, Any]] | None = None,
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        scalar_url: str | None = "/scalar",
        elements_url: str | None = "/elements",
        swagger_ui_oauth2_redirect_url: str | None = "/docs/oauth2-redirect",
        swagger_ui_init_oauth: dict[str, Any] | None = None,
        swagger_ui_parameters: dict[str, Any] | None = None,
        summary: str | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, Any] | None = None,
        license_info: dict[str, Any] | None = None,
        root_path_in_servers: bool = True,
        separate_input_output_schemas: bool = True,
        openapi_external_docs: dict[str, Any] | None = None,
        webhooks: Any = None,
        broadcast: Any = None,
        middleware: Sequence[Any] | None = None,
        routes: Sequence[Any] | None = None,
        openapi_prefix: str = "",
        max_body_size: int | None = MAX_BODY_SIZE,
        max_field_size: Any = Default(MAX_FIELD_SIZE),
        max_file_size: int | None = MAX_FILE_SIZE,
        reject_unknown_multipart_fields: bool = False,
        request_timeout: float | None = None,
        request_id_header: str | None = None,
        powered_by_header: str | None = None,
        trace_requests: bool = False,
        catch_panics: bool = False,
        sync_to_threadpool: bool = True,
        telemetry: Any = None,
        asyncapi_url: str | None = "/asyncapi.json",
        asyncapi_docs_url: str | None = "/asyncapi",
        asyncapi_js_url: str = ASYNCAPI_JS_URL,
        asyncapi_css_url: str = ASYNCAPI_CSS_URL,
        asyncapi_config: dict[str, Any] | None = None,
        websocket_origins: Sequence[str] | None = None,
        **extra: Any,
    ) -> None:
        if openapi_prefix:
            import warnings

            warnings.warn('"openapi_prefix" has been deprecated in favor of "root_path", which follows more closely '
                          "the ASGI standard, is simpler, and more automatic.", DeprecationWarning, stacklevel=2)
            root_path = root_path or openapi_prefix
        self.openapi_prefix = openapi_prefix
        # The original FastrAPI's options (see docs/migrating-from-fastrapi.md), checked here, once
        self.max_body_size = _size_option("max_body_size", max_body_size)
        #: set by the user: its 413 answer; left at its default: Starlette's 1 MiB part limit and its 400
        self._field_size_status = 400 if isinstance(max_field_size, DefaultPlaceholder) else 413
        self.max_field_size = _size_option("max_field_size", getattr(max_field_size, "value", max_field_size))
        self.max_file_size = _size_option("max_file_size", max_file_size)
        self.reject_unknown_multipart_fields = bool(reject_unknown_multipart_fields)
        if request_timeout is not None and (isinstance(request_timeout, bool) or
                                            not isinstance(request_timeout, (int, float)) or request_timeout <= 0):
            raise ValueError(f"request_timeout must be a positive number of seconds or None, not {request_timeout!r}")
        self.request_timeout = request_timeout
        self.request_id_header = _header_option("request_id_header", request_id_header, name=True)
        self.powered_by_header = _header_option("powered_by_header", powered_by_header, name=False)
        self.trace_requests = bool(trace_requests)
        #: accepted for the original's users: an exception anywhere in the app is always answered 500 here
        self.catch_panics = bool(catch_panics)
        #: True (FastAPI's semantics): plain ``def`` handlers and dependencies run in the thread pool
        self.sync_to_threadpool = bool(sync_to_threadpool)
        #: what every route of this app is built with (only the options not at their default)
        self._route_settings: dict[str, Any] = {}
        if not self.sync_to_threadpool:
            self._route_settings["sync_to_threadpool"] = False
        if request_timeout is not None:
            self._route_settings["request_timeout"] = float(request_timeout)
        if self.reject_unknown_multipart_fields:
            self._route_settings["reject_unknown_multipart_fields"] = True
        #: the middleware of the options above (request id, X-Powered-By, trace), outermost; None: no cost
        self._options_middleware: Any = None
        if self.request_id_header or self.powered_by_header or self.trace_requests:
            from .middleware import Middleware
            from .middleware.options import AppOptionsMiddleware

            self._options_middleware = Middleware(
                AppOptionsMiddleware, owner=self, request_id_header=self.request_id_header,
                powered_by_header=self.powered_by_header, trace_requests=self.trace_requests)
        self.title = title
        #: FastAPI's ``telemetry=`` settings (OpenTelemetry there): kept, not acted upon
        self.telemetry = telemetry
        self.version = version
        self.description = description
        self.debug = debug
        self.extra = extra
        self.router = Router(redirect_slashes=redirect_slashes, root_path=root_path)
        self.websocket_origins = websocket_origins
        # route options every route of the app starts from (FastAPI keeps them on ``app.router``)
        self.default_response_class = default_response_class
        self.responses: dict[int | str, dict[str, Any]] = dict(responses or {})
        self.callbacks: list[Any] = list(callbacks or ())
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.generate_unique_id_function = generate_unique_id_function
        self.state = State()
        #: what a ``lifespan`` yielded: each request's ``request.state`` starts as a copy of it
        self.lifespan_state: dict[str, Any] | None = None
        self.exception_handlers: dict[Any, ExceptionHandler] = dict(exception_handlers or {})
        #: ``{dependency: replacement}``, consulted per request (for tests)
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._not_found = _json_response(404, {"detail": "Not Found"})
        self.lifespan = lifespan
        #: dependencies every route of the app runs first
        self.dependencies: list[Any] = list(dependencies or ())
        self.on_startup: list[Callable[[], Any]] = list(on_startup or ())
        self.on_shutdown: list[Callable[[], Any]] = list(on_shutdown or ())
        #: what ``__call__`` (the ASGI interface) runs: the plain adapter, or a middleware stack around it
        self._asgi_entry: Any = ASGIAdapter(self)
        #: ``Middleware(cls, ...)`` records, outermost first (``add_middleware`` puts the new one in front)
        self.user_middleware: list[Any] = []
        if middleware:
            from .middleware import as_middleware

            self.user_middleware = [as_middleware(entry) for entry in middleware]
        #: the ASGI app the middleware became (Starlette's attribute); built once, on first use
        self.middleware_stack: Any = None
        self._middleware_built: Any = None
        #: what the server's WebSocket connections go through first when middleware must see them
        self._websocket_middleware: Any = None
        #: makes each connection's WebSocket object and hears when its handler returned (the metrics of
        #: ``fastrapi.metrics.Instrumentator``); None: plain WebSocket objects, nothing called
        self._websocket_observer: Any = None
        #: ``hook(pid)`` called by the ``workers=N`` supervisor when a worker process has exited
        self.worker_exit_hooks: list[Callable[[int], Any]] = []
        if self.user_middleware or self._options_middleware is not None:
            self._asgi_entry = self._asgi_with_middleware
        # channels (fastrapi.broadcast): a URL or a Broadcast; None -> FASTRAPI_BROADCAST_URL or in-memory, lazily
        self._broadcast: Any = None
        if broadcast is not None:
            self.broadcast = broadcast
        for route in routes or ():  # Starlette's ``routes=``: route objects (APIRoute, WebSocketRoute, Mount)
            if not isinstance(route, BaseRoute):
                raise TypeError(f"routes= takes route objects (fastrapi.routing.APIRoute, WebSocketRoute, Mount), "
                                f"not {route!r}")
            self.router.add_route(route)
        # OpenAPI document and docs pages (fastrapi/openapi/serving.py): settings, then their routes
        self._init_openapi(
            openapi_url=openapi_url, openapi_tags=openapi_tags, servers=servers, docs_url=docs_url,
            redoc_url=redoc_url, scalar_url=scalar_url, elements_url=elements_url,
            swagger_ui_oauth2_redirect_url=swagger_ui_oauth2_redirect_url,
            swagger_ui_init_oauth=swagger_ui_init_oauth, swagger_ui_parameters=swagger_ui_parameters,
            summary=summary, terms_of_service=terms_of_service, contact=contact, license_info=license_info,
            root_path_in_servers=root_path_in_servers, separate_input_output_schemas=separate_input_output_schemas,
            openapi_external_docs=openapi_external_docs, webhooks=webhooks,
        )
        # AsyncAPI document and page of the WebSocket routes (fastrapi/asyncapi/): routes added with the first one
        self._init_asyncapi(asyncapi_url=asyncapi_url, asyncapi_docs_url=asyncapi_docs_url,
                            asyncapi_js_url=asyncapi_js_url, asyncapi_css_url=asyncapi_css_url,
                            asyncapi_config=asyncapi_config)
        if routes and self.has_websocket_routes():  # WebSocket routes given in ``routes=``
            self.setup_asyncapi()

    # ------------------------------------------------------------------ lifespan
    def on_event(self, event_type: str) -> Callable[[F], F]:
        """``@app.on_event("startup")`` / ``("shutdown")``: run the function when the server starts / stops."""
        warnings.warn(_ON_EVENT_DEPRECATED, DeprecationWarning, stacklevel=2)
        if event_type not in ("startup", "shutdown"):
            raise ValueError(f"unknown event {event_type!r}: use 'startup' or 'shutdown'")

        def decorator(func: F) -> F:
            self.add_event_handler(event_type, func)
            return func

        return decorator

    def add_event_handler(self, event_type: str, func: Callable[[], Any]) -> None:
        (self.on_startup if event_type == "startup" else self.on_shutdown).append(func)

    @property
    def broadcast(self) -> Any:
        """The app's channels (``fastrapi.broadcast.Broadcast``): in-memory unless ``broadcast=`` (or the
        FASTRAPI_BROADCAST_URL environment variable) names a shared backend such as ``redis://host:6379``."""
        if self._broadcast is None:
            import os

            from .broadcast import Broadcast

            self._broadcast = Broadcast(os.environ.get("FASTRAPI_BROADCAST_URL") or "memory://")
            workers = os.environ.get("FASTRAPI_WORKERS", "1")
            if self._broadcast.backend.in_memory and workers.isdigit() and int(workers) > 1:
                logger.warning("app.broadcast is in memory while %s workers run: channels are per process, so a "
                               "message reaches only the clients of the worker that published it. Set "
                               "FastrAPI(broadcast='redis://...') to share channels.", workers)
        return self._broadcast

    @broadcast.setter
    def broadcast(self, value: Any) -> None:
        if isinstance(value, str):
            from .broadcast import Broadcast

            value = Broadcast(value)
        self._broadcast = value

    @asynccontextmanager
    async def lifespan_context(self) -> AsyncIterator[None]:
        """Startup before the server accepts, shutdown after it stopped: the broadcast backend connects
        first (if the app has one configured), then ``lifespan`` if given, else the hooks."""
        broadcast = self._broadcast
        if broadcast is None and os.environ.get("FASTRAPI_BROADCAST_URL"):
            broadcast = self.broadcast
        if broadcast is None:
            async with self._user_lifespan():
                await self._fill_cached_routes()
                yield
            return
        async with broadcast:
            async with self._user_lifespan():
                await self._fill_cached_routes()
                yield

    async def _fill_cached_routes(self) -> None:
        """``cache_resp=True`` routes: each handler runs once, after the startup, and its response is stored
        (then served from the bytes: see ``fastrapi.response_cache``)."""
        for route in self.router.routes:
            if isinstance(route, APIRoute) and route.cache_resp and route.stored is None:
                await route.fill_cache(self)
                self.router.reindex(route)

    @asynccontextmanager
    async def _user_lifespan(self) -> AsyncIterator[None]:
        """``lifespan`` if given (a mapping it yields goes on ``app.state`` and each request's state), else
        the on_startup / on_shutdown hooks."""
        if self.lifespan is not None:
            async with _lifespan_manager(self.lifespan)(self) as state:
                if state:
                    # Starlette's lifespan state: a shallow copy starts every request's (and WebSocket's) state
                    self.lifespan_state = dict(state)
                    for key, value in state.items():
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

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The app as an ASGI 3 application (uvicorn, hypercorn, granian; ``fastrapi.testclient``)."""
        await self._asgi_entry(scope, receive, send)

    @property
    def routes(self) -> list[Any]:
        return self.router.routes

    @property
    def websocket_origins(self) -> OriginPolicy | None:
        """The Origins WebSocket handshakes are accepted from (``["https://example.com", "https://*.example.com"]``;
        None: any). A browser's handshake from another Origin gets 403 before any handler runs."""
        return self._websocket_origins

    @websocket_origins.setter
    def websocket_origins(self, origins: Sequence[str] | OriginPolicy | None) -> None:
        if origins is not None and not isinstance(origins, OriginPolicy):
            origins = OriginPolicy(origins)  # type: ignore[arg-type]
        self._websocket_origins = origins

    @property
    def root_path(self) -> str:
        """The path prefix the app is served under behind a proxy: in ``url_for`` URLs, and stripped from
        request paths that carry it (as Starlette)."""
        return self.router.root_path

    @root_path.setter
    def root_path(self, value: str) -> None:
        self.router.root_path = value

    # ------------------------------------------------------------------ declaring routes
    # add_api_route, add_api_websocket_route, include_router and the decorators come from RouteDecorators
    @property
    def route_class(self) -> type[APIRoute]:
        """The class of the app's routes: ``app.router.route_class`` (an ``APIRoute`` subclass, FastAPI's)."""
        return self.router.route_class

    def _register_route(self, path: str, endpoint: Callable[..., Any], options: dict[str, Any]) -> APIRoute:
        route = build_route(path, endpoint, {**options, **self._route_settings})
        self.router.add_route(route)
        return route

    def _register_websocket(self, path: str, endpoint: Callable[..., Any], options: dict[str, Any]) -> WebSocketRoute:
        route = WebSocketRoute(path, endpoint, **options)
        self.router.add_route(route)
        self.setup_asyncapi()
        return route

    def _register_frontend(self, path: str, files: Any, dependencies: list[Any]) -> None:
        from .frontend import FrontendRoute

        self.router.add_frontend(FrontendRoute(path, files, dependencies))

    def fallback(self, handler: Callable[..., Any] | None = None, **options: Any) -> Any:
        """The handler for requests no route takes (the original FastrAPI's and Axum's ``fallback``), instead
        of the 404 answer: ``app.fallback(handler)`` or ``@app.fallback``. It is a route like the others (any
        method; parameters, dependencies and the Request as usual; ``path: str`` gets the path without its
        leading slash) and answers 200 unless it says otherwise (``status_code=404`` or a Response). A path
        that exists with another method still gets 405. Not in the OpenAPI document."""

        def register(func: F) -> F:
            options.setdefault("name", "fallback")
            options.setdefault("include_in_schema", False)
            options.setdefault("response_class", self.default_response_class)
            options.setdefault("dependencies", list(self.dependencies))
            self.router.fallback = APIRoute("/{path:path}", func, list(_ALL_METHODS), **options)
            return func

        return register(handler) if handler is not None else register

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the route ``name`` with ``path_params`` filled in (Starlette's; ``NoMatchFound``)."""
        return self.router.url_path_for(name, **path_params)

    def mount(self, path: str, app: Any, name: str | None = None) -> None:
        """Serve ``app`` under ``path``: ``StaticFiles``, another FastrAPI app, or any ASGI app (Starlette's
        ``mount``; see ``fastrapi.mounting``). A mounted app's lifespan does not run, as in Starlette."""
        self.router.mount(path, app, name=name)
        if isinstance(app, (FastrAPI, Router)):  # its WebSocket routes are documented here too
            self.setup_asyncapi()

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
        """The user's handler for ``exc``, as Starlette picks it: by status code, then by class (nearest in the
        MRO); an exception with a default answer (HTTPException, 422) stops the search there; anything else
        unhandled goes to the server-error handler (``Exception`` or ``500``)."""
        handlers = self.exception_handlers
        if not handlers:
            return None
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            handler = handlers.get(cls)
            if handler is None and cls in _STARLETTE_NAMES:  # a handler for Starlette's class takes ours too
                handler = _starlette_handler(handlers, cls)
            if handler is not None:
                return handler
            if cls in _DEFAULT_HANDLED:
                return None
        return handlers.get(Exception) or handlers.get(500)

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
        if isinstance(exc, RequestValidationError):  # errors keep raw ctx/input (Decimal, bytes): encoded as FastAPI does
            return _json_response(422, {"detail": jsonable_encoder(exc.errors())})
        if isinstance(exc, InvalidJSON):  # ``await request.json()`` on a body that is not JSON: the client's fault
            return _json_response(400, {"detail": "There was an error parsing the body"})
        if isinstance(exc, ResponseValidationError):
            logger.error("Response validation failed for %s %s: %s", request.method, request.path, exc.errors())
        else:
            logger.error("Exception in handler of %s %s", request.method, request.path, exc_info=exc)
        reported = server_errors.get()
        if reported is not None:  # fastrapi.testclient re-raises it in the test (raise_server_exceptions)
            reported.append(exc)
        return PlainTextResponse("Internal Server Error", status_code=500)

    def _is_server_error(self, exc: Exception) -> bool:
        """Whether only the server-error answer (the ``Exception``/``500`` handler, else a plain 500) takes ``exc``."""
        if isinstance(exc, _DEFAULT_HANDLED):
            return False
        handler = self._lookup_handler(exc)
        handlers = self.exception_handlers
        return handler is None or handler is handlers.get(Exception) or handler is handlers.get(500)

    # ------------------------------------------------------------------ middleware
    def add_middleware(self, middleware_class: Any, *args: Any, **kwargs: Any) -> None:
        """Wrap the app in ``middleware_class(app, *args, **kwargs)`` (Starlette's): the last added runs first.

        ``fastrapi.middleware``'s classes and ``BaseHTTPMiddleware`` subclasses run natively; any other class
        is ASGI middleware. A built-in class configured without an app (``GZipMiddleware(minimum_size=500)``)
        is taken too. Routes of an app without middleware pay nothing for it."""
        if self._middleware_built is not None:
            raise RuntimeError("Cannot add middleware after an application has started")
        from .middleware import Middleware, as_middleware

        if isinstance(middleware_class, type) or args or kwargs:
            record = Middleware(middleware_class, *args, **kwargs)
        else:
            record = as_middleware(middleware_class)
        self.user_middleware.insert(0, record)
        self._asgi_entry = self._asgi_with_middleware

    def middleware(self, middleware_type: str) -> Callable[[F], F]:
        """``@app.middleware("http")``, in either form, told apart by the function's signature here:

        - Starlette's, ``async def mw(request, call_next)``: ``await call_next(request)`` gives the response of
          the rest of the app; return it or another one.
        - the original FastrAPI's, ``def mw(request)`` (or ``async def``): ``request`` is a dict (``method``,
          ``path``, ``query``, ``headers``); return None to continue to the route, or a Response, a dict or a
          ``(body, status)`` tuple to answer instead (``fastrapi.middleware.filter``).

        A function of neither shape is a TypeError here, not an error on every request."""
        assert middleware_type == "http", 'Currently only middleware("http") is supported.'

        def decorator(func: F) -> F:
            from .middleware.filter import RequestFilterMiddleware, middleware_form

            if middleware_form(func) == "filter":
                self.add_middleware(RequestFilterMiddleware, func=func,
                                    threadpool=getattr(self, "sync_to_threadpool", True))
            else:
                from .middleware.base import BaseHTTPMiddleware

                self.add_middleware(BaseHTTPMiddleware, dispatch=func)
            return func

        return decorator

    def build_middleware_stack(self) -> Any:
        """The ASGI app ``__call__`` runs: the middleware around the app's ASGI adapter (built once)."""
        built = self._built_middleware()
        return built.asgi if built is not None else self._asgi_entry

    def _built_middleware(self) -> Any:
        """The app's middleware, built once on first use (the server's first connection or the first ASGI
        call): a ``fastrapi.middleware.base.Stack``, or None for an app without middleware."""
        built = self._middleware_built
        if built is None and (self.user_middleware or self._options_middleware is not None):
            from .middleware.base import build_stack

            layers = self.user_middleware
            if self._options_middleware is not None:
                layers = [self._options_middleware, *layers]
            built = self._middleware_built = build_stack(self, layers, ASGIAdapter(self))
            self.middleware_stack = self._asgi_entry = built.asgi
            self._websocket_middleware = built.websocket
        return built

    async def _asgi_with_middleware(self, scope: Any, receive: Any, send: Any) -> None:
        await self._built_middleware().asgi(scope, receive, send)

    # ------------------------------------------------------------------ one request, start to end
    async def dispatch(self, request: Any, raise_server_errors: bool = False) -> Any:
        """Route and run one request to its final response (bytes of a JSON 200, or a Response).

        The innermost step of middleware and of the ASGI interface. The built-in server without middleware
        does the same inline, with faster paths for handlers that cannot suspend. ``raise_server_errors``
        (middleware): an exception only the 500 answer takes is raised, to be answered outside the
        middleware as Starlette's ServerErrorMiddleware does.
        """
        router = self.router
        route, params, allowed = router.match(request.method, request.path)
        try:
            if route is None:
                if allowed is None and router.match_websocket(request.path)[0] is not None:
                    raise HTTPException(400, "Invalid WebSocket upgrade request")
                if allowed is None:
                    raise HTTPException(404)
                raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
            request.path_params = params
            response = await route.handle(request)
        except ClientDisconnect:
            raise  # nobody to answer: the server drops the request
        except Exception as exc:  # a fresh response each time: middleware may change it
            if raise_server_errors and self._is_server_error(exc):
                raise
            response = await self.handle_exception(request, exc)
        return finalize_response(request, response)

    # ------------------------------------------------------------------ WebSocket handler runs
    async def run_websocket(self, route: WebSocketRoute, conn: Any, path: str, query: bytes, params: dict[str, Any]) -> None:
        """Run one WebSocket handler to its end and close (or refuse) the connection accordingly."""
        origins = self._websocket_origins
        if origins is not None and not origins.allows(conn.request_headers):
            logger.info("WebSocket %s refused: Origin not in websocket_origins", path)
            conn.reject(403)  # cross-site WebSocket hijacking: refused before any handler or middleware
            return
        hook = self._websocket_middleware
        if hook is not None and await hook(route, conn, path, query, params):
            return  # answered by the middleware (refused, or run through the ASGI middleware stack)
        if route.mounted is not None:  # a route of a mounted app (fastrapi.mounting): that app runs it
            await route.mounted(conn, path, query, params)
            return
        observer = self._websocket_observer
        if observer is None:
            ws = WebSocket(conn, path, query, params, app=self, route=route)
        else:
            ws = observer.websocket(conn, path, query, params, self, route)
        plan = route.plan
        try:
            if plan.has_deps:
                async with AsyncExitStack() as stack:  # yield dependencies live as long as the connection
                    kwargs = await solve_async(plan, ws, SolveContext(stack, self.dependency_overrides,
                                                                      set(route.convertors),
                                                                      not self.sync_to_threadpool))
                    if plan.websocket_name is not None:
                        kwargs[plan.websocket_name] = ws
                    await route.endpoint(**kwargs)
            else:  # (no exit stack: it would cost every idle connection 760 bytes)
                kwargs = solve(plan, ws)
                if plan.websocket_name is not None:
                    kwargs[plan.websocket_name] = ws
                await route.endpoint(**kwargs)
        except WebSocketDisconnect:
            conn.finish(CloseCode.NORMAL_CLOSURE)
        except WebSocketException as exc:
            if conn.application_state == WSState.CONNECTING:
                conn.reject(403)
            else:
                conn.finish(exc.code, exc.reason)
        except RequestValidationError as exc:
            if conn.application_state == WSState.CONNECTING:
                conn.reject(403)
            else:
                conn.finish(CloseCode.POLICY_VIOLATION, "invalid request parameters")
            logger.info("WebSocket %s refused: %s", path, exc.errors())
        except Exception as exc:
            if exc is getattr(ws, "_rejected", None):
                # a message receive_model refused and the handler let go: the client's fault, not a server error
                logger.info("WebSocket %s closed on an invalid message: %s", path, exc)
                conn.finish(CloseCode.UNSUPPORTED_DATA if isinstance(exc, TypeError) else CloseCode.INVALID_DATA,
                            "invalid message")
            else:
                logger.error("Exception in WebSocket handler for %s", path, exc_info=exc)
                if conn.application_state == WSState.CONNECTING:
                    conn.reject(500)
                else:
                    conn.finish(CloseCode.INTERNAL_ERROR, "internal error")
        else:
            if conn.application_state == WSState.CONNECTING:
                conn.reject(403)
            else:
                conn.finish(CloseCode.NORMAL_CLOSURE)
        finally:
            if observer is not None:
                observer.websocket_closed(ws)
        if ws.background is not None:
            await ws.background()

    # ------------------------------------------------------------------ running
    def serve(self, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, reload: bool = False,
              reload_dirs: Sequence[str] | None = None, reload_ignore_dirs: Sequence[str] | None = None,
              reload_ignore_patterns: Sequence[str] | None = None, reload_ignore_paths: Sequence[str] | None = None,
              reload_tick: int = 50, reload_ignore_worker_failure: bool = False, **options: Any) -> None:
        """Run the built-in server until Ctrl-C / SIGTERM (options: ``fastrapi.server.ServerConfig``).

        ``workers=N`` serves from N processes on the port; ``reload=True`` restarts the script when a ``.py``
        file under its directory (or ``reload_dirs``) changes, except under ``reload_ignore_dirs``, matching
        ``reload_ignore_patterns`` (globs) or in ``reload_ignore_paths``; changes are grouped over
        ``reload_tick`` ms, and ``reload_ignore_worker_failure=True`` starts a server that exited on its own
        again at once. See ``fastrapi.server.workers``."""
        if workers == 1 and not reload:
            from .server import Server

            Server(self, host, port, **options).run_forever()
            return
        from .server.workers import serve_app

        reload_options = {"ignore_dirs": list(reload_ignore_dirs or ()),
                          "ignore_patterns": list(reload_ignore_patterns or ()),
                          "ignore_paths": list(reload_ignore_paths or ()), "tick": reload_tick,
                          "ignore_worker_failure": reload_ignore_worker_failure}
        serve_app(self, host, port, workers=workers, reload=reload, reload_dirs=reload_dirs,
                  reload_options=reload_options, **options)


class FastAPI(FastrAPI):
    """``from fastrapi import FastAPI``: a ``FastrAPI`` app with FastAPI's defaults (title "FastAPI"), so that a
    ported app's OpenAPI document and docs pages are the ones FastAPI gives."""

    def __init__(self, *, title: str = "FastAPI", **kwargs: Any) -> None:
        super().__init__(title=title, **kwargs)


_ON_EVENT_DEPRECATED = """
        on_event is deprecated, use lifespan event handlers instead.

        Read more about it in the
        [FastAPI docs for Lifespan Events](https://fastapi.tiangolo.com/advanced/events/).
        """

#: our exception classes Starlette has its own class for: (module, name) of Starlette's
_STARLETTE_NAMES = {HTTPException: "HTTPException", WebSocketException: "WebSocketException"}


def _starlette_handler(handlers: dict[Any, ExceptionHandler], cls: type) -> ExceptionHandler | None:
    """The handler registered for Starlette's class of the same name as ``cls``, when Starlette is loaded (an
    app registering one has imported it): FastAPI's exceptions subclass Starlette's, so such a handler takes
    them there."""
    module = sys.modules.get("starlette.exceptions")
    if module is None:
        return None
    return handlers.get(getattr(module, _STARLETTE_NAMES[cls], None))

#: the methods a fallback route answers
_ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY")

#: exceptions FastAPI answers by default; a user handler for a base class of theirs does not take them
_DEFAULT_HANDLED = (HTTPException, RequestValidationError, WebSocketRequestValidationError)


def _lifespan_manager(lifespan: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``lifespan=`` as an async context manager factory: bare (async) generator functions are wrapped,
    as FastAPI does."""
    if inspect.isasyncgenfunction(lifespan):
        return asynccontextmanager(lifespan)
    if inspect.isgeneratorfunction(lifespan):
        sync_cm = contextmanager(lifespan)

        @asynccontextmanager
        async def wrapped(app: Any) -> AsyncIterator[Any]:
            with sync_cm(app) as state:
                yield state

        return wrapped
    return lifespan


#: names ``fastapi.applications`` exports (Starlette's classes, FastAPI's helpers): (module, attribute)
_LAZY = {
    "AppBodyLimitMiddleware": ("middleware.bodylimit", "AppBodyLimitMiddleware"),
    "AsyncExitStackMiddleware": ("middleware.asyncexitstack", "AsyncExitStackMiddleware"),
    "BaseHTTPMiddleware": ("middleware.base", "BaseHTTPMiddleware"),
    "Middleware": ("middleware", "Middleware"),
    "ServerErrorMiddleware": ("middleware.errors", "ServerErrorMiddleware"),
    "ExceptionMiddleware": ("middleware.errors", "ExceptionMiddleware"),
    "ExceptionTelemetryMiddleware": ("telemetry", "ExceptionTelemetryMiddleware"),
    "NativeTelemetry": ("telemetry", "NativeTelemetry"),
    "TelemetryConfig": ("telemetry", "TelemetryConfig"),
    "BaseRoute": ("routing", "BaseRoute"),
    "DefaultPlaceholder": ("datastructures", "DefaultPlaceholder"),
    "Depends": ("param_functions", "Depends"),
    "FastAPIDeprecationWarning": ("exceptions", "FastAPIDeprecationWarning"),
    "HTMLResponse": ("responses", "HTMLResponse"),
    "Request": ("requests", "Request"),
    "get_openapi": ("openapi.utils", "get_openapi"),
    "get_redoc_html": ("openapi.docs", "get_redoc_html"),
    "get_swagger_ui_html": ("openapi.docs", "get_swagger_ui_html"),
    "get_swagger_ui_oauth2_redirect_html": ("openapi.docs", "get_swagger_ui_oauth2_redirect_html"),
    **{name: ("exception_handlers", name) for name in (
        "http_exception_handler", "request_validation_exception_handler",
        "websocket_request_validation_exception_handler")},
    **{name: ("types", name) for name in ("ASGIApp", "AppType", "DecoratedCallable", "IncEx", "Lifespan", "Receive",
                                          "Scope", "Send")},
}

#: Starlette's application class: here FastrAPI itself (``isinstance(app, Starlette)`` holds for every app)
Starlette = FastrAPI


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__package__}.{where[0]}"), where[1])
