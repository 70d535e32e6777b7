"""Streaming path operations (FastAPI's "Stream JSON Lines" and "Stream Data" pages): a path operation that
``yield``s streams JSON Lines by default, or raw chunks through its ``response_class``.

The documentation's apps run on FastAPI (its TestClient) and on FastrAPI (a real server, and our TestClient);
status, headers, body and ``app.openapi()`` are compared. A raw socket that leaves mid-stream checks that
the generator is stopped (its ``finally`` runs), sync and async.
"""

import asyncio
import base64
import socket
import threading
import time
from collections.abc import AsyncIterable, Iterable
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import fastrapi
from fastrapi.testclient import TestClient as OurClient

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient as FastAPIClient  # noqa: E402

from test_openapi import differences  # noqa: E402

IGNORED_HEADERS = {"date", "server", "transfer-encoding", "content-length"}

STORY = """
Rick: (stumbles in drunkenly, and turns on the lights) Morty! You gotta come on.
Morty: (rubs his eyes) What, Rick? What's going on?
Rick: I got a surprise for you, Morty.
"""

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


class Item(BaseModel):
    name: str
    description: str | None


ITEMS = [
    Item(name="Plumbus", description="A multi-purpose household device."),
    Item(name="Portal Gun", description="A portal opening device."),
    Item(name="Meeseeks Box", description=None),
]


def make_app(fw: Any) -> Any:
    """The "Stream JSON Lines" and "Stream Data" apps (and a few more cases), built with ``fw``."""
    app = fw.FastAPI(title="FastAPI")
    StreamingResponse = fw.responses.StreamingResponse

    # -- Stream JSON Lines
    @app.get("/items/stream")
    async def stream_items() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item

    @app.get("/items/stream-no-async")
    def stream_items_no_async() -> Iterable[Item]:
        for item in ITEMS:
            yield item

    @app.get("/items/stream-no-annotation")
    async def stream_items_no_annotation():
        for item in ITEMS:
            yield item

    @app.get("/items/stream-no-async-no-annotation")
    def stream_items_no_async_no_annotation():
        for item in ITEMS:
            yield item

    async def add_stream_headers(response: fw.Response) -> None:
        response.headers["X-Stream-Source"] = "inventory"

    @app.get("/items/with-headers", dependencies=[fw.Depends(add_stream_headers)])
    async def stream_with_headers() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item

    @app.get("/mixed")
    async def mixed():  # no item type: each item as jsonable_encoder + json.dumps would write it
        yield {"a": 1, "nan": float("nan"), "text": "é ü"}
        yield [1, 2.5, None]
        yield "plain"
        yield ITEMS[0]

    @app.get("/typed-dicts")
    async def typed_dicts(limit: int = 3) -> AsyncIterable[dict[str, int]]:
        for i in range(limit):
            yield {"i": i}

    @app.get("/excluded", response_model_exclude_none=True)
    async def excluded() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item

    @app.post("/echo/{n}", status_code=201)
    async def echo(n: int, item: Item) -> AsyncIterable[Item]:
        for _ in range(n):
            yield item

    @app.get("/invalid")
    async def invalid() -> AsyncIterable[Item]:
        yield ITEMS[0]
        yield {"name": "no description"}

    # -- Stream Data
    @app.get("/story/stream", response_class=StreamingResponse)
    async def stream_story() -> AsyncIterable[str]:
        for line in STORY.splitlines():
            yield line

    @app.get("/story/stream-no-async", response_class=StreamingResponse)
    def stream_story_no_async() -> Iterable[str]:
        for line in STORY.splitlines():
            yield line

    @app.get("/story/stream-bytes", response_class=StreamingResponse)
    async def stream_story_bytes() -> AsyncIterable[bytes]:
        for line in STORY.splitlines():
            yield line.encode("utf-8")

    @app.get("/story/stream-no-async-no-annotation-bytes", response_class=StreamingResponse)
    def stream_story_no_async_no_annotation_bytes():
        for line in STORY.splitlines():
            yield line.encode("utf-8")

    class PNGStreamingResponse(StreamingResponse):
        media_type = "image/png"

    @app.get("/image/stream", response_class=PNGStreamingResponse)
    async def stream_image() -> AsyncIterable[bytes]:
        for i in range(0, len(PNG), 16):
            yield PNG[i:i + 16]

    @app.get("/image/stream-no-async", response_class=PNGStreamingResponse)
    def stream_image_no_async() -> Iterable[bytes]:
        for i in range(0, len(PNG), 16):
            yield PNG[i:i + 16]

    return app


