"""FastAPI's ``AsyncExitStackMiddleware``: an ``AsyncExitStack`` in the scope for the request's lifetime."""
from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any


class AsyncExitStackMiddleware:
    """ASGI middleware putting an ``AsyncExitStack`` at ``scope[context_name]``, closed when the app returns
    (FastAPI closes files with it). FastrAPI's own apps do not need it: ``yield`` dependencies have theirs."""

    def __init__(self, app: Any, context_name: str = "fastapi_middleware_astack") -> None:
        self.app = app
        self.context_name = context_name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async with AsyncExitStack() as stack:
            scope[self.context_name] = stack
            await self.app(scope, receive, send)


from ..types import ASGIApp as ASGIApp  # noqa: E402,F401 (FastAPI's module imports them)
from ..types import Receive as Receive  # noqa: E402,F401
from ..types import Scope as Scope  # noqa: E402,F401
from ..types import Send as Send  # noqa: E402,F401
