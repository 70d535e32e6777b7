"""Large messages to clients that read slowly, or not at all.

A large frame the socket does not take at once is written in pieces from the sender's own object as the client
drains it. What a client then receives must be exactly what was sent, in order, with control frames and
broadcast messages only between whole frames; and a client that stops reading costs the server little memory.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from fastrapi import FastrAPI

sys.path.insert(0, str(Path(__file__).parent))
from wsraw import OP_BINARY, OP_PONG, OP_TEXT, RawWS  # noqa: E402


def _messages() -> list[str | bytes | bytearray | memoryview]:
    out: list = []
    for i in range(40):
        size = 16 * 1024 + i * 7919  # from the large-frame threshold to ~320 KiB, odd sizes
        kind = i % 5
        if kind == 0:
            out.append(("a%d" % i) * (size // 3))  # ASCII text
        elif kind == 1:
            out.append("é€" * (size // 5))  # non-ASCII text: encoded whole
        elif kind == 2:
            out.append(bytes(range(256)) * (size // 256))
        elif kind == 3:
            out.append(bytearray(b"%d" % i) * (size // 2))
        else:
            out.append(memoryview(b"m" * size))
    return out


def _expected(message) -> tuple[int, bytes]:
    if isinstance(message, str):
        return OP_TEXT, message.encode("utf-8")
    return OP_BINARY, bytes(message)


def test_slow_reader_gets_every_large_message_whole_and_in_order(serve):
    messages = _messages()
    app = FastrAPI()

    @app.websocket("/big")
    async def big(ws):
        await ws.accept()
        await ws.join("news")
        for m in messages:
            if isinstance(m, str):
                await ws.send_text(m)
            else:
                await ws.send_bytes(m)
        await ws.send_text("done")
        await ws.receive_text()

    @app.post("/publish")
    async def publish():
        await app.broadcast.publish("news", "breaking")
        return {}

    srv = serve(app)
    with RawWS(srv.port, rcvbuf=4096, timeout=30) as ws:
        ws.handshake("/big")
        import httpx

        publisher = threading.Thread(
            target=lambda: [httpx.post(srv.url + "/publish") for _ in range(5)], daemon=True)
        publisher.start()
        received: list[tuple[int, bytes]] = []
        broadcasts = 0
        pongs = 0
        while True:
            time.sleep(0.002)  # a slow reader: the server's writes keep finding the socket full
            ws.send_ping(b"p")
            op, data, _ = ws.read_message()
            if op == OP_TEXT and data == b"breaking":
                broadcasts += 1
                continue
            if op == OP_TEXT and data == b"done":
                break
            received.append((op, data))
        publisher.join(10)
        ws.send_text("bye")
        # every ping was answered with a whole pong frame between data frames (read_message skipped them)
        assert received == [_expected(m) for m in messages]
        assert broadcasts <= 5


def test_pong_frames_are_never_inside_a_large_frame(serve):
    """Pings sent while large frames go out to a slow reader: every pong comes whole, between data frames."""
    app = FastrAPI()
    payload = "z" * 300_000

    @app.websocket("/big")
    async def big(ws):
        await ws.accept()
        for _ in range(5):
            await ws.send_text(payload)
        await ws.receive_text()

    srv = serve(app)
    with RawWS(srv.port, rcvbuf=4096, timeout=30) as ws:
        ws.handshake("/big")
        frames = []
        while sum(1 for f in frames if f.opcode == OP_TEXT) < 5:
            ws.send_ping(b"x")  # (each frame read is parsed strictly: a pong inside a frame would break it)
            time.sleep(0.001)
            frames.append(ws.read_frame())
        ws.send_ping(b"last")
        deadline = time.monotonic() + 10
        while not any(f.opcode == OP_PONG and f.payload == b"last" for f in frames):
            assert time.monotonic() < deadline
            frames.append(ws.read_frame())
        ws.send_text("bye")
    texts = [f for f in frames if f.opcode == OP_TEXT]
    assert len(texts) == 5 and all(f.payload == payload.encode() and f.fin for f in texts)
    assert all(f.payload in (b"x", b"last") for f in frames if f.opcode == OP_PONG)
