"""Helpers around the `websockets` sync client shared by the WebSocket API and seed-example tests."""
from __future__ import annotations

import base64
import os
import socket
import struct

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TIMEOUT = 3.0  # seconds: every wait in these tests is bounded by this


def ws_connect(srv, path="/ws", **kwargs):
    """Sync websockets client connected to ``srv`` at ``path`` (no proxy, short timeouts)."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    kwargs.setdefault("proxy", None)
    return connect(srv.ws_url + path, **kwargs)


def recv(ws):
    return ws.recv(timeout=TIMEOUT)


def expect_close(ws):
    """Wait until the server closes ``ws``; return (code, reason) of the server's close frame."""
    try:
        msg = ws.recv(timeout=TIMEOUT)
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return 1006, ""
        return exc.rcvd.code, exc.rcvd.reason
    pytest.fail(f"expected the server to close the connection, got message {msg!r}")


class RawClient:
    """Minimal WebSocket client on a raw socket: handshake, masked frames, abrupt TCP drop."""

    def __init__(self, srv, path="/ws"):
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, f"server closed during the handshake: {data!r}"
            data += chunk
        head, _, self.buf = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n)
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text):
        self.send_frame(0x1, text.encode())

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed the TCP connection"
            self.buf += chunk

    def recv_frame(self):
        """(opcode, payload) of the next server frame."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off : off + n], self.buf[off + n :]
        return b0 & 0x0F, payload

    def drop(self, how="fin"):
        """Leave without a close frame: FIN (plain close) or RST (SO_LINGER 0)."""
        if how == "rst":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