REQUESTS = [
    ("GET", "/items/stream", None),
    ("GET", "/items/stream-no-async", None),
    ("GET", "/items/stream-no-annotation", None),
    ("GET", "/items/stream-no-async-no-annotation", None),
    ("GET", "/items/with-headers", None),
    ("GET", "/mixed", None),
    ("GET", "/typed-dicts?limit=2", None),
    ("GET", "/typed-dicts?limit=x", None),
    ("GET", "/excluded", None),
    ("POST", "/echo/2", {"name": "n", "description": "d"}),
    ("POST", "/echo/2", {"name": "n"}),
    ("GET", "/story/stream", None),
    ("GET", "/story/stream-no-async", None),
    ("GET", "/story/stream-bytes", None),
    ("GET", "/story/stream-no-async-no-annotation-bytes", None),
    ("GET", "/image/stream", None),
    ("GET", "/image/stream-no-async", None),
]


def observed(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in IGNORED_HEADERS}
    return response.status_code, headers, response.content


@pytest.fixture(scope="module")
def expected() -> dict[tuple[str, str, str], tuple[int, dict[str, str], bytes]]:
    with FastAPIClient(make_app(fastapi)) as client:
        return {(m, p, repr(b)): observed(client.request(m, p, json=b)) for m, p, b in REQUESTS}


@pytest.mark.parametrize("method,path,body", REQUESTS)
def test_real_server_matches_fastapi(serve, expected, method, path, body):
    srv = serve(make_app(fastrapi))
    response = httpx.request(method, srv.url + path, json=body, timeout=5)
    assert observed(response) == expected[(method, path, repr(body))]
    if method != "HEAD" and response.status_code < 300:
        assert response.headers["transfer-encoding"] == "chunked"  # streamed, not buffered


@pytest.mark.parametrize("method,path,body", REQUESTS)
def test_testclient_matches_fastapi(expected, method, path, body):
    with OurClient(make_app(fastrapi)) as client:
        assert observed(client.request(method, path, json=body)) == expected[(method, path, repr(body))]


def test_head_sends_the_head_only(serve):
    """HEAD (answered for GET routes, as by Starlette's routes) starts no stream: the head, no body."""
    app = fastrapi.FastAPI()
    started: list[bool] = []

    @app.get("/items")
    async def items() -> AsyncIterable[Item]:
        started.append(True)
        yield ITEMS[0]

    srv = serve(app)
    response = httpx.head(srv.url + "/items", timeout=5)
    assert response.status_code == 200 and response.headers["content-type"] == "application/jsonl"
    assert response.content == b"" and started == []
    assert httpx.get(srv.url + "/items", timeout=5).text == ITEMS[0].model_dump_json() + "\n"


def test_documented_body():
    """The body the "Stream JSON Lines" page shows: one compact JSON object per line."""
    with OurClient(make_app(fastrapi)) as client:
        response = client.get("/items/stream")
    assert response.headers["content-type"] == "application/jsonl"
    assert response.text.splitlines() == [
        '{"name":"Plumbus","description":"A multi-purpose household device."}',
        '{"name":"Portal Gun","description":"A portal opening device."}',
        '{"name":"Meeseeks Box","description":null}',
    ]


