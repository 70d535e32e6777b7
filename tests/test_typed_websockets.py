"""Typed WebSocket messages against a real server and the ``websockets`` client: ``receive=`` / ``send=`` on
``@app.websocket`` (and on routers and mounted apps), ``ws.receive_model()`` / ``iter_models()`` /
``send_model()``, invalid messages (the connection stays usable; 1007 if the handler lets the error escape)."""
from __future__ import annotations

import datetime
import json
import uuid
from typing import Annotated, Any, Literal, Union

import pytest
from pydantic import BaseModel, Field, ValidationError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fastrapi import APIRouter, FastrAPI, WebSocket
from fastrapi.exceptions import ResponseValidationError


class Join(BaseModel):
    type: Literal["join"]
    room: str = Field(min_length=1, max_length=8)


class Say(BaseModel):
    type: Literal["say"]
    text: str = Field(alias="msg")


ClientMessage = Annotated[Union[Join, Say], Field(discriminator="type")]


class Event(BaseModel):
    kind: str
    text: str | None = None
    sent_at: datetime.datetime | None = Field(default=None, alias="sentAt")


def recv(ws: Any, timeout: float = 10) -> Any:
    return json.loads(ws.recv(timeout=timeout))


def closed_code(ws: Any) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=10)
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


def typed_app() -> FastrAPI:
    app = FastrAPI()

    @app.websocket("/chat", receive=ClientMessage, send=Event)
    async def chat(ws: WebSocket):
        await ws.accept()
        while True:
            try:
                msg = await ws.receive_model()
            except ValueError as exc:  # pydantic's ValidationError: bad JSON or a message that does not fit
                assert isinstance(exc, ValidationError)
                await ws.send_model(Event(kind="error", text=exc.errors()[0]["type"]))
                continue
            if isinstance(msg, Join):
                await ws.send_model({"kind": "joined", "text": msg.room})
            else:
                await ws.send_model(Event(kind="said", text=msg.text))

    @app.websocket("/options", send=Event)
    async def options(ws: WebSocket):
        await ws.accept()
        event = Event(kind="x", sentAt=datetime.datetime(2026, 1, 2, 3, 4, 5))
        await ws.send_model(event)
        await ws.send_model(event, by_alias=False)
        await ws.send_model({"kind": "y"}, exclude_none=True)
        await ws.send_model({"kind": "y"}, exclude_unset=True)
        await ws.send_model(event, exclude={"text"})
        await ws.send_model(event, mode="binary")
        try:
            await ws.send_model({"text": "no kind"})
        except ResponseValidationError as exc:
            await ws.send_text("invalid: " + ",".join(".".join(map(str, e["loc"])) for e in exc.errors()))
        await ws.close()

    @app.websocket("/strict", receive=Join)
    async def strict(ws: WebSocket):  # lets receive_model's errors escape
        await ws.accept()
        async for msg in ws.iter_models():
            await ws.send_text(msg.room)

    @app.websocket("/text", receive=Annotated[str, Field(max_length=5)], send=str)
    async def text(ws: WebSocket):
        await ws.accept()
        while True:
            try:
                await ws.send_model((await ws.receive_model()).upper())
            except ValueError:
                await ws.send_model("long")
            except TypeError:
                await ws.send_model("binary")

    @app.websocket("/bytes", receive=bytes, send=bytes)
    async def raw(ws: WebSocket):
        await ws.accept()
        await ws.send_model(bytes(reversed(await ws.receive_model())))
        await ws.close()

    @app.websocket("/untyped")
    async def untyped(ws: WebSocket):
        await ws.accept()
        value = await ws.receive_model()  # any JSON value
        await ws.send_json({"got": value})
        await ws.send_model(Event(kind="model", sentAt=datetime.datetime(2026, 1, 1)))
        await ws.send_model({"id": uuid.UUID(int=1), "n": 1})
        number = await ws.receive_model(int)  # an explicit type
        await ws.send_model(number + 1)
        await ws.close()

    return app


@pytest.fixture
def srv(serve):
    return serve(typed_app())


def test_receive_validates_union_and_send_serializes_model(srv):
    with connect(srv.ws_url + "/chat", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "join", "room": "lobby"}))
        assert recv(ws) == {"kind": "joined", "text": "lobby", "sentAt": None}
        ws.send(json.dumps({"type": "say", "msg": "hello"}))  # by alias
        assert recv(ws) == {"kind": "said", "text": "hello", "sentAt": None}
        ws.send(json.dumps({"type": "say", "msg": "binary"}).encode())  # JSON in a binary message
        assert recv(ws)["text"] == "binary"


@pytest.mark.parametrize("message, error", [
    ("not json", "json_invalid"),
    ('{"type": "join"', "json_invalid"),
    ('{"type": "leave"}', "union_tag_invalid"),
    ('{"type": "join", "room": ""}', "string_too_short"),
    ('{"type": "join", "room": "much too long"}', "string_too_long"),
    ('{"type": "say", "text": "not the alias"}', "missing"),
    ("[1, 2]", "dict_type"),
])
def test_invalid_messages_raise_validation_error_and_connection_stays_usable(srv, message, error):
    with connect(srv.ws_url + "/chat", open_timeout=10) as ws:
        ws.send(message)
        reply = recv(ws)
        assert reply["kind"] == "error"
        assert reply["text"] == error
        ws.send(json.dumps({"type": "join", "room": "ok"}))
        assert recv(ws)["text"] == "ok"


