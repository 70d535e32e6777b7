"""fastrapi.broadcast with the in-memory backend, over the real server: WebSockets joining channels, publishing
from WebSocket handlers, HTTP routes and background tasks, ``subscribe()`` iterators (SSE), permessage-deflate
on shared frames, and the slow-subscriber policy (a client that stops reading is dropped with 1013)."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import os
import random
import sys
import threading
import time
import uuid
import zlib
from decimal import Decimal

import httpx
import pytest
from pydantic import BaseModel
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from fastrapi import BackgroundTasks, Body, FastrAPI, WebSocket, WebSocketDisconnect
from fastrapi.broadcast import Broadcast, BroadcastError, Event, MemoryBackend, SlowSubscriber
from fastrapi.responses import StreamingResponse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from modules import ROOT, load_module  # noqa: E402
from wsraw import OP_BINARY, OP_CLOSE, OP_TEXT, RawWS, TCPClosed, inflate_message, parse_extensions  # noqa: E402

pytestmark = pytest.mark.timeout(60)

T = 10.0  # generous receive timeout: the suite runs with -n 2 on a small machine


# ---------------------------------------------------------------------------------------------- the test app
class Reading(BaseModel):
    sensor: str
    value: Decimal
    at: dt.datetime


class RecordingBackend(MemoryBackend):
    """The in-memory backend, recording what Broadcast asks of it (what a Redis backend would be told)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    async def subscribe(self, channel: str) -> None:
        self.calls.append(("subscribe", channel))

    async def unsubscribe(self, channel: str) -> None:
        self.calls.append(("unsubscribe", channel))


def message_of(spec: dict):
    """A command's message: {"text": str} | {"bytes": base64} | {"json": any} | {"reading": ...}."""
    if "text" in spec:
        return spec["text"]
    if "bytes" in spec:
        return base64.b64decode(spec["bytes"])
    if "reading" in spec:
        return Reading(**spec["reading"])
    return spec["json"]


