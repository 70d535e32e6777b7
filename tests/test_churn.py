"""Connection churn against a real server process: many connections opened and closed, HTTP and WebSocket, in
every way a client ends one (after its answer, in the middle of a request, with a TCP reset, with a close
handshake or without). The server's open file descriptors (/proc/PID/fd) and resident memory (VmRSS) stay flat.

CHURN_CONNECTIONS sets the count: 8,000 by default (about 10 s on a quiet 2-core machine, 40 s on a loaded one);
``CHURN_CONNECTIONS=20000`` for the full run. Fewer than 5,000 says little and is refused.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from hostile import ServerProcess
from wsraw import OP_TEXT, build_frame, build_request, close_payload, OP_CLOSE

CONNECTIONS = int(os.environ.get("CHURN_CONNECTIONS", "8000"))
WARMUP = 1000
MB = 1 << 20

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
POST_PARTIAL = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part of it"
WS_HELLO = build_frame(OP_TEXT, b"hello")
WS_CLOSE = build_frame(OP_CLOSE, close_payload(1000))
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a TCP RST


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("churn"), ws_ping_interval=0)
    yield srv
    srv.stop()


def recv_until(s: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before {marker!r}: {data[:200]!r}")
        data += chunk
    return data


def one_connection(port: int, i: int) -> None:
    """Open, use and end one connection in the i-th of eight ways."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        kind = i % 8
        if kind == 0:  # keep-alive request, the client closes after the answer
            s.sendall(GET)
            recv_until(s, b'{"ok":true}')
        elif kind == 1:  # Connection: close, the server closes
            s.sendall(GET_CLOSE)
            recv_until(s, b'{"ok":true}')
            assert s.recv(10) == b""
        elif kind == 2:  # two requests, then a reset
            s.sendall(GET + GET)
            data = recv_until(s, b'{"ok":true}')
            if data.count(b'{"ok":true}') < 2:
                recv_until(s, b'{"ok":true}')
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        elif kind == 3:  # gone in the middle of a request body
            s.sendall(POST_PARTIAL)
        elif kind == 4:  # connected and closed without a byte
            pass
        elif kind == 5:  # WebSocket: a message, its echo, the close handshake
            s.sendall(build_request("/ws")[0])
            recv_until(s, b"\r\n\r\n")
            s.sendall(WS_HELLO)
            recv_until(s, b"hello")
            s.sendall(WS_CLOSE)
            recv_until(s, b"\x88")
        elif kind == 6:  # WebSocket dropped without a close frame
            s.sendall(build_request("/ws")[0] + WS_HELLO)
            recv_until(s, b"hello")
        else:  # WebSocket reset in the middle of a frame
            s.sendall(build_request("/ws")[0])
            recv_until(s, b"\r\n\r\n")
            s.sendall(WS_HELLO[:4])
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
    finally:
        s.close()


def churn(port: int, count: int, threads: int = 4) -> None:
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(offset, count, threads):
                one_connection(port, i)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors, errors[0]


def settled_fds(server: ServerProcess, baseline: int, timeout: float = 10.0) -> int:
    """The server's fd count once the closed connections are gone (it may take a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        n = server.fd_count()
        if n <= baseline or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def test_fds_and_memory_flat_after_churn(server):
    assert CONNECTIONS >= 5000, "fewer connections than this says little about leaks"
    churn(server.port, WARMUP)
    fds_start = settled_fds(server, 0, timeout=1)
    rss_start = server.rss()
    start = time.monotonic()
    churn(server.port, CONNECTIONS // 2)
    rss_mid = server.rss()
    churn(server.port, CONNECTIONS - CONNECTIONS // 2)
    elapsed = time.monotonic() - start
    fds_end = settled_fds(server, fds_start)
    rss_end = server.rss()
    print(f"{CONNECTIONS} connections in {elapsed:.1f}s; fds {fds_start} -> {fds_end}; "
          f"RSS {rss_start / MB:.1f} -> {rss_mid / MB:.1f} -> {rss_end / MB:.1f} MiB")
    assert fds_end <= fds_start, f"file descriptors leaked: {fds_start} -> {fds_end}"
    assert rss_end - rss_start < 8 * MB, f"RSS grew {(rss_end - rss_start) / MB:.1f} MiB over {CONNECTIONS} connections"
    # a leak grows with the count; allocator warm-up does not: the second half adds (almost) nothing
    assert rss_end - rss_mid < 2 * MB, f"RSS still growing: {(rss_end - rss_mid) / MB:.1f} MiB in the second half"
    server.assert_healthy()