def test_send_model_options(srv):
    with connect(srv.ws_url + "/options", open_timeout=10) as ws:
        assert recv(ws) == {"kind": "x", "text": None, "sentAt": "2026-01-02T03:04:05"}
        assert recv(ws) == {"kind": "x", "text": None, "sent_at": "2026-01-02T03:04:05"}
        assert recv(ws) == {"kind": "y"}
        assert recv(ws) == {"kind": "y"}
        assert recv(ws) == {"kind": "x", "sentAt": "2026-01-02T03:04:05"}
        binary = ws.recv(timeout=10)
        assert isinstance(binary, bytes) and json.loads(binary)["kind"] == "x"
        assert ws.recv(timeout=10) == "invalid: send.kind"  # validated like a response model, nothing sent
        assert closed_code(ws)[0] == 1000


def test_uncaught_invalid_message_closes_with_1007(srv):
    with connect(srv.ws_url + "/strict", open_timeout=10) as ws:
        ws.send('{"type": "join", "room": "a"}')
        assert ws.recv(timeout=10) == "a"
        ws.send('{"type": "join"}')
        assert closed_code(ws) == (1007, "invalid message")
    with connect(srv.ws_url + "/strict", open_timeout=10) as ws:
        ws.send("{oops")
        assert closed_code(ws) == (1007, "invalid message")


def test_str_and_bytes_types_are_raw_messages(srv):
    with connect(srv.ws_url + "/text", open_timeout=10) as ws:
        ws.send("abc")  # the text itself, not JSON
        assert ws.recv(timeout=10) == "ABC"
        ws.send("abcdef")
        assert ws.recv(timeout=10) == "long"
        ws.send(b"abc")
        assert ws.recv(timeout=10) == "binary"
        ws.send('"q"')
        assert ws.recv(timeout=10) == '"Q"'
    with connect(srv.ws_url + "/bytes", open_timeout=10) as ws:
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=10) == b"\xff\x01\x00"


def test_untyped_route_takes_any_json_and_explicit_types(srv):
    with connect(srv.ws_url + "/untyped", open_timeout=10) as ws:
        ws.send('{"a": [1, 2.5, null]}')
        assert recv(ws) == {"got": {"a": [1, 2.5, None]}}
        assert recv(ws) == {"kind": "model", "text": None, "sentAt": "2026-01-01T00:00:00"}
        assert recv(ws) == {"id": "00000000-0000-0000-0000-000000000001", "n": 1}
        ws.send("41")
        assert recv(ws) == 42
        assert closed_code(ws)[0] == 1000


def test_router_prefix_and_mounted_app_keep_their_types(serve):
    router = APIRouter(prefix="/r")

    @router.websocket("/echo", receive=Join, send=Event)
    async def echo(ws: WebSocket):
        await ws.accept()
        msg = await ws.receive_model()
        await ws.send_model({"kind": "echo", "text": msg.room})

    sub = FastrAPI()
    sub.include_router(router)
    app = FastrAPI()
    app.include_router(router, prefix="/v1")
    app.mount("/sub", sub)
    srv = serve(app)
    for path in ("/v1/r/echo", "/sub/r/echo"):
        with connect(srv.ws_url + path, open_timeout=10) as ws:
            ws.send('{"type": "join", "room": "x"}')
            assert recv(ws) == {"kind": "echo", "text": "x", "sentAt": None}
        with connect(srv.ws_url + path, open_timeout=10) as ws:
            ws.send('{"type": "say", "msg": "x"}')
            assert closed_code(ws)[0] == 1007


def test_testclient_runs_typed_routes():
    from fastrapi.testclient import TestClient

    with TestClient(typed_app()) as client:
        with client.websocket_connect("/chat") as ws:
            ws.send_text('{"type": "join", "room": "tc"}')
            assert ws.receive_json() == {"kind": "joined", "text": "tc", "sentAt": None}
            ws.send_text("{")
            assert ws.receive_json()["text"] == "json_invalid"


def test_unusable_type_fails_at_registration():
    app = FastrAPI()

    class NotAType:
        pass

    with pytest.raises(Exception, match="NotAType"):
        @app.websocket("/bad", receive=NotAType)
        async def bad(ws: WebSocket):
            pass


def test_receive_model_with_explicit_type_is_built_once():
    from fastrapi.ws.messages import message_type

    assert message_type(Join) is message_type(Join)
    assert message_type(ClientMessage) is message_type(ClientMessage)


def test_typed_route_behind_middleware(serve):
    """Native and ASGI middleware in front: the handler still gets its route's types."""
    from fastrapi.middleware.gzip import GZipMiddleware

    class PassThrough:  # a foreign (pure ASGI) middleware: the connection goes through the ASGI bridge
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            await self.app(scope, receive, send)

    for middleware in (GZipMiddleware, PassThrough):
        app = typed_app()
        app.add_middleware(middleware)
        srv = serve(app)
        with connect(srv.ws_url + "/chat", open_timeout=10) as ws:
            ws.send('{"type": "say", "msg": "through"}')
            assert recv(ws) == {"kind": "said", "text": "through", "sentAt": None}
            ws.send("{")
            assert recv(ws)["text"] == "json_invalid"
