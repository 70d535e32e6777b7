"""What the server needs from the layers above it, written down (``typing.Protocol``s, checked by mypy).

The server never imports the application or routing modules: ``Server(app)`` is handed an object with these
members, and the connections call nothing else. ``fastrapi.FastrAPI`` and ``fastrapi.routing.Router`` are the
implementations; a test checks that they satisfy these protocols.
"""
from __future__ import annotations

from typing import Any, AsyncContextManager, Awaitable, Callable, Mapping, Protocol, runtime_checkable

__all__ = ["AppContract", "RouteContract", "RouterContract"]


@runtime_checkable
class RouteContract(Protocol):
    """A matched HTTP route, built at registration."""

    #: ``await handle(request)`` -> a Response, or JSON bytes for a 200 (parameters solved, handler run)
    handle: Callable[[Any], Awaitable[Any]]
    #: for a handler that can never suspend: ``call_inline(request)`` runs it synchronously (else None)
    call_inline: Callable[[Any], Any] | None
    #: for a static route whose handler takes nothing and never suspends: ``call_fast()`` -> JSON bytes or a
    #: Response, with no Request built (the fast path; else None)
    call_fast: Callable[[], Any] | None
    #: for a plain ``def`` handler run in the thread pool: ``call_threaded(request, done)`` solves the parameters
    #: (raising a validation error at once) and later calls ``done(result, error)`` on the loop (else None)
    call_threaded: Callable[[Any, Callable[[Any, BaseException | None], None]], None] | None
    #: the handler's result -> a Response, or JSON bytes for a 200 (what ``call_threaded``'s result goes through;
    #: None for routes without ``call_threaded``)
    serialize: Callable[[Any], Any] | None
    #: a ``cache_resp=True`` route's stored response once computed (``head``: status line and headers with
    #: content-length, ``body``), written by the fast path with the current date; else None
    stored: Any


@runtime_checkable
class RouterContract(Protocol):
    """Route lookup: the server's only entry into routing."""

    #: raw target bytes -> method bytes -> route, for the fast path
    fast: Mapping[bytes, Mapping[bytes, Any]]

    def match(self, method: str, path: str) -> tuple[Any, dict[str, Any] | None, list[str] | None]:
        """(route, path params, None) on a match; (None, None, allowed methods) for a 405; all None for a 404."""
        ...

    def match_websocket(self, path: str) -> tuple[Any, dict[str, Any]]:
        """(WebSocket route or None, path params)."""
        ...


@runtime_checkable
class AppContract(Protocol):
    """The application as the server drives it."""

    router: RouterContract
    exception_handlers: Mapping[Any, Any]
    #: the request body limit when the server is not given one (``FastrAPI(max_body_size=...)``; None: none)
    max_body_size: int | None
    #: the path prefix a proxy serves the app under: set by the server's ``root_path`` option
    root_path: str

    def lifespan_context(self) -> AsyncContextManager[None]:
        """Startup on enter, shutdown on exit."""
        ...

    async def handle_exception(self, request: Any, exc: Exception) -> Any:
        """The response for an exception raised while answering ``request`` (handlers, 422, logged 500)."""
        ...

    def error_response(self, status: int, allowed: list[str] | None) -> Any:
        """The router's own 404/405 answer."""
        ...

    async def run_websocket(self, route: Any, conn: Any, path: str, query: bytes, params: dict[str, Any]) -> None:
        """Run one WebSocket handler on ``conn`` to its end and close or refuse the connection."""
        ...
