"""Server-Sent Events (FastAPI's "Server-Sent Events" page): ``response_class=EventSourceResponse`` on a path
operation that ``yield``s, ``ServerSentEvent`` items, keep-alive pings, and ``fastrapi.sse`` itself.

The documentation's apps run on FastAPI (its TestClient) and on FastrAPI (a real server, our TestClient);
status, headers, body and ``app.openapi()`` are compared. A raw socket leaving mid-stream checks that the
generator is stopped.
"""
import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterable, Iterable
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

import fastrapi
import fastrapi.sse
from fastrapi.sse import EventSourceResponse, ServerSentEvent, format_sse_event
from fastrapi.testclient import TestClient as OurClient

fastapi = pytest.importorskip("fastapi")
import fastapi.routing  # noqa: E402
import fastapi.sse  # noqa: E402
from fastapi.testclient import TestClient as FastAPIClient  # noqa: E402

from test_openapi import differences  # noqa: E402

IGNORED_HEADERS = {"date", "server", "transfer-encoding", "content-length"}


class Item(BaseModel):
    name: str
    price: float


class Prompt(BaseModel):
    text: str


ITEMS = [Item(name="Plumbus", price=32.99), Item(name="Portal Gun", price=999.99), Item(name="Meeseeks Box", price=49.99)]


def make_app(fw: Any) -> Any:
    """The apps of FastAPI's "Server-Sent Events" page (and a few more cases), built with ``fw``."""
    sse = fw.sse
    app = fw.FastAPI(title="FastAPI")

    @app.get("/items/stream", response_class=sse.EventSourceResponse)
    async def sse_items() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item

    @app.get("/items/stream-no-async", response_class=sse.EventSourceResponse)
    def sse_items_no_async() -> Iterable[Item]:
        for item in ITEMS:
            yield item

    @app.get("/items/stream-no-annotation", response_class=sse.EventSourceResponse)
    async def sse_items_no_annotation():
        for item in ITEMS:
            yield item

    @app.get("/items/stream-no-async-no-annotation", response_class=sse.EventSourceResponse)
    def sse_items_no_async_no_annotation():
        for item in ITEMS:
            yield item

    @app.get("/items/events", response_class=sse.EventSourceResponse)
    async def stream_items() -> AsyncIterable[sse.ServerSentEvent]:
        yield sse.ServerSentEvent(comment="stream of item updates")
        for i, item in enumerate(ITEMS):
            yield sse.ServerSentEvent(data=item, event="item_update", id=str(i + 1), retry=5000)

    @app.get("/logs/stream", response_class=sse.EventSourceResponse)
    async def stream_logs() -> AsyncIterable[sse.ServerSentEvent]:
        for line in ["2025-01-01 INFO  Application started", "2025-01-01 DEBUG Connected to database"]:
            yield sse.ServerSentEvent(raw_data=line)

    @app.get("/items/resume", response_class=sse.EventSourceResponse)
    async def resume(last_event_id: Annotated[int | None, fw.Header()] = None) -> AsyncIterable[sse.ServerSentEvent]:
        start = last_event_id + 1 if last_event_id is not None else 0
        for i, item in enumerate(ITEMS):
            if i >= start:
                yield sse.ServerSentEvent(data=item, id=str(i))

    @app.post("/chat/stream", response_class=sse.EventSourceResponse)
    async def stream_chat(prompt: Prompt) -> AsyncIterable[sse.ServerSentEvent]:
        for word in prompt.text.split():
            yield sse.ServerSentEvent(data=word, event="token")
        yield sse.ServerSentEvent(raw_data="[DONE]", event="done")

    @app.get("/shapes", response_class=sse.EventSourceResponse)
    async def shapes() -> AsyncIterable[sse.ServerSentEvent]:
        yield sse.ServerSentEvent(data={"nested": [1, 2.5, None], "text": "é"}, comment="two\nlines")
        yield sse.ServerSentEvent(raw_data="multi\nline\r\ndata")
        yield sse.ServerSentEvent(event="empty")
        yield sse.ServerSentEvent(data="quoted string")
        yield sse.ServerSentEvent(data=ITEMS[0], id="x")

    class RetryEventSourceResponse(sse.EventSourceResponse):
        """A subclass is an event stream too."""

    @app.get("/plain-dicts", response_class=RetryEventSourceResponse)
    async def plain_dicts():
        yield {"a": 1, "b": float("inf")}
        yield [1, 2]

    @app.get("/typed-dicts", response_class=sse.EventSourceResponse, status_code=202)
    async def typed_dicts() -> AsyncIterable[dict[str, int]]:
        yield {"a": 1}

    return app


REQUESTS = [
    ("GET", "/items/stream", None, {}),
    ("GET", "/items/stream-no-async", None, {}),
    ("GET", "/items/stream-no-annotation", None, {}),
    ("GET", "/items/stream-no-async-no-annotation", None, {}),
    ("GET", "/items/events", None, {}),
    ("GET", "/logs/stream", None, {}),
    ("GET", "/items/resume", None, {}),
    ("GET", "/items/resume", None, {"last-event-id": "0"}),
    ("GET", "/items/resume", None, {"last-event-id": "nope"}),
    ("POST", "/chat/stream", {"text": "hello there world"}, {}),
    ("POST", "/chat/stream", {}, {}),
    ("GET", "/shapes", None, {}),
    ("GET", "/plain-dicts", None, {}),
    ("GET", "/typed-dicts", None, {}),
]


