"""WebSocket API tests: every call of the seed documentation, and the contract around it.

Each test builds its own ``FastrAPI`` app, serves it on a free 127.0.0.1 port with the ``serve``
fixture (tests/conftest.py) and talks to it with a real client: the ``websockets`` library (sync
client, or the asyncio client for many concurrent connections), or a raw socket where the test
needs to drop TCP without a close frame.

Handlers run in the server's thread; what they observe (exceptions, states, received values) is
handed to the test through a ``Box`` (a thread-safe queue read with a timeout).
"""
import asyncio
import contextlib
import json
import os
import queue
import secrets
import threading
import time

import orjson
import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

import fastrapi
import fastrapi.websocket
from fastrapi import FastrAPI, WebSocket, WebSocketDisconnect, WebSocketException, status
from fastrapi.websocket import WebSocketState

pytestmark = pytest.mark.timeout(30)

from wsclient import TIMEOUT, RawClient, expect_close, recv, ws_connect  # noqa: E402


# --------------------------------------------------------------------------- helpers




def handshake_status(srv, path, **kwargs):
    """HTTP status the server answers a WebSocket handshake with (101 when accepted)."""
    try:
        with ws_connect(srv, path, **kwargs) as ws:
            return ws.response.status_code
    except InvalidStatus as exc:
        return exc.response.status_code


class Box:
    """Values a handler (server thread) hands to the test (test thread)."""

    def __init__(self):
        self._q = queue.Queue()

    def put(self, value):
        self._q.put(value)

    def get(self, what="a value from the handler"):
        try:
            return self._q.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"timed out after {TIMEOUT}s waiting for {what}")

    def empty(self):
        return self._q.empty()


async def outcome(awaitable):
    """('ok', result) or ('exc', exception) — lets a handler report what a call did."""
    try:
        return ("ok", await awaitable)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return ("exc", exc)


async def wait_gone(ws):
    """Receive (and drop) text messages until the client has left."""
    try:
        while True:
            await ws.receive_text()
    except ConnectionError:
        pass


