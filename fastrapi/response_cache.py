"""Startup-precomputed routes (``cache_resp=True``): the handler runs once, its whole response is stored.

The original FastrAPI's feature for immutable answers (health checks, version info). At startup, after the
lifespan's startup, each such route's handler is called once (without a request) and the response it gives
(status, headers, body) is kept as bytes. From then on:

* the built-in server's fast path writes the stored head, the current ``date`` line and the stored body
  (``StoredResponse.head``/``body``); no Python code of the route runs;
* every other way in (middleware, the ASGI interface, pipelined or HTTP/1.0 requests) gets a fresh
  ``Response`` built from the stored parts, so middleware may still change it.

A route whose response cannot be computed without a request (parameters, dependencies, a path template) is
refused when it is declared.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from .exceptions import HTTPException
from .responses import FileResponse, Response, StreamingResponse, encoded_json_response, finalize_response

__all__ = ["StoredResponse", "check_cacheable", "compute"]


class StoredResponse:
    """A response kept as bytes: ``head`` (status line and headers, ``content-length`` included, no ``date``)
    and ``body``; ``response()`` gives a fresh Response object with the same status, headers and body."""

    __slots__ = ("status_code", "raw_headers", "body", "head")

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        from .server.head import encode_headers

        no_body = status_code < 200 or status_code in (204, 304)
        if no_body:
            body = b""
        self.status_code = status_code
        self.raw_headers = [(n, v) for n, v in raw_headers if n != b"content-length"]
        self.body = body
        head = encode_headers(status_code, self.raw_headers)  # checked once here (InvalidHeader: not stored)
        if not no_body:
            head += b"content-length: %d\r\n" % len(body)
        self.head = head

    def response(self) -> Response:
        resp = Response.__new__(Response)
        resp.status_code = self.status_code
        resp.body = self.body
        resp.background = None
        resp.raw_headers = list(self.raw_headers)
        return resp


def check_cacheable(route: Any) -> None:
    """Refuse ``cache_resp=True`` on a route whose answer depends on the request (a clear error at
    registration rather than a wrong answer later)."""
    reasons: list[str] = []
    if route.regex is not None:
        reasons.append(f"path parameters in {route.path!r}")
    try:
        names = list(inspect.signature(route.endpoint).parameters)
    except (TypeError, ValueError):
        names = []
    if names:
        reasons.append("parameters " + ", ".join(names))
    if route.dependencies:
        reasons.append("dependencies=[...] (of the route, its router or the app)")
    if not reasons and not route.plan.empty:
        reasons.append("request-dependent parameters")
    if reasons:
        raise TypeError(
            f"cache_resp=True needs a handler that takes nothing from the request: {route.name} at "
            f"{route.path!r} has {'; '.join(reasons)}. Its response is computed once at startup, without a "
            f"request: remove cache_resp=True or what the handler reads from the request."
        )


async def compute(route: Any, app: Any, handle: Callable[[Any], Any]) -> StoredResponse:
    """Run the route's handler once (``handle``: its uncached ``handle``) and store what it answers."""
    from .requests import Request

    method = "GET" if "GET" in route.methods else route.methods[0]
    path = route.path
    request = Request(method, path, path.encode("utf-8"), b"", [], b"", None, app)
    try:
        response = await handle(request)
    except HTTPException as exc:  # a deliberate answer (410 Gone...): stored like any other
        if app is None:
            raise
        response = await app.handle_exception(request, exc)
    except Exception as exc:  # a bug: refuse to store a 500 forever (at startup: the server does not start)
        raise RuntimeError(f"cache_resp=True: the handler {route.name} of {path!r} raised {exc!r} while its "
                           f"response was being computed") from exc
    response = finalize_response(request, response)
    if type(response) is bytes:
        response = encoded_json_response(response)
    if isinstance(response, FileResponse):
        raise TypeError(f"cache_resp=True: {route.name} at {path!r} returned a FileResponse; serve the file with "
                        f"StaticFiles or drop cache_resp")
    body = response.body if not isinstance(response, StreamingResponse) else await _collect(response)
    if response.background is not None:
        await response.background()  # what the one call scheduled runs once, as after a real response
    return StoredResponse(response.status_code, response.raw_headers, body)


async def _collect(response: StreamingResponse) -> bytes:
    pieces = []
    iterator = response.body_iterator
    try:
        async for piece in iterator:
            pieces.append(piece.encode(response.charset) if isinstance(piece, str) else bytes(piece))
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    return b"".join(pieces)
