"""Where published messages travel: within this process (memory) or through a shared server (Redis).

A backend moves opaque payloads between processes; framing and fan-out stay in ``Broadcast``. It calls
``deliver(channel, payload)`` for every message published on a channel this process subscribed to,
including the ones this process published itself, or ``deliver.many([(channel, payload), ...])`` for messages
that arrived together (each subscriber then gets them in one write).
"""
from __future__ import annotations

from typing import Callable, Protocol

DeliverOne = Callable[[str, bytes], None]
DeliverMany = Callable[[list[tuple[str, bytes]]], None]


class Deliver:
    """What a backend calls with the messages it receives: ``deliver(channel, payload)`` for one,
    ``deliver.many(messages)`` for a batch (in arrival order; order is kept per channel)."""

    __slots__ = ("one", "many")

    def __init__(self, one: DeliverOne, many: DeliverMany) -> None:
        self.one = one
        self.many = many

    def __call__(self, channel: str, payload: bytes) -> None:
        self.one(channel, payload)


class BroadcastError(Exception):
    """A message could not be published (e.g. the Redis server is unreachable): it was not sent."""


class BroadcastBackend(Protocol):
    #: True when messages stay in this process (several workers then don't share channels)
    in_memory: bool

    async def connect(self, deliver: Deliver) -> None: ...

    async def disconnect(self) -> None: ...

    async def subscribe(self, channel: str) -> None:
        """This process has its first local subscriber on ``channel``."""

    async def unsubscribe(self, channel: str) -> None:
        """The last local subscriber of ``channel`` left."""

    async def publish(self, channel: str, payload: bytes) -> None:
        """Send ``payload`` to every process subscribed to ``channel``; raise BroadcastError if it can't."""


class MemoryBackend:
    """One process: a publish is delivered at once, synchronously, with no copy and no queue."""

    in_memory = True

    def __init__(self) -> None:
        self._deliver: DeliverOne | None = None

    async def connect(self, deliver: Deliver) -> None:
        self._deliver = getattr(deliver, "one", deliver)  # the plain function: one call less per publish

    async def disconnect(self) -> None:
        self._deliver = None

    async def subscribe(self, channel: str) -> None:
        pass

    async def unsubscribe(self, channel: str) -> None:
        pass

    async def publish(self, channel: str, payload: bytes) -> None:
        deliver = self._deliver
        if deliver is None:
            raise BroadcastError("the broadcast is not connected")
        deliver(channel, payload)


def backend_from_url(url: str) -> BroadcastBackend:
    """``memory://`` -> MemoryBackend; ``redis://`` / ``rediss://`` / ``unix://`` -> RedisBackend."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("memory", ""):
        return MemoryBackend()
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBackend

        return RedisBackend(url)
    raise ValueError(f"unknown broadcast backend URL {url!r}: use memory:// or redis://")
