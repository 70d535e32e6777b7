"""One WebSocket connection after the upgrade: frame parsing, message assembly, close handshake, I/O.

``WebSocketProtocol`` replaces the HTTP protocol on the transport once a request asks to upgrade. It parses
frames straight out of the received bytes in ``data_received``, queues complete messages in a deque and
wakes the one waiting ``receive()`` through a single future. Client state is updated right here, so it is
current even when the handler is not inside a receive. The user-facing API is ``fastrapi.websocket.WebSocket``.
"""
from __future__ import annotations

import asyncio
import codecs
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, Any

from ..exceptions import WebSocketDisconnect
from ..ws.codes import CloseCode, State
from ..ws.deflate import MIN_COMPRESS_SIZE, PerMessageDeflate
from ..ws.frames import (
    BINARY_HEADERS,
    FIN,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    TEXT_HEADERS,
    ProtocolError,
    check_close_code,
    close_payload,
    encode_frame,
    frame_header,
    parse_close,
    unmask,
    unpack_len16,
    unpack_len64,
)
from ..ws.handshake import response_101
from .config import YIELD_EVERY as _YIELD_EVERY

#: data frames at least this large go through ``_write_large`` (a direct write, else an outbox of pieces)
_LARGE = 16 * 1024
#: the pieces an outbox is written in, and the transport's high-water mark meanwhile
_PIECE = 4 * 1024
_writev = os.writev
from .head import InvalidHeader, check_headers, simple_response

if TYPE_CHECKING:
    from .server import Server

logger = logging.getLogger("fastrapi.error")

CONNECTING = State.CONNECTING
CONNECTED = State.CONNECTED
DISCONNECTED = State.DISCONNECTED

_utf8_decoder = codecs.getincrementaldecoder("utf-8")
#: besides ``ws_max_queue`` messages, reading pauses once the queued messages hold more than this many bytes
#: (counted only when a message over ``_LARGE`` arrives): a handler that does not read makes the server hold
#: about 1 MiB plus one message, not ``ws_max_queue`` x ``ws_max_size`` (512 MiB by default)
_QUEUE_HIGH = 1 << 20
_LARGE = 64 * 1024
_PONG = FIN | OP_PONG
_PING = FIN | OP_PING
_CLOSE = FIN | OP_CLOSE


