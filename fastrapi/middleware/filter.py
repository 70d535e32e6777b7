"""The original FastrAPI's ``@app.middleware("http")`` form: a function of one argument that sees each request
as a dict and either lets it through or answers it.

    @app.middleware("http")
    def only_json(request):                     # or async def
        if request["headers"].get("x-token") != "secret":
            return {"detail": "forbidden"}, 403    # answers instead of the route
        return None                              # continues to the route

The dict has ``method``, ``path`` (the raw path, percent-encoded as sent), ``query`` (the raw query string)
and ``headers`` (lower-case names; a repeated header's values joined with ``", "``). A ``Response`` is sent as
it is, a dict (or any JSON-able value) as a JSON 200, and a ``(body, status)`` tuple as the body with that
status. ``middleware_form`` tells this form from Starlette's ``(request, call_next)`` by the function's
signature when it is registered, so a function of neither shape fails there rather than on each request.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Literal

import orjson

from ..concurrency import run_in_threadpool
from ..encoders import jsonable_encoder
from ..responses import Response, encoded_json_response
from .base import NativeMiddleware, RequestResponseEndpoint

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["RequestFilterMiddleware", "middleware_form", "request_info", "filter_result_response"]

FILTER_HELP = (
    "@app.middleware('http') takes either a function of one argument, which gets the request as a dict "
    "(method, path, query, headers) and returns None to continue or a response to answer instead, or "
    "Starlette's form, async def middleware(request, call_next)"
)


def middleware_form(func: Callable[..., Any]) -> Literal["filter", "call_next"]:
    """Which form of ``@app.middleware("http")`` ``func`` is, read from its signature: ``"filter"`` (one
    argument: the original FastrAPI's) or ``"call_next"`` (two: Starlette's). TypeError for anything else."""
    if not callable(func):
        raise TypeError(f"{FILTER_HELP}; got {func!r}")
    name = getattr(func, "__qualname__", None) or repr(func)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature: taken as Starlette's form
        return "call_next"

    def takes(count: int) -> bool:
        try:
            signature.bind(*([None] * count))
        except TypeError:
            return False
        return True

    one, two = takes(1), takes(2)
    if one and two:  # (request, call_next=None), (*args): two positional slots decide for Starlette's
        kinds = [p.kind for p in signature.parameters.values()]
        two = inspect.Parameter.VAR_POSITIONAL in kinds or sum(
            kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD) for kind in kinds) >= 2
        one = not two
    if one:
        return "filter"
    if not two:
        raise TypeError(f"{FILTER_HELP}; {name}{signature} is neither")
    plain = inspect.unwrap(func)
    if inspect.isfunction(plain) and not inspect.iscoroutinefunction(plain):
        raise TypeError(f"{name}{signature}: a (request, call_next) middleware must be 'async def' "
                        "(it awaits call_next(request))")
    return "call_next"


def request_info(request: "Request") -> dict[str, Any]:
    """The dict a filter function gets: method, raw path, raw query string and headers."""
    headers: dict[str, str] = {}
    for key, value in request.raw_headers:
        name = key.decode("latin-1")
        text = value.decode("latin-1")
        previous = headers.get(name)
        headers[name] = text if previous is None else f"{previous}, {text}"
    raw = request.raw_path
    return {
        "method": request.method,
        "path": raw.decode("latin-1") if raw else request.path,
        "query": request.query_string.decode("latin-1"),
        "headers": headers,
    }


def filter_result_response(result: Any) -> Response:
    """What a filter function returned (not None) as the response: a Response as it is, ``(body, status)``
    with that status, anything else as JSON."""
    if isinstance(result, Response):
        return result
    status = 200
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], int) and not isinstance(result[1], bool):
        result, status = result
        if isinstance(result, Response):
            result.status_code = status
            return result
    return encoded_json_response(orjson.dumps(jsonable_encoder(result)), status)


class RequestFilterMiddleware(NativeMiddleware):
    """Runs ``func(request_info)`` before the rest of the stack: None lets the request through, anything else
    is the answer. A plain ``def`` runs in the thread pool (``threadpool=True``, as sync handlers do)."""

    def __init__(self, app: RequestResponseEndpoint | None = None, func: Callable[[dict[str, Any]], Any] | None = None,
                 threadpool: bool = True) -> None:
        if func is None:
            raise TypeError("RequestFilterMiddleware needs func=")
        if middleware_form(func) != "filter":
            raise TypeError(f"{func!r} takes (request, call_next): register it with BaseHTTPMiddleware(dispatch=...)")
        self.app = app  # type: ignore[assignment]
        self.func = func
        self.is_async = inspect.iscoroutinefunction(inspect.unwrap(func)) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None))
        self.threadpool = threadpool

    async def handle(self, request: "Request") -> Response:
        info = request_info(request)
        if self.is_async:
            result = await self.func(info)
        else:
            result = await run_in_threadpool(self.func, info) if self.threadpool else self.func(info)
            if inspect.isawaitable(result):
                result = await result
        if result is None:
            return await self.app(request)
        return filter_result_response(result)