def observed(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in IGNORED_HEADERS}
    return response.status_code, headers, response.content


@pytest.fixture(scope="module")
def expected():
    with FastAPIClient(make_app(fastapi)) as client:
        return {(m, p, repr(b), repr(h)): observed(client.request(m, p, json=b, headers=h)) for m, p, b, h in REQUESTS}


@pytest.mark.parametrize("method,path,body,headers", REQUESTS)
def test_real_server_matches_fastapi(serve, expected, method, path, body, headers):
    srv = serve(make_app(fastrapi))
    response = httpx.request(method, srv.url + path, json=body, headers=headers, timeout=5)
    assert observed(response) == expected[(method, path, repr(body), repr(headers))]


@pytest.mark.parametrize("method,path,body,headers", REQUESTS)
def test_testclient_matches_fastapi(expected, method, path, body, headers):
    with OurClient(make_app(fastrapi)) as client:
        response = client.request(method, path, json=body, headers=headers)
    assert observed(response) == expected[(method, path, repr(body), repr(headers))]


def test_documented_wire_format():
    with OurClient(make_app(fastrapi)) as client:
        response = client.get("/items/events")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.text.startswith(
        ": stream of item updates\n\n"
        'event: item_update\ndata: {"name":"Plumbus","price":32.99}\nid: 1\nretry: 5000\n\n'
    )


def test_openapi_matches_fastapi():
    expected = make_app(fastapi).openapi()
    actual = make_app(fastrapi).openapi()
    assert differences(expected, actual) == []
    item_schema = actual["paths"]["/items/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]["itemSchema"]
    assert item_schema["required"] == ["data"]
    assert item_schema["properties"]["data"] == {
        "type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": "#/components/schemas/Item"}}


def test_format_sse_event_matches_fastapi():
    cases = [
        {},
        {"data_str": "x"},
        {"data_str": "a\nb\r\nc\rd", "event": "e", "id": "7", "retry": 0, "comment": "c1\nc2"},
        {"comment": ""},
        {"data_str": ""},
    ]
    for kwargs in cases:
        assert format_sse_event(**kwargs) == fastapi.sse.format_sse_event(**kwargs)
    assert fastrapi.sse.KEEPALIVE_COMMENT == fastapi.sse.KEEPALIVE_COMMENT == b": ping\n\n"
    assert fastrapi.sse._PING_INTERVAL == fastapi.sse._PING_INTERVAL == 15.0
    assert fastrapi.sse._SSE_EVENT_SCHEMA == fastapi.sse._SSE_EVENT_SCHEMA


@pytest.mark.parametrize("kwargs", [
    {"event": "two\nlines"}, {"id": "a\rb"}, {"id": "nul\0"}, {"retry": -1}, {"data": 1, "raw_data": "x"},
])
def test_server_sent_event_validation_matches_fastapi(kwargs):
    with pytest.raises(ValidationError) as theirs:
        fastapi.sse.ServerSentEvent(**kwargs)
    with pytest.raises(ValidationError) as ours:
        ServerSentEvent(**kwargs)
    assert [(e["type"], e["loc"], e["msg"]) for e in ours.value.errors()] == \
        [(e["type"], e["loc"], e["msg"]) for e in theirs.value.errors()]


def test_public_names_of_fastapi_sse():
    for name in ("EventSourceResponse", "ServerSentEvent", "format_sse_event", "KEEPALIVE_COMMENT"):
        assert hasattr(fastrapi.sse, name)
    assert issubclass(EventSourceResponse, fastrapi.responses.StreamingResponse)
    assert EventSourceResponse.media_type == "text/event-stream"
    assert set(ServerSentEvent.model_fields) == set(fastapi.sse.ServerSentEvent.model_fields)


def _slow_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/slow", response_class=fw.sse.EventSourceResponse)
    async def slow():
        yield {"n": 1}
        await asyncio.sleep(0.35)
        yield {"n": 2}

    @app.get("/slow-sync", response_class=fw.sse.EventSourceResponse)
    def slow_sync():
        yield {"n": 1}
        time.sleep(0.35)
        yield {"n": 2}

    return app


@pytest.mark.parametrize("path", ["/slow", "/slow-sync"])
def test_keepalive_pings_while_idle(serve, monkeypatch, path):
    """A generator silent for longer than the ping interval: ``: ping`` comments in between, as FastAPI."""
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.1)
    monkeypatch.setattr(fastrapi.sse, "_PING_INTERVAL", 0.1)
    with FastAPIClient(_slow_app(fastapi)) as client:
        theirs = client.get(path).text
    srv = serve(_slow_app(fastrapi))
    ours = httpx.get(srv.url + path, timeout=5).text
    for text in (theirs, ours):
        assert text.startswith('data: {"n": 1}\n\n: ping\n\n') and text.endswith(': ping\n\ndata: {"n": 2}\n\n')
        assert text.count(": ping\n\n") in (2, 3, 4)
    with OurClient(_slow_app(fastrapi)) as client:
        assert client.get(path).text.count(": ping\n\n") in (2, 3, 4)


