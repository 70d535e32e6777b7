"""A request body that is still arriving while its handler runs: chunks queue here, the handler reads them.

The HTTP protocol feeds the chunks httptools hands it; ``read()`` gives them back in order, then None at the
end. Reading from the socket pauses while more than ``HIGH_WATER`` bytes wait unread, so a slow consumer
(e.g. an upload spooled to disk) bounds the memory a fast client can make us use.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class BodyStream:
    """One streamed request body: fed by ``HttpProtocol``, read by ``Request.stream()``."""

    __slots__ = ("protocol", "loop", "chunks", "size", "done", "error", "waiter", "detached", "paused", "consumed")

    def __init__(self, protocol: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol = protocol
        self.loop = loop
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.done = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        #: the response has been sent: what still arrives of the body is discarded
        self.detached = False
        self.paused = False
        #: Request.stream() has been started (a body can be streamed once)
        self.consumed = False

    # ------------------------------------------------------------------ protocol side
    def feed(self, data: bytes) -> None:
        if self.detached:
            return
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and not self.paused:
            self.paused = True
            self.protocol.pause_body()
        self._wake()

    #: the protocol's ``on_body`` appends to its body list; once streamed, that "list" is this object
    append = feed

    def __bool__(self) -> bool:
        return True

    def end(self) -> None:
        self.done = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        """The body cannot complete (client gone, body too large): the reader gets ``exc``."""
        if self.error is None and not self.done:
            self.error = exc
        self._wake()

    def detach(self) -> None:
        """The request has been answered: drop what is queued and discard the rest as it comes."""
        self.detached = True
        self.chunks.clear()
        self.size = 0
        if self.paused:
            self.paused = False
            self.protocol.resume_body()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    # ------------------------------------------------------------------ handler side
    async def read(self) -> bytes | None:
        """The next chunk, or None once the body is complete; raises if it cannot complete."""
        while True:
            if self.chunks:
                data = self.chunks.popleft()
                self.size -= len(data)
                if self.paused and self.size < LOW_WATER:
                    self.paused = False
                    self.protocol.resume_body()
                return data
            if self.error is not None:
                raise self.error
            if self.done:
                return None
            self.waiter = w = self.loop.create_future()
            await w
