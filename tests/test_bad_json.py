"""JSON that is not JSON never becomes a 500 or a silently different value, in or out.

In: a lone surrogate (``"\\ud800"``), a number overflowing to infinity (``1e999999``) and ``NaN``/``Infinity``
literals are refused with FastAPI's 422 ``json_invalid`` shape (naming the problem) at every entry point;
bytes that are not UTF-8 get FastAPI's 400. (FastAPI itself, through ``json.loads``, takes all of these and
hands the handler ``inf``/``nan``/an unencodable string, which makes an echo of them a 500.)
Out: inf/NaN in handler results, ``JSONResponse``, ``send_json`` and broadcast raise ``ValueError`` (a logged
500 for a handler result, as FastAPI's ``allow_nan=False`` gives), never ``null`` on the wire.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time

import httpx
import pytest
from pydantic import BaseModel, Json

from fastrapi import FastrAPI, Form, Query, Request, WebSocket
from fastrapi.jsoncodec import InvalidJSON, UndecodableJSON, dumps, ensure_finite, loads
from fastrapi.responses import JSONResponse

from wsclient import recv, ws_connect

JSON = {"content-type": "application/json"}

#: body -> a word the 422's ctx.error must contain
REFUSED = {
    b'{"a": "\\ud800"}': "surrogate",
    b'{"a": "x\\udc00y"}': "surrogate",
    b'{"a": 1e999999}': "infinity",
    b'{"a": -1e999999}': "infinity",
    b'{"a": 1' + b"0" * 400 + b'.5}': "infinity",
    b'{"a": NaN}': "NaN",
    b'{"a": Infinity}': "Infinity",
    b'{"a": -Infinity}': "Infinity",
}


class Item(BaseModel):
    a: float | str


class Named(BaseModel):  # cannot hold a float: validated straight from the bytes by pydantic-core
    a: int


class Money(BaseModel):
    amount: float
    note: str | None = None


class Priced(BaseModel):  # float fields checked after pydantic-core validated it from the bytes
    price: float
    tax: float | None = None
    money: Money | None = None
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: float


def make_app() -> FastrAPI:
    app = FastrAPI()

    @app.post("/model")
    def model(item: Item):
        return {"a": item.a}

    @app.post("/int-model")
    def int_model(item: Named):
        return {"a": item.a}

    @app.post("/priced")
    def priced(item: Priced):
        return item

    @app.post("/form-json")
    def form_json(data: Json[dict] = Form(), q: Json[dict] | None = Query(None)):
        return {"data": data, "q": q}

    @app.post("/dict")
    def plain_dict(body: dict):
        return body

    @app.post("/describe")
    def describe(body: dict):
        return {k: [type(v).__name__, str(v)] for k, v in body.items()}

    @app.post("/list")
    def plain_list(body: list):
        return body

    @app.post("/raw")
    async def raw(request: Request):
        return await request.json()

    @app.post("/raw-caught")
    async def raw_caught(request: Request):
        try:
            await request.json()
        except ValueError as exc:  # what Starlette code catches (json.JSONDecodeError is a ValueError)
            return {"caught": type(exc).__name__}
        return {"caught": None}

    @app.get("/fast-inf")
    async def fast_inf():
        return {"a": math.inf}

    @app.get("/fast-null")
    async def fast_null():
        return {"a": None, "b": "null", "c": 1.5}

    @app.get("/nan-list")
    def nan_list():
        return [1.0, [math.nan]]

    @app.get("/model-inf")
    def model_inf():
        return Item(a=math.inf)

    @app.get("/response-model-inf", response_model=Item)
    def response_model_inf():
        return {"a": -math.inf}

    @app.get("/dataclass-nan")
    def dataclass_nan():
        return {"p": Point(math.nan)}

    @app.get("/jsonresponse-nan")
    def jsonresponse_nan():
        return JSONResponse({"a": math.nan})

    @app.get("/status-inf", status_code=201)
    def status_inf():
        return {"a": math.inf}

    @app.websocket("/ws")
    async def ws_echo(ws: WebSocket):
        await ws.accept()
        while True:
            try:
                value = await ws.receive_json()
            except ValueError as exc:
                await ws.send_text(f"refused: {exc}")
                continue
            if value == "send-inf":
                try:
                    await ws.send_json({"a": math.inf})
                except ValueError as exc:
                    await ws.send_text(f"send refused: {exc}")
                continue
            if value == "publish-nan":
                try:
                    await app.broadcast.publish("room", {"a": math.nan})
                except ValueError as exc:
                    await ws.send_text(f"publish refused: {exc}")
                continue
            await ws.send_json({"got": value})

    return app


@pytest.fixture(scope="module")
def srv():
    from fastrapi.server import Server

    server = Server(make_app(), host="127.0.0.1", port=0).start_in_thread()
    yield server
    server.stop()


def _assert_json_invalid(r: httpx.Response, word: str) -> None:
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["type"] == "json_invalid"
    assert error["loc"][0] == "body" and isinstance(error["loc"][1], int)
    assert error["msg"] == "JSON decode error"
    assert word.lower() in error["ctx"]["error"].lower(), error


@pytest.mark.parametrize("body,word", REFUSED.items(), ids=[k[:24].decode() for k in REFUSED])
@pytest.mark.parametrize("path", ["/model", "/dict"])
def test_refused_bodies_get_422_json_invalid(srv, path, body, word):
    _assert_json_invalid(httpx.post(srv.url + path, content=body, headers=JSON), word)


@pytest.mark.parametrize("body", [b"[1e999999]", b"[NaN]", b'["\\ud800"]'])
def test_list_bodies(srv, body):
    r = httpx.post(srv.url + "/list", content=body, headers=JSON)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("body", [b'{"a": 1e999999}', b'{"a": NaN}', b'{"a": "\\ud800"}'])
def test_model_without_floats_refuses_too(srv, body):
    r = httpx.post(srv.url + "/int-model", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["type"] in ("json_invalid", "finite_number"), r.text


@pytest.mark.parametrize("body", [
    b'{"price": 1e999999}', b'{"price": NaN}', b'{"price": 1, "tax": -Infinity}',
    b'{"price": 1, "money": {"amount": 1e400}}', b'{"price": 1, "money": {"amount": NaN, "note": "x"}}',
])
def test_model_with_float_fields_refuses(srv, body):
    r = httpx.post(srv.url + "/priced", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_model_with_float_fields_accepts_finite(srv):
    body = b'{"price": 2.5, "tax": null, "money": {"amount": 1e308, "note": "n"}, "tags": ["a"]}'
    r = httpx.post(srv.url + "/priced", content=body, headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json() == {"price": 2.5, "tax": None, "money": {"amount": 1e308, "note": "n"}, "tags": ["a"]}


@pytest.mark.parametrize("value", ['{"a": NaN}', '{"a": 1e999999}', '{"a": "\\ud800"}', '{"a": -Infinity}'])
def test_form_and_query_json_fields(srv, value):
    r = httpx.post(srv.url + "/form-json", data={"data": value})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"] == ["body", "data"], error
    r = httpx.post(srv.url + "/form-json", data={"data": "{}"}, params={"q": value})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "q"]
    r = httpx.post(srv.url + "/form-json", data={"data": '{"a": 1.5}'}, params={"q": '{"b": [1]}'})
    assert r.status_code == 200 and r.json() == {"data": {"a": 1.5}, "q": {"b": [1]}}


def test_valid_json_still_accepted(srv):
    # big integers are valid JSON: exact, as json.loads gives them (orjson alone would refuse this one)
    big = "1" + "0" * 400
    r = httpx.post(srv.url + "/describe", content=b'{"a": %s, "b": "\\ud83d\\ude00", "c": 1e308}' % big.encode(),
                   headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json() == {"a": ["int", big], "b": ["str", "\U0001F600"], "c": ["float", "1e+308"]}
    r = httpx.post(srv.url + "/model", content=b'{"a": 2.5}', headers=JSON)
    assert r.status_code == 200 and r.json() == {"a": 2.5}
    r = httpx.post(srv.url + "/int-model", content=b'{"a": 7}', headers=JSON)
    assert r.status_code == 200 and r.json() == {"a": 7}


def test_utf8_encoded_surrogate_is_undecodable_400(srv):
    # the three bytes of a UTF-8-encoded surrogate are not UTF-8: FastAPI's 400 for an undecodable body
    for path in ("/dict", "/model", "/int-model"):
        r = httpx.post(srv.url + path, content=b'{"a": "\xed\xa0\x80"}', headers=JSON)
        assert r.status_code == 400, r.text
        assert r.json() == {"detail": "There was an error parsing the body"}


@pytest.mark.parametrize("body", list(REFUSED) + [b"{not json", b"\xff\xfe"])
def test_request_json_refuses_with_400(srv, body):
    r = httpx.post(srv.url + "/raw", content=body)
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "There was an error parsing the body"}
    r = httpx.post(srv.url + "/raw-caught", content=body)
    assert r.status_code == 200 and r.json() == {"caught": "InvalidJSON"}


def _wait_for(caplog, needle: str, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in caplog.text:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("path", ["/fast-inf", "/nan-list", "/model-inf", "/response-model-inf",
                                  "/dataclass-nan", "/jsonresponse-nan", "/status-inf"])
def test_non_finite_results_are_a_logged_500(srv, caplog, path):
    caplog.set_level(logging.ERROR, logger="fastrapi.error")
    r = httpx.get(srv.url + path)
    assert r.status_code == 500, r.text
    assert b"null" not in r.content
    assert _wait_for(caplog, "Out of range float values are not JSON compliant"), caplog.text
    assert httpx.get(srv.url + "/fast-null").status_code == 200  # and the server goes on


def test_null_results_are_untouched(srv):
    r = httpx.get(srv.url + "/fast-null")
    assert r.status_code == 200 and r.json() == {"a": None, "b": "null", "c": 1.5}


def test_websocket_receive_and_send_json(srv):
    with ws_connect(srv) as ws:
        for text in ('{"a": 1e999999}', '{"a": NaN}', '{"a": "\\ud800"}', "[Infinity]"):
            ws.send(text)
            assert recv(ws).startswith("refused: WebSocket message is not valid JSON")
        ws.send('{"a": 1}')
        assert recv(ws) == '{"got":{"a":1}}'
        ws.send('"send-inf"')
        assert recv(ws) == "send refused: Out of range float values are not JSON compliant: inf"
        ws.send('"publish-nan"')
        assert recv(ws) == "publish refused: Out of range float values are not JSON compliant: nan"
        ws.close()


def test_codec_directly():
    assert loads(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    with pytest.raises(InvalidJSON) as info:
        loads(b'[1, 1e400]')
    assert "infinity" in info.value.msg and info.value.pos == 4
    assert isinstance(info.value, ValueError)
    with pytest.raises(UndecodableJSON):
        loads(b'"\xff"')
    with pytest.raises(ValueError, match="nan"):
        dumps({"a": [{"b": math.nan}]})
    assert dumps({"a": None}) == b'{"a":null}'
    ensure_finite({"a": (1.0, {2.0}), "b": None})
    with pytest.raises(ValueError):
        ensure_finite({"a": Item(a=-math.inf)})