def grab(fn):
    """fn() or a readable error string, so one broken property does not hide the others."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return f"ERROR {type(exc).__name__}: {exc}"


def leave(srv, path, how):
    """Connect to ``path``, wait for the handler's "ready", then leave the way ``how`` says.

    how: "close" (close frame 1000), "fin" or "rst" (TCP dropped without a close frame).
    """
    if how == "close":
        with ws_connect(srv, path) as ws:
            assert recv(ws) == "ready"
        return
    raw = RawClient(srv, path)
    opcode, payload = raw.recv_frame()
    assert (opcode, payload) == (0x1, b"ready")
    raw.drop(how)


LEAVE_MODES = ["close", "fin", "rst"]


def echo_app():
    app = FastrAPI()

    @app.websocket("/echo")
    async def echo(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except ConnectionError:
            pass

    @app.websocket("/echo-bytes")
    async def echo_bytes(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_bytes(await ws.receive_bytes())
        except ConnectionError:
            pass

    return app


# --------------------------------------------------------------------------- imports


def test_public_names_are_the_same_objects():
    assert fastrapi.WebSocket is fastrapi.websocket.WebSocket
    assert fastrapi.WebSocketDisconnect is fastrapi.websocket.WebSocketDisconnect
    assert issubclass(WebSocketDisconnect, ConnectionError)
    assert int(WebSocketState.CONNECTING) == 0
    assert int(WebSocketState.CONNECTED) == 1
    assert int(WebSocketState.DISCONNECTED) == 3
    assert WebSocketState.CONNECTED == 1


# --------------------------------------------------------------------------- accept / send


def test_accept_then_return_closes_normally(serve):
    app = FastrAPI()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert ws.response.status_code == 101
        assert expect_close(ws) == (1000, "")


def test_send_text(serve):
    app = FastrAPI()
    texts = ["Hello, client!", "héllo wörld ✓ 🎉", "", "x" * 70000]

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        for t in texts:
            await ws.send_text(t)

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        for t in texts:
            got = recv(ws)
            assert type(got) is str
            assert got == t
        assert expect_close(ws) == (1000, "")


def test_send_bytes(serve):
    app = FastrAPI()
    blobs = [b"\x00\x01\x02\x03", b"", bytes(range(256)), os.urandom(70000)]

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        for b in blobs:
            await ws.send_bytes(b)
        await ws.send_bytes(bytearray(b"from bytearray"))

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        for b in blobs:
            got = recv(ws)
            assert type(got) is bytes
            assert got == b
        assert recv(ws) == b"from bytearray"
        assert expect_close(ws) == (1000, "")


def test_send_json_is_a_compact_text_frame(serve):
    app = FastrAPI()
    objects = [
        {"type": "notification", "message": "Hello!"},
        [1, 2.5, None, True, False, "é✓"],
        {"nested": {"list": [1, {"deep": None}], "empty": {}}},
        "just a string",
        42,
        None,
    ]

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        for obj in objects:
            await ws.send_json(obj)

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        first = recv(ws)
        assert type(first) is str  # TEXT frame, not binary
        assert first == '{"type":"notification","message":"Hello!"}'
        rest = [recv(ws) for _ in objects[1:]]
        for obj, got in zip(objects[1:], rest):
            assert type(got) is str
            assert got == orjson.dumps(obj).decode()
            assert json.loads(got) == obj
        assert rest[0] == '[1,2.5,null,true,false,"é✓"]'  # UTF-8, not \u escapes
        assert expect_close(ws) == (1000, "")


# --------------------------------------------------------------------------- receive


def test_receive_text_bytes_json(serve):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        t = await ws.receive_text()
        b = await ws.receive_bytes()
        j = await ws.receive_json()
        arr = await ws.receive_json()
        empty_t = await ws.receive_text()
        empty_b = await ws.receive_bytes()
        box.put((t, b, j, arr, empty_t, empty_b))
        await ws.send_text("done")

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        ws.send("hello ✓")
        ws.send(b"\x00\xff\x10")
        ws.send('{"message": "hi", "n": [1, 2], "f": 1.5, "none": null}')
        ws.send('[1, "x", null]')
        ws.send("")
        ws.send(b"")
        assert recv(ws) == "done"
    t, b, j, arr, empty_t, empty_b = box.get()
    assert type(t) is str and t == "hello ✓"
    assert type(b) is bytes and b == b"\x00\xff\x10"
    assert j == {"message": "hi", "n": [1, 2], "f": 1.5, "none": None}
    assert arr == [1, "x", None]
    assert empty_t == "" and type(empty_t) is str
    assert empty_b == b"" and type(empty_b) is bytes


def test_receive_fragmented_messages(serve):
    """Messages the client sends in several frames arrive whole."""
    srv = serve(echo_app())
    with ws_connect(srv, "/echo") as ws:
        ws.send(iter(["hel", "lo ", "wörld"]))
        assert recv(ws) == "hello wörld"
    with ws_connect(srv, "/echo-bytes") as ws:
        ws.send(iter([b"\x00\x01", b"", b"\x02\x03"]))
        assert recv(ws) == b"\x00\x01\x02\x03"


@pytest.mark.parametrize("method", ["receive_text", "receive_bytes", "receive_json"])
@pytest.mark.parametrize("code,reason", [(1000, ""), (4001, "bye"), (1001, "going away ✓")])
def test_receive_raises_disconnect_with_client_code_and_reason(serve, method, code, reason):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        box.put(await outcome(getattr(ws, method)()))
        box.put(await outcome(getattr(ws, method)()))  # still closed

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert recv(ws) == "ready"
        ws.close(code, reason)
    kind, exc = box.get()
    assert kind == "exc", f"{method} returned {exc!r} after the client closed"
    assert isinstance(exc, WebSocketDisconnect), repr(exc)
    assert isinstance(exc, ConnectionError)
    assert exc.code == code
    assert exc.reason == reason
    kind2, exc2 = box.get()
    assert kind2 == "exc" and isinstance(exc2, ConnectionError), repr(exc2)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_receive_raises_connection_error_when_tcp_drops(serve, how):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        box.put(await outcome(ws.receive_text()))

    srv = serve(app)
    leave(srv, "/ws", how)
    kind, exc = box.get()
    assert kind == "exc" and isinstance(exc, WebSocketDisconnect), repr(exc)
    assert isinstance(exc, ConnectionError)


@pytest.mark.parametrize(
    "method,wrong,right,expected",
    [
        ("receive_text", b"\x01\x02", "after", "after"),
        ("receive_bytes", "text!", b"after", b"after"),
        ("receive_json", b'{"a": 1}', '{"after": true}', {"after": True}),
    ],
)
def test_receive_wrong_kind_raises_type_error_and_consumes_the_message(
    serve, method, wrong, right, expected
):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        first = await outcome(getattr(ws, method)())
        second = await outcome(getattr(ws, method)())
        box.put((first, second))
        await ws.send_text("still alive")  # the connection is still usable
        box.put(await outcome(ws.receive_text()))

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        ws.send(wrong)
        ws.send(right)
        assert recv(ws) == "still alive"
        ws.send("last")
        (k1, v1), (k2, v2) = box.get()
        assert k1 == "exc" and type(v1) is TypeError, f"{method} on the wrong kind gave {v1!r}"
        assert (k2, v2) == ("ok", expected), "the wrong-kind message must be consumed"
        assert box.get() == ("ok", "last")


def test_receive_json_invalid_raises_value_error(serve):
    app = FastrAPI()
    box = Box()
    invalid = ["not json{", "", "{'a': 1}", '{"a": 1,}', "[1, 2"]

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        for _ in invalid:
            box.put(await outcome(ws.receive_json()))
        box.put(await outcome(ws.receive_json()))
        await ws.send_text("still alive")

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        for text in invalid:
            ws.send(text)
        ws.send('{"a": 1}')
        assert recv(ws) == "still alive"
    for text in invalid:
        kind, exc = box.get()
        assert kind == "exc" and isinstance(exc, ValueError), f"{text!r} gave {exc!r}"
        assert not isinstance(exc, TypeError)
    assert box.get() == ("ok", {"a": 1})


# --------------------------------------------------------------------------- close


@pytest.mark.parametrize(
    "do_close,expected",
    [
        (lambda ws: ws.close(), (1000, "")),
        (lambda ws: ws.close(1000), (1000, "")),
        (lambda ws: ws.close(4000, "custom reason"), (4000, "custom reason")),
        (lambda ws: ws.close(code=4001, reason="keyword ✓"), (4001, "keyword ✓")),
        (lambda ws: ws.close(status.WS_1008_POLICY_VIOLATION), (1008, "")),
        (lambda ws: ws.close(1001, "going"), (1001, "going")),
    ],
    ids=["default", "1000", "code+reason", "keywords", "1008", "1001"],
)
def test_close_is_seen_by_the_client(serve, do_close, expected):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("before close")
        box.put(await outcome(do_close(ws)))

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert recv(ws) == "before close"
        assert expect_close(ws) == expected
    assert box.get() == ("ok", None)


def test_close_twice_is_a_noop(serve):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.close(4000, "first")
        box.put(await outcome(ws.close(4001, "second")))
        box.put(await outcome(ws.close()))

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert expect_close(ws) == (4000, "first")
    assert box.get() == ("ok", None)
    assert box.get() == ("ok", None)


@pytest.mark.parametrize("how", LEAVE_MODES)
def test_close_after_the_client_left_is_a_noop(serve, how):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        await wait_gone(ws)
        box.put(await outcome(ws.close()))
        box.put(await outcome(ws.close(1000)))
        box.put(await outcome(ws.close(4000, "late")))

    srv = serve(app)
    leave(srv, "/ws", how)
    for _ in range(3):
        assert box.get() == ("ok", None)


# --------------------------------------------------------------------------- states


def test_states_through_the_lifecycle(serve):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        box.put(("before accept", ws.client_state, ws.application_state))
        await ws.accept()
        box.put(("after accept", ws.client_state, ws.application_state))
        await ws.close()
        box.put(("after close", ws.application_state))

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert expect_close(ws) == (1000, "")
    label, client, application = box.get()
    assert client == 0 and client == WebSocketState.CONNECTING, (label, client)
    assert application == 0 and application == WebSocketState.CONNECTING, (label, application)
    label, client, application = box.get()
    assert client == 1 and client == WebSocketState.CONNECTED, (label, client)
    assert application == 1 and application == WebSocketState.CONNECTED, (label, application)
    assert isinstance(client, int) and isinstance(application, int)
    label, application = box.get()
    assert application == 3 and application == WebSocketState.DISCONNECTED, (label, application)


@pytest.mark.parametrize("how", LEAVE_MODES)
def test_client_state_turns_3_while_the_handler_sleeps(serve, how):
    """No receive is pending: the server still notices the client left."""
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        await asyncio.sleep(0.5)
        box.put(ws.client_state)

    srv = serve(app)
    leave(srv, "/ws", how)
    state = box.get("client_state after the client left")
    assert state == 3 and state == WebSocketState.DISCONNECTED


@pytest.mark.parametrize("how", LEAVE_MODES)
def test_client_state_loop_without_receive_terminates(serve, how):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        deadline = time.monotonic() + TIMEOUT
        while ws.client_state == 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        box.put(ws.client_state)

    srv = serve(app)
    t0 = time.monotonic()
    leave(srv, "/ws", how)
    assert box.get("the end of the client_state loop") == 3
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("how", LEAVE_MODES)
def test_seed_loop_on_client_state_terminates_when_the_client_leaves(serve, how):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        try:
            while ws.client_state == 1:
                data = await ws.receive_text()
                await ws.send_text(data)
        except ConnectionError as exc:
            box.put(("loop ended by", exc))
            return
        box.put(("loop ended by", "client_state"))

    srv = serve(app)
    if how == "close":
        with ws_connect(srv, "/ws") as ws:
            assert recv(ws) == "ready"
            for i in range(3):
                ws.send(f"m{i}")
                assert recv(ws) == f"m{i}"
    else:
        raw = RawClient(srv, "/ws")
        assert raw.recv_frame() == (0x1, b"ready")
        raw.send_text("m0")
        assert raw.recv_frame() == (0x1, b"m0")
        raw.drop(how)
    label, by = box.get("the end of the while ws.client_state == 1 loop")
    assert label == "loop ended by"


# --------------------------------------------------------------------------- send errors

SENDS = {
    "send_text": lambda ws: ws.send_text("x"),
    "send_bytes": lambda ws: ws.send_bytes(b"x"),
    "send_json": lambda ws: ws.send_json({"x": 1}),
}


@pytest.mark.parametrize("method", list(SENDS))
def test_send_before_accept_raises_runtime_error(serve, method):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        result = await outcome(SENDS[method](ws))
        box.put(result)
        await ws.accept()
        await ws.send_text(repr(result[1]))

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        first = recv(ws)  # nothing leaked onto the wire before the accept
        assert "accept()" in first, first
        assert expect_close(ws) == (1000, "")
    kind, exc = box.get()
    assert kind == "exc" and type(exc) is RuntimeError, repr(exc)
    assert "accept()" in str(exc)


@pytest.mark.parametrize("method", list(SENDS))
def test_send_after_close_raises_connection_error(serve, method):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.close()
        box.put(await outcome(SENDS[method](ws)))

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert expect_close(ws) == (1000, "")
    kind, exc = box.get()
    assert kind == "exc" and isinstance(exc, ConnectionError), repr(exc)


@pytest.mark.parametrize("how", LEAVE_MODES)
def test_send_after_the_client_left_raises_connection_error(serve, how):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        await wait_gone(ws)
        for send in SENDS.values():
            box.put(await outcome(send(ws)))

    srv = serve(app)
    leave(srv, "/ws", how)
    for method in SENDS:
        kind, exc = box.get()
        assert kind == "exc" and isinstance(exc, ConnectionError), f"{method}: {exc!r}"


# --------------------------------------------------------------------------- handler parameters


def param_app():
    app = FastrAPI()

    @app.websocket("/plain")
    async def plain(ws):
        await ws.accept()
        await ws.send_json({"is_ws": isinstance(ws, WebSocket)})

    @app.websocket("/other-name/{name}")
    async def other_name(conn, name):
        await conn.accept()
        await conn.send_json({"is_ws": isinstance(conn, WebSocket), "name": name})

    @app.websocket("/annotated-first/{n}")
    async def annotated_first(websocket: WebSocket, n: int):
        await websocket.accept()
        await websocket.send_json(
            {"is_ws": isinstance(websocket, WebSocket), "n": n, "type": type(n).__name__}
        )

    @app.websocket("/rooms/{room}/items/{item_id}")
    async def annotated_last(room: str, item_id: int, websocket: WebSocket):
        await websocket.accept()
        await websocket.send_json(
            {
                "is_ws": isinstance(websocket, WebSocket),
                "room": room,
                "item_id": item_id,
                "type": type(item_id).__name__,
            }
        )

    @app.websocket("/middle/{a}/{b}")
    async def annotated_middle(a: str, sock: WebSocket, b: int):
        await sock.accept()
        await sock.send_json({"is_ws": isinstance(sock, WebSocket), "a": a, "b": b, "type": type(b).__name__})

    return app


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/plain", {"is_ws": True}),
        ("/other-name/alice", {"is_ws": True, "name": "alice"}),
        ("/annotated-first/42", {"is_ws": True, "n": 42, "type": "int"}),
        ("/rooms/lobby/items/7", {"is_ws": True, "room": "lobby", "item_id": 7, "type": "int"}),
        ("/middle/x/-3", {"is_ws": True, "a": "x", "b": -3, "type": "int"}),
    ],
)
def test_handler_parameter_injection(serve, path, expected):
    srv = serve(param_app())
    with ws_connect(srv, path) as ws:
        assert json.loads(recv(ws)) == expected
        assert expect_close(ws) == (1000, "")


def test_connection_information(serve):
    app = FastrAPI()

    @app.websocket("/info/{room}")
    async def info(ws, room: str):
        ws.state.user = "bob"
        await ws.accept()
        await ws.send_json(
            {
                "url": grab(lambda: str(ws.url)),
                "path_params": grab(lambda: dict(ws.path_params)),
                "query_params": grab(lambda: dict(ws.query_params)),
                "query_x": grab(lambda: ws.query_params["x"]),
                "query_missing": grab(lambda: ws.query_params.get("missing")),
                "header": grab(lambda: ws.headers["x-token"]),
                "header_mixed_case": grab(lambda: ws.headers.get("X-Token")),
                "host": grab(lambda: ws.headers["host"]),
                "cookies": grab(lambda: dict(ws.cookies)),
                "client": grab(lambda: list(ws.client)),
                "state": grab(lambda: ws.state.user),
                "subprotocols": grab(lambda: list(ws.subprotocols)),
            }
        )
        await wait_gone(ws)  # stay open: the test still reads the client's local address

    srv = serve(app)
    headers = {"X-Token": "secret", "Cookie": "session=abc; theme=dark"}
    with ws_connect(srv, "/info/lobby?x=1&q=hello%20world", additional_headers=headers) as ws:
        local_port = ws.local_address[1]
        got = json.loads(recv(ws))
    assert got["url"].startswith("ws://"), got["url"]
    assert got["url"].endswith("/info/lobby?x=1&q=hello%20world"), got["url"]
    assert got["path_params"] == {"room": "lobby"}
    assert got["query_params"] == {"x": "1", "q": "hello world"}
    assert got["query_x"] == "1"
    assert got["query_missing"] is None
    assert got["header"] == "secret"
    assert got["header_mixed_case"] == "secret"
    assert got["host"] == f"127.0.0.1:{srv.port}"
    assert got["cookies"] == {"session": "abc", "theme": "dark"}
    assert got["client"] == ["127.0.0.1", local_port]
    assert got["state"] == "bob"
    assert got["subprotocols"] == []


# --------------------------------------------------------------------------- iterators


@pytest.mark.parametrize(
    "method,sent,expected",
    [
        ("iter_text", ["a", "b", "ç"], ["a", "b", "ç"]),
        ("iter_bytes", [b"\x00", b"\x01\x02", b""], [b"\x00", b"\x01\x02", b""]),
        ("iter_json", ['{"a": 1}', "[1, 2]", '"s"'], [{"a": 1}, [1, 2], "s"]),
    ],
)
@pytest.mark.parametrize("how", ["close", "fin"])
def test_iterators_end_on_disconnect(serve, method, sent, expected, how):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("ready")
        items = []
        try:
            async for item in getattr(ws, method)():
                items.append(item)
        except Exception as exc:  # noqa: BLE001 - the iterator must end, not raise
            box.put(("raised", exc, items))
            return
        box.put(("ended", None, items))

    srv = serve(app)
    if how == "close":
        with ws_connect(srv, "/ws") as ws:
            assert recv(ws) == "ready"
            for m in sent:
                ws.send(m)
    else:
        raw = RawClient(srv, "/ws")
        assert raw.recv_frame() == (0x1, b"ready")
        for m in sent:
            if isinstance(m, bytes):
                raw.send_frame(0x2, m)
            else:
                raw.send_text(m)
        time.sleep(0.2)  # let the server read them before the TCP connection drops
        raw.drop("fin")
    how_ended, exc, items = box.get(f"the end of {method}()")
    assert how_ended == "ended", f"{method}() raised {exc!r} instead of ending"
    assert items == expected


# --------------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    "code,reason,expected",
    [
        (4003, "forbidden here", (4003, "forbidden here")),
        (status.WS_1008_POLICY_VIOLATION, None, (1008, "")),
        (1011, "server side ✓", (1011, "server side ✓")),
    ],
)
def test_websocket_exception_closes_with_its_code_and_reason(serve, code, reason, expected):
    app = FastrAPI()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        msg = await ws.receive_text()
        await ws.send_text(f"got {msg}")
        if reason is None:
            raise WebSocketException(code)
        raise WebSocketException(code, reason)

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        ws.send("hi")
        assert recv(ws) == "got hi"
        assert expect_close(ws) == expected


def test_exception_after_accept_closes_1011_and_other_connections_keep_working(serve):
    app = echo_app()

    @app.websocket("/boom")
    async def boom(ws):
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError("boom")

    srv = serve(app)
    with ws_connect(srv, "/echo") as other:
        other.send("a1")
        assert recv(other) == "a1"
        with ws_connect(srv, "/boom") as crashing:
            crashing.send("trigger")
            code, _ = expect_close(crashing)
            assert code == 1011
        other.send("a2")
        assert recv(other) == "a2"
        with ws_connect(srv, "/boom") as crashing_again:
            crashing_again.send("trigger")
            assert expect_close(crashing_again)[0] == 1011
        for i in range(5):
            other.send(f"still {i}")
            assert recv(other) == f"still {i}"
    with ws_connect(srv, "/echo") as fresh:
        fresh.send("new")
        assert recv(fresh) == "new"


def rejecting_app():
    app = echo_app()

    @app.websocket("/no-accept")
    async def no_accept(ws):
        return None

    @app.websocket("/close-before-accept")
    async def close_before_accept(ws):
        await ws.close()

    @app.websocket("/raise-before-accept")
    async def raise_before_accept(ws):
        raise RuntimeError("before accept")

    return app


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/no-accept", 403),
        ("/close-before-accept", 403),
        ("/raise-before-accept", 500),
        ("/no-such-route", 404),
    ],
)
def test_handshake_rejections(serve, path, expected):
    srv = serve(rejecting_app())
    with pytest.raises(InvalidStatus) as exc_info:
        with ws_connect(srv, path):
            pass
    assert exc_info.value.response.status_code == expected
    # the server is still fine afterwards
    with ws_connect(srv, "/echo") as ws:
        ws.send("ok")
        assert recv(ws) == "ok"


# --------------------------------------------------------------------------- accept() options


def test_accept_with_subprotocol(serve):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        box.put(list(ws.subprotocols))
        await ws.accept(subprotocol="chat")
        await ws.send_text("hi")

    srv = serve(app)
    with ws_connect(srv, "/ws", subprotocols=["chat", "x"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["Sec-WebSocket-Protocol"] == "chat"
        assert recv(ws) == "hi"
    assert box.get() == ["chat", "x"]


def test_accept_without_subprotocol_when_offered(serve):
    app = FastrAPI()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        await ws.send_text("hi")

    srv = serve(app)
    with ws_connect(srv, "/ws", subprotocols=["chat", "x"]) as ws:
        assert ws.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in ws.response.headers
        assert recv(ws) == "hi"


def test_accept_with_extra_headers(serve):
    app = FastrAPI()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept(headers=[(b"x-custom", b"1")])
        await ws.send_text("hi")

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert ws.response.status_code == 101
        assert ws.response.headers["x-custom"] == "1"
        assert recv(ws) == "hi"


# --------------------------------------------------------------------------- server stop


def test_server_stop_closes_open_connections_with_1001(serve):
    app = FastrAPI()
    box = Box()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except ConnectionError as exc:
            box.put(exc)

    srv = serve(app)
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(ws_connect(srv, "/ws")) for _ in range(2)]
        for i, ws in enumerate(clients):
            ws.send(f"c{i}")
            assert recv(ws) == f"c{i}"
        stopper = threading.Thread(target=srv.stop, daemon=True)
        t0 = time.monotonic()
        stopper.start()
        for ws in clients:
            assert expect_close(ws)[0] == 1001
        stopper.join(TIMEOUT)
        assert not stopper.is_alive(), "srv.stop() did not return"
        assert time.monotonic() - t0 < TIMEOUT
    for _ in clients:
        exc = box.get("the handler's ConnectionError")
        assert isinstance(exc, WebSocketDisconnect), repr(exc)
        assert exc.code == 1001
    with pytest.raises(OSError):
        with ws_connect(srv, "/ws"):
            pass


# --------------------------------------------------------------------------- large messages / compression


@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "no-deflate"])
def test_large_messages_round_trip(serve, deflate):
    srv = serve(echo_app(), ws_per_message_deflate=deflate)
    big_text = secrets.token_hex(2**19)  # 1 MiB of text, poorly compressible
    big_repetitive = "abcdefgh" * (2**17)  # 1 MiB, very compressible
    big_bytes = os.urandom(2**20)
    with ws_connect(srv, "/echo", max_size=None) as ws:
        for text in (big_text, big_repetitive):
            ws.send(text)
            assert recv(ws) == text
    with ws_connect(srv, "/echo-bytes", max_size=None) as ws:
        ws.send(big_bytes)
        assert recv(ws) == big_bytes


ROUND_TRIP_TEXTS = ["x", "", "a" * 100_000, "héllo ✓ 🎉" * 50, json.dumps({"k": list(range(200))})]


def assert_round_trips(ws_text, ws_bytes):
    for _ in range(3):  # repeated: exercises a shared compression context
        for text in ROUND_TRIP_TEXTS:
            ws_text.send(text)
            assert recv(ws_text) == text
    for blob in (b"", b"\x00" * 50_000, os.urandom(5000)):
        ws_bytes.send(blob)
        assert recv(ws_bytes) == blob


def test_permessage_deflate_is_negotiated_by_default(serve):
    srv = serve(echo_app())
    with ws_connect(srv, "/echo") as ws_text, ws_connect(srv, "/echo-bytes") as ws_bytes:
        ext = ws_text.response.headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in ext
        assert_round_trips(ws_text, ws_bytes)


def test_permessage_deflate_disabled_on_the_server(serve):
    srv = serve(echo_app(), ws_per_message_deflate=False)
    with ws_connect(srv, "/echo") as ws_text, ws_connect(srv, "/echo-bytes") as ws_bytes:
        assert "Sec-WebSocket-Extensions" not in ws_text.response.headers
        assert_round_trips(ws_text, ws_bytes)


def test_client_without_compression(serve):
    srv = serve(echo_app())
    with ws_connect(srv, "/echo", compression=None) as ws_text, ws_connect(
        srv, "/echo-bytes", compression=None
    ) as ws_bytes:
        assert "Sec-WebSocket-Extensions" not in ws_text.response.headers
        assert_round_trips(ws_text, ws_bytes)


@pytest.mark.parametrize(
    "factory_kwargs",
    [
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
        {"server_max_window_bits": 10, "client_max_window_bits": 10},
        {"client_max_window_bits": 9},
        {"client_max_window_bits": None},
    ],
    ids=["no-context-takeover", "window-10", "client-window-9", "no-client-max-window-bits"],
)
def test_permessage_deflate_negotiation_parameters(serve, factory_kwargs):
    srv = serve(echo_app())
    ext = [ClientPerMessageDeflateFactory(**factory_kwargs)]
    with ws_connect(srv, "/echo", compression=None, extensions=ext) as ws_text, ws_connect(
        srv, "/echo-bytes", compression=None, extensions=ext
    ) as ws_bytes:
        assert_round_trips(ws_text, ws_bytes)


# --------------------------------------------------------------------------- concurrency


@pytest.mark.timeout(60)
def test_many_concurrent_clients_each_get_their_own_messages_in_order(serve):
    srv = serve(echo_app())
    n_clients, n_messages = 200, 50

    async def one_client(i):
        async with async_connect(
            srv.ws_url + "/echo", open_timeout=20, close_timeout=TIMEOUT, proxy=None
        ) as ws:
            sent = [f"client {i} message {j} " + "p" * (i % 17) for j in range(n_messages)]
            for m in sent:
                await ws.send(m)
            got = [await asyncio.wait_for(ws.recv(), 20) for _ in sent]
            return got == sent

    async def main():
        return await asyncio.wait_for(
            asyncio.gather(*(one_client(i) for i in range(n_clients)), return_exceptions=True), 45
        )

    results = asyncio.run(main())
    errors = [(i, r) for i, r in enumerate(results) if r is not True]
    assert not errors, f"{len(errors)} of {n_clients} clients failed, e.g. {errors[:3]!r}"


def test_receive_cancelled_by_timeout_then_receive_again(serve):
    """A receive abandoned by asyncio.wait_for leaves the connection usable for the next receive."""
    import asyncio

    app = FastrAPI()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        try:
            await asyncio.wait_for(ws.receive_text(), 0.1)
        except asyncio.TimeoutError:
            await ws.send_text("timeout")
        await ws.send_text("again:" + await ws.receive_text())

    srv = serve(app)
    with ws_connect(srv, "/ws") as ws:
        assert recv(ws) == "timeout"
        ws.send("x")
        assert recv(ws) == "again:x"