def make_app(broadcast=None) -> FastrAPI:
    """WebSocket ``/ws/{name}?join=a,b`` runs JSON commands (join/leave/publish/echo/channels), each answered
    with {"ack": op, "channels": [...]} after it took effect; HTTP routes publish and subscribe."""
    app = FastrAPI() if broadcast is None else FastrAPI(broadcast=broadcast)
    state = app.state
    state.sockets = {}  # name -> WebSocket
    state.closed = {}  # name -> close code the handler saw
    state.collected = {}  # channel -> {"ready": bool, "events": [...]} (background subscriber)
    state.sse_done = {}  # channel -> True once an SSE generator exited
    state.late_done = {}  # name -> True once a late joiner's handler is done

    @app.websocket("/ws/{name}")
    async def member(ws: WebSocket, name: str, join: str = ""):
        await ws.accept()
        state.sockets[name] = ws
        for channel in filter(None, join.split(",")):
            await ws.join(channel)
        await ws.send_json({"ack": "ready", "channels": sorted(app.broadcast.channels_of(ws))})
        try:
            while True:
                cmd = await ws.receive_json()
                op = cmd["op"]
                if op == "join":
                    await ws.join(cmd["ch"])
                elif op == "leave":
                    await app.broadcast.leave(ws, cmd["ch"])
                elif op == "publish":
                    await app.broadcast.publish(cmd["ch"], message_of(cmd), exclude=ws if cmd.get("exclude") else None)
                elif op == "echo":
                    await ws.send_text(cmd["text"])
                await ws.send_json({"ack": op, "channels": sorted(app.broadcast.channels_of(ws))})
        except WebSocketDisconnect as exc:
            state.closed[name] = exc.code

    @app.websocket("/late/{name}")
    async def late_joiner(ws: WebSocket, name: str):
        """Joins only after the client has gone (as a handler busy with something else would)."""
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            state.closed[name] = exc.code
        await asyncio.sleep(0.05)
        try:
            await ws.join("late")
        except WebSocketDisconnect:  # (refusing the join is fine too)
            pass
        state.late_done[name] = True

    @app.post("/publish/{channel}")
    async def publish(channel: str, spec: dict = Body(...)):
        exclude = state.sockets[spec["exclude"]] if spec.get("exclude") else None
        await app.broadcast.publish(channel, message_of(spec), exclude=exclude)
        return {"subscribers": app.broadcast.subscribers(channel)}

    @app.post("/publish-later/{channel}")
    async def publish_later(channel: str, tasks: BackgroundTasks, spec: dict = Body(...)):
        tasks.add_task(app.broadcast.publish, channel, message_of(spec))
        return {"scheduled": True}

    @app.get("/subscribers/{channel}")
    async def subscribers(channel: str):
        return {"subscribers": app.broadcast.subscribers(channel)}

    @app.get("/sse/{channel}")
    async def sse(channel: str, limit: int = 0):
        async def stream():
            try:
                async with app.broadcast.subscribe(channel) as sub:
                    yield ": subscribed\n\n"
                    n = 0
                    async for event in sub:
                        assert event.channel == channel
                        yield f"data: {event.message}\n\n"
                        n += 1
                        if n == limit:
                            break
            finally:
                state.sse_done[channel] = True

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def collect(channel: str, n: int) -> None:
        box = state.collected[channel]
        async with app.broadcast.subscribe(channel) as sub:
            box["ready"] = True
            async for event in sub:
                box["events"].append([event.channel, event.message if isinstance(event.message, str)
                                      else "bytes:" + event.message.decode()])
                if len(box["events"]) == n:
                    break
        box["done"] = True

    @app.post("/collect/{channel}")
    async def start_collecting(channel: str, tasks: BackgroundTasks, n: int = 3):
        state.collected[channel] = {"ready": False, "done": False, "events": []}
        tasks.add_task(collect, channel, n)
        return {"started": True}

    @app.get("/collected/{channel}")
    async def collected(channel: str):
        return state.collected[channel]

    @app.post("/slow-iterator/{channel}")
    async def slow_iterator(channel: str, max_queue: int, n: int):
        got: list[str] = []
        error = None
        async with app.broadcast.subscribe(channel, max_queue=max_queue) as sub:
            for i in range(n):  # nobody reads the iterator meanwhile
                await app.broadcast.publish(channel, f"m{i}")
            try:
                for _ in range(n):
                    got.append((await sub.get()).message)
            except SlowSubscriber as exc:
                error = f"SlowSubscriber: {exc}"
        return {"got": got, "error": error}

    @app.post("/produce/{channel}")
    async def produce(channel: str, n: int, size: int, pause: float = 0.003):
        """Publish ``n`` binary messages (4-byte sequence number + ``size`` bytes), sampling every member's
        unsent bytes on the server after each one."""
        filler = os.urandom(size)
        peak: dict[str, int] = {}
        for i in range(n):
            await app.broadcast.publish(channel, i.to_bytes(4, "big") + filler)
            for name, ws in state.sockets.items():
                try:
                    buffered = ws._conn.transport.get_write_buffer_size()
                except Exception:  # a transport already closed
                    buffered = 0
                peak[name] = max(peak.get(name, 0), buffered)
            await asyncio.sleep(pause)
        return {"peak": peak}

    return app


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture
def fastrapi_log():
    """Records of the ``fastrapi`` loggers (a handler on the package logger: it works whether or not the
    default logging configuration, which stops propagation to the root logger, was applied)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    log = logging.getLogger("fastrapi")
    old_level = log.level
    log.addHandler(handler)
    if log.getEffectiveLevel() > logging.WARNING:
        log.setLevel(logging.WARNING)
    yield records
    log.removeHandler(handler)
    log.setLevel(old_level)


def errors_in(records) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.ERROR]


def member(srv, name: str, join: str = "", **kw):
    """A websockets client on /ws/{name}, past its "ready" ack."""
    ws = connect(f"{srv.ws_url}/ws/{name}?join={join}", open_timeout=T, max_size=None, **kw).__enter__()
    ready = json.loads(ws.recv(timeout=T))
    assert ready["ack"] == "ready", ready
    return ws


def command(ws, op: str, **args) -> list:
    """Send a command; return what came before its ack (broadcast messages), then the ack itself last."""
    ws.send(json.dumps({"op": op, **args}))
    got = []
    while True:
        msg = ws.recv(timeout=T)
        got.append(msg)
        if isinstance(msg, str) and msg.startswith('{"ack":"' + op + '"'):
            return got


def nothing_more(ws) -> bool:
    """True when the next thing the client gets is the ack of a no-op command (a message published
    earlier would have been written to the socket before it)."""
    return len(command(ws, "channels")) == 1


def wait_for(predicate, timeout: float = T) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def subscribers(srv, channel: str) -> int:
    return httpx.get(f"{srv.url}/subscribers/{channel}").json()["subscribers"]


def post(srv, path: str, spec: dict) -> dict:
    r = httpx.post(srv.url + path, json=spec, timeout=T)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def srv(serve):
    return serve(make_app())


# ---------------------------------------------------------------------------------------------- join / publish
def test_join_and_receive_text_bytes_and_json(srv):
    a, b = member(srv, "a", "room"), member(srv, "b", "room")
    with a, b:
        assert subscribers(srv, "room") == 2
        assert post(srv, "/publish/room", {"text": "héllo"}) == {"subscribers": 2}
        post(srv, "/publish/room", {"bytes": base64.b64encode(b"\x00\x01\xff").decode()})
        post(srv, "/publish/room", {"json": {"n": 1, "list": [1, "x", None], "ok": True}})
        for ws in (a, b):
            assert ws.recv(timeout=T) == "héllo"
            assert ws.recv(timeout=T) == b"\x00\x01\xff"  # bytes arrive as a binary message
            msg = ws.recv(timeout=T)
            assert isinstance(msg, str) and json.loads(msg) == {"n": 1, "list": [1, "x", None], "ok": True}


def test_websocket_facade_join_and_broadcast_leave(srv):
    a = member(srv, "a")
    with a:
        assert json.loads(command(a, "join", ch="x")[-1])["channels"] == ["x"]
        assert json.loads(command(a, "join", ch="x")[-1])["channels"] == ["x"]  # joining twice: no-op
        assert subscribers(srv, "x") == 1
        post(srv, "/publish/x", {"text": "one"})
        assert a.recv(timeout=T) == "one"
        assert json.loads(command(a, "leave", ch="x")[-1])["channels"] == []
        assert subscribers(srv, "x") == 0
        post(srv, "/publish/x", {"text": "two"})
        assert nothing_more(a)
        assert json.loads(command(a, "leave", ch="x")[-1])["channels"] == []  # leaving twice: no-op


def test_publish_from_another_websocket_handler(srv):
    a, b, c = member(srv, "a", "room"), member(srv, "b", "room"), member(srv, "c", "elsewhere")
    with a, b, c:
        got = command(c, "publish", ch="room", text="from c")  # c is not in "room": it gets only its ack
        assert len(got) == 1
        assert a.recv(timeout=T) == "from c" and b.recv(timeout=T) == "from c"
        got = command(a, "publish", ch="room", json={"from": "a"})
        assert json.loads(got[0]) == {"from": "a"}  # the sender is a member: it gets it too, before its ack
        assert json.loads(b.recv(timeout=T)) == {"from": "a"}


def test_exclude_the_sender(srv):
    a, b = member(srv, "a", "room"), member(srv, "b", "room")
    with a, b:
        got = command(a, "publish", ch="room", text="not to myself", exclude=True)
        assert len(got) == 1, got  # only the ack: the message was not written to a
        assert b.recv(timeout=T) == "not to myself"
        # exclude= from an HTTP route, naming a socket
        post(srv, "/publish/room", {"text": "not to b", "exclude": "b"})
        assert a.recv(timeout=T) == "not to b"
        assert nothing_more(b)


def test_publish_from_a_background_task(srv):
    a = member(srv, "a", "jobs")
    with a:
        assert post(srv, "/publish-later/jobs", {"json": {"job": 7, "done": True}}) == {"scheduled": True}
        assert json.loads(a.recv(timeout=T)) == {"job": 7, "done": True}


def test_several_channels_per_socket_and_channels_of(srv):
    a, b = member(srv, "a", "red,green"), member(srv, "b", "green,blue")
    with a, b:
        assert json.loads(command(a, "channels")[-1])["channels"] == ["green", "red"]
        assert json.loads(command(a, "join", ch="blue")[-1])["channels"] == ["blue", "green", "red"]
        for channel in ("red", "green", "blue"):
            post(srv, f"/publish/{channel}", {"text": channel})
        assert [a.recv(timeout=T) for _ in range(3)] == ["red", "green", "blue"]
        assert [b.recv(timeout=T) for _ in range(2)] == ["green", "blue"]
        assert json.loads(command(a, "leave", ch="green")[-1])["channels"] == ["blue", "red"]
        post(srv, "/publish/green", {"text": "green again"})
        assert b.recv(timeout=T) == "green again"
        assert nothing_more(a)
        assert (subscribers(srv, "red"), subscribers(srv, "green"), subscribers(srv, "blue")) == (1, 1, 2)


def test_leaving_is_automatic_on_disconnect(serve, fastrapi_log):
    backend = RecordingBackend()
    app = make_app(Broadcast(backend=backend))
    srv = serve(app)
    a, b = member(srv, "a", "room,solo"), member(srv, "b", "room")
    assert (subscribers(srv, "room"), subscribers(srv, "solo")) == (2, 1)
    a.close()  # a clean close
    wait_for(lambda: subscribers(srv, "room") == 1)
    assert subscribers(srv, "solo") == 0
    post(srv, "/publish/room", {"text": "still here?"})
    assert b.recv(timeout=T) == "still here?"
    # a dropped TCP connection (no close frame) leaves too
    b.socket.shutdown(2)
    b.socket.close()
    wait_for(lambda: subscribers(srv, "room") == 0)
    wait_for(lambda: ("unsubscribe", "room") in backend.calls)
    assert post(srv, "/publish/room", {"text": "nobody"}) == {"subscribers": 0}
    wait_for(lambda: set(app.state.closed) == {"a", "b"})
    assert app.state.closed["a"] == 1000 and app.state.closed["b"] == 1006
    # the backend was told once per channel: the first member subscribed, the last one to leave unsubscribed
    assert sorted(backend.calls) == [("subscribe", "room"), ("subscribe", "solo"),
                                     ("unsubscribe", "room"), ("unsubscribe", "solo")]
    assert errors_in(fastrapi_log) == []


def test_join_after_the_client_has_gone_does_not_stay_subscribed(serve, fastrapi_log):
    """A handler that joins after its client disconnected (say, after an await on a database) must not
    leave a dead member behind: it would count in subscribers() and keep the channel subscribed forever."""
    backend = RecordingBackend()
    app = make_app(Broadcast(backend=backend))
    srv = serve(app)
    ws = connect(f"{srv.ws_url}/late/x", open_timeout=T).__enter__()
    ws.close()
    wait_for(lambda: app.state.late_done.get("x"))
    time.sleep(0.1)
    assert subscribers(srv, "late") == 0
    assert backend.calls in ([], [("subscribe", "late"), ("unsubscribe", "late")])
    assert errors_in(fastrapi_log) == []


def test_publish_to_a_channel_without_subscribers_is_a_noop(srv):
    assert post(srv, "/publish/empty", {"text": "lost"}) == {"subscribers": 0}
    a = member(srv, "a", "empty")
    with a:
        assert nothing_more(a)  # nothing was kept for a later member
        post(srv, "/publish/empty", {"text": "now"})
        assert a.recv(timeout=T) == "now"


def test_json_of_pydantic_models_datetimes_and_more(srv):
    a = member(srv, "a", "data")
    with a:
        reading = {"sensor": "t1", "value": "21.5", "at": "2024-05-06T07:08:09.123456+02:00"}
        post(srv, "/publish/data", {"reading": reading})
        assert json.loads(a.recv(timeout=T)) == {"sensor": "t1", "value": "21.5",
                                                 "at": "2024-05-06T07:08:09.123456+02:00"}
        # from a WebSocket handler, with exclude: the same encoding
        with member(srv, "b") as b:
            command(b, "publish", ch="data", reading=reading, exclude=True)
        assert json.loads(a.recv(timeout=T))["at"] == "2024-05-06T07:08:09.123456+02:00"


def test_json_encoding_matches_fastapi_jsonable_encoder():
    """Everything that is not str/bytes goes out as JSON the way FastAPI's jsonable_encoder would encode it."""
    from fastapi.encoders import jsonable_encoder as fastapi_encoder

    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    values = [
        Reading(sensor="s", value=Decimal("1.25"), at=when),
        {"at": when, "day": dt.date(2024, 1, 2), "id": uuid.UUID(int=5), "n": [1, 2.5]},
        [Reading(sensor="a", value=Decimal("3"), at=when)],
    ]

    async def main():
        async with Broadcast() as bc:
            async with bc.subscribe("c") as sub:
                for value in values:
                    await bc.publish("c", value)
                return [(await sub.get()).json() for _ in values]

    got = asyncio.run(main())
    assert got == [json.loads(json.dumps(fastapi_encoder(v))) for v in values]


