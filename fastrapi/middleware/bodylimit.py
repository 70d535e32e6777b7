"""FastAPI's request-body size limit as ASGI middleware (``fastapi.applications.AppBodyLimitMiddleware`` and the
helpers ``fastapi.routing`` exports). FastrAPI's own server limits bodies itself (``max_body_size``, 413)."""
from __future__ import annotations

from typing import Any

from ..exceptions import HTTPException

#: where FastAPI records the limit in the scope
MAX_BODY_SIZE_SCOPE_KEY = "fastapi.max_body_size"


def validate_max_body_size(max_body_size: int | None) -> None:
    """``max_body_size`` must be None or a non-negative int."""
    if max_body_size is None:
        return
    if isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 0:
        raise ValueError("max_body_size must be a non-negative integer or None")


def get_body_size_limit(*limits: int | None) -> int | None:
    """The first limit that is set (route, router, app), else None."""
    for limit in limits:
        if limit is not None:
            return limit
    return None


def get_body_limit_error(exc: Exception) -> Exception | None:
    """The 413 HTTPException ``exc`` is (or wraps in an exception group), else None."""
    group = getattr(exc, "exceptions", None)
    if group is not None:
        errors = [get_body_limit_error(e) for e in group]
        return errors[0] if errors and all(errors) else None
    return exc if isinstance(exc, HTTPException) and exc.status_code == 413 else None


class AppBodyLimitMiddleware:
    """Count the body bytes ``app`` receives; past ``max_body_size`` it gets HTTPException(413), answered as
    ``{"detail": "Request Entity Too Large"}`` when the response has not started."""

    def __init__(self, app: Any, max_body_size: int | None) -> None:
        validate_max_body_size(max_body_size)
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limit = self.max_body_size
        if scope["type"] != "http" or limit is None:
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        async def watch(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except Exception as exc:
            if started or get_body_limit_error(exc) is None:
                raise
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"37")]})
            await send({"type": "http.response.body", "body": b'{"detail":"Request Entity Too Large"}'})


def wrap_app_with_body_limit(app: Any, max_body_size: int | None) -> Any:
    """``app`` behind a body limit (``app`` itself when there is none)."""
    return app if max_body_size is None else AppBodyLimitMiddleware(app, max_body_size)
