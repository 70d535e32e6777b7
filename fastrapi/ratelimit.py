"""``rate_limit=N`` on a route: at most N requests per second per client address, else 429.

As the original FastrAPI counts: each client has a one-second window that starts at its first request (and
again at its first request after the window ended); the N+1th request inside it is refused with the time left
as ``Retry-After``. The windows live in two dicts swapped each second: a client not seen for a second is
forgotten (its window has ended anyway), and the number of clients tracked is capped (the oldest entry goes
first), so memory stays bounded under any traffic. The client is ``request.client`` (the forwarded address
when the server trusts proxy headers). Counts are per process: with ``workers=N`` each worker counts its own
requests, so a client may get up to N times the limit across workers.
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
    """Counts requests per key (client address) in per-key windows; ``hit(key)`` says whether one more is
    allowed now."""

    __slots__ = ("limit", "window", "max_clients", "_rotated", "_current", "_previous", "_clock")

    def __init__(self, limit: int, window: float = 1.0, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("rate limit must be at least 1 request per window")
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._rotated = clock()
        #: key -> [window start, requests counted in it]; ``_previous``: the entries of the last rotation
        self._current: dict[Any, list[Any]] = {}
        self._previous: dict[Any, list[Any]] = {}

    def hit(self, key: Any) -> float:
        """Count a request of ``key``: 0.0 if it is allowed, else the seconds until its window ends."""
        window = self.window
        now = self._clock()
        since = now - self._rotated
        if since >= window:  # entries untouched since the rotation before last have expired: dropped
            self._previous = self._current if since < 2 * window else {}
            self._current = {}
            self._rotated = now
        current = self._current
        entry = current.get(key)
        if entry is None:
            entry = self._previous.pop(key, None)
            if entry is None or now - entry[0] >= window:
                entry = [now, 0]
            current[key] = entry
            if len(current) > self.max_clients:
                del current[next(iter(current))]  # the oldest client of this rotation
        elif now - entry[0] >= window:
            entry[0] = now
            entry[1] = 0
        if entry[1] >= self.limit:
            return max(entry[0] + window - now, 0.001)
        entry[1] += 1
        return 0.0

    def __len__(self) -> int:
        """Clients tracked now (both dicts)."""
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
