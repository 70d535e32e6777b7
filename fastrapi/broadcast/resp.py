"""A Redis connection read and written in batches, for the broadcast backend's pub/sub and publishing connections.

redis-py opens the connection (so every URL option works: TLS, AUTH, ACL user, SELECT, client name, keepalive),
then its transport is taken over by ``RespConnection``: each read is fed to hiredis's reader and every reply it
completes is handed over in one list. Commands are written at once (never held for later: a command sent
before something else this process does is in Redis's hands first).
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
        if not self.lost.done():
            self.lost.set_result(exc or ConnectionError("connection closed by the server"))

    # ------------------------------------------------------------------ writing
    @property
    def open(self) -> bool:
        return not self._closing

    def send(self, *pieces: bytes) -> None:
        """Write the pieces of a command (one system call; what the kernel does not take yet is buffered)."""
        if not self._closing:
            self.transport.writelines(pieces)

    def close(self) -> None:
        """Close after what is buffered is sent (Redis runs the commands it got before it sees the end)."""
        if not self._closing:
            self._closing = True
            self.transport.close()

    def abort(self, error: BaseException | None = None) -> None:
        """Drop the connection at once (a reset: Redis discards what it has not read yet); ``error`` is what
        ``lost`` reports, unless the connection was already lost."""
        if error is not None and not self.lost.done():
            self.lost.set_result(error)
        if not self._aborted and self.transport is not None:
            self._closing = self._aborted = True
            self.transport.abort()


async def open_connection(connection_class: Any, kwargs: dict[str, Any], timeout: float,
                          on_replies: Callable[[list[Any]], None]) -> RespConnection:
    """Connect and authenticate with redis-py, check that Redis answers (a PING: a hung server is not taken for
    a working one), then take the transport over (see the module docstring)."""
    conn = connection_class(**kwargs)
    try:
        await asyncio.wait_for(_connect_and_ping(conn), timeout)
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


async def _connect_and_ping(conn: Any) -> None:
    await conn.connect()
    await conn.send_command("PING", check_health=False)
    reply = await conn.read_response()
    if reply not in (b"PONG", "PONG"):
        raise ConnectionError(f"unexpected answer to PING: {reply!r}")
