"""Channels: WebSockets and iterators subscribed to a name, and the fan-out of a published message.

A message is encoded and framed once per publish (compressed once per deflate window size) and written to
every subscribed connection's transport in one synchronous loop: no await, no task, no queue per subscriber.
Messages a backend received together are framed once each and joined per channel, so that each subscriber
gets them in one write. A subscriber whose unsent bytes pass ``max_outgoing`` is dropped (close 1013) rather
than let memory grow.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections import deque
from typing import Any, AsyncIterator

import orjson

from ..jsoncodec import ensure_finite
from ..ws.deflate import MIN_COMPRESS_SIZE, compress_standalone
from ..ws.frames import FIN, OP_BINARY, OP_TEXT, RSV1, encode_frame
from .backends import BroadcastBackend, BroadcastError, Deliver, MemoryBackend, backend_from_url

logger = logging.getLogger("fastrapi.broadcast")

_TEXT, _BINARY = b"t", b"b"
_ids = itertools.count(1)
#: default bound on a subscriber's unsent bytes before it is dropped
MAX_OUTGOING = 4 * 1024 * 1024


class Event:
    """A message received through ``Broadcast.subscribe``: the channel and the message (str or bytes)."""

    __slots__ = ("channel", "message")

    def __init__(self, channel: str, message: str | bytes) -> None:
        self.channel = channel
        self.message = message

    def json(self) -> Any:
        return orjson.loads(self.message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and (self.channel, self.message) == (other.channel, other.message)

    def __repr__(self) -> str:
        return f"Event(channel={self.channel!r}, message={self.message!r})"


class SlowSubscriber(Exception):
    """A ``subscribe`` iterator fell more than ``max_queue`` messages behind and was dropped."""


class Membership:
    """What a connection has joined: its channels (left automatically when it closes) and an id for
    ``exclude=`` that survives a trip through the backend."""

    __slots__ = ("id", "channels")

    def __init__(self) -> None:
        self.id = next(_ids)
        self.channels: set[str] = set()


class Subscription:
    """An async iterator of a channel's Events (``async with broadcast.subscribe(name) as sub``)."""

    __slots__ = ("broadcast", "channel", "queue", "max_queue", "waiter", "overflowed", "closed")

    def __init__(self, broadcast: "Broadcast", channel: str, max_queue: int) -> None:
        self.broadcast = broadcast
        self.channel = channel
        self.queue: deque[Event] = deque()
        self.max_queue = max_queue
        self.waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.closed = False

    def put(self, event: Event) -> None:
        if self.overflowed:
            return
        if len(self.queue) >= self.max_queue:
            self.overflowed = True
            self.queue.clear()
            logger.warning("broadcast subscriber of %r dropped: more than %d messages behind",
                           self.channel, self.max_queue)
        else:
            self.queue.append(event)
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Event:
        while not self.queue:
            if self.overflowed:
                raise SlowSubscriber(f"more than {self.max_queue} messages behind on {self.channel!r}")
            if self.closed:
                raise StopAsyncIteration
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.queue.popleft()

    async def get(self) -> Event:
        """The next event (like ``anext(sub)``)."""
        return await self.__anext__()

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.broadcast._unlisten(self)


class _Channel:
    __slots__ = ("name", "sockets", "listeners")

    def __init__(self, name: str) -> None:
        self.name = name
        #: native connections (fastrapi.server.websocket.WebSocketProtocol or anything with write_shared)
        self.sockets: dict[Any, Membership] = {}
        self.listeners: list[Subscription] = []


