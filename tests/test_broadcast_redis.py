"""Broadcast through Redis: a real redis-server and two FastrAPI server processes on different ports.

A message published in either process reaches the WebSocket and SSE clients of both; ``exclude=`` works across
processes; Redis killed: publishing answers an error (503 / an error frame), nothing is dropped silently; Redis
back: the subscriptions resume without the clients reconnecting; a slow consumer is dropped (1013) while the
other clients receive every message. Bursts: messages published back to back reach every subscriber in order,
in a few writes (TCP segments counted on a raw client), per channel in order, past a subscriber that never
reads; publishing is pipelined, and what Redis never acknowledged is reported.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis_server import RedisServer, free_port  # noqa: E402
from wsraw import OP_CLOSE, OP_TEXT, RawWS, build_frame  # noqa: E402

from fastrapi.broadcast import Broadcast, BroadcastError  # noqa: E402
from fastrapi.broadcast.backends import backend_from_url  # noqa: E402

pytestmark = pytest.mark.timeout(150)

#: bound of every wait for something to arrive (the machine may be busy)
WAIT = 30.0

APP_SOURCE = """
import os

from fastrapi import FastrAPI, JSONResponse, Request, WebSocket, WebSocketDisconnect
from fastrapi.broadcast import Broadcast, BroadcastError
from fastrapi.responses import StreamingResponse

app = FastrAPI(broadcast=Broadcast(os.environ["BROADCAST_URL"], max_outgoing=256 * 1024))


@app.get("/health")
def health():
    return {"pid": os.getpid()}


@app.post("/publish/{room}")
async def publish(room: str, request: Request):
    text = (await request.body()).decode()
    try:
        await app.broadcast.publish(room, text)
    except BroadcastError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503)
    return {"published": True}


@app.post("/burst")
async def burst(request: Request):
    # messages published one after another, each awaited, as a handler relaying a stream would
    spec = await request.json()
    filler = "." * spec.get("size", 0)
    for i in range(spec["n"]):
        room = spec["rooms"][i % len(spec["rooms"])]
        await app.broadcast.publish(room, f"{room}:{i:05d}:{filler}")
    return {"published": spec["n"]}


@app.websocket("/ws/{room}")
async def chat(websocket: WebSocket, room: str):
    await websocket.accept()
    await websocket.join(room)
    for other in filter(None, websocket.query_params.get("also", "").split(",")):
        await websocket.join(other)
    await websocket.send_text("joined")
    try:
        while True:
            text = await websocket.receive_text()
            try:
                await app.broadcast.publish(room, text, exclude=websocket)
            except BroadcastError as exc:
                await websocket.send_text(f"error: {exc}")
    except WebSocketDisconnect:
        pass


@app.get("/events/{room}")
async def events(room: str):
    async def stream():
        async with app.broadcast.subscribe(room) as sub:
            yield ": subscribed\\n\\n"
            async for event in sub:
                yield f"data: {event.message}\\n\\n"
    return StreamingResponse(stream(), media_type="text/event-stream")
"""

SCRIPT_SOURCE = """
import sys
from main import app

app.serve("127.0.0.1", int(sys.argv[1]))
"""


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT, interval: float = 0.02):
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------- processes
class AppServer:
    """One FastrAPI server process running the app above, its stderr in a file."""

    def __init__(self, root: Path, redis_url: str, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.err_path = root / f"{name}.stderr"
        err = open(self.err_path, "wb")
        env = dict(os.environ, BROADCAST_URL=redis_url, PYTHONUNBUFFERED="1")
        env.pop("FASTRAPI_BROADCAST_URL", None)
        self.process = subprocess.Popen([sys.executable, "serve_script.py", str(self.port)], cwd=root,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                        env=env, start_new_session=True)
        err.close()
        self.http = httpx.Client(base_url=self.url, timeout=WAIT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server {self.name} exited with {self.process.returncode}:\n{self.stderr}")
            try:
                return self.http.get("/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, f"server {self.name} to answer", interval=0.05)

    def publish(self, room: str, text: str) -> httpx.Response:
        return self.http.post(f"/publish/{room}", content=text.encode())

    def terminate(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        if self.process.poll() is None:
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


class Collector:
    """Messages received by a background reader thread, with a bounded wait for a condition on them."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread: threading.Thread | None = None

    def _add(self, message: str) -> None:
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def _finish(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str, timeout: float = WAIT) -> list[str]:
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.messages) or self.closed, timeout):
                raise AssertionError(f"{self!r}: timed out waiting for {what}; got {self.summary()}")
            if not predicate(self.messages):
                raise AssertionError(f"{self!r}: closed while waiting for {what}; got {self.summary()}")
            return list(self.messages)

    def wait_message(self, text: str, timeout: float = WAIT) -> list[str]:
        return self.wait_for(lambda ms: text in ms, repr(text), timeout)

    def summary(self) -> list[str]:
        return [m if len(m) < 40 else m[:12] + "..." for m in self.messages]


