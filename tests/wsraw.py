"""Minimal raw-socket WebSocket (RFC 6455) client used by the protocol conformance tests.

Deliberately *not* a real client library: it lets a test put arbitrary bytes on the wire
(bad handshakes, unmasked frames, reserved bits/opcodes, odd length encodings, frames
split across many TCP writes, several frames in one write) and observe exactly what the
server sends back (status line and headers, raw frames with their header bits, TCP close).

Typical use::

    c = RawWS(srv.port)
    resp = c.handshake("/echo")            # -> HTTPResponse; 101 expected
    c.send_frame(OP_TEXT, b"hi")           # masked by default
    f = c.read_frame()                     # Frame(fin, rsv1, rsv2, rsv3, opcode, masked, payload)
    c.send_close(1000)
    code, reason = c.read_close()
    assert c.wait_tcp_closed()
"""
from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct
import time
import zlib
from dataclasses import dataclass

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

DEFAULT_TIMEOUT = 2.0


class WSRawError(AssertionError):
    pass


class TCPClosed(WSRawError):
    """The server closed (or reset) the TCP connection before the expected data arrived."""


class ReadTimeout(WSRawError):
    """Nothing (complete) arrived within the timeout."""


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def mask_bytes(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bool = True,
    mask_key: bytes | None = None,
    length_form: str | None = None,
    declared_length: int | None = None,
) -> bytes:
    """Encode one frame.

    length_form: None = minimal encoding; "7", "16" or "64" forces that length field form.
    declared_length: put this value in the length field instead of len(payload) (to lie).
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
    b0 |= opcode & 0x0F
    n = len(payload) if declared_length is None else declared_length
    if length_form is None:
        length_form = "7" if n <= 125 else ("16" if n <= 0xFFFF else "64")
    mbit = 0x80 if mask else 0
    if length_form == "7":
        if n > 125:
            raise ValueError("7-bit length form holds at most 125")
        head = struct.pack("!BB", b0, mbit | n)
    elif length_form == "16":
        head = struct.pack("!BBH", b0, mbit | 126, n)
    elif length_form == "64":
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    else:
        raise ValueError(length_form)
    if mask:
        if mask_key is None:
            mask_key = os.urandom(4)
        return head + mask_key + mask_bytes(payload, mask_key)
    return head + payload


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


@dataclass
class Frame:
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: int
    masked: bool
    payload: bytes
    length_form: str  # "7", "16" or "64": how the *server* encoded the length

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def close_reason(self) -> bytes:
        return self.payload[2:]

    def __repr__(self) -> str:  # keep assertion messages short
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return (f"Frame(op={self.opcode:#x}, fin={self.fin}, rsv={int(self.rsv1)}{int(self.rsv2)}{int(self.rsv3)},"
                f" masked={self.masked}, len={len(self.payload)}/{self.length_form}, payload={p!r})")


@dataclass
class HTTPResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def header_tokens(self, name: str) -> list[str]:
        """Comma-separated tokens across all occurrences, lower-cased and stripped."""
        out = []
        for v in self.header_all(name):
            out.extend(t.strip().lower() for t in v.split(",") if t.strip())
        return out


def parse_extensions(value: str | list[str] | None) -> list[tuple[str, dict[str, str | None]]]:
    """Parse a Sec-WebSocket-Extensions value -> [(name, {param: value-or-None})]. (no quoted commas)"""
    if value is None:
        return []
    if isinstance(value, list):
        value = ", ".join(value)
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        parts = [p.strip() for p in item.split(";")]
        params: dict[str, str | None] = {}
        for p in parts[1:]:
            if not p:
                continue
            if "=" in p:
                k, v = p.split("=", 1)
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                params[k.strip().lower()] = v
            else:
                params[p.lower()] = None
        out.append((parts[0].lower(), params))
    return out


def build_request(
    path: str = "/",
    *,
    host: str = "127.0.0.1",
    method: str = "GET",
    key: str | None = "AUTO",
    version: str | None = "13",
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
    extra_headers: list[tuple[str, str]] | None = None,
    http_version: str = "1.1",
) -> tuple[bytes, str | None]:
    """Build a handshake request; any standard header can be omitted by passing None."""
    if key == "AUTO":
        key = new_key()
    lines = [f"{method} {path} HTTP/{http_version}", f"Host: {host}"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    for k, v in extra_headers or []:
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), key


class RawWS:
    """A raw TCP connection speaking (or mis-speaking) WebSocket to 127.0.0.1:port."""

    def __init__(self, port: int, host: str = "127.0.0.1", *, timeout: float = DEFAULT_TIMEOUT,
                 rcvbuf: int | None = None, sndbuf: int | None = None, strict: bool = True):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        # strict: every frame read is checked to be unmasked and (unless `allow_rsv1`) to have RSV bits clear
        self.strict = strict
        self.allow_rsv1 = False
        self.response: HTTPResponse | None = None
        self.key: str | None = None

    # ------------------------------------------------------------------ low level I/O
    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data: bytes, *, chunk: int | None = None, delay: float = 0.0) -> None:
        """Write bytes; with ``chunk`` split into writes of that many bytes (TCP_NODELAY is on),
        sleeping ``delay`` seconds between writes so they go out as separate segments."""
        if not chunk:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if delay:
                time.sleep(delay)

    def _recv_some(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeout("timed out waiting for data from server")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise ReadTimeout("timed out waiting for data from server") from None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.eof = True
            raise TCPClosed("connection reset by server") from None
        if not data:
            self.eof = True
            raise TCPClosed("server closed the TCP connection")
        self.buf += data

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            if self.eof:
                raise TCPClosed("server closed the TCP connection")
            self._recv_some(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    # ------------------------------------------------------------------ HTTP
    def read_http_response(self, timeout: float | None = None) -> HTTPResponse:
        """Read an HTTP/1.1 response head (and its body if it has Content-Length or chunked)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if self.eof:
                raise TCPClosed(f"server closed before a full HTTP response; got {bytes(self.buf)!r}")
            self._recv_some(deadline)
        idx = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:idx])
        del self.buf[:idx + 4]
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), f"bad status line {lines[0]!r}"
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = HTTPResponse(status, reason, headers, b"", head)
        if status == 101:
            return resp
        cl = resp.header("content-length")
        te = (resp.header("transfer-encoding") or "").lower()
        if cl is not None:
            resp.body = self._read_exact(int(cl), deadline)
        elif "chunked" in te:
            body = bytearray()
            while True:
                while b"\r\n" not in self.buf:
                    self._recv_some(deadline)
                i = self.buf.index(b"\r\n")
                size = int(bytes(self.buf[:i]).split(b";")[0], 16)
                del self.buf[:i + 2]
                body += self._read_exact(size + 2, deadline)[:size]
                if size == 0:
                    break
            resp.body = bytes(body)
        elif status >= 200 and status not in (204, 304):
            # body delimited by connection close (only if the server says it closes)
            if "close" in resp.header_tokens("connection"):
                try:
                    while True:
                        self._recv_some(deadline)
                except (TCPClosed, ReadTimeout):
                    pass
                resp.body = bytes(self.buf)
                self.buf.clear()
        return resp

    def handshake(self, path: str = "/", *, expect_status: int | None = 101, extra_data: bytes = b"",
                  chunk: int | None = None, delay: float = 0.0, **request_kw) -> HTTPResponse:
        """Send a handshake request (see build_request for knobs) followed, in the same write, by
        ``extra_data`` (e.g. a first frame); read the response. With expect_status=101 (default)
        also checks the 101 response is a valid WebSocket accept for our key."""
        req, key = build_request(path, **request_kw)
        self.key = key
        self.send_raw(req + extra_data, chunk=chunk, delay=delay)
        resp = self.read_http_response()
        self.response = resp
        if expect_status is not None:
            assert resp.status == expect_status, (
                f"expected HTTP {expect_status}, got {resp.status} {resp.reason}; headers={resp.headers}"
                f" body={resp.body[:300]!r}")
        if resp.status == 101 and expect_status == 101:
            assert "websocket" in resp.header_tokens("upgrade"), resp.headers
            assert "upgrade" in resp.header_tokens("connection"), resp.headers
            assert resp.header("sec-websocket-accept") == accept_key(key), resp.headers
            exts = parse_extensions(resp.header_all("sec-websocket-extensions") or None)
            self.allow_rsv1 = any(name == "permessage-deflate" for name, _ in exts)
        return resp

    # ------------------------------------------------------------------ frames
    def send_frame(self, opcode: int, payload: bytes | str = b"", *, chunk: int | None = None,
                   delay: float = 0.0, **kw) -> None:
        self.send_raw(build_frame(opcode, payload, **kw), chunk=chunk, delay=delay)

    def send_text(self, text: str | bytes, **kw) -> None:
        self.send_frame(OP_TEXT, text if isinstance(text, bytes) else text.encode("utf-8"), **kw)

    def send_binary(self, data: bytes, **kw) -> None:
        self.send_frame(OP_BINARY, data, **kw)

    def send_ping(self, payload: bytes = b"", **kw) -> None:
        self.send_frame(OP_PING, payload, **kw)

    def send_pong(self, payload: bytes = b"", **kw) -> None:
        self.send_frame(OP_PONG, payload, **kw)

    def send_close(self, code: int | None = 1000, reason: bytes | str = b"", **kw) -> None:
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def read_frame(self, timeout: float | None = None) -> Frame:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        b0, b1 = self._read_exact(2, deadline)
        n = b1 & 0x7F
        form = "7"
        if n == 126:
            (n,) = struct.unpack("!H", self._read_exact(2, deadline))
            form = "16"
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read_exact(8, deadline))
            form = "64"
        masked = bool(b1 & 0x80)
        key = self._read_exact(4, deadline) if masked else None
        payload = self._read_exact(n, deadline)
        if key:
            payload = mask_bytes(payload, key)
        f = Frame(bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10), b0 & 0x0F,
                  masked, payload, form)
        if self.strict:
            assert not f.masked, f"server sent a masked frame: {f!r}"
            assert not (f.rsv2 or f.rsv3), f"server set RSV2/RSV3: {f!r}"
            assert self.allow_rsv1 or not f.rsv1, f"server set RSV1 without negotiated extension: {f!r}"
            assert f.opcode in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG), f"bad opcode {f!r}"
            if f.opcode >= 0x8:
                assert f.fin and len(f.payload) <= 125, f"bad control frame from server: {f!r}"
            # RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length"
            want = "7" if n <= 125 else ("16" if n <= 0xFFFF else "64")
            assert form == want, f"server used a non-minimal {form}-bit length field for {n} bytes: {f!r}"
        return f

    def read_data_frame(self, timeout: float | None = None, *, answer_pings: bool = True) -> Frame:
        """Next non-ping/pong frame (server pings are answered if answer_pings)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f.opcode == OP_PING:
                if answer_pings:
                    self.send_pong(f.payload)
                continue
            if f.opcode == OP_PONG:
                continue
            return f

    def read_message(self, timeout: float | None = None) -> tuple[int, bytes, list[Frame]]:
        """Reassemble one (possibly fragmented) data message: (opcode, payload, frames)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        first = self.read_data_frame(max(0.0, deadline - time.monotonic()))
        assert first.opcode in (OP_TEXT, OP_BINARY), f"expected a data message, got {first!r}"
        frames = [first]
        data = bytearray(first.payload)
        while not frames[-1].fin:
            f = self.read_data_frame(max(0.0, deadline - time.monotonic()))
            assert f.opcode == OP_CONT, f"expected continuation, got {f!r}"
            frames.append(f)
            data += f.payload
        return first.opcode, bytes(data), frames

    def read_text(self, timeout: float | None = None) -> str:
        op, data, frames = self.read_message(timeout)
        assert op == OP_TEXT, f"expected text message, got {frames[0]!r}"
        return data.decode("utf-8")

    def read_binary(self, timeout: float | None = None) -> bytes:
        op, data, frames = self.read_message(timeout)
        assert op == OP_BINARY, f"expected binary message, got {frames[0]!r}"
        return data

    def read_close(self, timeout: float | None = None, *, skip: tuple[int, ...] = ()) -> tuple[int | None, bytes]:
        """Read frames until a close frame; any other frame (unless its opcode is in ``skip``)
        is an error. Returns (code or None, reason bytes)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except TCPClosed:
                raise TCPClosed("server closed TCP without sending a close frame") from None
            if f.opcode == OP_CLOSE:
                return f.close_code(), f.close_reason()
            if f.opcode in skip:
                continue
            raise WSRawError(f"expected a close frame, got {f!r}")

    def expect_close(self, code: int | None, timeout: float | None = None, *, reply: bool = True,
                     tcp_timeout: float | None = None, skip: tuple[int, ...] = ()) -> bytes:
        """Assert the next frame is a close with ``code``; then (optionally) answer it with a close
        frame as a well-behaved client would, and assert the server closes TCP. Returns the reason."""
        got, reason = self.read_close(timeout, skip=skip)
        assert got == code, f"expected close code {code}, got {got} (reason {reason!r})"
        if reply:
            try:
                self.send_close(code if code not in (None, 1005, 1006, 1015) else 1000)
            except OSError:
                pass  # server already closed: fine
        assert self.wait_tcp_closed(tcp_timeout), "server did not close the TCP connection after close"
        return reason

    def wait_tcp_closed(self, timeout: float | None = None, *, discard: bool = False) -> bool:
        """True once the server has closed TCP (EOF or reset) within ``timeout``. Any further frames
        before EOF are an error unless ``discard`` is set."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        if self.buf and not discard:
            raise WSRawError(f"unexpected data from server before TCP close: {bytes(self.buf[:80])!r}")
        while not self.eof:
            try:
                self._recv_some(deadline)
            except TCPClosed:
                return True
            except ReadTimeout:
                return False
            if not discard:
                raise WSRawError(f"unexpected data from server before TCP close: {bytes(self.buf[:80])!r}")
            self.buf.clear()
        return True

    def is_open_quiet(self, duration: float) -> bool:
        """True if, for ``duration`` seconds, the server neither sent anything nor closed TCP."""
        r, _, _ = select.select([self.sock], [], [], duration)
        return not r and not self.buf and not self.eof


# ---------------------------------------------------------------------- permessage-deflate helpers
def deflate_message(data: bytes, compressor=None, wbits: int = 15) -> bytes:
    """Compress one message per RFC 7692 (sync flush, trailing 00 00 ff ff stripped).
    Pass a persistent ``compressor`` for context takeover, None for a fresh one."""
    c = compressor or zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate_message(payload: bytes, decompressor=None, wbits: int = 15) -> bytes:
    """Decompress one RFC 7692 message (appends 00 00 ff ff). Persistent ``decompressor`` for
    context takeover, None for a fresh one.

    Output is produced in small steps so zlib really works within its ``wbits`` window: a stream
    that references data further back than the window (i.e. the sender used a bigger window than
    negotiated, or kept a context it promised to reset) raises zlib.error."""
    d = decompressor or zlib.decompressobj(-wbits)
    out = bytearray()
    buf = payload + b"\x00\x00\xff\xff"
    step = 256
    while True:
        chunk = d.decompress(buf, step)
        out += chunk
        buf = d.unconsumed_tail
        if not buf and len(chunk) < step:
            break
    return bytes(out)