class Broadcast:
    """Named channels shared by WebSockets, HTTP handlers and background tasks, in one process
    (``memory://``, the default) or across processes and machines (``redis://host:port``).

        await app.broadcast.join(websocket, "room-1")      # or: await websocket.join("room-1")
        await app.broadcast.publish("room-1", "hello")     # str -> text, bytes -> binary, else JSON text
        async with app.broadcast.subscribe("room-1") as sub:
            async for event in sub: ...
    """

    def __init__(self, url: str = "memory://", *, backend: BroadcastBackend | None = None,
                 max_outgoing: int = MAX_OUTGOING, max_queue: int = 1000) -> None:
        self.url = url
        self.backend: BroadcastBackend = backend if backend is not None else backend_from_url(url)
        #: a subscribed WebSocket with more unsent bytes than this is dropped (close 1013)
        self.max_outgoing = max_outgoing
        #: a ``subscribe`` iterator more messages behind than this is dropped (SlowSubscriber)
        self.max_queue = max_queue
        self.node = os.urandom(8)
        self._channels: dict[str, _Channel] = {}
        self._connected = False
        self._connecting: asyncio.Future[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Connect the backend (done by the app's lifespan for ``app.broadcast``)."""
        if not self._connected:
            await self.backend.connect(Deliver(self._deliver, self._deliver_many))
            self._connected = True

    async def disconnect(self) -> None:
        """Disconnect the backend; ``subscribe`` iterators still open end."""
        if self._connected:
            self._connected = False
            await self.backend.disconnect()
            for ch in list(self._channels.values()):
                for sub in list(ch.listeners):
                    sub.closed = True
                    w = sub.waiter
                    if w is not None and not w.done():
                        w.set_result(None)

    async def __aenter__(self) -> "Broadcast":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect()

    async def _ensure(self) -> None:
        if not self._connected:
            if isinstance(self.backend, MemoryBackend):
                await self.connect()  # nothing to wait for: usable without a lifespan
            else:
                raise BroadcastError(f"broadcast {self.url!r} is not connected: await broadcast.connect() first")

    # ------------------------------------------------------------------ membership
    async def join(self, websocket: Any, channel: str) -> None:
        """Subscribe a WebSocket to ``channel``; it leaves every channel by itself when it closes."""
        await self._ensure()
        conn = _connection(websocket)
        membership = conn.broadcast_membership
        if membership is None:
            membership = conn.broadcast_membership = Membership()
            conn.on_lost(self._connection_lost)
        if channel in membership.channels:
            return
        ch = self._channels.get(channel)
        if ch is None:
            ch = self._channels[channel] = _Channel(channel)
            await self.backend.subscribe(channel)
        if getattr(conn, "_lost", False):  # gone already (its on_lost callbacks have run): don't keep it
            return await self._release(ch)
        membership.channels.add(channel)
        ch.sockets[conn] = membership

    async def leave(self, websocket: Any, channel: str) -> None:
        """Unsubscribe a WebSocket from ``channel`` (a no-op if it was not subscribed)."""
        conn = _connection(websocket)
        membership = conn.broadcast_membership
        if membership is None or channel not in membership.channels:
            return
        membership.channels.discard(channel)
        await self._drop(conn, channel)

    def channels_of(self, websocket: Any) -> set[str]:
        """The channels a WebSocket has joined."""
        membership = _connection(websocket).broadcast_membership
        return set(membership.channels) if membership is not None else set()

    def subscribers(self, channel: str) -> int:
        """How many WebSockets (in this process) are subscribed to ``channel``."""
        ch = self._channels.get(channel)
        return len(ch.sockets) if ch is not None else 0

    def subscribe(self, channel: str, *, max_queue: int | None = None) -> "_SubscribeContext":
        """``async with broadcast.subscribe(channel) as sub: async for event in sub`` — the channel's messages
        as Events, for code that is not a WebSocket (SSE streams, background workers)."""
        return _SubscribeContext(self, channel, max_queue or self.max_queue)

    async def _listen(self, channel: str, max_queue: int) -> Subscription:
        await self._ensure()
        sub = Subscription(self, channel, max_queue)
        ch = self._channels.get(channel)
        if ch is None:
            ch = self._channels[channel] = _Channel(channel)
            await self.backend.subscribe(channel)
        ch.listeners.append(sub)
        return sub

    async def _unlisten(self, sub: Subscription) -> None:
        sub.closed = True
        w = sub.waiter
        if w is not None and not w.done():
            w.set_result(None)  # a reader waiting for the next event ends (StopAsyncIteration)
        ch = self._channels.get(sub.channel)
        if ch is not None and sub in ch.listeners:
            ch.listeners.remove(sub)
            await self._release(ch)

    async def _drop(self, conn: Any, channel: str) -> None:
        ch = self._channels.get(channel)
        if ch is not None:
            ch.sockets.pop(conn, None)
            await self._release(ch)

    async def _release(self, ch: _Channel) -> None:
        if not ch.sockets and not ch.listeners and self._channels.get(ch.name) is ch:
            del self._channels[ch.name]
            if self._connected:
                try:
                    await self.backend.unsubscribe(ch.name)
                except BroadcastError:
                    logger.warning("could not unsubscribe from %r", ch.name)

    def _connection_lost(self, conn: Any) -> None:
        """Called by a closing connection: leave its channels (the backend is told in a task)."""
        membership = conn.broadcast_membership
        if membership is None or not membership.channels:
            return
        names = list(membership.channels)
        membership.channels.clear()
        for name in names:
            ch = self._channels.get(name)
            if ch is None:
                continue
            ch.sockets.pop(conn, None)
            if not ch.sockets and not ch.listeners:
                task = asyncio.get_running_loop().create_task(self._release(ch))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    # ------------------------------------------------------------------ publishing
    async def publish(self, channel: str, message: Any, *, exclude: Any = None) -> None:
        """Send ``message`` to every subscriber of ``channel``: ``str`` as a text message, ``bytes`` as binary,
        anything else as JSON text. ``exclude``: a WebSocket not to send it to (typically the sender).
        Raises BroadcastError when the backend cannot take it (nothing is dropped silently)."""
        await self._ensure()
        if isinstance(message, str):
            kind, data = _TEXT, message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray, memoryview)):
            kind, data = _BINARY, bytes(message)
        else:
            from ..encoders import jsonable_encoder

            kind, data = _TEXT, orjson.dumps(message, default=jsonable_encoder)
            if 110 in data and data.partition(b"null")[1]:  # inf/NaN: ValueError, not null
                ensure_finite(message, jsonable_encoder)
        skip = 0
        if exclude is not None:
            membership = _connection(exclude).broadcast_membership
            skip = membership.id if membership is not None else 0
        header = kind + self.node + skip.to_bytes(8, "big")
        await self.backend.publish(channel, header + data)

    def _deliver(self, channel: str, payload: bytes) -> None:
        """A message arrived for ``channel`` (from the backend): frame it once, write it to every subscriber."""
        ch = self._channels.get(channel)
        if ch is None:
            return
        message = self._unpack(channel, payload)
        if message is None:
            return
        first, data, skip = message
        if ch.sockets:
            fan_out(ch.sockets, first, data, skip, self.max_outgoing)
        if ch.listeners:
            self._notify(ch, [message])

    def _deliver_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Messages that arrived together (from the backend, in order): grouped per channel, each framed once,
        and every subscriber of a channel gets that channel's messages in one write, in their order."""
        if len(messages) == 1:
            return self._deliver(*messages[0])
        groups: dict[str, list[bytes]] = {}
        for channel, payload in messages:
            group = groups.get(channel)
            if group is None:
                groups[channel] = [payload]
            else:
                group.append(payload)
        for channel, payloads in groups.items():
            ch = self._channels.get(channel)
            if ch is None:
                continue
            batch = [m for m in (self._unpack(channel, p) for p in payloads) if m is not None]
            if not batch:
                continue
            if ch.sockets:
                if len(batch) == 1:
                    fan_out(ch.sockets, *batch[0], self.max_outgoing)
                else:
                    fan_out_many(ch.sockets, batch, self.max_outgoing)
            if ch.listeners:
                self._notify(ch, batch)

    def _unpack(self, channel: str, payload: bytes) -> tuple[int, bytes, int] | None:
        """A payload from the backend as (first frame byte, data, membership id to skip); None if it was not
        published through ``Broadcast.publish``."""
        kind = payload[:1]
        if len(payload) < 17 or kind not in (_TEXT, _BINARY):
            logger.warning("ignored a message on %r that was not published through fastrapi.broadcast", channel)
            return None
        skip = int.from_bytes(payload[9:17], "big") if payload[1:9] == self.node else 0
        return FIN | (OP_TEXT if kind == _TEXT else OP_BINARY), payload[17:], skip

    @staticmethod
    def _notify(ch: _Channel, batch: list[tuple[int, bytes, int]]) -> None:
        """Hand messages to the channel's ``subscribe`` iterators as Events."""
        for first, data, _skip in batch:
            event = Event(ch.name, data.decode("utf-8") if first & 0x0F == OP_TEXT else data)
            for sub in list(ch.listeners):
                sub.put(event)