def test_openapi_matches_fastapi():
    expected = make_app(fastapi).openapi()
    actual = make_app(fastrapi).openapi()
    assert differences(expected, actual) == []
    content = actual["paths"]["/items/stream"]["get"]["responses"]["200"]["content"]
    assert content == {"application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Item"}}}
    assert actual["paths"]["/mixed"]["get"]["responses"]["200"]["content"] == {"application/jsonl": {"itemSchema": {}}}


def test_invalid_item_is_a_server_error_after_the_head(serve, caplog):
    """An item that does not match the item type: the head is out, so the body is cut short (FastAPI's
    TestClient raises the ResponseValidationError, a real client sees an incomplete body)."""
    with FastAPIClient(make_app(fastapi)) as client, pytest.raises(fastapi.exceptions.ResponseValidationError):
        client.get("/invalid")
    with OurClient(make_app(fastrapi)) as client, pytest.raises(fastrapi.exceptions.ResponseValidationError):
        client.get("/invalid")
    srv = serve(make_app(fastrapi))
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(srv.url + "/invalid")
    assert httpx.get(srv.url + "/items/stream", timeout=5).status_code == 200  # the server goes on


def test_items_are_sent_as_they_are_produced(serve):
    """Each item is on the wire before the generator produces the next one."""
    app = fastrapi.FastAPI()
    release = asyncio.Event()
    loop_holder: dict[str, Any] = {}

    @app.get("/gated")
    async def gated():
        loop_holder["loop"] = asyncio.get_running_loop()
        yield {"first": True}
        await release.wait()
        yield {"second": True}

    srv = serve(app)
    with httpx.Client(timeout=5) as client, client.stream("GET", srv.url + "/gated") as response:
        lines = response.iter_lines()
        assert next(lines) == '{"first": true}'
        loop_holder["loop"].call_soon_threadsafe(release.set)
        assert next(lines) == '{"second": true}'


