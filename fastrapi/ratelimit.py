"""``rate_limit=N`` on a route: at most N requests per second per client address, else 429.

A sliding-window counter per client (the count of the current one-second window plus the previous window's
count weighted by how much of it still overlaps the last second), kept in two dicts that are swapped each
window: a client idle for two windows is forgotten, and the number of clients tracked per window is capped
(the oldest entry goes first), so memory stays bounded under any traffic. The client is ``request.client``
(the forwarded address when the server trusts proxy headers). Counts are per process: with ``workers=N``
each worker counts its own requests, so a client may get up to N times the limit across workers.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

from .exceptions import HTTPException

__all__ = ["RateLimiter", "limited"]

#: clients tracked per window before the oldest entry is dropped
MAX_CLIENTS = 100_000


class RateLimiter:
    """Counts requests per key (client address) in one-second windows; ``hit(key)`` says whether one more
    is allowed now."""

    __slots__ = ("limit", "window", "max_clients", "_start", "_current", "_previous", "_clock")

    def __init__(self, limit: int, window: float = 1.0, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("rate limit must be at least 1 request per window")
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._start = clock()
        self._current: dict[Any, int] = {}
        self._previous: dict[Any, int] = {}

    def hit(self, key: Any) -> float:
        """Count a request of ``key``: 0.0 if it is allowed, else the seconds until one would be."""
        window = self.window
        now = self._clock()
        elapsed = now - self._start
        if elapsed >= window:
            steps = int(elapsed // window)
            self._previous = self._current if steps == 1 else {}
            self._current = {}
            self._start += steps * window
            elapsed -= steps * window
        current = self._current
        count = current.get(key, 0)
        previous = self._previous.get(key, 0)
        weight = 1.0 - elapsed / window
        if previous * weight + count >= self.limit:
            if count >= self.limit or not previous:
                return window - elapsed  # full on its own: wait for the next window
            # the previous window's share must shrink by the excess: (previous * weight + count) - limit + 1
            excess = previous * weight + count - self.limit + 1
            return max(excess / previous * window, 0.001)
        current[key] = count + 1
        if count == 0 and len(current) > self.max_clients:
            del current[next(iter(current))]  # the oldest client of this window
        return 0.0

    def __len__(self) -> int:
        """Clients tracked now (both windows)."""
        return len(self._current.keys() | self._previous.keys())


def _refuse(wait: float) -> HTTPException:
    return HTTPException(429, "Too Many Requests", headers={"Retry-After": str(max(1, math.ceil(wait)))})


def limited(limiter: RateLimiter, handle: Callable[[Any], Any],
            inline: Callable[[Any], Any] | None) -> tuple[Callable[[Any], Any], Callable[[Any], Any] | None]:
    """A route's ``handle`` (and ``call_inline``) with the limiter's check in front: over the limit, an
    HTTPException 429 with ``Retry-After`` (answered as any HTTPException, so a handler for 429 applies)."""
    hit = limiter.hit

    def check(request: Any) -> None:
        client = request.client
        wait = hit(client.host if client is not None else None)
        if wait:
            raise _refuse(wait)

    async def limited_handle(request: Any) -> Any:
        check(request)
        return await handle(request)

    if inline is None:
        return limited_handle, None

    def limited_inline(request: Any) -> Any:
        check(request)
        return inline(request)

    return limited_handle, limited_inline
