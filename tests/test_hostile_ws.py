"""Hostile WebSocket clients against a real server process: senders whose messages the handler does not read,
readers that never read, many connections at once. Memory stays bounded and others are served.
"""
from __future__ import annotations

import threading
import time

import pytest

from hostile import ServerProcess
from wsraw import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, RawWS, build_frame

MB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("hostile-ws"), ws_ping_interval=0)
    yield srv
    srv.stop()


def _send_all(c: RawWS, data: bytes, count: int) -> None:
    try:
        for _ in range(count):
            c.sock.sendall(data)
    except OSError:
        pass  # the test closed the socket


@pytest.mark.parametrize("opcode,size", [(OP_BINARY, 4 * MB), (OP_TEXT, 256 * 1024)])
def test_messages_the_handler_does_not_read_are_bounded(server, opcode, size):
    """A handler that never receives (/flood) and a client sending large messages to it without end: the server
    stops reading once about 1 MiB is queued, instead of queueing ws_max_queue (32) whole messages (it held
    143 MiB for 4 MiB messages; 512 MiB at the default ws_max_size)."""
    rss_before = server.rss()
    c = RawWS(server.port, rcvbuf=4096, timeout=30)
    try:
        c.handshake("/flood")
        sender = threading.Thread(target=_send_all, args=(c, build_frame(opcode, b"m" * size), 64), daemon=True)
        sender.start()
        time.sleep(2.0)
        grown = server.rss() - rss_before
        assert sender.is_alive(), "the server read every message a handler did not ask for"
        server.assert_healthy()
    finally:
        c.close()
    assert grown < 32 * MB, f"RSS grew {grown / MB:.1f} MiB for messages nobody reads"
    server.assert_healthy()


def test_echo_of_a_client_that_sends_but_never_reads_is_bounded(server):
    """An echo handler whose client sends without reading the echoes: the handler waits on its sends, the
    server stops reading; memory stays bounded."""
    rss_before = server.rss()
    c = RawWS(server.port, rcvbuf=4096, timeout=30)
    try:
        c.handshake("/ws")
        sender = threading.Thread(target=_send_all, args=(c, build_frame(OP_BINARY, b"e" * MB), 256), daemon=True)
        sender.start()
        time.sleep(2.0)
        grown = server.rss() - rss_before
        assert sender.is_alive(), "the server took 256 MiB from a client that reads nothing"
        server.assert_healthy()
    finally:
        c.close()
    assert grown < 32 * MB, f"RSS grew {grown / MB:.1f} MiB"
    server.assert_healthy()


def test_many_open_websockets_each_echo(server):
    """200 WebSockets open at once, each echoing; then all closed: every one answered, fds back where they were."""
    fds_before = server.fd_count()
    clients = []
    try:
        for i in range(200):
            c = RawWS(server.port, timeout=10)
            c.handshake("/ws")
            clients.append(c)
        for i, c in enumerate(clients):
            c.send_text(f"n{i}")
        for i, c in enumerate(clients):
            assert c.read_text() == f"n{i}"
        for c in clients:
            c.send_close(1000)
        for c in clients:
            c.expect_close(1000, reply=False)
    finally:
        for c in clients:
            c.close()
    deadline = time.monotonic() + 10
    while server.fd_count() > fds_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.fd_count() <= fds_before
    server.assert_healthy()


def test_ping_flood_from_a_client_that_never_reads_is_bounded(server):
    """Pings without end from a client that reads none of the pongs: the server stops reading once its write
    buffer is full, instead of queueing every pong (its memory grew ~12 MiB a second without bound)."""
    rss_before = server.rss()
    c = RawWS(server.port, rcvbuf=4096, timeout=30)
    try:
        c.handshake("/ws")
        pings = build_frame(OP_PING, b"p" * 125, mask_key=b"abcd") * 8000  # 1 MiB of pings
        sender = threading.Thread(target=_send_all, args=(c, pings, 256), daemon=True)
        sender.start()
        time.sleep(3.0)
        grown = server.rss() - rss_before
        assert sender.is_alive(), "the server read 256 MiB of pings from a client that reads nothing"
        server.assert_healthy()
    finally:
        c.close()
    assert grown < 16 * MB, f"RSS grew {grown / MB:.1f} MiB"
    server.assert_healthy()


def test_ping_flood_from_a_client_that_reads_gets_every_pong(server):
    with RawWS(server.port, timeout=10) as c:
        c.handshake("/ws")
        for i in range(50):
            c.send_raw(b"".join(build_frame(OP_PING, b"%d-%d" % (i, k)) for k in range(200)))
            for k in range(200):
                f = c.read_frame()
                assert (f.opcode, f.payload) == (0xA, b"%d-%d" % (i, k))
        c.send_text("after")
        assert c.read_text() == "after"


@pytest.mark.parametrize("opcode", [OP_BINARY, OP_TEXT])
def test_message_in_one_byte_fragments_costs_its_size(server, opcode):
    """A message sent in 1-byte fragments: the server holds about the message's size, not an object per fragment
    (that was ~50 bytes of memory per byte: a 16 MiB message in 1-byte frames would have taken ~800 MiB)."""
    count = 500_000
    rss_before = server.rss()
    with RawWS(server.port, timeout=60) as c:
        c.handshake("/ws")
        middle = build_frame(OP_CONT, b"a", fin=False, mask_key=b"\0\0\0\0")
        c.send_raw(build_frame(opcode, b"a", fin=False) + middle * count)
        time.sleep(0.5)
        c.send_frame(OP_PING, b"sync")  # answered once every fragment before it has been taken in
        f = c.read_frame(60)
        assert (f.opcode, f.payload) == (0xA, b"sync")
        grown = server.rss() - rss_before
        c.send_frame(OP_CONT, "é".encode() if opcode == OP_TEXT else b"z", fin=True)
        op, data, _ = c.read_message(60)
        assert op == opcode and len(data) == count + 1 + len("é".encode() if opcode == OP_TEXT else b"z")
    assert grown < 12 * MB, f"RSS grew {grown / MB:.1f} MiB for a {count / MB:.1f} MiB message in 1-byte fragments"
    server.assert_healthy()