class WebSocketProtocol(asyncio.Protocol):
    """Server side of one WebSocket connection (RFC 6455), owned by the transport after the upgrade."""

    __slots__ = (
        "server", "loop", "transport", "key", "_request_headers",
        "client_state", "application_state", "close_code", "close_reason",
        "_buf", "messages", "_waiter", "_max_size", "_max_queue", "_low_queue",
        "_read_paused", "_write_paused", "_drain_waiter", "_deflate", "_extension",
        "_frag_op", "_frag_parts", "_frag_size", "_frag_decoder", "_frag_compressed",
        "_input_closed", "_close_sent", "_close_waiter", "_timer", "_pong_timer", "_ping_payload",
        "_lost", "task", "broadcast_membership", "_lost_callbacks", "_shared", "_unyielded",
        "_outbox", "_held", "_fd", "peer",
    )

    def __init__(self, server: "Server", transport: Any, key: bytes, request_headers: list[tuple[bytes, bytes]]) -> None:
        cfg = server.config
        self.server = server
        self.loop = server.loop
        self.transport = transport
        transport.set_write_buffer_limits(high=cfg.ws_write_buffer_high)
        #: what the handler's client address and URL scheme come from (``server.proxy`` sets a proxied view)
        self.peer: Any = transport
        self.key = key
        self._request_headers = _pack_headers(request_headers)
        self.client_state = CONNECTING
        self.application_state = CONNECTING
        self.close_code: int | None = None
        self.close_reason = ""
        self._buf = bytearray()
        #: received messages not yet read; None until the first one (an empty deque takes 760 bytes)
        self.messages: deque[str | bytes] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._max_size = cfg.ws_max_size
        self._max_queue = cfg.ws_max_queue
        self._low_queue = cfg.ws_max_queue // 4
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._deflate: PerMessageDeflate | None = None
        self._extension: bytes | None = None
        if cfg.ws_per_message_deflate:
            negotiated = PerMessageDeflate.negotiate(request_headers)
            if negotiated is not None:
                self._extension, self._deflate = negotiated
        self._frag_op = 0
        self._frag_parts: bytearray | None = None  # the bytes so far of a fragmented message in progress
        self._frag_size = 0
        self._frag_decoder: Any = None
        self._frag_compressed = False
        self._input_closed = False
        self._close_sent = False
        self._close_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # next ping, or the close-handshake deadline
        self._pong_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._lost = False
        self.task: asyncio.Task[Any] | None = None
        #: the channels joined through fastrapi.broadcast (None until the first join)
        self.broadcast_membership: Any = None
        self._lost_callbacks: list[Any] | None = None
        #: broadcast frames waiting for this loop iteration's flush (None when there are none)
        self._shared: list[bytes] | None = None
        #: bytes sent by the handler since its sends last yielded to the loop (see ``drain``)
        self._unyielded = 0
        #: a large frame the peer is not taking fast enough: [source, position, end], written piece by piece
        #: from the sender's own str/bytes as the socket drains (see ``_write_large``); None when there is none
        self._outbox: list[Any] | None = None
        #: whole frames written while the outbox was busy: they follow it (None when there are none)
        self._held: list[bytes] | None = None
        #: the socket's fd for direct writes of large frames (-1: none, as under TLS; -2: not looked up yet)
        self._fd = -2

    @property
    def request_headers(self) -> list[tuple[bytes, bytes]]:
        """The handshake's headers: (lower-case name, value) pairs, in order (a new list at each call)."""
        return _unpack_headers(self._request_headers)

    # ------------------------------------------------------------------ handshake
    def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None:
        """Send the 101 response and start processing frames (buffered ones included)."""
        if self.application_state != CONNECTING:
            raise RuntimeError('WebSocket.accept() may be called only once, before any send or receive')
        if self._lost:
            self.application_state = DISCONNECTED
            raise WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE, "client disconnected before the handshake completed")
        if headers or subprotocol is not None:
            # the app's headers and subprotocol go into the 101 head: refused (InvalidHeader) if they would split it
            check_headers(headers if subprotocol is None else
                          [*headers, (b"sec-websocket-protocol", subprotocol.encode("latin-1"))])
        self.transport.write(response_101(self.key, subprotocol, self._extension, headers, self.server.date_server))
        self.key = b""  # not needed any more
        self.client_state = CONNECTED
        self.application_state = CONNECTED
        if self.server.config.ws_ping_interval:
            self._timer = self.loop.call_later(self.server.config.ws_ping_interval, self._send_ping)
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self.data_received(data)

    def reject(self, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
               content_type: bytes = b"text/plain; charset=utf-8") -> None:
        """Refuse the handshake with an HTTP response (403 when the handler did not accept); an invalid header
        among ``headers`` is logged and a plain 500 sent instead."""
        self.application_state = DISCONNECTED
        self.client_state = DISCONNECTED
        if self._lost or self.transport.is_closing():
            return
        try:
            response = simple_response(status, body, self.server.date_server, close=True, headers=headers,
                                       content_type=content_type)
        except InvalidHeader as exc:
            logger.error("Invalid response refusing a WebSocket handshake: %s", exc)
            response = simple_response(500, b"Internal Server Error", self.server.date_server, close=True)
        self.transport.write(response)
        self.transport.close()

    # ------------------------------------------------------------------ asyncio callbacks
    def data_received(self, data: bytes) -> None:
        if self._input_closed:
            return  # nothing is processed after a close frame (or after we failed the connection)
        buf = self._buf
        if self.client_state != CONNECTED:
            buf += data  # frames sent before the 101 wait for accept()
            if len(buf) > self._max_size + 14:
                self._fail(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        if buf:
            buf += data
            data = buf  # type: ignore[assignment]
        end = len(data)
        pos = 0
        messages = self.messages
        max_size = self._max_size
        try:
            while end - pos >= 2:
                b0 = data[pos]
                ln = data[pos + 1]
                if not ln & 0x80:
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
                ln &= 0x7F
                if ln < 126:
                    hdr = pos + 2
                elif ln == 126:
                    if end - pos < 4:
                        break
                    ln = unpack_len16(data, pos + 2)[0]
                    hdr = pos + 4
                else:
                    if end - pos < 10:
                        break
                    ln = unpack_len64(data, pos + 2)[0]
                    hdr = pos + 10
                    if ln >> 63:
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "frame length has its most significant bit set")
                if ln > max_size:
                    raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
                stop = hdr + 4 + ln
                if stop > end:
                    break
                payload = unmask(data[hdr + 4 : stop], data[hdr : hdr + 4])
                pos = stop
                # Fast path: a whole uncompressed text or binary message in one frame.
                if b0 == 0x81 and not self._frag_op:
                    try:
                        message: Any = payload.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8 in text message") from None
                elif b0 == 0x82 and not self._frag_op:
                    message = payload
                else:
                    self._frame(b0, payload)
                    if self._input_closed:
                        break
                    messages = self.messages  # (_frame may have queued the first message)
                    continue
                if messages is None:
                    messages = self.messages = deque()
                messages.append(message)
                w = self._waiter
                if w is not None:
                    self._waiter = None
                    if not w.done():
                        w.set_result(None)
                if (len(messages) >= self._max_queue or (ln > _LARGE and _queued_bytes(messages) > _QUEUE_HIGH)) \
                        and not self._read_paused:
                    self._read_paused = True
                    self.transport.pause_reading()
        except ProtocolError as exc:
            self._fail(exc.code, exc.reason)
            return
        if self._input_closed:
            buf.clear()
        elif data is buf:
            del buf[:pos]
        elif pos < end:
            buf += data[pos:]

    def _frame(self, b0: int, payload: bytes) -> None:
        """Every frame but an unfragmented plain text/binary message: fragments, control, compression."""
        opcode = b0 & 0x0F
        rsv = b0 & 0x70
        if rsv:
            if rsv != RSV1 or self._deflate is None or opcode == OP_CONTINUATION or opcode >= 8:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits must be 0 unless an extension defines them")
        fin = b0 & FIN
        if opcode >= 8:
            if not fin:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frames must not be fragmented")
            if len(payload) > 125:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frame payload is longer than 125 bytes")
            if opcode == OP_PING:
                self._write_control(_PONG, payload)
                if (self._write_paused or self._outbox is not None) and not self._read_paused:
                    # pings from a peer that does not read the pongs: stop reading until it does (resume_writing),
                    # else the pongs would pile up in the write buffer without bound
                    self._read_paused = True
                    self.transport.pause_reading()
            elif opcode == OP_PONG:
                if self._ping_payload is not None and payload == self._ping_payload:
                    self._ping_payload = None
                    if self._pong_timer is not None:
                        self._pong_timer.cancel()
                        self._pong_timer = None
            elif opcode == OP_CLOSE:
                self._on_close_frame(payload)
            else:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
            return
        if opcode == OP_CONTINUATION:
            if not self._frag_op:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "continuation frame with no message in progress")
            self._add_fragment(payload, fin)
            return
        if opcode != OP_TEXT and opcode != OP_BINARY:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
        if self._frag_op:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "expected a continuation frame: a fragmented message is in progress")
        self._frag_op = opcode
        self._frag_parts = None
        self._frag_size = 0
        self._frag_compressed = bool(rsv)
        self._frag_decoder = _utf8_decoder() if opcode == OP_TEXT else None
        self._add_fragment(payload, fin)

    def _add_fragment(self, payload: bytes, fin: int) -> None:
        if self._frag_compressed:
            assert self._deflate is not None
            payload = self._deflate.decompress(payload, bool(fin), self._max_size - self._frag_size)
        self._frag_size += len(payload)
        if self._frag_size > self._max_size:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        decoder = self._frag_decoder
        text = ""
        if decoder is not None:
            try:
                text = decoder.decode(payload, bool(fin))  # checked as it arrives: invalid UTF-8 fails at once
            except UnicodeDecodeError:
                raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8 in text message") from None
        # The raw bytes collect in one bytearray (not a list of parts: a message in 1-byte fragments would cost
        # ~50 bytes of memory per byte received).
        collected = self._frag_parts
        if not fin:
            if collected is None:
                self._frag_parts = bytearray(payload)
            else:
                collected += payload
            return
        message: str | bytes
        if collected is None:  # the whole message in one frame (a compressed one): as decoded
            message = text if decoder is not None else payload
        else:
            collected += payload
            message = collected.decode("utf-8") if decoder is not None else bytes(collected)
        self._frag_op = 0
        self._frag_parts = None
        self._frag_decoder = None
        self._deliver(message)

    def _deliver(self, message: str | bytes) -> None:
        messages = self.messages
        if messages is None:
            messages = self.messages = deque()
        messages.append(message)
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)
        if (len(messages) >= self._max_queue or (len(message) > _LARGE and _queued_bytes(messages) > _QUEUE_HIGH)) \
                and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    def _on_close_frame(self, payload: bytes) -> None:
        """The peer's close frame (RFC 6455 5.5.1): echo its code unless ours went first, then close TCP; the
        server closes the connection first (7.1.1)."""
        code, reason = parse_close(payload)
        self._input_closed = True
        self.client_state = DISCONNECTED
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self._send_close(payload[:2] if code != CloseCode.NO_STATUS_RCVD else b"")
        self.transport.close()
        self._wake_all()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): send a close frame with ``code`` and close TCP."""
        self._input_closed = True
        self.client_state = DISCONNECTED
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self._send_close(close_payload(code, reason[:100]))
        self.transport.close()
        self._wake_all()

    def _send_close(self, payload: bytes) -> bool:
        """The one place our close frame is sent, at most once: after it the application side is closed. TCP
        is then closed at once if the peer's close already came (7.1.1), else when its reply arrives or, at the
        latest, after ``ws_close_timeout`` (7.1.1: the server closes first). False if nothing was sent."""
        self.application_state = DISCONNECTED
        if self._close_sent or self._lost:
            return False
        self._close_sent = True
        self._write_control(_CLOSE, payload)
        if self.client_state == DISCONNECTED:
            self.transport.close()
        else:
            self._cancel_timers()
            self._timer = self.loop.call_later(self.server.config.ws_close_timeout, self._close_timeout)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._input_closed = True
        self.client_state = DISCONNECTED
        self.application_state = DISCONNECTED
        if self.close_code is None:
            self.close_code = 1006
        self._outbox = self._held = None
        self._cancel_timers()
        self.server.connections.discard(self)
        self._wake_all()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        callbacks = self._lost_callbacks
        if callbacks is not None:
            self._lost_callbacks = None
            for callback in callbacks:
                try:
                    callback(self)
                except Exception:
                    logger.exception("error in a connection-lost callback")

    def on_lost(self, callback: Any) -> None:
        """Call ``callback(connection)`` when the connection is gone (channels use it to drop members)."""
        if self._lost:
            callback(self)
        elif self._lost_callbacks is None:
            self._lost_callbacks = [callback]
        else:
            self._lost_callbacks.append(callback)

    # ------------------------------------------------------------------ broadcast fan-out
    @property
    def deflate_state(self) -> PerMessageDeflate | None:
        """The negotiated permessage-deflate state (None if not negotiated)."""
        return self._deflate

    def write_shared(self, frame: bytes, max_outgoing: int) -> bool:
        """Queue an already-encoded data frame (the same bytes for many connections); False if the connection
        cannot take it. The frames queued during one loop iteration go out in one write at its end (one
        system call for many broadcast messages); a message the handler sends itself flushes them first."""
        if self.application_state != CONNECTED or self._lost:
            return False
        shared = self._shared
        if shared is None:
            self._shared = [frame]
            dirty = _DIRTY.get(self.loop)
            if dirty is None:
                dirty = _DIRTY[self.loop] = []
                self.loop.call_soon(_flush_dirty, self.loop)
            dirty.append((self, max_outgoing))
        else:
            shared.append(frame)
        return True

    def _flush_shared(self, max_outgoing: int = 1 << 62) -> None:
        """Write the queued broadcast frames; drop the connection if it has too much unsent (close 1013)."""
        shared = self._shared
        self._shared = None
        if not shared or self._lost:
            return
        transport = self.transport
        data = shared[0] if len(shared) == 1 else b"".join(shared)
        if self._outbox is not None:
            self._hold(data)
            unsent = transport.get_write_buffer_size() + sum(map(len, self._held or ()))
        else:
            transport.write(data)
            unsent = transport.get_write_buffer_size()
        if unsent > max_outgoing:
            logger.warning("WebSocket subscriber dropped: %d bytes unsent (limit %d), it does not read fast enough",
                           unsent, max_outgoing)
            self._fail(CloseCode.TRY_AGAIN_LATER, "subscriber too slow")
            self._cancel_timers()
            # its buffer is full, so the close frame may never get through: drop it after the close timeout
            self._timer = self.loop.call_later(self.server.config.ws_close_timeout, self._close_timeout)
        return True

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._outbox is not None:
            self._pump()
        if self._read_paused and not self._write_paused and self._outbox is None and not self._input_closed \
                and len(self.messages or ()) <= self._low_queue:
            self._read_paused = False  # (paused by pings while the peer was not reading)
            self.transport.resume_reading()
        w = self._drain_waiter
        if w is not None:
            self._drain_waiter = None
            if not w.done():
                w.set_result(None)

    def _wake_all(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)
        w = self._close_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # ------------------------------------------------------------------ keepalive
    def _send_ping(self) -> None:
        """Every ws_ping_interval: ping (unless one is still unanswered) and arm the pong deadline."""
        self._timer = None
        if self.client_state != CONNECTED or self._close_sent:
            return
        cfg = self.server.config
        if self._ping_payload is None:
            self._ping_payload = os.urandom(4)
            self._write_control(_PING, self._ping_payload)
            if cfg.ws_ping_timeout:
                self._pong_timer = self.loop.call_later(cfg.ws_ping_timeout, self._pong_deadline)
        self._timer = self.loop.call_later(cfg.ws_ping_interval, self._send_ping)

    def _pong_deadline(self) -> None:
        self._pong_timer = None
        if self._ping_payload is not None and self.client_state == CONNECTED:
            # No pong within ws_ping_timeout: the peer is gone.
            self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self.transport.abort()

    def _cancel_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None

    # ------------------------------------------------------------------ application API
    def wait_message(self) -> "asyncio.Future[None]":
        """A future resolved when a message arrives or the connection closes; raises if it already has.

        Callers loop ``while not conn.messages: await conn.wait_message()`` then ``conn.pop()``: awaiting the
        future directly keeps one coroutine frame per message off the hot path.
        """
        if self._input_closed or self.application_state == DISCONNECTED:
            raise WebSocketDisconnect(self.close_code or CloseCode.NORMAL_CLOSURE, self.close_reason)
        if self.application_state == CONNECTING:
            raise RuntimeError('WebSocket is not connected: call "await ws.accept()" first')
        if self._waiter is not None and not self._waiter.done():  # (a cancelled wait leaves a done future)
            raise RuntimeError("another coroutine is already waiting for the next message")
        waiter = self._waiter = self.loop.create_future()
        return waiter

    def pop(self) -> str | bytes:
        """The oldest queued message; resumes reading from the socket once the queue has drained."""
        messages = self.messages
        message = messages.popleft()
        if self._read_paused and len(messages) <= self._low_queue:
            self._read_paused = False
            if not self._input_closed:
                self.transport.resume_reading()
        return message

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary. Raises WebSocketDisconnect when closed."""
        while not self.messages:
            await self.wait_message()
        return self.pop()

    def _check_send(self) -> bool:
        """A send on a connection that is not open: RuntimeError before accept; once closed or lost, True, so
        that the caller's ``drain()`` yields to the loop and raises WebSocketDisconnect."""
        if self.application_state == CONNECTING:
            raise RuntimeError('WebSocket is not connected: call "await ws.accept()" before sending')
        return True

    def write_text(self, data: str) -> bool:
        """Frame and write one text message; True when the caller must ``await drain()``."""
        if self.application_state != CONNECTED or self._lost:
            return self._check_send()
        if len(data) >= _LARGE and self._deflate is None and data.isascii():
            return self._write_large(0x81, data, len(data))  # (ASCII: its characters are its UTF-8 bytes)
        return self._write_message(0x81, TEXT_HEADERS, data.encode("utf-8"))

    def write_utf8(self, payload: bytes) -> bool:
        """Like ``write_text`` for text that is already UTF-8 bytes (orjson's output)."""
        if self.application_state != CONNECTED or self._lost:
            return self._check_send()
        if len(payload) >= _LARGE and self._deflate is None:
            return self._write_large(0x81, payload, len(payload))
        return self._write_message(0x81, TEXT_HEADERS, payload)

    def write_bytes(self, data: bytes | bytearray | memoryview) -> bool:
        """Frame and write one binary message; True when the caller must ``await drain()``."""
        if self.application_state != CONNECTED or self._lost:
            return self._check_send()
        if self._deflate is None and len(data) >= _LARGE:
            view = memoryview(data)
            if view.format != "B" or view.ndim != 1:
                view = view.cast("B")
            return self._write_large(0x82, view, view.nbytes)
        return self._write_message(0x82, BINARY_HEADERS, data)

    def _write_message(self, first: int, short_headers: list[bytes], payload: Any) -> bool:
        """One unfragmented data frame; compressed (RSV1) when deflate is on and it is worth it."""
        if self._shared is not None:
            self._flush_shared()  # broadcast frames queued earlier go first
        n = len(payload)
        if self._outbox is not None:  # (another task's large frame is still going out: this one follows it)
            if self._deflate is not None and n >= MIN_COMPRESS_SIZE:
                self._hold(encode_frame(first | RSV1, self._deflate.compress(bytes(payload))))
            else:
                self._hold(encode_frame(first, bytes(payload)))
            return True
        if self._deflate is not None and n >= MIN_COMPRESS_SIZE:
            payload = self._deflate.compress(bytes(payload))
            self.transport.write(encode_frame(first | RSV1, payload))
        elif n < 126:
            self.transport.write(short_headers[n] + payload)
        else:
            self._write_data(first, payload)
        self._unyielded += n
        # drain() when: the buffer is full; the transport is closing (a failed write only schedules
        # connection_lost, and later writes are dropped); or a fast reader has taken 1 MiB without a pause
        return self._write_paused or self._unyielded > _YIELD_EVERY or self.transport.is_closing()

    def _write_large(self, first: int, source: Any, n: int) -> bool:
        """A data frame of ``n`` >= 16 KiB bytes from ``source`` (an ASCII str or a byte view of the sender's
        object). When the socket takes it all at once, it is one direct write. Otherwise what is left is not
        copied: it stays in the outbox as the sender's own object and goes out in 4 KiB pieces as the socket
        drains (``_pump``), so a client that stops reading costs the server a few KiB, not a message."""
        if self._shared is not None:
            self._flush_shared()
        header = frame_header(first, n)
        transport = self.transport
        self._unyielded += n
        if self._outbox is not None:
            self._hold(header + (source.encode("ascii") if type(source) is str else bytes(source)))
            return True
        fd = self._fd
        if fd == -2:
            fd = self._fd = _direct_fd(transport)
        pos = 0
        if fd >= 0 and transport.get_write_buffer_size() == 0:
            # Nothing queued in the transport: writing to the socket directly cannot overtake anything.
            payload = source.encode("ascii") if type(source) is str else source
            try:
                sent = _writev(fd, (header, payload))  # (no copy of header + payload)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                transport.writelines((header, payload))  # the transport meets the same error: connection lost
                return True
            if sent == len(header) + n:
                return self._write_paused or self._unyielded > _YIELD_EVERY or transport.is_closing()
            del payload
            if sent < len(header):
                transport.write(header[sent:])
            else:
                pos = sent - len(header)
        else:
            transport.write(header)
        self._outbox = [source, pos, n]
        transport.set_write_buffer_limits(high=_PIECE, low=0)
        self._pump()
        return True

    def _pump(self) -> None:
        """Write the outbox's next pieces while the transport takes them; when it is done, what was held
        behind it follows, the write limits are restored and the waiting sender wakes."""
        box = self._outbox
        assert box is not None
        source, pos, end = box
        transport = self.transport
        while pos < end and not self._write_paused:
            piece = source[pos : pos + _PIECE]
            transport.write(piece.encode("ascii") if type(piece) is str else piece)
            pos += _PIECE
        if pos < end:
            box[1] = pos
            return
        self._outbox = None
        transport.set_write_buffer_limits(high=self.server.config.ws_write_buffer_high)
        held = self._held
        if held is not None:
            self._held = None
            transport.write(held[0] if len(held) == 1 else b"".join(held))
        w = self._drain_waiter
        if w is not None and not self._write_paused:
            self._drain_waiter = None
            if not w.done():
                w.set_result(None)

    def _hold(self, frame: bytes) -> None:
        if self._held is None:
            self._held = [frame]
        else:
            self._held.append(frame)

    async def send_text(self, data: str) -> None:
        if self.write_text(data):
            await self.drain()

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        if self.write_bytes(data):
            await self.drain()

    def _write_data(self, first: int, payload: Any) -> None:
        header = frame_header(first, len(payload))
        if len(payload) < 16384:
            self.transport.write(header + payload)
        else:
            self.transport.writelines((header, payload))

    def _write_control(self, first: int, payload: bytes) -> None:
        if not self._lost:
            if self._shared is not None and first != _PONG and first != _PING:
                self._flush_shared()  # (a close frame comes after the data queued before it)
            if self._outbox is not None:  # never inside a frame: after the large one going out
                self._hold(encode_frame(first, payload))
            else:
                self.transport.write(encode_frame(first, payload))

    async def drain(self) -> None:
        """After a write that asked for it: wait while the write buffer is above its high-water mark, and let
        the loop run. Raises WebSocketDisconnect once the connection is closed, lost or its transport is closing:
        always after one trip through the loop, so that a handler sending in a loop lets ``connection_lost``
        and every other connection run (a reset peer can never leave it spinning)."""
        self._unyielded = 0
        if not (self._write_paused or self._outbox is not None) or self._lost or self.transport.is_closing():
            await asyncio.sleep(0)
        while (self._write_paused or self._outbox is not None) and not self._lost and not self.transport.is_closing():
            w = self._drain_waiter
            if w is None or w.done():
                w = self._drain_waiter = self.loop.create_future()
            await w
        if self._lost or self.application_state != CONNECTED or self.transport.is_closing():
            raise WebSocketDisconnect(self.close_code or CloseCode.ABNORMAL_CLOSURE, self.close_reason)

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start (or finish) the closing handshake; a no-op once closed. Waits briefly for the peer's reply."""
        if self.application_state == CONNECTING:
            self.reject(403)
            return
        if self._close_sent or self._lost:
            return
        check_close_code(code)
        if self.close_code is None and self.client_state == DISCONNECTED:
            self.close_code = code
        if not self._send_close(close_payload(code, reason or "")) or self.client_state == DISCONNECTED:
            return
        waiter = self._close_waiter = self.loop.create_future()
        try:
            await asyncio.shield(waiter)
        finally:
            self._close_waiter = None

    def _close_timeout(self) -> None:
        self._timer = None
        if not self._lost:
            self.transport.abort()

    def server_shutdown(self) -> None:
        """Graceful shutdown of the server: close with 1001 Going Away (or drop a pending handshake)."""
        if self.application_state == CONNECTING:
            self.reject(503)
            return
        if self.close_code is None and not self._close_sent and not self._lost:
            self.close_code, self.close_reason = CloseCode.GOING_AWAY, "server shutting down"
        if self._send_close(close_payload(CloseCode.GOING_AWAY, "server shutting down")):
            self._wake_all()

    def finish(self, code: int, reason: str = "") -> None:
        """The handler returned or raised: close with ``code`` unless already closed."""
        if not self._send_close(close_payload(code, reason)) and self.client_state == DISCONNECTED and not self._lost:
            self.transport.close()


