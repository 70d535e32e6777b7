"""The native middleware chain: ``(request) -> Response`` callables built once, innermost ``app.dispatch``.

``NativeMiddleware`` is the base of the built-in classes and of ``BaseHTTPMiddleware``: each instance wraps
the next callable (``self.app``) and answers in ``handle(request)``. ``build_stack`` turns the app's
``user_middleware`` (outermost first) into what the server and ``app.__call__`` run; any class that is not
native is ASGI middleware and is bridged by ``fastrapi.middleware.asgi``.
"""
from __future__ import annotations

import inspect
import logging
import traceback
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from ..requests import ClientDisconnect
from ..responses import PlainTextResponse, Response, encoded_json_response

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["BaseHTTPMiddleware", "NativeMiddleware", "RequestResponseEndpoint", "DispatchFunction", "build_stack"]

logger = logging.getLogger("fastrapi.error")

RequestResponseEndpoint = Callable[["Request"], Awaitable[Response]]
DispatchFunction = Callable[["Request", RequestResponseEndpoint], Awaitable[Response]]


class NativeMiddleware:
    """Middleware that runs on fastrapi Requests: ``handle(request)`` answers, calling ``self.app(request)``
    (the next middleware, at the end the route) for the response of the rest of the stack.

    Built without an app (``CORSMiddleware(allow_origins=["*"])``, the original FastrAPI's style), an instance
    is a configured declaration: ``FastrAPI(middleware=[...])`` and ``add_middleware`` take it as
    ``Middleware(cls, **options)``, and its options were checked when it was built."""

    app: RequestResponseEndpoint

    def __new__(cls, *args: Any, **kwargs: Any) -> "NativeMiddleware":
        self = super().__new__(cls)
        self._options = (args, kwargs)  # what the instance was built with (read once, at registration)
        return self

    def __init__(self, app: RequestResponseEndpoint | None = None) -> None:
        self.app = app  # type: ignore[assignment]

    async def handle(self, request: "Request") -> Response:
        return await self.app(request)

    def check_websocket(self, request: "Request", scheme: str) -> Response | None:
        """A response refusing this WebSocket handshake, or None to let it through (TrustedHost, HTTPS redirect)."""
        return None


class BaseHTTPMiddleware(NativeMiddleware):
    """Starlette's ``BaseHTTPMiddleware``: subclass and write ``async def dispatch(self, request, call_next)``,
    or pass ``dispatch=`` (what ``@app.middleware("http")`` does). ``await call_next(request)`` returns the
    response of the rest of the stack; return it (headers, status changed at will) or another response."""

    def __init__(self, app: RequestResponseEndpoint | None = None, dispatch: DispatchFunction | None = None) -> None:
        self.app = app
        self.dispatch_func = self.dispatch if dispatch is None else dispatch

    async def handle(self, request: "Request") -> Response:
        return await self.dispatch_func(request, self.call_next)

    async def call_next(self, request: "Request") -> Response:
        response = await self.app(request)
        # Starlette's call_next gives a streaming response of bytes: code reading ``body_iterator`` works here too
        iterator = getattr(response, "body_iterator", None)
        if iterator is None:
            response.body_iterator = _BodyOnce(response.body)  # type: ignore[attr-defined]
        elif type(iterator) is not _BodyOnce:
            response.body_iterator = _as_bytes(iterator, response.charset)  # type: ignore[attr-defined]
        return response

    async def dispatch(self, request: "Request", call_next: RequestResponseEndpoint) -> Response:
        raise NotImplementedError()  # pragma: no cover


class _BodyOnce:
    """An async iterator over one complete body (the ``body_iterator`` of a response from ``call_next``)."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body

    def __aiter__(self) -> "_BodyOnce":
        return self

    async def __anext__(self) -> bytes:
        body = self.body
        if body is None:
            raise StopAsyncIteration
        self.body = None
        return body


async def _as_bytes(iterator: Any, charset: str) -> AsyncIterator[bytes]:
    """A streaming body's pieces as bytes (str pieces encoded), as Starlette's ``call_next`` yields them."""
    try:
        async for piece in iterator:
            yield piece.encode(charset) if isinstance(piece, str) else piece
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()



# ---------------------------------------------------------------------------------------------- raw headers
def header_get(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes) in a raw header list, or None."""
    for key, value in raw:
        if key == name:
            return value
    return None


def header_getlist(raw: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in raw if key == name]