class _SubscribeContext:
    __slots__ = ("broadcast", "channel", "max_queue", "sub")

    def __init__(self, broadcast: Broadcast, channel: str, max_queue: int) -> None:
        self.broadcast = broadcast
        self.channel = channel
        self.max_queue = max_queue
        self.sub: Subscription | None = None

    async def __aenter__(self) -> Subscription:
        self.sub = await self.broadcast._listen(self.channel, self.max_queue)
        return self.sub

    async def __aexit__(self, *exc: Any) -> None:
        if self.sub is not None:
            await self.broadcast._unlisten(self.sub)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        async with self as sub:
            async for event in sub:
                yield event


def fan_out(sockets: dict[Any, Membership], first: int, data: bytes, skip: int, max_outgoing: int) -> int:
    """Write one message to every connection in ``sockets`` (except the one whose membership id is ``skip``).

    The frame is built once; for connections with permessage-deflate it is compressed once per window size
    with a fresh compressor (valid for any peer state), after which such a connection's own compressor
    restarts, so its later messages never refer to data the peer saw in a different order.
    Returns the number of connections written to.
    """
    plain = encode_frame(first, data)
    deflated: dict[int, bytes] = {}
    compressible = len(data) >= MIN_COMPRESS_SIZE
    sent = 0
    for conn, membership in list(sockets.items()):
        if membership.id == skip:
            continue
        frame = plain
        deflate = conn.deflate_state if compressible else None
        if deflate is not None:
            bits = deflate.server_max_window_bits
            frame = deflated.get(bits)
            if frame is None:
                frame = deflated[bits] = _deflate_frame(first, data, bits)
        if conn.write_shared(frame, max_outgoing):
            sent += 1
            if deflate is not None and not deflate.server_no_context_takeover:
                deflate.reset_compressor()
    return sent