def _leave_mid_stream(port: int, path: str) -> bytes:
    """A raw client that reads the head and the first chunks, then disconnects."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        data = b""
        while data.count(b"\n{") < 2:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        sock.close()


def _wait_for(flag: threading.Event, timeout: float = 5.0) -> bool:
    return flag.wait(timeout)


def test_client_disconnect_stops_async_generator(serve):
    app = fastrapi.FastAPI()
    stopped = threading.Event()
    produced: list[int] = []

    @app.get("/forever")
    async def forever():
        try:
            i = 0
            while True:
                produced.append(i)
                yield {"i": i}
                i += 1
                await asyncio.sleep(0.005)
        finally:
            stopped.set()

    srv = serve(app)
    head = _leave_mid_stream(srv.port, "/forever")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"application/jsonl" in head
    assert _wait_for(stopped), "the generator's finally did not run after the client left"
    count = len(produced)
    time.sleep(0.1)
    assert len(produced) == count  # nothing more is produced


def test_client_disconnect_stops_sync_generator(serve):
    app = fastrapi.FastAPI()
    stopped = threading.Event()

    @app.get("/forever")
    def forever():
        try:
            i = 0
            while True:
                yield {"i": i}
                i += 1
                time.sleep(0.005)
        finally:
            stopped.set()

    srv = serve(app)
    _leave_mid_stream(srv.port, "/forever")
    assert _wait_for(stopped), "the sync generator was not closed after the client left"


def test_client_disconnect_stops_generator_that_never_waits(serve):
    """A generator with no await in its loop still gets stopped: the writer yields to the loop."""
    app = fastrapi.FastAPI()
    stopped = threading.Event()

    @app.get("/busy")
    async def busy():
        try:
            while True:
                yield {"pad": "x" * 200}
        finally:
            stopped.set()

    @app.get("/ping")
    async def ping():
        return {"pong": True}

    srv = serve(app)
    _leave_mid_stream(srv.port, "/busy")
    assert _wait_for(stopped)
    assert httpx.get(srv.url + "/ping", timeout=5).json() == {"pong": True}


def test_yield_dependency_teardown_after_stream_and_on_disconnect(serve):
    app = fastrapi.FastAPI()
    events: list[str] = []
    done = threading.Event()

    async def resource():
        events.append("open")
        try:
            yield "db"
        finally:
            events.append("close")
            done.set()

    @app.get("/finite")
    async def finite(db: str = fastrapi.Depends(resource)):
        for i in range(3):
            yield {"db": db, "i": i}
            events.append(f"item {i}")

    @app.get("/forever")
    async def forever(db: str = fastrapi.Depends(resource)):
        try:
            while True:
                yield {"db": db}
                await asyncio.sleep(0.005)
        finally:
            events.append("generator closed")

    srv = serve(app)
    response = httpx.get(srv.url + "/finite", timeout=5)
    assert response.text.splitlines() == ['{"db": "db", "i": 0}', '{"db": "db", "i": 1}', '{"db": "db", "i": 2}']
    assert done.wait(5)
    assert events == ["open", "item 0", "item 1", "item 2", "close"]  # torn down once the stream is over

    events.clear()
    done.clear()
    _leave_mid_stream(srv.port, "/forever")
    assert done.wait(5)
    assert events == ["open", "generator closed", "close"]


def test_pipelined_request_after_a_stream(serve):
    """A keep-alive connection serves the next request once the stream's last chunk is written."""
    srv = serve(make_app(fastrapi))
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        sock.sendall(b"GET /typed-dicts?limit=2 HTTP/1.1\r\nHost: t\r\n\r\nGET /items/stream HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"0\r\n\r\n") < 2 and time.monotonic() < deadline:
            data += sock.recv(65536)
    finally:
        sock.close()
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert b'{"i":0}\n' in data and b'"Meeseeks Box"' in data


def _read_chunks(port: int, path: str) -> list[bytes]:
    """The chunks of a chunked response, as framed on the wire."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    finally:
        sock.close()
    body = data.split(b"\r\n\r\n", 1)[1]
    chunks = []
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return chunks
        chunks.append(body[:size])
        assert body[size:size + 2] == b"\r\n"
        body = body[size + 2:]


def test_items_ready_at_once_share_writes(serve):
    """1,000 items produced without waiting are written as a few chunks, not one chunk each; items of a
    generator that waits between them each go out as produced."""
    app = fastrapi.FastAPI()

    @app.get("/ready")
    async def ready() -> AsyncIterable[dict[str, int]]:
        for i in range(1000):
            yield {"i": i}

    @app.get("/paced")
    async def paced() -> AsyncIterable[dict[str, int]]:
        for i in range(3):
            await asyncio.sleep(0.02)
            yield {"i": i}

    srv = serve(app)
    chunks = _read_chunks(srv.port, "/ready")
    assert b"".join(chunks) == b"".join(b'{"i":%d}\n' % i for i in range(1000))
    assert len(chunks) < 200
    assert _read_chunks(srv.port, "/paced") == [b'{"i":0}\n', b'{"i":1}\n', b'{"i":2}\n']


def test_sync_generator_where_def_handlers_run(serve):
    """A ``def`` generator is stepped in the thread pool by default (FastAPI's), and on the event loop with
    ``sync_to_threadpool=False`` (where that app's plain ``def`` handlers run too)."""
    threads: dict[str, set[int]] = {"pool": set(), "loop": set()}

    def make(app, key):
        @app.get("/gen")
        def gen():
            for i in range(3):
                threads[key].add(threading.get_ident())
                yield {"i": i}

        @app.get("/where")
        async def where():
            return {"loop": threading.get_ident()}

        return app

    pool_srv = serve(make(fastrapi.FastAPI(), "pool"))
    loop_srv = serve(make(fastrapi.FastrAPI(sync_to_threadpool=False), "loop"))
    for srv in (pool_srv, loop_srv):
        assert httpx.get(srv.url + "/gen", timeout=5).text == '{"i": 0}\n{"i": 1}\n{"i": 2}\n'
    assert httpx.get(pool_srv.url + "/where", timeout=5).json()["loop"] not in threads["pool"]
    assert threads["loop"] == {httpx.get(loop_srv.url + "/where", timeout=5).json()["loop"]}