# ---------------------------------------------------------------------------------------------- subscribe()
def test_subscribe_iterator_in_an_sse_route(serve):
    backend = RecordingBackend()
    app = make_app(Broadcast(backend=backend))
    srv = serve(app)
    a = member(srv, "a", "news")
    with a, httpx.Client(timeout=T) as client:
        with client.stream("GET", f"{srv.url}/sse/news?limit=3") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            assert next(lines) == ": subscribed"
            post(srv, "/publish/news", {"text": "first"})
            assert a.recv(timeout=T) == "first"
            assert len(command(a, "publish", ch="news", json={"second": 2}, exclude=True)) == 1
            post(srv, "/publish/news", {"bytes": base64.b64encode(b"third").decode()})
            assert a.recv(timeout=T) == b"third"
            data = [line for line in lines if line.startswith("data: ")]
        # the stream got all three (bytes arrive as bytes: the route wrote their repr)
        assert data == ["data: first", 'data: {"second":2}', "data: b'third'"]
    wait_for(lambda: app.state.sse_done.get("news"))
    wait_for(lambda: ("unsubscribe", "news") in backend.calls)  # the last one out: a and the stream


def test_sse_client_going_away_ends_its_subscription(serve):
    backend = RecordingBackend()
    app = make_app(Broadcast(backend=backend))
    srv = serve(app)
    with httpx.Client(timeout=T) as client:
        with client.stream("GET", f"{srv.url}/sse/ticker") as r:
            lines = r.iter_lines()
            assert next(lines) == ": subscribed"
            post(srv, "/publish/ticker", {"text": "t1"})
            assert next(line for line in lines if line) == "data: t1"
    # the client closed the stream: the server cancels the generator, which leaves the channel
    wait_for(lambda: app.state.sse_done.get("ticker"))
    wait_for(lambda: backend.calls == [("subscribe", "ticker"), ("unsubscribe", "ticker")])
    assert post(srv, "/publish/ticker", {"text": "t2"}) == {"subscribers": 0}


