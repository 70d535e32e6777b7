"""Hostile HTTP clients against a real server process: huge heads and URLs, body bombs, pipeline floods, slow
readers. After each attack the process is up and a good request on a new connection is answered.
"""
from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from hostile import ServerProcess, read_to_eof, statuses
from wsraw import RawWS

MAX_BODY = 1 << 20
MB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("hostile-http"), max_body_size=MAX_BODY)
    yield srv
    srv.stop()


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def push(sock: socket.socket, pieces, limit: int, timeout: float = 20.0) -> tuple[int, bytes]:
    """Write ``pieces`` (an iterator of bytes) while reading whatever comes back, until the server closes (or
    resets) or ``limit`` bytes went out. Returns (bytes sent, bytes received)."""
    sock.setblocking(False)
    sent = 0
    got = bytearray()
    pending = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not pending and sent < limit:
                pending = next(pieces, b"")
            wants = [sock] if pending and sent < limit else []
            readable, writable, _ = select.select([sock], wants, [], 0.5)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not chunk:
                    break
                got += chunk
            if writable:
                try:
                    n = sock.send(pending)
                except (ConnectionResetError, BrokenPipeError):
                    continue  # the server is gone for writing: read what it said
                sent += n
                pending = pending[n:]
        else:
            raise AssertionError(f"no end after {timeout}s: sent {sent} bytes, got {bytes(got[:200])!r}")
    finally:
        sock.setblocking(True)
    return sent, bytes(got)


# ---------------------------------------------------------------------- huge heads and URLs
def test_huge_url_is_414(server):
    raw = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(server.port) as s:
        sent, got = push(s, iter([raw]), len(raw))
    assert statuses(got) == [414], got[:200]
    server.assert_healthy()


def _endless(first: bytes, piece: bytes):
    yield first
    while True:
        yield piece


@pytest.mark.parametrize("head", [
    pytest.param(b"X-Big: " + b"v" * 100_000 + b"\r\n", id="one-huge-header"),
    pytest.param(b"".join(b"X-H%d: v\r\n" % i for i in range(5000)), id="5000-headers"),
    pytest.param(None, id="header-line-never-ends"),
])
def test_huge_head_is_431(server, head):
    start = b"GET / HTTP/1.1\r\nHost: t\r\n"
    with connect(server.port) as s:
        if head is None:
            sent, got = push(s, _endless(start + b"X-Endless: ", b"v" * 65536), 64 * MB)
        else:
            raw = start + head
            sent, got = push(s, (raw[i:i + 65536] for i in range(0, len(raw), 65536)), len(raw))
    assert statuses(got) == [431], got[:200]
    # what the server took in is bounded (socket buffers on loopback hold a few MiB)
    assert sent < 16 * MB, f"the server read {sent} bytes of a head before refusing it"
    server.assert_healthy()


# ---------------------------------------------------------------------- body bombs
@pytest.mark.parametrize("size", [10**13, MAX_BODY + 1])
def test_announced_huge_body_is_413_at_once(server, size):
    """The 413 comes from the head alone: the client does not have to send (or the server read) a byte of body."""
    with connect(server.port) as s:
        start = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
        got = read_to_eof(s, 10)
    assert statuses(got) == [413], got[:200]
    assert time.monotonic() - start < 5
    server.assert_healthy()


@pytest.mark.parametrize("path,expected", [
    ("/echo", 413),      # the handler buffers the body
    ("/discard", 413),   # the handler reads it as a stream
    ("/nowhere", 404),   # nobody reads it: answered at once, then the connection is cut at max_body_size
])
def test_endless_chunked_body_is_cut_at_max_body_size(server, path, expected):
    with connect(server.port) as s:
        head = b"POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode()
        sent, got = push(s, _endless(head, b"10000\r\n" + b"z" * 0x10000 + b"\r\n"), 64 * MAX_BODY)
    assert statuses(got)[:1] == [expected], got[:300]
    # what the server took in is bounded by max_body_size (plus what socket buffers hold)
    assert sent < 16 * MAX_BODY, f"the server read {sent} bytes of a body over max_body_size={MAX_BODY}"
    server.assert_healthy()


