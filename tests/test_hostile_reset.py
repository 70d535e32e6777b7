"""Clients that reset (TCP RST) while the server writes to them, or read as fast as it writes.

Once a write fails, the transport drops every later write and only schedules ``connection_lost``: a writer that
never waits must still find out, let the loop run and stop. Each test checks what another user would see (a
normal request answered at once) and that the writer ended (its ``finally`` ran).
"""
from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time

import httpx
import pytest

from fastrapi import FastrAPI
from fastrapi.responses import FileResponse, StreamingResponse

from wsraw import build_request

CHUNK = "x" * 65536
RESETS = 20


def _app(tmp_path=None):
    app = FastrAPI()
    app.state.ended = []

    @app.websocket("/flood")
    async def flood(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_text(CHUNK)
        finally:
            app.state.ended.append("ws")

    @app.websocket("/flood-bytes")
    async def flood_bytes(ws):
        await ws.accept()
        data = b"y" * 65536
        try:
            while True:
                await ws.send_bytes(data)
        finally:
            app.state.ended.append("ws-bytes")

    @app.get("/stream")
    async def stream():
        async def forever():
            try:
                while True:
                    yield CHUNK  # never awaits: only the writer can notice the client is gone
            finally:
                app.state.ended.append("stream")

        return StreamingResponse(forever(), media_type="text/plain")

    @app.get("/sse")
    async def sse():
        async def events():
            try:
                n = 0
                while True:
                    n += 1
                    yield f"data: {n} {CHUNK[:1000]}\n\n"
            finally:
                app.state.ended.append("sse")

        return StreamingResponse(events(), media_type="text/event-stream")

    if tmp_path is not None:
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(1 << 20) * 32)  # 32 MiB

        @app.get("/file")
        async def file():
            return FileResponse(big)

    @app.get("/ok")
    async def ok():
        return {"ok": True}

    return app


def _open(port: int, request: bytes) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # a big window: the server's writes never block
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(request)
    return s


def _read_fast_then_reset(s: socket.socket, seconds: float, at_least: int = 256 * 1024,
                          at_most: int | None = None) -> int:
    """Read as fast as possible for ``seconds`` (and ``at_least`` bytes, but stopping at ``at_most``), then
    close with SO_LINGER 0 (a TCP RST), so the reset comes while the server is writing."""
    buf = bytearray(8 << 20)
    got = 0
    deadline = time.monotonic() + seconds
    try:
        while (time.monotonic() < deadline or got < at_least) and (at_most is None or got < at_most):
            n = s.recv_into(buf)
            if not n:
                break
            got += n
    except OSError:
        pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return got


def _ws_request(path: str) -> bytes:
    return build_request(path)[0]


def _check_alive(url: str, app, count: int, what: str) -> None:
    """The server answers a normal request at once, and the writer of the reset connection has ended."""
    r = httpx.get(url + "/ok", timeout=5)
    assert r.status_code == 200 and r.json() == {"ok": True}
    deadline = time.monotonic() + 5
    while app.state.ended.count(what) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.state.ended.count(what) == count, f"the {what} writer did not stop after reset {count}"


@pytest.mark.parametrize("path,what", [("/flood", "ws"), ("/flood-bytes", "ws-bytes")])
def test_websocket_sender_survives_resets(serve, path, what):
    """`while True: await ws.send_text(...)` to a client that resets: the send raises WebSocketDisconnect
    (the handler ends) and the server keeps answering; 20 times in a row."""
    app = _app()
    srv = serve(app)
    for i in range(1, RESETS + 1):
        s = _open(srv.port, _ws_request(path))
        assert _read_fast_then_reset(s, 0.1) > 65536
        _check_alive(srv.url, app, i, what)


@pytest.mark.parametrize("path,what", [("/stream", "stream"), ("/sse", "sse")])
def test_streaming_response_survives_resets(serve, path, what):
    app = _app()
    srv = serve(app)
    for i in range(1, RESETS + 1):
        s = _open(srv.port, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        assert _read_fast_then_reset(s, 0.1) > 65536
        _check_alive(srv.url, app, i, what)


def test_file_response_survives_resets(serve, tmp_path):
    app = _app(tmp_path)
    srv = serve(app)
    for _ in range(RESETS):
        s = _open(srv.port, b"GET /file HTTP/1.1\r\nHost: t\r\n\r\n")
        assert _read_fast_then_reset(s, 0.05, at_most=4 << 20) > 65536  # (a quarter of the 32 MiB file at most)
        r = httpx.get(srv.url + "/ok", timeout=5)
        assert r.status_code == 200


def _others_still_served(srv, s: socket.socket) -> None:
    """While ``s`` is read as fast as the server writes to it (in a thread), other requests get answers."""
    stop = threading.Event()

    def reader() -> None:
        buf = bytearray(8 << 20)
        try:
            while not stop.is_set() and s.recv_into(buf):
                pass
        except OSError:
            pass

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        time.sleep(0.1)
        for _ in range(5):
            start = time.monotonic()
            assert httpx.get(srv.url + "/ok", timeout=5).status_code == 200
            assert time.monotonic() - start < 3
    finally:
        stop.set()
        s.close()
        t.join(5)


@pytest.mark.parametrize("request_line", [b"GET /stream HTTP/1.1", b"GET /file HTTP/1.1"])
def test_fast_reader_does_not_starve_others(serve, tmp_path, request_line):
    """While one client reads an endless response as fast as the server writes it, others are still served."""
    srv = serve(_app(tmp_path))
    _others_still_served(srv, _open(srv.port, request_line + b"\r\nHost: t\r\n\r\n"))


def test_websocket_fast_reader_does_not_starve_others(serve):
    srv = serve(_app())
    _others_still_served(srv, _open(srv.port, _ws_request("/flood")))


def test_broadcast_to_reset_subscribers(serve):
    """Subscribers that reset while a channel floods them are dropped; the publisher and server go on."""
    app = FastrAPI()
    published = []

    @app.websocket("/sub")
    async def sub(ws):
        await ws.accept()
        await ws.join("room")
        try:
            while True:
                await ws.receive_text()
        except ConnectionError:
            pass

    @app.post("/publish")
    async def publish():
        for _ in range(200):
            await app.broadcast.publish("room", CHUNK)
            await asyncio.sleep(0)
        published.append(1)
        return {"ok": True}

    @app.get("/ok")
    async def ok():
        return {"ok": True}

    srv = serve(app)
    for _ in range(5):
        socks = [_open(srv.port, _ws_request("/sub")) for _ in range(4)]
        time.sleep(0.1)
        readers = [threading.Thread(target=_read_fast_then_reset, args=(s, 0.05, 65536), daemon=True)
                   for s in socks]
        for t in readers:
            t.start()
        r = httpx.post(srv.url + "/publish", timeout=20)
        assert r.status_code == 200
        for t in readers:
            t.join(10)
        assert httpx.get(srv.url + "/ok", timeout=5).status_code == 200
    assert len(published) == 5
