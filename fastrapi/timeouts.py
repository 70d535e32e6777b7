"""``FastrAPI(request_timeout=seconds)``: a request whose handling takes longer is answered 408.

The route's handling (body reading, dependencies, the handler) runs under a deadline; when it passes, the
handler's task is cancelled at its current ``await`` and the client gets ``408 {"detail": "Request Timeout"}``.
A sync handler running in the thread pool cannot be interrupted: the client gets the 408 all the same and
the handler's result is discarded when it finishes. Routes of an app without ``request_timeout`` are built
without any of this (no timer per request).
"""
from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, Callable

from .exceptions import HTTPException

__all__ = ["with_timeout"]

logger = logging.getLogger("fastrapi.error")


def _timed_out(request: Any, seconds: float) -> HTTPException:
    logger.warning("Request timed out after %gs: %s %s (handler cancelled)", seconds, request.method, request.path)
    return HTTPException(408, "Request Timeout")


def with_timeout(handle: Callable[[Any], Any], seconds: float) -> Callable[[Any], Any]:
    """``handle`` under a deadline of ``seconds``: past it, cancelled and answered 408."""
    if sys.version_info >= (3, 11):
        async def timed(request: Any) -> Any:
            deadline = asyncio.timeout(seconds)
            try:
                async with deadline:
                    return await handle(request)
            except TimeoutError:
                if deadline.expired():
                    raise _timed_out(request, seconds) from None
                raise  # the handler's own TimeoutError
    else:  # pragma: no cover - Python 3.10
        async def timed(request: Any) -> Any:
            try:
                return await asyncio.wait_for(handle(request), seconds)
            except asyncio.TimeoutError:
                raise _timed_out(request, seconds) from None

    return timed