def test_chunked_body_just_under_the_limit_is_accepted(server):
    body = b"".join(b"1000\r\n" + b"q" * 0x1000 + b"\r\n" for _ in range(MAX_BODY // 0x1000 - 1)) + b"0\r\n\r\n"
    data = server.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert statuses(data) == [200]
    assert data.endswith(b'{"size":%d}' % (MAX_BODY - 0x1000))


# ---------------------------------------------------------------------- pipeline floods
PIPELINED = 5000


def test_pipeline_flood_answered_in_order(server):
    rss_before = server.rss()
    raw = b"".join(b"GET /seq/%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(PIPELINED))
    raw += b"GET /seq/%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % PIPELINED
    with connect(server.port) as s:
        writer = threading.Thread(target=s.sendall, args=(raw,), daemon=True)
        writer.start()
        got = read_to_eof(s, 60)
        writer.join(10)
    bodies = [chunk.split(b"\r\n\r\n", 1)[1] for chunk in got.split(b"HTTP/1.1 ")[1:]]
    assert statuses(got) == [200] * (PIPELINED + 1)
    # each body is the request's number: in request order, none missing or repeated
    assert [int(b[: len(str(i))]) for i, b in enumerate(bodies)] == list(range(PIPELINED + 1))
    assert server.rss() - rss_before < 32 * MB
    server.assert_healthy()


def test_pipeline_flood_never_read_is_bounded(server):
    """A client that pipelines without end and reads nothing: the server stops reading it (its memory stays
    bounded) and serves everyone else meanwhile."""
    rss_before = server.rss()
    one = b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n"
    s = connect(server.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(0.5)
    sent = 0
    stalled = 0
    deadline = time.monotonic() + 20
    try:
        while stalled < 3 and time.monotonic() < deadline:  # the server has stopped reading for 1.5 s
            try:
                s.sendall(one * 200)
                sent += 200
            except socket.timeout:
                stalled += 1
        assert stalled == 3, f"the server kept reading a client that reads nothing ({sent} requests of 1 MiB)"
        server.assert_healthy()
        grown = server.rss() - rss_before
        assert grown < 48 * MB, f"RSS grew by {grown / MB:.1f} MiB for one client that reads nothing"
    finally:
        s.close()
    server.assert_healthy()


def test_pipelined_large_bodies_behind_a_slow_request_are_not_buffered(server):
    """Large bodies pipelined behind a request still in progress: the server stops reading instead of holding a
    whole ``max_body_size`` body per queued request (that was 33 of them, ~2 GiB with the default limit), and
    answers all of them, in order, once the slow one is done."""
    count = 40
    body = b"x" * MAX_BODY
    raw = b"GET /sleep?s=2 HTTP/1.1\r\nHost: t\r\n\r\n" + (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body) * count
    rss_before = server.rss()
    with connect(server.port, timeout=60) as s:
        writer = threading.Thread(target=s.sendall, args=(raw,), daemon=True)
        writer.start()
        time.sleep(1.5)  # the slow request is still in progress
        grown = server.rss() - rss_before
        writer.join(30)
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = read_to_eof(s, 60)
    assert grown < 12 * MB, f"RSS grew {grown / MB:.1f} MiB for bodies queued behind a slow request"
    assert statuses(got) == [200] * (count + 2)
    assert got.count(b'{"size":%d}' % MAX_BODY) == count
    server.assert_healthy()


def test_garbage_after_pipelined_requests_is_cut_cleanly(server):
    """Good requests, then garbage: every good one is answered in order, then a 400, then the close."""
    raw = b"GET /seq/1 HTTP/1.1\r\nHost: t\r\n\r\n" * 50 + b"\x00\x01garbage\r\n\r\n" + b"GET / HTTP/1.1\r\n\r\n" * 5
    got = server.request(raw)
    assert statuses(got) == [200] * 50 + [400]
    server.assert_healthy()


# ---------------------------------------------------------------------- slow readers
def test_slow_readers_memory_bounded_others_served(server):
    """Clients that never read a large or endless response (HTTP and WebSocket) cost bounded memory, and
    their connections do not keep other clients from being served."""
    rss_before = server.rss()
    socks: list[socket.socket] = []
    ws_clients: list[RawWS] = []
    try:
        for i in range(20):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(("127.0.0.1", server.port))
            s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % (b"/stream" if i % 2 else b"/big"))
            socks.append(s)
        for _ in range(10):
            c = RawWS(server.port, rcvbuf=4096, timeout=10)
            assert c.handshake("/flood").status == 101
            ws_clients.append(c)
        time.sleep(1.0)
        first = server.rss()
        start = time.monotonic()
        for _ in range(5):
            server.assert_healthy()
        assert time.monotonic() - start < 10, "requests were slow while slow readers were connected"
        time.sleep(1.0)
        second = server.rss()
        assert first - rss_before < 32 * MB, f"RSS grew by {(first - rss_before) / MB:.1f} MiB for 30 slow readers"
        assert second - first < 4 * MB, f"RSS kept growing ({(second - first) / MB:.1f} MiB in 1 s) with slow readers"
    finally:
        for s in socks:
            s.close()
        for c in ws_clients:
            c.close()
    server.assert_healthy()
