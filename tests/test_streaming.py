"""StreamingResponse over the real server: chunked bodies, Server-Sent Events, slow producers, disconnects."""
import asyncio
import socket
import threading
import time

import httpx

from fastrapi import FastrAPI
from fastrapi.responses import StreamingResponse


def make_app(state):
    app = FastrAPI()

    @app.get("/numbers")
    async def numbers():
        async def gen():
            for i in range(5):
                yield f"{i}\n"
                await asyncio.sleep(0.01)
        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/sync")
    def sync_stream():
        def gen():
            for i in range(3):
                time.sleep(0.01)
                yield b"chunk%d;" % i
        return StreamingResponse(gen())

    @app.get("/events")
    async def events():
        async def gen():
            for i in range(3):
                yield f"id: {i}\ndata: tick {i}\n\n"
                await asyncio.sleep(0.05)
        return StreamingResponse(gen(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @app.get("/endless")
    async def endless():
        async def gen():
            try:
                while True:
                    state["produced"] += 1
                    yield b"x" * 1024
                    await asyncio.sleep(0.005)
            finally:
                state["closed"].set()
        return StreamingResponse(gen())

    @app.get("/after")
    def after():
        return {"ok": True}

    return app


def test_async_generator_body_is_chunked(serve):
    srv = serve(make_app({}))
    r = httpx.get(srv.url + "/numbers")
    assert r.status_code == 200
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == "0\n1\n2\n3\n4\n"


def test_sync_generator_runs_off_the_loop(serve):
    srv = serve(make_app({}))
    assert httpx.get(srv.url + "/sync").content == b"chunk0;chunk1;chunk2;"


def test_server_sent_events_arrive_one_by_one(serve):
    srv = serve(make_app({}))
    seen = []
    with httpx.stream("GET", srv.url + "/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        t0 = time.monotonic()
        for line in r.iter_lines():
            if line.startswith("data:"):
                seen.append((line, time.monotonic() - t0))
    assert [s for s, _ in seen] == ["data: tick 0", "data: tick 1", "data: tick 2"]
    assert seen[0][1] < seen[-1][1] - 0.05, "events were buffered instead of streamed"


def test_keep_alive_continues_after_a_stream(serve):
    srv = serve(make_app({}))
    with httpx.Client(base_url=srv.url) as c:
        assert c.get("/numbers").text.endswith("4\n")
        assert c.get("/after").json() == {"ok": True}


def test_client_disconnect_stops_the_generator(serve):
    state = {"produced": 0, "closed": threading.Event()}
    srv = serve(make_app(state))
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(0.1)
    sock.close()
    assert state["closed"].wait(3), "the generator kept running after the client left"
    produced = state["produced"]
    time.sleep(0.2)
    assert state["produced"] == produced


def test_idle_event_stream_is_stopped_when_the_client_leaves(serve):
    closed = threading.Event()
    app = FastrAPI()

    @app.get("/quiet")
    async def quiet():
        async def gen():
            try:
                yield "data: hello\n\n"
                await asyncio.sleep(60)  # waiting for an event that never comes
                yield "data: never\n\n"
            finally:
                closed.set()
        return StreamingResponse(gen(), media_type="text/event-stream")

    srv = serve(app)
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(b"GET /quiet HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"hello" not in data:
        data += sock.recv(65536)
    sock.close()
    assert closed.wait(3), "the stream kept waiting after its client left"