def _direct_fd(transport: Any) -> int:
    """The socket's fd when large frames may be written to it directly (not under TLS), else -1."""
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return sock.fileno() if sock is not None else -1
    except (AttributeError, OSError):
        return -1


def _pack_headers(headers: list[tuple[bytes, bytes]]) -> Any:
    """The handshake headers as one ``name: value\r\n...`` bytes object, kept for the connection's lifetime:
    about a quarter of the memory of the list of tuples (two bytes objects and a tuple per header). The list
    itself is kept in the unlikely case a value holds a line break (the parser does not let one through)."""
    packed = b"\r\n".join([name + b": " + value for name, value in headers])
    return packed if packed.count(b"\n") == len(headers) - 1 or not headers else headers


def _unpack_headers(packed: Any) -> list[tuple[bytes, bytes]]:
    if type(packed) is not bytes:
        return list(packed)
    if not packed:
        return []
    return [(line[: (i := line.find(b": "))], line[i + 2 :]) for line in packed.split(b"\r\n")]


#: per event loop: the connections with broadcast frames to flush at the end of this iteration
_DIRTY: dict[Any, list[tuple[WebSocketProtocol, int]]] = {}


def _flush_dirty(loop: Any) -> None:
    """One write per connection for all the broadcast frames queued during this loop iteration."""
    for conn, max_outgoing in _DIRTY.pop(loop, ()):
        conn._flush_shared(max_outgoing)


def _queued_bytes(messages: "deque[str | bytes]") -> int:
    """Size of the queued messages (a str counts its characters)."""
    return sum(map(len, messages))