def test_no_ping_while_events_flow(serve, monkeypatch):
    monkeypatch.setattr(fastrapi.sse, "_PING_INTERVAL", 0.2)
    app = fastrapi.FastAPI()

    @app.get("/steady", response_class=EventSourceResponse)
    async def steady():
        for i in range(8):
            yield {"i": i}
            await asyncio.sleep(0.05)

    srv = serve(app)
    text = httpx.get(srv.url + "/steady", timeout=5).text
    assert ": ping" not in text and text.count("data: ") == 8


def _leave_after_events(port: int, path: str, events: int) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n".encode())
        data = b""
        while data.count(b"data: ") < events:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        sock.close()


@pytest.mark.parametrize("sync", [False, True])
def test_client_disconnect_stops_the_event_generator(serve, sync):
    app = fastrapi.FastAPI()
    stopped = threading.Event()

    if sync:
        @app.get("/ticks", response_class=EventSourceResponse)
        def ticks() -> Iterable[ServerSentEvent]:
            try:
                i = 0
                while True:
                    yield ServerSentEvent(data={"count": i}, event="tick", id=str(i))
                    i += 1
                    time.sleep(0.005)
            finally:
                stopped.set()
    else:
        @app.get("/ticks", response_class=EventSourceResponse)
        async def ticks() -> AsyncIterable[ServerSentEvent]:
            try:
                i = 0
                while True:
                    yield ServerSentEvent(data={"count": i}, event="tick", id=str(i))
                    i += 1
                    await asyncio.sleep(0.005)
            finally:
                stopped.set()

    srv = serve(app)
    data = _leave_after_events(srv.port, "/ticks", 2)
    assert b"text/event-stream" in data and b'event: tick\ndata: {"count": 0}\nid: 0\n\n' in data
    assert stopped.wait(5), "the generator's finally did not run after the client left"


def test_disconnect_while_waiting_between_pings(serve, monkeypatch):
    """The client leaves while the generator is idle (pings being sent): the generator is cancelled."""
    monkeypatch.setattr(fastrapi.sse, "_PING_INTERVAL", 0.05)
    app = fastrapi.FastAPI()
    stopped = threading.Event()

    @app.get("/idle", response_class=EventSourceResponse)
    async def idle():
        try:
            yield {"hello": 1}
            await asyncio.sleep(30)
            yield {"never": 1}
        finally:
            stopped.set()

    srv = serve(app)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(b"GET /idle HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while data.count(b": ping") < 2:
        data += sock.recv(4096)
    sock.close()
    assert stopped.wait(5)


def test_event_source_response_returned_directly(serve):
    """``EventSourceResponse`` used as a plain response: a StreamingResponse of type text/event-stream."""
    app = fastrapi.FastAPI()

    @app.get("/direct")
    async def direct():
        async def body():
            yield "data: 1\n\n"
            yield b"data: 2\n\n"

        return EventSourceResponse(body())

    srv = serve(app)
    response = httpx.get(srv.url + "/direct", timeout=5)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.text == "data: 1\n\ndata: 2\n\n"


CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html><title>events</title><body><script>
window.got = [];
const source = new EventSource("/ticks");
source.addEventListener("tick", (event) => {
  window.got.push([event.lastEventId, JSON.parse(event.data)]);
  if (window.got.length === 5) { source.close(); window.done = true; }
});
</script></body>"""


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not found")
def test_browser_event_source_reconnects_with_last_event_id(serve, tmp_path):
    """Headless Chromium loads a page served by ``app.frontend`` whose EventSource reads ``tick`` events;
    the stream ends after each pair, the browser reconnects (``retry``) sending ``Last-Event-ID``, and the
    path operation resumes after it."""
    from playwright.sync_api import sync_playwright

    (tmp_path / "index.html").write_text(PAGE)
    app = fastrapi.FastAPI()
    seen_ids: list[str | None] = []

    @app.get("/ticks", response_class=EventSourceResponse)
    async def ticks(last_event_id: Annotated[int | None, fastrapi.Header()] = None) -> AsyncIterable[ServerSentEvent]:
        seen_ids.append(None if last_event_id is None else str(last_event_id))
        start = 0 if last_event_id is None else last_event_id + 1
        for i in range(start, start + 2):
            yield ServerSentEvent(data={"n": i}, event="tick", id=str(i), retry=50)

    app.frontend("/", directory=str(tmp_path))
    srv = serve(app)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(srv.url + "/app/route")  # a client-side route: the SPA fallback serves index.html
            page.wait_for_function("window.done === true", timeout=15_000)
            got = page.evaluate("window.got")
        finally:
            browser.close()
    assert got == [[str(i), {"n": i}] for i in range(5)]
    assert seen_ids[:3] == [None, "1", "3"]