def test_subscribe_iterator_in_a_background_task(srv):
    assert post(srv, "/collect/jobs?n=3", {}) == {"started": True}
    wait_for(lambda: httpx.get(f"{srv.url}/collected/jobs").json()["ready"])
    a = member(srv, "a")
    with a:
        post(srv, "/publish/jobs", {"text": "one"})
        command(a, "publish", ch="jobs", bytes=base64.b64encode(b"two").decode())
        post(srv, "/publish-later/jobs", {"json": [3]})
        wait_for(lambda: httpx.get(f"{srv.url}/collected/jobs").json()["done"])
    assert httpx.get(f"{srv.url}/collected/jobs").json()["events"] == [
        ["jobs", "one"], ["jobs", "bytes:two"], ["jobs", "[3]"]]


def test_slow_iterator_gets_slow_subscriber(srv, fastrapi_log):
    # within max_queue: every message, in order
    body = httpx.post(f"{srv.url}/slow-iterator/q?max_queue=5&n=5", timeout=T).json()
    assert body == {"got": ["m0", "m1", "m2", "m3", "m4"], "error": None}
    assert not fastrapi_log
    # more than max_queue behind: the queue is dropped and the iterator raises SlowSubscriber
    body = httpx.post(f"{srv.url}/slow-iterator/q?max_queue=5&n=12", timeout=T).json()
    assert body["got"] == []
    assert body["error"].startswith("SlowSubscriber: more than 5 messages behind on 'q'")
    assert any(r.name == "fastrapi.broadcast" and r.levelno == logging.WARNING and "dropped" in r.getMessage()
               for r in fastrapi_log)