def header_set(raw: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Starlette's ``MutableHeaders[name] = value``: the first occurrence replaced in place, later ones
    removed; appended when absent."""
    first = -1
    i = 0
    while i < len(raw):
        if raw[i][0] == name:
            if first < 0:
                first = i
                raw[i] = (name, value)
            else:
                del raw[i]
                continue
        i += 1
    if first < 0:
        raw.append((name, value))


def header_delete(raw: list[tuple[bytes, bytes]], name: bytes) -> None:
    raw[:] = [(key, value) for key, value in raw if key != name]


def add_vary(raw: list[tuple[bytes, bytes]], value: bytes) -> None:
    """Starlette's ``add_vary_header``: ``vary`` becomes the existing values joined with ``value``."""
    header_set(raw, b"vary", b", ".join([*header_getlist(raw, b"vary"), value]))


# ---------------------------------------------------------------------------------------------- the stack
def endpoint_for(app: Any) -> RequestResponseEndpoint:
    """The innermost step: route and run the request (``app.dispatch``), always as a Response. Unhandled
    exceptions propagate, as in Starlette, where the outermost ServerErrorMiddleware answers them."""
    dispatch = app.dispatch

    async def endpoint(request: "Request") -> Response:
        response = await dispatch(request, raise_server_errors=True)
        if type(response) is bytes:
            return encoded_json_response(response)
        return response

    return endpoint


async def server_error(app: Any, request: Any, exc: Exception) -> Response:
    """Starlette's ServerErrorMiddleware: log, then the app's handler for 500/``Exception`` if any, else a
    plain 500 (a traceback when ``debug``)."""
    logger.error("Exception in middleware or application of %s %s", request.method, request.path, exc_info=exc)
    from ..asgi import server_errors

    reported = server_errors.get()
    if reported is not None:  # fastrapi.testclient re-raises it in the test (raise_server_exceptions)
        reported.append(exc)
    handlers = getattr(app, "exception_handlers", None) or {}
    handler = handlers.get(500) or handlers.get(Exception)
    if getattr(app, "debug", False):
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return PlainTextResponse(text, status_code=500)
    if handler is not None:
        result = handler(request, exc)
        if inspect.isawaitable(result):
            result = await result
        return result
    return PlainTextResponse("Internal Server Error", status_code=500)


def guarded(app: Any, handle: RequestResponseEndpoint) -> RequestResponseEndpoint:
    """The outermost step of the native chain: an exception out of the middleware becomes a 500 answer."""

    async def entry(request: "Request") -> Response:
        try:
            return await handle(request)
        except ClientDisconnect:
            raise
        except Exception as exc:
            return await server_error(app, request, exc)

    return entry


def is_native(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, NativeMiddleware)


#: Starlette's own classes, run by our native equivalents (same options, same answers)
_STARLETTE_EQUIVALENTS = {
    "starlette.middleware.cors.CORSMiddleware": ("cors", "CORSMiddleware"),
    "starlette.middleware.gzip.GZipMiddleware": ("gzip", "GZipMiddleware"),
    "starlette.middleware.trustedhost.TrustedHostMiddleware": ("trustedhost", "TrustedHostMiddleware"),
    "starlette.middleware.httpsredirect.HTTPSRedirectMiddleware": ("httpsredirect", "HTTPSRedirectMiddleware"),
    "starlette.middleware.sessions.SessionMiddleware": ("sessions", "SessionMiddleware"),
}


def native_equivalent(cls: Any) -> Any:
    """``cls``, or our native class for one of Starlette's built-in middleware classes (exact class only)."""
    key = f"{getattr(cls, '__module__', '')}.{getattr(cls, '__qualname__', '')}"
    found = _STARLETTE_EQUIVALENTS.get(key)
    if found is None:
        return cls
    import importlib

    return getattr(importlib.import_module(f"{__package__}.{found[0]}"), found[1])


class Stack:
    """What one app's middleware became: ``native`` for the built-in server (request -> Response),
    ``asgi`` for ``app.__call__``, and ``websocket`` for the server's WebSocket connections (or None)."""

    __slots__ = ("native", "asgi", "websocket", "has_asgi")

    def __init__(self, native: RequestResponseEndpoint, asgi: Any, websocket: Any, has_asgi: bool) -> None:
        self.native = native
        self.asgi = asgi
        self.websocket = websocket
        self.has_asgi = has_asgi


def build_stack(app: Any, user_middleware: list[Any], plain_asgi: Any) -> Stack:
    """Build the middleware once, innermost first (``user_middleware`` lists the outermost first).

    Consecutive native middleware chain directly; around a foreign (ASGI) class, the natives inside it are
    run by a ``NativeSegment`` (ASGI -> native) and the ones outside it call it through an ``AsgiEndpoint``
    (native -> ASGI). ``plain_asgi`` is the app's ASGI adapter without middleware (WebSocket and lifespan
    scopes, and HTTP when a foreign class is innermost); None when the app has none.
    """
    from .asgi import AsgiEndpoint, NativeSegment, ServerErrorASGI, WebSocketBridge, WebSocketChecks

    handle = endpoint_for(app)
    # HTTP innermost through our segment (route errors raised to the ASGI middleware, the session and state
    # carried from the scope); other scopes to the app's plain ASGI adapter
    inner_asgi: Any = NativeSegment(app, handle, plain_asgi, [], outermost=False)
    segment_natives = False  # natives since the last foreign class: they need a NativeSegment under ASGI
    segment_checks: list[Any] = []
    all_checks: list[Any] = []
    has_asgi = False
    for mw in reversed(user_middleware):
        cls, args, kwargs = mw
        cls = native_equivalent(cls)
        if is_native(cls):
            instance = cls(handle, *args, **kwargs)
            handle = instance.handle
            segment_natives = True
            if type(instance).check_websocket is not NativeMiddleware.check_websocket:
                segment_checks.insert(0, instance)
                all_checks.insert(0, instance)
        else:
            has_asgi = True
            if segment_natives:
                inner_asgi = NativeSegment(app, handle, inner_asgi, segment_checks, outermost=False)
            inner_asgi = cls(inner_asgi, *args, **kwargs)
            handle = AsgiEndpoint(app, inner_asgi)
            segment_natives = False
            segment_checks = []
    if segment_natives:
        asgi = NativeSegment(app, handle, inner_asgi, segment_checks, outermost=True)
    else:
        asgi = ServerErrorASGI(app, inner_asgi)
    if has_asgi:
        websocket = WebSocketBridge(app, asgi)
    elif all_checks:
        websocket = WebSocketChecks(app, all_checks)
    else:
        websocket = None
    return Stack(guarded(app, handle), asgi, websocket, has_asgi)

