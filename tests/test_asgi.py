"""A FastrAPI app is an ASGI 3 application: the same app served by uvicorn (in this process, three WebSocket
engines), hypercorn and granian (subprocesses) answers as the built-in server does, field by field; the
seed's example programs run under uvicorn with the same assertions as on our server.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

uvicorn = pytest.importorskip("uvicorn")

from modules import load_module  # noqa: E402
from test_seed_examples import (  # noqa: E402  (collected here again: `serve` below is uvicorn)
    output,
    test_accepting_examples,
    test_client_state_example,
    test_close_example,
    test_complete_example_binary_message_ends_the_session,
    test_complete_example_client_drops_tcp,
    test_complete_example_echoes_json_replies,
    test_complete_example_serves_clients_concurrently,
    test_error_handling_example_client_drops_tcp,
    test_error_handling_example_echoes_and_reports_disconnect,
    test_error_handling_example_other_errors_close_the_connection,
    test_receive_bytes_example,
    test_receive_json_example,
    test_receive_text_example,
    test_send_bytes_example,
    test_send_json_example,
    test_send_text_example,
)

from fastrapi.asgi import ASGIAdapter  # noqa: E402
from fastrapi.server import Server  # noqa: E402

pytestmark = pytest.mark.timeout(60)

#: the seed-example tests imported above run in this module against uvicorn (the `serve` fixture)
SEED_TESTS = (
    output, test_accepting_examples, test_client_state_example, test_close_example,
    test_complete_example_binary_message_ends_the_session, test_complete_example_client_drops_tcp,
    test_complete_example_echoes_json_replies, test_complete_example_serves_clients_concurrently,
    test_error_handling_example_client_drops_tcp, test_error_handling_example_echoes_and_reports_disconnect,
    test_error_handling_example_other_errors_close_the_connection, test_receive_bytes_example,
    test_receive_json_example, test_receive_text_example, test_send_bytes_example, test_send_json_example,
    test_send_text_example,
)
UVICORN_WS = ["websockets", "websockets-sansio", "wsproto"]
TIMEOUT = 5.0

# --------------------------------------------------------------------------- the app every server runs

APP_SOURCE = r'''
import asyncio
import hashlib
import os
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import BaseModel

from fastrapi import (BackgroundTasks, Depends, FastrAPI, File, Form, HTTPException, Request, UploadFile,
                      WebSocketDisconnect, WebSocketException)
from fastrapi.responses import FileResponse, PlainTextResponse, StreamingResponse

HERE = Path(__file__).resolve().parent
DATA = HERE / "data.bin"
LOG = HERE / "events.log"


def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


@asynccontextmanager
async def lifespan(app):
    log("startup")
    yield {"db": "connected", "counter": 0}
    log("shutdown")


app = FastrAPI(lifespan=lifespan)


class User(BaseModel):
    name: str
    age: int


@app.get("/json")
async def hello():
    return {"hello": "world"}


@app.get("/sync")
def sync_handler(x: int = 1):
    return {"x": x}


@app.get("/items/{item_id}")
async def item(item_id: int, q: str | None = None, limit: int = 10):
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/users", status_code=201)
async def create_user(user: User):
    return {"created": user.name, "age": user.age}


async def resource():
    log("dep-enter")
    try:
        yield "resource"
    finally:
        log("dep-exit")


@app.get("/dep")
async def use_dep(value: str = Depends(resource)):
    return {"value": value}


@app.get("/bg")
async def bg(tasks: BackgroundTasks, tag: str = "x"):
    tasks.add_task(log, f"bg-{tag}")
    return {"queued": tag}


@app.get("/stream")
async def stream():
    async def gen():
        for i in range(5):
            yield f"chunk-{i};"
            await asyncio.sleep(0)

    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/sse")
async def sse():
    async def events():
        for i in range(3):
            yield f"event: tick\ndata: {i}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


@app.get("/forever")
async def forever():
    async def endless():
        i = 0
        try:
            while True:
                yield f"data: {i}\n\n"
                i += 1
                await asyncio.sleep(0.01)
        finally:
            log("forever-closed")

    return StreamingResponse(endless(), media_type="text/event-stream")


@app.get("/file")
async def file():
    return FileResponse(DATA, filename="data.bin")


@app.get("/missing-file")
async def missing_file():
    return FileResponse(HERE / "nope.bin")


@app.post("/form")
async def form(name: str = Form(), age: int = Form()):
    return {"name": name, "age": age}


@app.post("/upload")
async def upload(upload: UploadFile = File(), note: str = Form("")):
    data = await upload.read()
    return {"filename": upload.filename, "size": len(data), "md5": hashlib.md5(data).hexdigest(),
            "type": upload.content_type, "note": note}


@app.post("/echo-size")
async def echo_size(request: Request):
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
    return {"size": n}


@app.get("/state")
async def state(request: Request):
    return {"db": request.state.db, "counter": request.state.counter}


@app.get("/error")
async def error():
    raise RuntimeError("boom")


@app.get("/http-error")
async def http_error():
    raise HTTPException(418, "teapot", headers={"x-tea": "earl grey"})


@app.get("/plain")
async def plain():
    return PlainTextResponse("plain text", headers={"x-custom": "1"})


@app.get("/no-content", status_code=204)
async def no_content():
    return None


@app.get("/slash/")
async def slash():
    return {"slash": True}


@app.get("/log")
async def read_log():
    return {"lines": LOG.read_text().splitlines() if LOG.exists() else []}


@app.websocket("/ws")
async def echo(ws):
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect as exc:
        log(f"ws-disconnect-{exc.code}")


@app.websocket("/ws/json")
async def ws_json(ws):
    await ws.accept()
    data = await ws.receive_json()
    await ws.send_json({"got": data, "path": ws.url.path, "q": ws.query_params.get("q")})
    await ws.send_bytes(b"\x00\x01")
    await ws.close(4000, "bye")


@app.websocket("/ws/sub")
async def ws_sub(ws):
    await ws.accept(subprotocol="chat" if "chat" in ws.subprotocols else None)
    await ws.send_text(",".join(ws.subprotocols))


@app.websocket("/ws/state")
async def ws_state(ws):
    await ws.accept()
    await ws.send_json({"db": ws.state.db, "client": ws.client_state.name})


@app.websocket("/ws/reject")
async def ws_reject(ws):
    await ws.close()


@app.websocket("/ws/policy")
async def ws_policy(ws):
    raise WebSocketException(1008, "no")


@app.websocket("/ws/boom-before")
async def ws_boom_before(ws):
    raise RuntimeError("before accept")


@app.websocket("/ws/boom-after")
async def ws_boom_after(ws):
    await ws.accept()
    await ws.receive_text()
    raise RuntimeError("after accept")


@app.websocket("/ws/items/{item_id}")
async def ws_item(ws, item_id: int):
    await ws.accept()
    await ws.send_json({"item_id": item_id})
'''

DATA = bytes(range(256)) * 1200  # 300 KiB: past one read chunk, and a streamed upload


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    """A directory with the app module, its data file and its event log."""
    path = tmp_path_factory.mktemp("asgi_app")
    (path / "asgi_app.py").write_text(APP_SOURCE)
    (path / "data.bin").write_bytes(DATA)
    return path


def load_app(app_dir):
    return load_module(app_dir / "asgi_app.py", f"asgi_app_{uuid.uuid4().hex}").app


def read_log(app_dir):
    path = app_dir / "events.log"
    return path.read_text().splitlines() if path.exists() else []


# --------------------------------------------------------------------------- servers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UvicornServer:
    """uvicorn serving ``app`` in a thread of this process, on a free 127.0.0.1 port."""

    def __init__(self, app, ws="websockets", **options):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="warning", ws=ws, loop="uvloop",
                                http="httptools", access_log=False, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            assert time.monotonic() < deadline, "uvicorn did not start in time"
            time.sleep(0.01)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


class ProcessServer:
    """hypercorn or granian serving ``asgi_app:app`` from ``app_dir`` in a subprocess."""

    def __init__(self, kind, app_dir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        if kind == "hypercorn":
            cmd = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{self.port}", "asgi_app:app"]
        else:
            cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", "1", "asgi_app:app"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(app_dir), *sys.path]))
        self.log = open(app_dir / f"{kind}-{self.port}.out", "wb")
        self.proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(self.url + "/json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{kind} did not start: {(app_dir / self.log.name).read_text()}")
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the server and its workers
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(params=UVICORN_WS)
def serve(request):
    """uvicorn in place of the built-in server (the seed-example tests use this name), once per WebSocket
    engine uvicorn offers."""
    servers = []

    def _serve(app, **options):
        srv = UvicornServer(app, ws=request.param, **options)
        servers.append(srv)
        return srv

    yield _serve
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="module")
def native(app_dir):
    srv = Server(load_app(app_dir), host="127.0.0.1", port=0).start_in_thread()
    yield srv
    srv.stop()


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn", "granian"])
def asgi_server(request, app_dir):
    """The app module under each ASGI server (the lifespan runs: startup at start, shutdown at stop)."""
    if request.param == "uvicorn":
        srv = UvicornServer(load_app(app_dir))
    else:
        pytest.importorskip(request.param)
        srv = ProcessServer(request.param, app_dir)
    srv.kind = request.param
    yield srv
    srv.stop()


# --------------------------------------------------------------------------- HTTP: same answers as ours

#: headers each server sets itself
SERVER_HEADERS = {"date", "server", "connection", "keep-alive", "alt-svc"}

UPLOAD = {"upload": ("data.bin", DATA, "application/octet-stream")}

CASES = {
    "json": ("GET", "/json", {}),
    "sync-query": ("GET", "/sync?x=7", {}),
    "path-and-query": ("GET", "/items/5?q=abc&limit=3", {}),
    "path-422": ("GET", "/items/abc", {}),
    "query-422": ("GET", "/items/1?limit=many", {}),
    "not-found": ("GET", "/nothing-here", {}),
    "method-not-allowed": ("DELETE", "/json", {}),
    "body-201": ("POST", "/users", {"json": {"name": "amy", "age": 30}}),
    "body-422": ("POST", "/users", {"json": {"name": "amy", "age": "old"}}),
    "body-invalid-json": ("POST", "/users", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    "depends-yield": ("GET", "/dep", {}),
    "background": ("GET", "/bg?tag=cmp", {}),
    "stream": ("GET", "/stream", {}),
    "sse": ("GET", "/sse", {}),
    "file": ("GET", "/file", {}),
    "file-range": ("GET", "/file", {"headers": {"range": "bytes=10-19"}}),
    "file-suffix-range": ("GET", "/file", {"headers": {"range": "bytes=-100"}}),
    "file-416": ("GET", "/file", {"headers": {"range": "bytes=999999-"}}),
    "file-head": ("HEAD", "/file", {}),
    "missing-file-500": ("GET", "/missing-file", {}),
    "form": ("POST", "/form", {"data": {"name": "bob", "age": "7"}}),
    "form-422": ("POST", "/form", {"data": {"name": "bob"}}),
    "upload": ("POST", "/upload", {"files": UPLOAD, "data": {"note": "hi"}}),
    "streamed-body": ("POST", "/echo-size", {"content": DATA}),
    "lifespan-state": ("GET", "/state", {}),
    "error-500": ("GET", "/error", {}),
    "http-exception": ("GET", "/http-error", {}),
    "plain": ("GET", "/plain", {}),
    "head-json": ("HEAD", "/json", {}),
    "no-content": ("GET", "/no-content", {}),
    "slash-redirect": ("GET", "/slash", {"follow_redirects": False}),
}


def observe(base, method, path, options):
    """(status, body, headers) as a client sees them, less the headers every server sets itself."""
    options = dict(options)
    r = httpx.request(method, base + path, timeout=TIMEOUT, **options)
    headers = sorted((k, v.replace(base, "BASE")) for k, v in r.headers.multi_items() if k not in SERVER_HEADERS)
    return r.status_code, r.content, headers


def _headers_without(headers, *names):
    return [(k, v) for k, v in headers if k not in names]


@pytest.mark.parametrize("case", list(CASES))
def test_http_same_as_native_server(native, asgi_server, case):
    method, path, options = CASES[case]
    expected = observe(native.url, method, path, options)
    actual = observe(asgi_server.url, method, path, options)
    assert actual[0] == expected[0]
    assert actual[1] == expected[1]
    exp_h, act_h = expected[2], actual[2]
    if case in ("stream", "sse"):
        # chunked on both; some servers do not say so on the last hop (granian: HTTP/1.1 without the header)
        exp_h, act_h = _headers_without(exp_h, "transfer-encoding"), _headers_without(act_h, "transfer-encoding")
    if case == "no-content":
        exp_h, act_h = _headers_without(exp_h, "content-length"), _headers_without(act_h, "content-length")
    assert act_h == exp_h


def test_depends_yield_and_background_run_after_the_response(asgi_server, app_dir):
    tag = uuid.uuid4().hex[:8]
    r = httpx.get(asgi_server.url + f"/bg?tag={tag}", timeout=TIMEOUT)
    assert r.json() == {"queued": tag}
    r = httpx.get(asgi_server.url + "/dep", timeout=TIMEOUT)
    assert r.json() == {"value": "resource"}
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        lines = read_log(app_dir)
        if f"bg-{tag}" in lines and "dep-exit" in lines:
            break
        time.sleep(0.02)
    lines = read_log(app_dir)
    assert f"bg-{tag}" in lines
    assert lines.index("dep-enter") < lines.index("dep-exit")


def test_lifespan_startup_ran(asgi_server, app_dir):
    assert "startup" in read_log(app_dir)
    assert httpx.get(asgi_server.url + "/state", timeout=TIMEOUT).json() == {"db": "connected", "counter": 0}


def test_endless_stream_stops_when_the_client_leaves(asgi_server, app_dir):
    before = read_log(app_dir).count("forever-closed")
    with httpx.stream("GET", asgi_server.url + "/forever", timeout=TIMEOUT) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(lines) == "data: 0"
    deadline = time.monotonic() + TIMEOUT
    while read_log(app_dir).count("forever-closed") == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_log(app_dir).count("forever-closed") == before + 1


def test_multiple_ranges(native, asgi_server):
    headers = {"range": "bytes=0-4,10-14"}
    ours = httpx.get(native.url + "/file", headers=headers, timeout=TIMEOUT)
    theirs = httpx.get(asgi_server.url + "/file", headers=headers, timeout=TIMEOUT)
    assert theirs.status_code == ours.status_code == 206
    assert theirs.headers["content-type"].startswith("multipart/byteranges; boundary=")
    boundary = theirs.headers["content-type"].split("=", 1)[1]
    assert int(theirs.headers["content-length"]) == len(theirs.content)
    assert theirs.content.replace(boundary.encode(), b"B") == ours.content.replace(
        ours.headers["content-type"].split("=", 1)[1].encode(), b"B")


def test_conditional_get_304(native, asgi_server):
    etag = httpx.get(native.url + "/file", timeout=TIMEOUT).headers["etag"]
    for base in (native.url, asgi_server.url):
        r = httpx.get(base + "/file", headers={"if-none-match": etag}, timeout=TIMEOUT)
        assert r.status_code == 304 and r.content == b""
        assert r.headers["etag"] == etag


# --------------------------------------------------------------------------- WebSockets


def ws_connect(srv, path, **kwargs):
    return connect(srv.ws_url + path, open_timeout=TIMEOUT, close_timeout=TIMEOUT, proxy=None, **kwargs)


def expect_close(ws):
    try:
        msg = ws.recv(timeout=TIMEOUT)
    except ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (1006, "")
    pytest.fail(f"expected a close, got {msg!r}")


def handshake_status(srv, path):
    with pytest.raises(InvalidStatus) as info:
        with ws_connect(srv, path):
            pass
    return info.value.response.status_code


def test_ws_echo(asgi_server, app_dir):
    with ws_connect(asgi_server, "/ws") as ws:
        for message in ["hello", "wörld ✓", "", "x" * 70000]:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
        ws.close(1001)
    # hypercorn 0.18 tells the app 1006 for any close the client starts (its ws_stream.py), not the code sent
    expected = "ws-disconnect-1006" if asgi_server.kind == "hypercorn" else "ws-disconnect-1001"
    deadline = time.monotonic() + TIMEOUT
    while expected not in read_log(app_dir) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert expected in read_log(app_dir)


def test_ws_json_bytes_and_close_code(asgi_server):
    with ws_connect(asgi_server, "/ws/json?q=1") as ws:
        ws.send(json.dumps({"a": [1, 2]}))
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"got": {"a": [1, 2]}, "path": "/ws/json", "q": "1"}
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01"
        assert expect_close(ws) == (4000, "bye")


def test_ws_subprotocol(asgi_server):
    with ws_connect(asgi_server, "/ws/sub", subprotocols=["v2", "chat"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.recv(timeout=TIMEOUT) == "v2,chat"


def test_ws_lifespan_state_and_path_params(asgi_server):
    with ws_connect(asgi_server, "/ws/state") as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"db": "connected", "client": "CONNECTED"}
    with ws_connect(asgi_server, "/ws/items/7") as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"item_id": 7}


def test_ws_refusals_as_on_the_native_server(native, asgi_server):
    """close() before accept and WebSocketException before accept: 403; an unknown path: 404; an exception
    before accept: 500 (the three servers offer the ``websocket.http.response`` extension; without it, see
    test_ws_refusals_without_the_http_response_extension)."""
    for path, status in [("/ws/reject", 403), ("/ws/policy", 403), ("/ws/nowhere", 404), ("/ws/boom-before", 500)]:
        assert handshake_status(native, path) == handshake_status(asgi_server, path) == status, path


def test_ws_exception_after_accept_closes_1011(native, asgi_server):
    for srv in (native, asgi_server):
        with ws_connect(srv, "/ws/boom-after") as ws:
            ws.send("go")
            assert expect_close(ws) == (1011, "internal error")


# --------------------------------------------------------------------------- lifespan


@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn", "granian"])
def test_lifespan_shutdown_runs_when_the_server_stops(tmp_path, kind):
    (tmp_path / "asgi_app.py").write_text(APP_SOURCE)
    (tmp_path / "data.bin").write_bytes(b"x")
    if kind == "uvicorn":
        srv = UvicornServer(load_app(tmp_path))
    else:
        pytest.importorskip(kind)
        srv = ProcessServer(kind, tmp_path)
    assert read_log(tmp_path) == ["startup"]
    srv.stop()
    assert read_log(tmp_path) == ["startup", "shutdown"]


def test_failing_startup_stops_uvicorn(caplog):
    import fastrapi

    async def lifespan(app):
        raise RuntimeError("no database")
        yield  # pragma: no cover

    app = fastrapi.FastrAPI(lifespan=lifespan)
    config = uvicorn.Config(app, lifespan="on", log_config=None, port=free_port(), host="127.0.0.1")
    server = uvicorn.Server(config)
    exits = []

    def run():
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits with 3 when the startup fails
            exits.append(exc.code)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and not server.started
    assert exits == [3]
    assert "no database" in caplog.text


# --------------------------------------------------------------------------- the adapter directly


def run_asgi(app, scope, messages, extensions=None):
    """Drive one ASGI call by hand; returns what the app sent."""
    sent = []
    inbox = list(messages)

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    base = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"",
            "extensions": extensions or {}}
    base.update(scope)
    asyncio.run(app(base, receive, send))
    return sent


def run_ws(app, path, client_messages, extensions=None):
    """Drive one ASGI WebSocket connection by hand: ``client_messages`` after websocket.connect."""
    return run_asgi(app, {"type": "websocket", "path": path},
                    [{"type": "websocket.connect"}, *client_messages], extensions)


def test_ws_refusals_without_the_http_response_extension(app_dir):
    """Without the extension a refusal is a websocket.close before accept (servers answer 403)."""
    app = load_app(app_dir)
    assert run_ws(app, "/ws/reject", []) == [{"type": "websocket.close", "code": 1000, "reason": ""}]
    assert run_ws(app, "/ws/policy", []) == [{"type": "websocket.close", "code": 1008, "reason": ""}]
    assert run_ws(app, "/ws/nowhere", []) == [{"type": "websocket.close", "code": 1008, "reason": ""}]
    assert run_ws(app, "/ws/boom-before", []) == [{"type": "websocket.close", "code": 1011, "reason": ""}]
    ext = {"websocket.http.response": {}}
    sent = run_ws(app, "/ws/boom-before", [], ext)
    assert [m["type"] for m in sent] == ["websocket.http.response.start", "websocket.http.response.body"]
    assert sent[0]["status"] == 500


def test_ws_messages(app_dir):
    app = load_app(app_dir)
    sent = run_ws(app, "/ws/json", [{"type": "websocket.receive", "text": '{"a": 1}'}])
    assert sent == [
        {"type": "websocket.accept", "subprotocol": None},
        {"type": "websocket.send", "text": '{"got":{"a":1},"path":"/ws/json","q":null}'},
        {"type": "websocket.send", "bytes": b"\x00\x01"},
        {"type": "websocket.close", "code": 4000, "reason": "bye"},
    ]
    sent = run_ws(app, "/ws", [{"type": "websocket.receive", "bytes": b"x"}])
    assert sent[-1] == {"type": "websocket.close", "code": 1011, "reason": "internal error"}  # TypeError


def test_app_is_an_asgi3_callable(app_dir):
    app = load_app(app_dir)
    assert asyncio.iscoroutinefunction(app.__call__)
    assert isinstance(app._asgi_entry, ASGIAdapter)


def test_pathsend_extension_used_for_whole_files(app_dir):
    app = load_app(app_dir)
    sent = run_asgi(app, {"path": "/file"}, [{"type": "http.request"}], {"http.response.pathsend": {}})
    assert sent[0]["status"] == 200
    assert (b"content-length", str(len(DATA)).encode()) in sent[0]["headers"]
    assert sent[1] == {"type": "http.response.pathsend", "path": str((app_dir / "data.bin").resolve())}
    # a range is read and sent by the adapter itself
    sent = run_asgi(app, {"path": "/file", "headers": [(b"range", b"bytes=0-3")]}, [{"type": "http.request"}],
                    {"http.response.pathsend": {}})
    assert sent[0]["status"] == 206
    assert b"".join(m.get("body", b"") for m in sent[1:]) == DATA[:4]


def test_body_in_several_messages_is_streamed(app_dir):
    app = load_app(app_dir)
    messages = [{"type": "http.request", "body": b"ab", "more_body": True},
                {"type": "http.request", "body": b"cde", "more_body": True},
                {"type": "http.request", "body": b"", "more_body": False}]
    sent = run_asgi(app, {"method": "POST", "path": "/echo-size"}, messages)
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"]) == {"size": 5}


def test_client_gone_while_the_body_streams_sends_nothing(app_dir):
    app = load_app(app_dir)
    messages = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]
    assert run_asgi(app, {"method": "POST", "path": "/echo-size"}, messages) == []


def test_root_path_from_the_server(app_dir):
    app = load_app(app_dir)
    sent = run_asgi(app, {"path": "/api/json", "root_path": "/api"}, [{"type": "http.request"}])
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"]) == {"hello": "world"}
    assert app.root_path == "/api"


def test_uvicorn_root_path_option(app_dir):
    srv = UvicornServer(load_app(app_dir), root_path="/api")
    try:
        # behind a proxy that strips /api: uvicorn puts it back in front of the path, the app routes without it
        assert httpx.get(srv.url + "/items/3", timeout=TIMEOUT).json() == {"item_id": 3, "q": None, "limit": 10}
    finally:
        srv.stop()


def test_example_programs_are_importable_as_uvicorn_targets():
    """`uvicorn examples.seed.complete_example:app` finds an ASGI app (checked without binding 0.0.0.0)."""
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "examples" / "seed").glob("*.py")):
        app = load_module(path, f"seed_target_{path.stem}_{uuid.uuid4().hex}").app
        config = uvicorn.Config(app, log_config=None)
        config.load()
        assert config.loaded_app is not None


def test_broadcast_channels_under_uvicorn(serve):
    import fastrapi

    app = fastrapi.FastrAPI()

    @app.websocket("/room")
    async def room(ws):
        await ws.accept()
        await app.broadcast.join(ws, "room")
        await ws.send_text("joined")
        async for text in ws.iter_text():
            await app.broadcast.publish("room", text, exclude=ws)

    srv = serve(app)
    with ws_connect(srv, "/room") as amy, ws_connect(srv, "/room") as bob:
        assert amy.recv(timeout=TIMEOUT) == bob.recv(timeout=TIMEOUT) == "joined"
        amy.send("x" * 100)  # past the size the built-in server would compress
        assert bob.recv(timeout=TIMEOUT) == "x" * 100