def test_iterator_within_max_queue_gets_everything():
    async def main():
        async with Broadcast(max_queue=3) as bc:
            async with bc.subscribe("c") as sub:
                for i in range(3):
                    await bc.publish("c", f"m{i}")
                got = [await sub.get() for _ in range(3)]
                await bc.publish("c", b"\x01")
                got.append(await sub.get())
                await bc.publish("c", {"k": 1})
                event = await sub.get()
            async with bc.subscribe("c", max_queue=1) as small:
                await bc.publish("c", "x")
                await bc.publish("c", "y")  # one more than it may hold
                with pytest.raises(SlowSubscriber):
                    await small.get()
            return got, event

    got, event = asyncio.run(main())
    assert got == [Event("c", "m0"), Event("c", "m1"), Event("c", "m2"), Event("c", b"\x01")]
    assert event.channel == "c" and event.message == '{"k":1}' and event.json() == {"k": 1}


def test_iterating_subscribe_directly():
    """``async for event in broadcast.subscribe(name)`` works without ``async with`` too."""
    async def main():
        async with Broadcast() as bc:
            got = []

            async def reader():
                async for event in bc.subscribe("c"):
                    got.append(event.message)
                    if len(got) == 2:
                        break

            task = asyncio.create_task(reader())
            await asyncio.sleep(0)  # the reader subscribes (nothing to wait for in memory) and waits
            await bc.publish("c", "hello")
            await bc.publish("c", "bye")
            await asyncio.wait_for(task, 5)
            return got

    assert asyncio.run(main()) == ["hello", "bye"]


def test_backend_failure_raises_broadcast_error():
    class Down(MemoryBackend):
        async def publish(self, channel: str, payload: bytes) -> None:
            raise BroadcastError("the server is unreachable")

    async def main():
        async with Broadcast(backend=Down()) as bc:
            with pytest.raises(BroadcastError, match="unreachable"):
                await bc.publish("c", "x")

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- permessage-deflate
def compressible(seed: int, size: int = 100_000) -> str:
    """Text that deflate shrinks a lot, with repeats both near (words) and far (a 3000-character block)."""
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    block = " ".join(rnd.choice(words) + str(rnd.randrange(1000)) for _ in range(400))[:3000]
    return ((block + "\n") * (size // 3000 + 1))[:size]


def far_repeats(seed: int, size: int = 60_000) -> str:
    """Text whose only repeats are 4000 characters apart: a window of 2**10 bytes cannot use them."""
    rnd = random.Random(seed)
    block = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(4000))
    return (block * (size // 4000 + 1))[:size]


def test_deflate_broadcast_then_per_connection_messages(srv):
    """Clients with and without compression, and with different window sizes, all decode every broadcast
    message and the echoes sent to them afterwards on their own compression context."""
    clients = {
        "deflate": member(srv, "deflate", "big"),  # websockets' default offer: permessage-deflate
        "plain": member(srv, "plain", "big", compression=None),
        "w10": member(srv, "w10", "big", compression=None,
                      extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=10)]),
        "w12": member(srv, "w12", "big", compression=None,
                      extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=12)]),
        "nct": member(srv, "nct", "big", compression=None,
                      extensions=[ClientPerMessageDeflateFactory(server_no_context_takeover=True)]),
    }
    publisher = member(srv, "publisher")  # not a member of "big"
    try:
        accepted = {name: ws.response.headers.get("Sec-WebSocket-Extensions") for name, ws in clients.items()}
        assert accepted["plain"] is None
        assert "server_max_window_bits=10" in accepted["w10"] and "server_max_window_bits=12" in accepted["w12"]
        assert "server_no_context_takeover" in accepted["nct"]
        assert accepted["deflate"].startswith("permessage-deflate")
        texts = [compressible(1), far_repeats(2), compressible(3)]
        for round_ in range(3):
            for name, ws in clients.items():
                # per connection, before: primes each connection's own compressor with this text
                mine = compressible(10 + round_) + name
                assert command(ws, "echo", text=mine)[0] == mine
            post(srv, "/publish/big", {"text": texts[round_]})  # from an HTTP route
            command(publisher, "publish", ch="big", text=texts[round_][::-1])  # from a WebSocket handler
            post(srv, "/publish/big", {"bytes": base64.b64encode(texts[round_].encode()[:5000]).decode()})
            for name, ws in clients.items():
                assert ws.recv(timeout=T) == texts[round_], name
                assert ws.recv(timeout=T) == texts[round_][::-1], name
                assert ws.recv(timeout=T) == texts[round_].encode()[:5000], name
                # per connection, after: the same text again, so a compressor that kept its old context
                # would refer to data the client saw before the broadcast frames and garble it
                mine = compressible(10 + round_) + name
                assert command(ws, "echo", text=mine)[0] == mine, name
                assert command(ws, "echo", text=far_repeats(2))[0] == far_repeats(2), name
    finally:
        publisher.close()
        for ws in clients.values():
            ws.close()


