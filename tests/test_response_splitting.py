"""Response splitting: a header value (or name) that would add a line to a response head is never written.

The app echoes request data into headers, cookies, redirects and WebSocket accept headers; the wire (read with a
raw socket) must never carry the injected header: the answer is a 500 and the error is logged. Also RFC 9112 3.2:
HTTP/1.1 requests need exactly one Host header.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from fastrapi import FastrAPI, Request
from fastrapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse

sys.path.insert(0, str(Path(__file__).parent))
from rawhttp import RawConn  # noqa: E402
from wsraw import RawWS  # noqa: E402

EVIL = "a\r\nSet-Cookie: evil=1"
EVIL_LF = "a\nSet-Cookie: evil=1"


def _app(tmp_path: Path) -> FastrAPI:
    app = FastrAPI()
    app.state.closed = []
    static = tmp_path / "f.txt"
    static.write_text("file body")

    @app.get("/echo")
    async def echo(v: str):
        return PlainTextResponse("ok", headers={"x-echo": v})

    @app.get("/echo-sync")
    def echo_sync(v: str):
        return PlainTextResponse("ok", headers={"x-echo": v})

    @app.get("/name")
    async def name(v: str):
        return PlainTextResponse("ok", headers={v: "1"})

    @app.get("/param")
    async def param(v: str, response: Response):
        response.headers["x-echo"] = v
        return {"ok": True}

    @app.get("/redirect")
    async def redirect(v: str):
        return RedirectResponse(v)

    @app.get("/cookie")
    async def cookie(v: str):
        r = PlainTextResponse("ok")
        r.set_cookie("session", v)
        return r

    @app.get("/cookie-path")
    async def cookie_path(v: str):
        r = PlainTextResponse("ok")
        r.set_cookie("session", "1", path=v)
        return r

    @app.get("/raw")
    async def raw(v: str):
        r = PlainTextResponse("ok")
        r.raw_headers.append((b"x-raw", v.encode("latin-1")))
        return r

    @app.get("/stream")
    async def stream(v: str):
        async def body():
            yield "never sent"

        gen = body()
        app.state.closed.append(gen)
        return StreamingResponse(gen, headers={"x-echo": v})

    @app.get("/file")
    async def file(v: str):
        return FileResponse(static, headers={"x-echo": v})

    @app.get("/ok")
    async def ok():
        return {"ok": True}

    @app.websocket("/ws")
    async def ws(websocket):
        await websocket.accept(headers=[(b"x-echo", websocket.query_params["v"].encode("latin-1"))])
        await websocket.send_text("hi")

    @app.websocket("/ws-sub")
    async def ws_sub(websocket):
        await websocket.accept(subprotocol=websocket.query_params["v"])

    async def raw_asgi(scope, receive, send):
        v = scope["query_string"].decode("latin-1").partition("=")[2]
        from urllib.parse import unquote

        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"x-echo", unquote(v).encode("latin-1"))]})
        await send({"type": "http.response.body", "body": b"asgi"})

    app.mount("/asgi", raw_asgi)
    return app


def _get(port: int, target: str) -> tuple[int, bytes, list]:
    with RawConn(port) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        head_and_rest = c._read_until(b"\r\n\r\n")
        resp_lines = head_and_rest.split(b"\r\n")
        status = int(resp_lines[0].split()[1])
        return status, head_and_rest, resp_lines


def _assert_refused(port: int, target: str, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="fastrapi.error"):
        status, head, lines = _get(port, target)
    assert status == 500, head
    assert b"evil" not in head.lower() and not any(line.lower().startswith(b"set-cookie") for line in lines), head
    assert any("Invalid" in r.getMessage() and "header" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("path", ["/echo", "/echo-sync", "/param", "/raw", "/cookie-path", "/stream", "/file", "/asgi/"])
@pytest.mark.parametrize("value", [EVIL, EVIL_LF, "a\x00b", "a\rb", "a\x7fb"])
def test_header_value_with_control_characters_gives_500(serve, tmp_path, caplog, path, value):
    srv = serve(_app(tmp_path))
    _assert_refused(srv.port, f"{path}?v={quote(value)}", caplog)
    # the connection's next request, and other clients, are unaffected
    status, _, _ = _get(srv.port, "/ok")
    assert status == 200


@pytest.mark.parametrize("value", ["x-a\r\nset-cookie: evil=1", "set-cookie: evil", "a b", "a:b", ""])
def test_invalid_header_name_gives_500(serve, tmp_path, caplog, value):
    srv = serve(_app(tmp_path))
    _assert_refused(srv.port, f"/name?v={quote(value)}", caplog)


def test_streaming_generator_closed_when_head_refused(serve, tmp_path, caplog):
    app = _app(tmp_path)
    srv = serve(app)
    _assert_refused(srv.port, f"/stream?v={quote(EVIL)}", caplog)
    [gen] = app.state.closed
    assert gen.ag_frame is None  # closed (aclose), never iterated


def test_valid_values_pass_unchanged(serve, tmp_path):
    srv = serve(_app(tmp_path))
    value = "a\tb ; c=d, e"  # HTAB and SP are allowed in field values
    with RawConn(srv.port) as c:
        c.send(f"GET /echo?v={quote(value)} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        r = c.read_response()
    assert r.status == 200
    assert r.header("x-echo") == value


def test_redirect_with_crlf_is_percent_encoded(serve, tmp_path):
    """RedirectResponse quotes its URL (as Starlette does): CR/LF become %0D%0A, never a header line."""
    srv = serve(_app(tmp_path))
    with RawConn(srv.port) as c:
        c.send(f"GET /redirect?v={quote('/next' + EVIL)} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        r = c.read_response()
    assert r.status == 307
    assert r.header("location") == "/nexta%0D%0ASet-Cookie:%20evil=1"
    assert r.header_list("set-cookie") == []


def test_cookie_value_with_crlf_is_quoted(serve, tmp_path):
    """A cookie's value is quoted by http.cookies (as in Starlette); it can't end the header line."""
    srv = serve(_app(tmp_path))
    with RawConn(srv.port) as c:
        c.send(f"GET /cookie?v={quote(EVIL)} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        r = c.read_response()
    assert r.status == 200
    assert len(r.header_list("set-cookie")) == 1
    assert r.header("set-cookie").startswith('session="a\\015\\012Set-Cookie: evil=1"')


@pytest.mark.parametrize("path", ["/ws", "/ws-sub"])
def test_websocket_accept_headers_refused(serve, tmp_path, caplog, path):
    srv = serve(_app(tmp_path))
    with caplog.at_level(logging.ERROR, logger="fastrapi.error"):
        with RawWS(srv.port) as ws:
            resp = ws.handshake(f"{path}?v={quote(EVIL)}", expect_status=500)
    assert resp.header("set-cookie") is None
    assert any("Invalid HTTP header" in (r.exc_text or r.getMessage()) or
               (r.exc_info and "Invalid HTTP header" in str(r.exc_info[1])) for r in caplog.records)
    status, _, _ = _get(srv.port, "/ok")
    assert status == 200


def test_websocket_accept_valid_header(serve, tmp_path):
    srv = serve(_app(tmp_path))
    with RawWS(srv.port) as ws:
        resp = ws.handshake("/ws?v=fine")
        assert resp.header("x-echo") == "fine"
        assert ws.read_text() == "hi"


# ---------------------------------------------------------------------------------------------- Host header
def _raw_status(port: int, request: bytes) -> tuple[int, bytes]:
    with RawConn(port) as c:
        c.send(request)
        r = c.read_response()
        return r.status, r.body


def test_http11_without_host_is_400(serve, tmp_path):
    srv = serve(_app(tmp_path))
    status, body = _raw_status(srv.port, b"GET /ok HTTP/1.1\r\n\r\n")
    assert status == 400 and b"Host" in body


def test_two_host_headers_are_400(serve, tmp_path):
    srv = serve(_app(tmp_path))
    status, body = _raw_status(srv.port, b"GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert status == 400 and b"Host" in body
    status, _ = _raw_status(srv.port, b"GET /ok HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")
    assert status == 400


def test_http10_without_host_is_served(serve, tmp_path):
    srv = serve(_app(tmp_path))
    status, body = _raw_status(srv.port, b"GET /ok HTTP/1.0\r\n\r\n")
    assert status == 200 and body == b'{"ok":true}'


def test_post_without_host_is_400(serve, tmp_path):
    app = _app(tmp_path)

    @app.post("/data")
    async def data(request: Request):
        return {"n": len(await request.body())}

    srv = serve(app)
    body = b"x" * 200_000  # streamed to the handler before the message ends: checked before dispatch too
    status, _ = _raw_status(srv.port, b"POST /data HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert status == 400