class Client(Collector):
    """A WebSocket client (websockets library) in a room: waits for "joined", then reads in a thread."""

    def __init__(self, server: AppServer, room: str, name: str) -> None:
        super().__init__()
        self.name = name
        self.ws = connect(f"{server.ws_url}/ws/{room}", open_timeout=WAIT, close_timeout=5,
                          max_size=2 ** 22).__enter__()
        assert self.ws.recv(timeout=WAIT) == "joined"
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def __repr__(self) -> str:
        return f"<client {self.name}>"

    def _read(self) -> None:
        try:
            while True:
                self._add(self.ws.recv())
        except (ConnectionClosed, OSError):
            pass
        finally:
            self._finish()

    def send(self, text: str) -> None:
        self.ws.send(text)

    def close(self) -> None:
        self.ws.close()
        if self.thread is not None:
            self.thread.join(10)


class SSEClient(Collector):
    """``GET /events/{room}`` on a raw socket: waits for the ": subscribed" comment, then collects data lines."""

    def __init__(self, server: AppServer, room: str, name: str) -> None:
        super().__init__()
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        self.sock.sendall(f"GET /events/{room} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.buf = b""
        deadline = time.monotonic() + WAIT
        while b": subscribed" not in self.buf:
            assert time.monotonic() < deadline, f"no SSE subscription: {self.buf!r}"
            data = self.sock.recv(65536)
            assert data, f"SSE stream closed: {self.buf!r}"
            self.buf += data
        assert self.buf.startswith(b"HTTP/1.1 200"), self.buf[:200]
        self.buf = self.buf.split(b": subscribed", 1)[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def __repr__(self) -> str:
        return f"<sse {self.name}>"

    def _read(self) -> None:
        self.sock.settimeout(0.2)
        try:
            while not self.stopping:
                # each event is one chunk, so "data: ...\n\n" is never split by chunk framing
                for match in re.finditer(rb"data: ([^\n]*)\n\n", self.buf):
                    self._add(match.group(1).decode())
                self.buf = self.buf[self.buf.rfind(b"\n\n") + 2:] if b"\n\n" in self.buf else self.buf
                while not self.stopping:
                    try:
                        data = self.sock.recv(65536)
                        break
                    except socket.timeout:
                        continue
                else:
                    break
                if not data:
                    break
                self.buf += data
        except OSError:
            pass
        finally:
            self._finish()

    def close(self) -> None:
        self.stopping = True
        if self.thread is not None:
            self.thread.join(10)
        self.sock.close()


class Cluster:
    """A redis-server, two app servers (A and B) using it, and the clients opened on them."""

    def __init__(self, root: Path) -> None:
        (root / "main.py").write_text(textwrap.dedent(APP_SOURCE))
        (root / "serve_script.py").write_text(textwrap.dedent(SCRIPT_SOURCE))
        self.root = root
        redis_dir = root / "redis"
        redis_dir.mkdir()
        self.redis = RedisServer(redis_dir)
        self.servers: list[AppServer] = []
        self.clients: list[Collector] = []

    def start(self, query: str = "") -> tuple[AppServer, AppServer]:
        """Start Redis and both servers; ``query``: backend settings for the broadcast URL."""
        self.redis.start()
        url = self.redis.url + (f"?{query}" if query else "")
        self.servers = [AppServer(self.root, url, "A"), AppServer(self.root, url, "B")]
        for server in self.servers:
            server.wait_ready()
        return self.servers[0], self.servers[1]

    def client(self, server: AppServer, room: str, name: str) -> Client:
        c = Client(server, room, name)
        self.clients.append(c)
        return c

    def sse(self, server: AppServer, room: str, name: str) -> SSEClient:
        c = SSEClient(server, room, name)
        self.clients.append(c)
        return c

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} stderr:\n{s.stderr}" for s in self.servers)

    def close(self) -> None:
        for c in self.clients:
            try:
                c.close()  # type: ignore[attr-defined]
            except Exception:
                pass
        for server in self.servers:
            server.terminate()
        for server in self.servers:
            server.stop()
        self.redis.stop()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.close()


def texts(messages: list[str]) -> list[str]:
    """Drop the error frames a sender gets back for its own failed publishes."""
    return [m for m in messages if not m.startswith("error: ")]


# ---------------------------------------------------------------------------------------------- tests
def test_published_message_reaches_clients_of_both_processes(cluster):
    # publish_window=0: a publish returns once Redis has it, so a message published in B after A's publish
    # returned comes after A's everywhere (the assertions on order below rely on it)
    a, b = cluster.start("publish_window=0")
    a1, a2 = cluster.client(a, "lobby", "a1"), cluster.client(a, "lobby", "a2")
    b1, b2 = cluster.client(b, "lobby", "b1"), cluster.client(b, "lobby", "b2")
    other = cluster.client(a, "other", "other")
    sse_b = cluster.sse(b, "lobby", "sse-b")
    everyone = [a1, a2, b1, b2, sse_b]

    # HTTP publish in A, then in B: every client of both processes (and the SSE stream) gets both, in order
    assert a.publish("lobby", "http-a").status_code == 200
    assert b.publish("lobby", "http-b").status_code == 200
    for c in everyone:
        c.wait_for(lambda ms: ms[-1:] == ["http-b"], "http-b")

    # a WebSocket message is published with exclude=sender: everyone else, in both processes, gets it
    a1.send("from-a1")
    for c in (a2, b1, b2, sse_b):
        c.wait_message("from-a1")
    b1.send("from-b1")
    for c in (a1, a2, b2, sse_b):
        c.wait_message("from-b1")
    # a marker after both: a sender that had got its own message back would have it before the marker
    assert b.publish("lobby", "marker").status_code == 200
    assert a.publish("other", "other-room").status_code == 200
    for c in everyone:
        c.wait_message("marker")
    other.wait_message("other-room")

    assert a1.messages == ["http-a", "http-b", "from-b1", "marker"]
    assert b1.messages == ["http-a", "http-b", "from-a1", "marker"]
    for c in (a2, b2, sse_b):
        assert c.messages == ["http-a", "http-b", "from-a1", "from-b1", "marker"], c
    assert other.messages == ["other-room"]  # channels are separate

    logs = cluster.logs()
    assert "Traceback" not in logs and "WARNING" not in logs, logs


def test_redis_restart_errors_then_resumes_without_reconnecting(cluster):
    a, b = cluster.start()
    a1 = cluster.client(a, "news", "a1")
    b1 = cluster.client(b, "news", "b1")
    sse_a = cluster.sse(a, "news", "sse-a")
    clients = [a1, b1, sse_a]

    assert b.publish("news", "before").status_code == 200
    for c in clients:
        c.wait_message("before")

    cluster.redis.kill()

    # Redis down: every publish is refused with 503, in both processes; none gets a 200 and is then lost
    refused = []
    for i in range(12):
        server = (a, b)[i % 2]
        r = server.publish("news", f"outage-{i}")
        assert r.status_code == 503, (r.status_code, r.text)
        assert "Redis" in r.json()["detail"]
        refused.append(f"outage-{i}")
        time.sleep(0.05)  # spread over the reconnect attempts (backoff)
    # a WebSocket sender is told too
    a1.send("ws-outage")
    a1.wait_for(lambda ms: any(m.startswith("error: ") for m in ms), "an error frame for the sender")
    assert "Redis" in [m for m in a1.messages if m.startswith("error: ")][0]
    # the warning is logged once per process, not once per failed reconnect attempt
    for server in (a, b):
        wait_until(lambda: "connection to 127.0.0.1" in server.stderr, f"the outage warning of {server.name}")

    cluster.redis.start()

    # both processes reconnect and resubscribe by themselves: publishing works again within seconds
    started = time.monotonic()
    for server in (a, b):
        wait_until(lambda: server.publish("probe", "p").status_code == 200, f"{server.name} to publish again",
                   interval=0.05)
    assert time.monotonic() - started < 20

    assert a.publish("news", "after-a").status_code == 200
    # publish returns before Redis acknowledges: B publishes once A's message went through, to know the order
    a1.wait_message("after-a")
    assert b.publish("news", "after-b").status_code == 200
    b1.send("ws-after")
    expected = ["before", "after-a", "after-b", "ws-after"]
    for c in (a1, sse_a):
        c.wait_message("ws-after")
    b1.wait_message("after-b")
    assert texts(a1.messages) == expected
    assert sse_a.messages == expected
    assert texts(b1.messages) == ["before", "after-a", "after-b"]
    for c in clients:
        assert not c.closed, f"{c!r} was disconnected"
        assert not set(c.messages) & set(refused + ["ws-outage"])

    for server in (a, b):
        log = server.stderr
        assert log.count("WARNING") == 1 and log.count("lost (") == 1, log
        assert log.count("is back after") == 1, log
        assert re.search(r"is back after [\d.]+ s; [12] channel\(s\) resubscribed", log), log


def test_slow_consumer_dropped_while_others_keep_receiving(cluster):
    # Strict publishing paces B's 32 KiB messages at one Redis round trip each, as a real feed would be:
    # pipelined, hundreds of them can land in one batch and, on a loaded machine, overrun the *fast*
    # clients' max_outgoing too. This test is about the slow one.
    a, b = cluster.start("publish_window=0")
    fast_a = cluster.client(a, "feed", "fast-a")
    fast_b = cluster.client(b, "feed", "fast-b")
    slow = RawWS(a.port, rcvbuf=4096, timeout=WAIT)
    try:
        slow.handshake("/ws/feed")  # no permessage-deflate: every byte published is a byte to buffer
        joined = slow.read_frame()
        assert (joined.opcode, joined.payload) == (OP_TEXT, b"joined")
        # the slow client stops reading; messages published in B fill its buffers in A until A drops it
        filler = os.urandom(16 * 1024).hex()  # 32 KiB of text per message
        published: list[str] = []
        for i in range(600):
            message = f"{i:05d}:{filler}"
            assert b.publish("feed", message).status_code == 200
            published.append(message)
            if "WebSocket subscriber dropped" in a.stderr:
                break
        else:
            raise AssertionError(f"the slow consumer was never dropped:\n{cluster.logs()}")
        for i in range(len(published), len(published) + 3):  # no longer sent to it
            message = f"{i:05d}:{filler}"
            assert b.publish("feed", message).status_code == 200
            published.append(message)

        # what was queued for it, then a close frame with 1013 (read at once: the server aborts after 5 s)
        frames = []
        while True:
            frame = slow.read_frame(timeout=WAIT)
            if frame.opcode == OP_CLOSE:
                break
            frames.append(frame.payload.decode()[:5])
        assert frame.close_code() == 1013, frame
        assert frames == [m[:5] for m in published[:len(frames)]], "the frames it got are in order"
        assert len(frames) <= len(published) - 3
    finally:
        slow.close()

    # the others received every message, in order, and keep receiving (from A, once B's are through)
    for c in (fast_a, fast_b):
        c.wait_for(lambda ms: len(ms) >= len(published), f"{len(published)} messages")
    for i in range(len(published), len(published) + 5):
        message = f"{i:05d}:{filler}"
        assert a.publish("feed", message).status_code == 200
        published.append(message)
    for c in (fast_a, fast_b):
        c.wait_for(lambda ms: len(ms) >= len(published), f"{len(published)} messages")
        assert [m[:5] for m in c.messages] == [m[:5] for m in published], c
        assert c.messages == published
    assert a.stderr.count("WebSocket subscriber dropped") == 1, a.stderr
    assert "WebSocket subscriber dropped" not in b.stderr


def test_strict_publishing_keeps_the_order_across_processes(cluster):
    """With publish_window=0 each publish returns once Redis has the message: publishing in A, then (once A
    answered) in B, again and again, gives every subscriber of both processes exactly that order."""
    a, b = cluster.start("publish_window=0")
    clients = [cluster.client(a, "turns", "a1"), cluster.client(b, "turns", "b1")]
    expected = []
    for i in range(150):
        for server in (a, b):
            text = f"{server.name}{i}"
            assert server.publish("turns", text).status_code == 200
            expected.append(text)
    for c in clients:
        c.wait_for(lambda ms: len(ms) >= len(expected), f"{len(expected)} messages")
        assert c.messages == expected, c


# ---------------------------------------------------------------------------------------------- bursts
def segments_received(sock: socket.socket) -> int:
    """TCP segments this socket has received so far (Linux ``tcp_info.tcpi_segs_in``): each write of a server
    with TCP_NODELAY leaves as one segment or more, so it bounds how many writes it took from below."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < 144:
        pytest.skip("tcp_info has no tcpi_segs_in on this kernel")
    return struct.unpack_from("I", info, 140)[0]


def burst(server: AppServer, rooms: list[str], n: int, size: int = 0) -> None:
    r = server.http.post("/burst", json={"rooms": rooms, "n": n, "size": size})
    assert r.status_code == 200, r.text


def burst_messages(rooms: list[str], n: int, size: int = 0) -> list[str]:
    return [f"{rooms[i % len(rooms)]}:{i:05d}:{'.' * size}" for i in range(n)]


def test_burst_reaches_every_subscriber_in_order_in_few_writes(cluster):
    """A handler publishing 100 messages one after another (each awaited): every subscriber of both processes
    gets all of them in order, and they arrive together: a subscriber gets them in a few writes, not 100."""
    a, b = cluster.start()
    clients = [cluster.client(a, "burst", "a1"), cluster.client(a, "burst", "a2"), cluster.client(b, "burst", "b1")]
    raw = RawWS(a.port, timeout=WAIT)
    try:
        raw.handshake("/ws/burst")
        assert raw.read_frame().payload == b"joined"
        segments = segments_received(raw.sock)
        n = 100
        burst(b, ["burst"], n)  # published in B, delivered in A through Redis
        expected = burst_messages(["burst"], n)
        got = [raw.read_frame(timeout=WAIT).payload.decode() for _ in range(n)]
        assert got == expected
        # one write per message would be ~100 segments (70 or more even when the kernel merges some)
        assert segments_received(raw.sock) - segments <= n // 10, segments_received(raw.sock) - segments
    finally:
        raw.close()
    for c in clients:
        c.wait_for(lambda ms: len(ms) >= n, f"{n} messages")
        assert c.messages == expected, c
    logs = cluster.logs()
    assert "Traceback" not in logs and "WARNING" not in logs, logs


def test_interleaved_channels_keep_their_order(cluster):
    """A burst alternating between two channels, from a foreign connection (a redis-py pipeline: all the
    PUBLISH commands in one write): each channel's subscribers get its messages in order; a socket in both
    channels gets every message of each, in each channel's order."""
    import redis as redis_py

    a, b = cluster.start()
    x, y = cluster.client(a, "x", "x"), cluster.client(b, "y", "y")
    both_a, both_b = cluster.client(a, "x?also=y", "both-a"), cluster.client(b, "y?also=x", "both-b")
    n = 300
    messages = burst_messages(["x", "y"], n)
    client = redis_py.Redis.from_url(cluster.redis.url)
    try:
        pipe = client.pipeline(transaction=False)
        for i, text in enumerate(messages):
            # the payload as Broadcast.publish encodes it: kind, publishing node, excluded socket (none), text
            pipe.publish("x" if i % 2 == 0 else "y", b"t" + os.urandom(8) + bytes(8) + text.encode())
        assert pipe.execute() == [2] * n  # both processes subscribed to both channels
    finally:
        client.close()
    in_x, in_y = messages[0::2], messages[1::2]
    x.wait_for(lambda ms: len(ms) >= len(in_x), "channel x")
    y.wait_for(lambda ms: len(ms) >= len(in_y), "channel y")
    assert x.messages == in_x and y.messages == in_y
    for c in (both_a, both_b):
        c.wait_for(lambda ms: len(ms) >= n, f"{n} messages")
        assert len(c.messages) == n, c
        assert [m for m in c.messages if m.startswith("x:")] == in_x, c
        assert [m for m in c.messages if m.startswith("y:")] == in_y, c


def test_burst_with_exclude_skips_only_the_sender(cluster):
    """A client sends 50 messages in one write; its handler publishes each with exclude=sender, back to back,
    so they travel as one batch: the sender gets none of them, everyone else gets all, in order."""
    a, b = cluster.start()
    others = [cluster.client(a, "ex", "a1"), cluster.client(b, "ex", "b1")]
    sender = RawWS(a.port, timeout=WAIT)
    try:
        sender.handshake("/ws/ex")
        assert sender.read_frame().payload == b"joined"
        texts_sent = [f"said-{i:03d}" for i in range(50)]
        sender.send_raw(b"".join(build_frame(OP_TEXT, t.encode()) for t in texts_sent))
        for c in others:
            c.wait_for(lambda ms: len(ms) >= len(texts_sent), "the sender's messages")
            assert c.messages == texts_sent, c
        assert a.publish("ex", "marker").status_code == 200
        frame = sender.read_frame(timeout=WAIT)
        assert frame.payload == b"marker", frame  # nothing of its own came before it
    finally:
        sender.close()
    for c in others:
        c.wait_message("marker")
        assert c.messages == texts_sent + ["marker"], c  # each exactly once


def test_subscriber_that_never_reads_does_not_hold_up_bursts(cluster):
    """Bursts of 32 KiB messages to a channel with a subscriber that never reads: it is dropped (1013) once it
    has more than max_outgoing unsent (256 KiB in this app) plus what one batch brought, and the others get
    every message of every burst, in order."""
    a, b = cluster.start()
    fast = [cluster.client(a, "feed", "fast-a"), cluster.client(b, "feed", "fast-b")]
    slow = RawWS(a.port, rcvbuf=4096, timeout=WAIT)
    expected: list[str] = []
    try:
        slow.handshake("/ws/feed")
        assert slow.read_frame().payload == b"joined"
        size = 32 * 1024
        for round_ in range(48):  # the kernel's socket buffers may take several MiB first
            n = 16  # 512 KiB per burst
            burst(b, ["feed"], n, size)
            expected += [f"feed:{i:05d}:{'.' * size}" for i in range(n)]
            for c in fast:
                c.wait_for(lambda ms: len(ms) >= len(expected), f"burst {round_}")
            if "WebSocket subscriber dropped" in a.stderr:
                break
        else:
            raise AssertionError(f"the subscriber that does not read was never dropped:\n{cluster.logs()}")
        dropped = re.search(r"dropped: (\d+) bytes unsent \(limit (\d+)\)", a.stderr)
        assert dropped, a.stderr
        unsent, limit = int(dropped.group(1)), int(dropped.group(2))
        assert limit == 256 * 1024 and limit < unsent <= limit + n * (size + 64), (unsent, limit)
        frames = []
        while True:
            frame = slow.read_frame(timeout=WAIT)
            if frame.opcode == OP_CLOSE:
                break
            frames.append(frame.payload[:11].decode())
        assert frame.close_code() == 1013, frame
        assert frames == [m[:11] for m in expected[:len(frames)]], "what it got is in order"
    finally:
        slow.close()
    burst(b, ["feed"], 3)
    expected += burst_messages(["feed"], 3)
    for c in fast:
        c.wait_for(lambda ms: len(ms) >= len(expected), "the burst after the drop")
        assert c.messages == expected, c
    assert a.stderr.count("WebSocket subscriber dropped") == 1, a.stderr


# ---------------------------------------------------------------------------------------------- in process
def test_backend_in_process(tmp_path):
    """The backend without servers: fail-fast connect, publish/subscribe between two Broadcasts, an error with
    its cause while Redis is down, resubscription after it is back, UNSUBSCRIBE when the last listener goes."""
    redis = RedisServer(tmp_path)
    try:
        asyncio.run(_in_process(redis))
    finally:
        redis.stop()


async def _in_process(redis: RedisServer) -> None:
    from fastrapi.broadcast.redis import RedisBackend

    assert isinstance(backend_from_url(redis.url), RedisBackend)
    down = Broadcast(redis.url)  # not started yet
    with pytest.raises(BroadcastError, match=r"cannot connect to Redis at 127\.0\.0\.1") as info:
        await down.connect()
    assert info.value.__cause__ is not None
    with pytest.raises(BroadcastError, match="not connected"):
        await down.publish("x", "lost")

    redis.start()
    async with Broadcast(redis.url) as one, Broadcast(redis.url) as two:
        assert one.backend.connected
        async with two.subscribe("room") as sub:
            await one.publish("room", "text")
            await one.publish("room", b"\x00\xffbinary")
            await one.publish("room", {"json": [1, 2]})
            assert (await asyncio.wait_for(sub.get(), WAIT)).message == "text"
            assert (await asyncio.wait_for(sub.get(), WAIT)).message == b"\x00\xffbinary"
            assert (await asyncio.wait_for(sub.get(), WAIT)).json() == {"json": [1, 2]}
            assert await _numsub(redis, "room") == 1

            await asyncio.to_thread(redis.kill)
            with pytest.raises(BroadcastError, match="Redis") as info:
                for _ in range(100):  # the first may find the connection not yet known to be dead
                    await one.publish("room", "lost")
                    await asyncio.sleep(0.01)
            assert info.value.__cause__ is not None
            await _until(lambda: not two.backend.connected, "the subscriber to see the outage")

            await asyncio.to_thread(redis.start)
            await _until(lambda: one.backend.connected and two.backend.connected, "both to reconnect")
            await one.publish("room", "back")
            assert (await asyncio.wait_for(sub.get(), WAIT)).message == "back"
            assert not sub.queue  # nothing published during the outage shows up
        # the last listener left: the channel is unsubscribed in Redis
        await _until_async(lambda: _numsub(redis, "room"), 0, "UNSUBSCRIBE")


def test_backend_detects_a_silent_redis(tmp_path):
    """A Redis that keeps the connections open but answers nothing (frozen) is taken as lost after two missed
    health-check intervals: publishing fails with that cause, and all resumes when it answers again."""
    redis = RedisServer(tmp_path).start()
    try:
        asyncio.run(_silent(redis))
    finally:
        redis.stop()


async def _silent(redis: RedisServer) -> None:
    from fastrapi.broadcast.redis import RedisBackend

    def backend() -> RedisBackend:
        return RedisBackend(redis.url, health_check_interval=0.2, connect_timeout=1.0, publish_timeout=1.0)

    async with Broadcast(backend=backend()) as one, Broadcast(backend=backend()) as two:
        async with two.subscribe("room") as sub:
            await one.publish("room", "first")
            assert (await asyncio.wait_for(sub.get(), WAIT)).message == "first"
            redis.freeze()
            try:
                await _until(lambda: not two.backend.connected, "the frozen Redis to be noticed")
                with pytest.raises(BroadcastError) as info:
                    for _ in range(200):
                        await one.publish("room", "lost")
                        await asyncio.sleep(0.02)
                assert info.value.__cause__ is not None
            finally:
                redis.thaw()
            await _until(lambda: one.backend.connected and two.backend.connected, "both to reconnect")
            await one.publish("room", "again")
            assert (await asyncio.wait_for(sub.get(), WAIT)).message == "again"
            assert not sub.queue


def test_publishing_pipelined_acknowledged_and_losses_reported(tmp_path, caplog):
    """Publishes are pipelined in call order; ``publish_window=0`` waits for each acknowledgement; a publishing
    connection that stops acknowledging is dropped after ``publish_timeout`` and the messages it held are
    reported (a warning with their number), as they are when Redis dies with messages unacknowledged."""
    redis = RedisServer(tmp_path).start()
    try:
        with caplog.at_level(logging.WARNING, logger="fastrapi.broadcast"):
            asyncio.run(_publishing(redis, caplog))
    finally:
        redis.stop()


async def _publishing(redis: RedisServer, caplog) -> None:
    from fastrapi.broadcast.redis import RedisBackend

    def backend(**options) -> RedisBackend:
        return RedisBackend(redis.url, health_check_interval=60, connect_timeout=1.0, publish_timeout=1.0,
                            **options)

    async with Broadcast(backend=backend()) as one, Broadcast(backend=backend(publish_window=0)) as strict:
        async with one.subscribe("order") as sub:
            # concurrent publishers, pipelined: each one's messages arrive in the order it published them
            async def sequence(bc: Broadcast, tag: str, n: int) -> None:
                for i in range(n):
                    await bc.publish("order", f"{tag}{i}")

            await asyncio.gather(sequence(one, "a", 300), sequence(one, "b", 300), sequence(strict, "c", 30))
            got = [(await asyncio.wait_for(sub.get(), WAIT)).message for _ in range(630)]
            for tag, n in (("a", 300), ("b", 300), ("c", 30)):
                assert [m for m in got if m[0] == tag] == [f"{tag}{i}" for i in range(n)]

            redis.freeze()
            try:
                # Redis is silent: a publish returns without its acknowledgement...
                started = time.monotonic()
                for i in range(3):
                    await one.publish("order", f"unacknowledged-{i}")
                assert time.monotonic() - started < 0.5
                # ... unless it asked for it (publish_window=0): then it fails after publish_timeout
                started = time.monotonic()
                with pytest.raises(BroadcastError, match="did not acknowledge"):
                    await strict.publish("order", "strict")
                assert 0.9 < time.monotonic() - started < WAIT
                # without acknowledgements for publish_timeout, the connection is dropped and its messages
                # reported; the next publish tries a new connection, which fails within connect_timeout
                await _until(lambda: "3 message(s) published" in caplog.text, "the unacknowledged messages")
                with pytest.raises(BroadcastError, match="could not publish"):
                    await one.publish("order", "no connection")
            finally:
                redis.thaw()
            await one.publish("order", "back")
            while (await asyncio.wait_for(sub.get(), WAIT)).message != "back":
                pass  # the messages Redis read before the reset may or may not have been delivered

            # Redis dies with messages unacknowledged: they are reported too
            redis.freeze()
            await one.publish("order", "lost-1")
            await one.publish("order", "lost-2")
            await asyncio.sleep(0.1)  # written
            await asyncio.to_thread(redis.kill)
            await _until(lambda: "2 message(s) published" in caplog.text, "the messages lost with Redis")
            assert "were not acknowledged before the connection was lost" in caplog.text


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _until_async(get, value, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while (got := await get()) != value:
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {got!r}"
        await asyncio.sleep(0.02)


async def _numsub(server: RedisServer, channel: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(server.url)
    try:
        return dict(await client.pubsub_numsub(channel)).get(channel.encode(), 0)
    finally:
        await client.aclose()


def test_backend_settings_in_the_url():
    from fastrapi.broadcast.redis import RedisBackend

    backend = backend_from_url("redis://user:secret@localhost:6390/2?publish_window=0&publish_timeout=2.5"
                               "&socket_keepalive=true")
    assert isinstance(backend, RedisBackend)
    assert (backend.publish_window, backend.publish_timeout) == (0, 2.5)
    assert RedisBackend("redis://localhost").publish_window == 1 << 20
    assert "secret" not in backend.where
    for bad in ("publish_window=lots", "publish_timeout=-1"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            backend_from_url(f"redis://localhost?{bad}")


@pytest.mark.parametrize("package", ["redis", "hiredis"])
def test_missing_redis_package_has_a_clear_message(package):
    code = (f"import sys; sys.modules[{package!r}] = None\n"
            "try:\n"
            "    import fastrapi.broadcast.redis\n"
            "except ImportError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT)
    assert "pip install 'fastrapi[redis]'" in out.stdout and package in out.stdout, out