def raw_member(srv, name: str, join: str, offer: str | None) -> RawWS:
    c = RawWS(srv.port, timeout=T)
    headers = [("Sec-WebSocket-Extensions", offer)] if offer else []
    c.handshake(f"/ws/{name}?join={join}", extra_headers=headers)
    op, payload, frames = c.read_message()
    if frames[0].rsv1:
        payload = inflate_message(payload)
    assert json.loads(payload)["ack"] == "ready"
    return c


def test_deflate_on_the_wire_one_frame_per_window_size(srv):
    """What each client gets, byte for byte: clients with the same window size get the same compressed
    frame, a 2**10 window gets a stream that never refers further back, and small messages are not
    compressed. Each stream inflates with one context-takeover decompressor per client."""
    offers = {
        "r15a": "permessage-deflate", "r15b": "permessage-deflate; client_max_window_bits",
        "r10": "permessage-deflate; server_max_window_bits=10", "raw": None,
    }
    clients = {name: raw_member(srv, name, "wire", offer) for name, offer in offers.items()}
    try:
        assert [name for name, _ in parse_extensions(clients["r10"].response.header("sec-websocket-extensions"))] \
            == ["permessage-deflate"]
        # one decompressor per client for the whole stream (context takeover); the ready ack before was
        # shorter than 64 bytes, hence sent uncompressed
        inflaters = {"r15a": zlib.decompressobj(-15), "r15b": zlib.decompressobj(-15), "r10": zlib.decompressobj(-10)}
        big = far_repeats(7)
        small = "tiny"
        post(srv, "/publish/wire", {"text": big})
        post(srv, "/publish/wire", {"text": small})
        frames = {name: (c.read_data_frame(), c.read_data_frame()) for name, c in clients.items()}
        assert frames["r15a"][0].payload == frames["r15b"][0].payload  # compressed once, shared
        assert frames["r10"][0].payload != frames["r15a"][0].payload
        for name, (f_big, f_small) in frames.items():
            assert f_big.opcode == OP_TEXT and f_small.opcode == OP_TEXT and f_big.fin
            assert f_big.rsv1 == (name != "raw"), name
            assert not f_small.rsv1 and f_small.payload == b"tiny"
            if name == "raw":
                assert f_big.payload == big.encode()
            else:
                wbits = 10 if name == "r10" else 15
                assert inflate_message(f_big.payload, inflaters[name], wbits).decode() == big, name
        # the 2**10 client's frame is really limited to its window: a plain 15-bit stream refers 4000 back
        with pytest.raises(zlib.error):
            inflate_message(frames["r15a"][0].payload, None, 10)
        # a per-connection message after the broadcast inflates with the same decompressors
        for name, c in clients.items():
            c.send_text(json.dumps({"op": "echo", "text": big}))
            f = c.read_data_frame()
            if name == "raw":
                assert f.payload == big.encode()
            else:
                wbits = 10 if name == "r10" else 15
                assert inflate_message(f.payload, inflaters[name], wbits).decode() == big, name
    finally:
        for c in clients.values():
            c.close()