def fan_out_many(sockets: dict[Any, Membership], batch: list[tuple[int, bytes, int]], max_outgoing: int) -> int:
    """Write several messages of one channel (``(first, data, skip)`` each, in order) to every connection in
    ``sockets``: each is framed once (compressed once per window size, like ``fan_out``) and the frames are
    joined once, so a connection gets them all in one write. A connection excluded from some of them (``skip``)
    gets the others. Returns the number of connections written to."""
    plain = [encode_frame(first, data) for first, data, _ in batch]
    joined = b"".join(plain)
    skips = {skip for _, _, skip in batch if skip}
    compressible = any(len(data) >= MIN_COMPRESS_SIZE for _, data, _ in batch)
    deflated: dict[int, tuple[list[bytes], bytes]] = {}
    sent = 0
    for conn, membership in list(sockets.items()):
        frames, out = plain, joined
        deflate = conn.deflate_state if compressible else None
        if deflate is not None:
            bits = deflate.server_max_window_bits
            pair = deflated.get(bits)
            if pair is None:
                squeezed = [_deflate_frame(first, data, bits) if len(data) >= MIN_COMPRESS_SIZE else frame
                            for (first, data, _), frame in zip(batch, plain)]
                pair = deflated[bits] = (squeezed, b"".join(squeezed))
            frames, out = pair
        if membership.id in skips:
            out = b"".join([frame for frame, (_, _, skip) in zip(frames, batch) if skip != membership.id])
            if not out:
                continue
        if conn.write_shared(out, max_outgoing):
            sent += 1
            if deflate is not None and not deflate.server_no_context_takeover:
                deflate.reset_compressor()
    return sent


def _deflate_frame(first: int, data: bytes, bits: int) -> bytes:
    return encode_frame(first | RSV1, compress_standalone(data, bits))


def _connection(websocket: Any) -> Any:
    """The native connection behind a ``fastrapi.WebSocket`` (or the connection itself)."""
    return getattr(websocket, "_conn", websocket)
