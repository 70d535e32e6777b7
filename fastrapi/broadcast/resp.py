"""A Redis connection read and written in batches, for the broadcast backend's pub/sub and publishing connections.

redis-py opens the connection (so every URL option works: TLS, AUTH, ACL user, SELECT, client name, keepalive),
then its transport is taken over by ``RespConnection``: each read is fed to hiredis's reader and every reply it
completes is handed over in one list, and the commands sent during one loop iteration go out in one write.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

try:
    import hiredis
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the Redis broadcast backend (redis:// URLs) needs hiredis: pip install 'fastrapi[redis]'"
    ) from exc

#: hiredis hands error replies back as values of this type (not raised)
ReplyError = hiredis.ReplyError
CRLF = b"\r\n"


def pack(*args: bytes) -> bytes:
    """One command in the RESP request format (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out += (b"$%d\r\n" % len(arg), arg, CRLF)
    return b"".join(out)


def publish_head(channel: bytes, size: int) -> bytes:
    """``PUBLISH channel`` up to the payload's length line: the payload and a CRLF follow."""
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n" % (len(channel), channel, size)


class RespConnection(asyncio.Protocol):
    """One Redis connection: ``on_replies(list)`` gets the replies completed by each read, in order;
    ``lost`` resolves with the error once the connection is gone (however it went)."""

    def __init__(self, on_replies: Callable[[list[Any]], None]) -> None:
        self.on_replies = on_replies
        self.reader = hiredis.Reader()
        self.transport: Any = None
        self.writer: Any = None
        self.loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[BaseException] = self.loop.create_future()
        self._out: list[bytes] | None = None
        self._closing = False
        self._aborted = False

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        replies = []
        try:
            while (reply := reader.gets()) is not False:
                replies.append(reply)
        except hiredis.ProtocolError as exc:
            self.abort(ConnectionError(f"unreadable reply from Redis: {exc}"))
        if replies:
            self.on_replies(replies)

    def eof_received(self) -> bool:
        return False  # close: connection_lost follows

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closing = True
        self._out = None
        if not self.lost.done():
            self.lost.set_result(exc or ConnectionError("connection closed by the server"))

    # ------------------------------------------------------------------ writing
    @property
    def open(self) -> bool:
        return not self._closing

    def send(self, *pieces: bytes) -> None:
        """Queue bytes to write; everything queued during this loop iteration goes out in one write."""
        if self._closing:
            return
        out = self._out
        if out is None:
            self._out = list(pieces)
            self.loop.call_soon(self._flush)
        else:
            out += pieces

    def _flush(self) -> None:
        out, self._out = self._out, None
        if out and not self._closing:
            self.transport.write(b"".join(out))

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        return self.transport.get_write_buffer_size() if not self._closing else 0

    def close(self) -> None:
        """Send what is queued, then close (Redis runs the commands it got before it sees the end)."""
        if not self._closing:
            self._flush()
            self._closing = True
            self.transport.close()

    def abort(self, error: BaseException | None = None) -> None:
        """Drop the connection at once (a reset: Redis discards what it has not read yet); ``error`` is what
        ``lost`` reports, unless the connection was already lost."""
        if error is not None and not self.lost.done():
            self.lost.set_result(error)
        self._out = None
        if not self._aborted and self.transport is not None:
            self._closing = self._aborted = True
            self.transport.abort()


async def open_connection(connection_class: Any, kwargs: dict[str, Any], timeout: float,
                          on_replies: Callable[[list[Any]], None]) -> RespConnection:
    """Connect and authenticate with redis-py, then take its transport over (see the module docstring)."""
    conn = connection_class(**kwargs)
    try:
        await asyncio.wait_for(conn.connect(), timeout)
    except BaseException:
        try:
            await conn.disconnect(nowait=True)
        except Exception:  # already broken: nothing more to release
            pass
        raise
    reader, writer = getattr(conn, "_reader", None), getattr(conn, "_writer", None)
    # detached: redis-py no longer reads it, nor closes it when its Connection object is collected
    conn._reader = conn._writer = None
    if writer is None or reader is None:
        raise ConnectionError("redis-py did not open a stream connection")
    transport = writer.transport
    if transport.is_closing() or reader.at_eof():
        transport.abort()
        raise ConnectionError("connection closed by the server")
    proto = RespConnection(on_replies)
    proto.writer = writer  # kept: a StreamWriter closes its transport when it is collected
    leftover = bytes(getattr(reader, "_buffer", b""))  # nothing is expected after the handshake
    transport.set_protocol(proto)
    proto.connection_made(transport)
    if not transport.is_reading():
        transport.resume_reading()
    if leftover:
        proto.data_received(leftover)
    return proto