# ---------------------------------------------------------------------------------------------- slow subscriber
def test_slow_subscriber_is_dropped_and_others_get_everything(serve, fastrapi_log):
    max_outgoing = 256 * 1024
    size = 64 * 1024
    n = 150
    app = make_app()
    app.broadcast = Broadcast(max_outgoing=max_outgoing)
    srv = serve(app, ws_close_timeout=1.0)

    # the slow one: a small receive buffer, and it never reads after joining
    slow = RawWS(srv.port, timeout=T, rcvbuf=4096)
    slow.handshake("/ws/slow?join=feed")
    assert json.loads(slow.read_text())["ack"] == "ready"

    readers = {name: member(srv, name, "feed") for name in ("r1", "r2")}
    received: dict[str, list[int]] = {name: [] for name in readers}
    failures: list[BaseException] = []

    def read_all(name, ws):
        try:
            for _ in range(n):
                msg = ws.recv(timeout=30)
                assert isinstance(msg, bytes) and len(msg) == 4 + size
                received[name].append(int.from_bytes(msg[:4], "big"))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=read_all, args=item, daemon=True) for item in readers.items()]
    for t in threads:
        t.start()
    assert subscribers(srv, "feed") == 3

    r = httpx.post(f"{srv.url}/produce/feed?n={n}&size={size}", timeout=60)
    assert r.status_code == 200, r.text
    peak = r.json()["peak"]
    for t in threads:
        t.join(40)
    assert not failures, failures
    # every reading client got every message, in order
    assert received == {name: list(range(n)) for name in readers}

    # the slow one was dropped: logged, its handler saw 1013, it left the channel
    wait_for(lambda: any("WebSocket subscriber dropped" in r.getMessage() for r in fastrapi_log))
    wait_for(lambda: "slow" in app.state.closed)
    assert app.state.closed["slow"] == 1013
    wait_for(lambda: subscribers(srv, "feed") == 2)
    # and its unsent bytes never went past the bound (plus the one message that crossed it)
    assert peak["slow"] <= max_outgoing + size + 64, peak
    assert peak["slow"] > max_outgoing / 2, peak  # (it really was backed up)
    assert errors_in(fastrapi_log) == []

    # what the slow client still finds in its socket: some of the messages, in order, then (maybe) the close
    # frame 1013 — or a reset, as the server aborts a connection whose close frame can't get through
    seen: list[int] = []
    code = None
    try:
        while True:
            f = slow.read_frame(timeout=5)
            if f.opcode == OP_CLOSE:
                code = f.close_code()
                break
            assert f.opcode == OP_BINARY
            seen.append(int.from_bytes(f.payload[:4], "big"))
    except TCPClosed:
        pass
    assert seen == list(range(len(seen))) and len(seen) < n
    assert code in (None, 1013)
    slow.close()
    for ws in readers.values():
        ws.close()


def test_max_outgoing_below_the_write_buffer_high_water_mark(serve, fastrapi_log):
    """``max_outgoing`` is the bound even when it is smaller than the server's write_buffer_high (256 KiB)."""
    max_outgoing, size = 64 * 1024, 16 * 1024
    app = make_app()
    app.broadcast = Broadcast(max_outgoing=max_outgoing)
    srv = serve(app, ws_close_timeout=1.0)
    slow = RawWS(srv.port, timeout=T, rcvbuf=4096)
    try:
        slow.handshake("/ws/slow?join=feed")
        assert json.loads(slow.read_text())["ack"] == "ready"
        r = httpx.post(f"{srv.url}/produce/feed?n=600&size={size}", timeout=60)
        peak = r.json()["peak"]
        wait_for(lambda: app.state.closed.get("slow") == 1013)
        assert peak["slow"] <= max_outgoing + size + 64, peak
    finally:
        slow.close()


def test_readers_are_not_dropped_when_publishing_fast(serve, fastrapi_log):
    """The bound applies only to unsent bytes: clients that read keep up with a fast producer (default
    max_outgoing, 16 KiB messages with no pause)."""
    app = make_app()
    srv = serve(app)
    readers = {name: member(srv, name, "fast") for name in ("r1", "r2", "r3")}
    n, size = 300, 16 * 1024
    received: dict[str, list[int]] = {name: [] for name in readers}

    def read_all(name, ws):
        for _ in range(n):
            received[name].append(int.from_bytes(ws.recv(timeout=30)[:4], "big"))

    threads = [threading.Thread(target=read_all, args=item, daemon=True) for item in readers.items()]
    for t in threads:
        t.start()
    httpx.post(f"{srv.url}/produce/fast?n={n}&size={size}&pause=0", timeout=60).raise_for_status()
    for t in threads:
        t.join(40)
    assert received == {name: list(range(n)) for name in readers}
    assert not any("dropped" in r.getMessage() for r in fastrapi_log)
    for ws in readers.values():
        ws.close()


# ---------------------------------------------------------------------------------------------- the example
EXAMPLE_PATH = ROOT / "examples" / "broadcast" / "app.py"


def test_example_runs(serve):
    example = load_module(EXAMPLE_PATH, "fastrapi_broadcast_example")
    assert isinstance(example.app, FastrAPI)
    srv = serve(example.create_app())

    def recv_json(ws):
        return json.loads(ws.recv(timeout=T))

    with httpx.Client(timeout=T) as client, client.stream("GET", f"{srv.url}/rooms/lobby/events") as events:
        lines = (line for line in events.iter_lines() if line)
        assert next(lines) == ": subscribed"
        ada = connect(f"{srv.ws_url}/ws/lobby?nick=ada", open_timeout=T).__enter__()
        assert recv_json(ada) == {"type": "join", "room": "lobby", "nick": "ada"}
        bob = connect(f"{srv.ws_url}/ws/lobby?nick=bob", open_timeout=T).__enter__()
        assert recv_json(bob) == {"type": "join", "room": "lobby", "nick": "bob"}
        assert recv_json(ada) == {"type": "join", "room": "lobby", "nick": "bob"}
        assert client.get(f"{srv.url}/rooms/lobby").json() == {"room": "lobby", "websockets": 2}

        ada.send("hi bob")
        assert recv_json(bob) == {"type": "message", "room": "lobby", "nick": "ada", "text": "hi bob"}
        r = client.post(f"{srv.url}/rooms/lobby/messages", json={"text": "from curl"})
        assert r.status_code == 200 and r.json() == {"room": "lobby", "websockets": 2}
        from_http = {"type": "message", "room": "lobby", "nick": "http", "text": "from curl"}
        assert recv_json(ada) == from_http and recv_json(bob) == from_http  # (ada did not get her own line)
        assert client.post(f"{srv.url}/rooms/lobby/messages", json={"text": ""}).status_code == 422

        bob.close()
        assert recv_json(ada) == {"type": "leave", "room": "lobby", "nick": "bob"}
        ada.close()

        got = [json.loads(next(lines)[len("data: "):]) for _ in range(6)]
        assert got == [
            {"type": "join", "room": "lobby", "nick": "ada"},
            {"type": "join", "room": "lobby", "nick": "bob"},
            {"type": "message", "room": "lobby", "nick": "ada", "text": "hi bob"},
            from_http,
            {"type": "leave", "room": "lobby", "nick": "bob"},
            {"type": "leave", "room": "lobby", "nick": "ada"},
        ]
    wait_for(lambda: httpx.get(f"{srv.url}/rooms/lobby").json()["websockets"] == 0)


def test_example_main_serves(monkeypatch):
    """``python3 examples/broadcast/app.py --port N`` serves the app (app.serve with the parsed options)."""
    example = load_module(EXAMPLE_PATH, "fastrapi_broadcast_example_main")
    calls = []
    monkeypatch.setattr(example.app, "serve", lambda **kw: calls.append(kw))
    example.main(["--port", "9123"])
    assert calls == [{"host": "127.0.0.1", "port": 9123, "workers": 1}]


def test_the_docs_first_example_runs(serve):
    """The opening example of docs/broadcast.md, as written."""
    doc = (ROOT / "docs" / "broadcast.md").read_text(encoding="utf-8")
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/broadcast.md", "exec"), namespace)
    srv = serve(namespace["app"])
    ada = connect(f"{srv.ws_url}/chat/lobby", open_timeout=T).__enter__()
    bob = connect(f"{srv.ws_url}/chat/lobby", open_timeout=T).__enter__()
    with ada, bob:
        wait_for(lambda: namespace["app"].broadcast.subscribers("lobby") == 2)
        ada.send("hello")
        assert bob.recv(timeout=T) == "hello"
        r = httpx.post(f"{srv.url}/rooms/lobby/announce", params={"text": "closing soon"}, timeout=T)
        assert r.json() == {"sent_to": 2}
        for ws in (ada, bob):  # ada did not get her own "hello": the announcement comes first
            assert json.loads(ws.recv(timeout=T)) == {"type": "announcement", "text": "closing soon"}


def test_app_broadcast_defaults(monkeypatch):
    monkeypatch.delenv("FASTRAPI_BROADCAST_URL", raising=False)
    app = FastrAPI()
    assert isinstance(app.broadcast, Broadcast) and app.broadcast.url == "memory://"
    assert app.broadcast is app.broadcast
    assert isinstance(app.broadcast.backend, MemoryBackend) and app.broadcast.backend.in_memory
    assert FastrAPI(broadcast="memory://").broadcast.url == "memory://"
    mine = Broadcast(max_outgoing=1234, max_queue=5)
    assert FastrAPI(broadcast=mine).broadcast is mine
    monkeypatch.setenv("FASTRAPI_BROADCAST_URL", "memory://")
    assert FastrAPI().broadcast.url == "memory://"
    with pytest.raises(ValueError, match="unknown broadcast backend"):
        Broadcast("kafka://x")


def test_queued_broadcast_frames_keep_their_order_with_direct_sends_and_close(serve):
    """Broadcast frames are written at the end of the loop iteration; a direct send or a close in between
    must not overtake them."""
    import fastrapi

    app = fastrapi.FastrAPI()

    @app.websocket("/mix")
    async def mix(ws: fastrapi.WebSocket):
        await ws.accept()
        await ws.join("mix")
        await ws.receive_text()
        for i in range(3):
            await app.broadcast.publish("mix", f"b{i}")
            await ws.send_text(f"d{i}")
        await app.broadcast.publish("mix", "last")
        await ws.close(4001)

    srv = serve(app)
    with connect(srv.ws_url + "/mix") as client:
        client.send("go")
        got = []
        try:
            while True:
                got.append(client.recv(timeout=5))
        except Exception:
            pass
        assert got == ["b0", "d0", "b1", "d1", "b2", "d2", "last"]
        assert client.close_code == 4001
