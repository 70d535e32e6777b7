"""``fastrapi.testclient.TestClient``: Starlette's TestClient API, in-process, on the app's ASGI interface.

The same app built with FastAPI and with FastrAPI answers the same through FastAPI's TestClient and ours;
then the client's own features: cookies, headers, redirects, files, streaming, ``with client:`` lifespan,
``dependency_overrides``, ``raise_server_exceptions``, and WebSocket sessions.
"""
import asyncio
import json
import logging
import threading
import time
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import BaseModel

import fastrapi
from fastrapi import (
    BackgroundTasks,
    Depends,
    FastrAPI,
    HTTPException,
    Request,
    WebSocketDisconnect,
    WebSocketException,
)
from fastrapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastrapi.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession

pytestmark = pytest.mark.timeout(30)


# --------------------------------------------------------------------------- same answers as FastAPI's


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


def make_app(fw):
    """One app, written against ``fw`` (the fastapi or the fastrapi module)."""
    from importlib import import_module

    responses = import_module(f"{fw.__name__}.responses")

    @asynccontextmanager
    async def lifespan(app):
        yield {"greeting": "hello"}

    app = fw.FastAPI(lifespan=lifespan)

    def common(q: str | None = None, limit: int = 10):
        return {"q": q, "limit": limit}

    def session():
        yield "db-session"

    @app.get("/")
    async def root():
        return {"message": "Hello World"}

    @app.get("/items/{item_id}")
    def read_item(item_id: int, params: dict = fw.Depends(common)):
        return {"item_id": item_id, **params}

    @app.post("/items", status_code=201)
    async def create_item(item: Item, x_token: str = fw.Header()):
        return {"item": item.model_dump(), "token": x_token}

    @app.get("/session")
    def use_session(db: str = fw.Depends(session)):
        return {"db": db}

    @app.get("/teapot")
    async def teapot():
        raise fw.HTTPException(418, "I'm a teapot", headers={"x-tea": "green"})

    @app.get("/cookie/set")
    async def set_cookie(response: fw.Response):
        response.set_cookie("flavour", "oat")
        return {"set": True}

    @app.get("/cookie/get")
    async def get_cookie(flavour: str | None = fw.Cookie(None)):
        return {"flavour": flavour}

    @app.get("/headers")
    async def headers(request: fw.Request):
        return {"ua": request.headers.get("user-agent"), "host": request.headers.get("host"),
                "x": request.headers.get("x-extra"), "client": request.client.host, "url": str(request.url)}

    @app.get("/redirect")
    async def redirect():
        return responses.RedirectResponse("/")

    @app.post("/form")
    async def form(name: str = fw.Form(), upload: fw.UploadFile = fw.File()):
        data = await upload.read()
        return {"name": name, "filename": upload.filename, "size": len(data), "type": upload.content_type}

    @app.get("/text")
    async def text():
        return responses.PlainTextResponse("plain")

    @app.get("/stream")
    async def stream():
        async def gen():
            for i in range(3):
                yield f"data: {i}\n\n"

        return responses.StreamingResponse(gen(), media_type="text/event-stream")

    @app.get("/state")
    async def state(request: fw.Request):
        return {"greeting": request.state.greeting}

    @app.websocket("/ws")
    async def ws_echo(websocket: fw.WebSocket):
        await websocket.accept()
        data = await websocket.receive_json()
        await websocket.send_json({"echo": data})
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())
        raw = await websocket.receive_bytes()
        await websocket.send_bytes(raw[::-1])
        await websocket.close(code=4001, reason="done")

    @app.websocket("/ws/reject")
    async def ws_reject(websocket: fw.WebSocket):
        await websocket.close()

    @app.websocket("/ws/params/{room}")
    async def ws_params(websocket: fw.WebSocket, room: str, token: str | None = None):
        await websocket.accept()
        await websocket.send_json({"room": room, "token": token, "cookie": websocket.cookies.get("c"),
                                   "header": websocket.headers.get("x-h")})
        await websocket.close()

    return app


HTTP_CASES = [
    ("GET", "/", {}),
    ("GET", "/items/3?q=x", {}),
    ("GET", "/items/three", {}),
    ("GET", "/items/3?limit=no", {}),
    ("POST", "/items", {"json": {"name": "pen", "price": 1.5, "tags": ["a"]}, "headers": {"x-token": "t"}}),
    ("POST", "/items", {"json": {"name": "pen"}, "headers": {"x-token": "t"}}),
    ("POST", "/items", {"json": {"name": "pen", "price": 1}}),
    ("GET", "/session", {}),
    ("GET", "/teapot", {}),
    ("GET", "/nowhere", {}),
    ("DELETE", "/", {}),
    ("GET", "/cookie/get", {"headers": {"cookie": "flavour=soy"}}),
    ("GET", "/headers", {"headers": {"x-extra": "1"}}),
    ("GET", "/redirect", {}),
    ("GET", "/redirect", {"follow_redirects": False}),
    ("POST", "/form", {"data": {"name": "n"}, "files": {"upload": ("a.txt", b"hello", "text/plain")}}),
    ("POST", "/form", {"data": {"name": "n"}}),
    ("GET", "/text", {}),
    ("GET", "/stream", {}),
]

COMPARED_HEADERS = ("content-type", "content-length", "location", "x-tea", "set-cookie")


def outcome(response):
    json_body = response.content and response.headers.get("content-type") == "application/json"
    body = response.json() if json_body else response.text
    headers = {k: response.headers.get(k) for k in COMPARED_HEADERS}
    return response.status_code, body, headers


def fastapi_client():
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient as FastAPITestClient

    return FastAPITestClient(make_app(fastapi))


@pytest.mark.parametrize("method,url,options", HTTP_CASES, ids=[f"{m} {u}" for m, u, _ in HTTP_CASES])
def test_http_same_as_fastapi_testclient(method, url, options):
    with fastapi_client() as theirs, TestClient(make_app(fastrapi)) as ours:
        expected = outcome(theirs.request(method, url, **options))
        actual = outcome(ours.request(method, url, **options))
    assert actual == expected


def test_cookie_set_then_sent_same_as_fastapi():
    with fastapi_client() as theirs, TestClient(make_app(fastrapi)) as ours:
        for client in (theirs, ours):
            assert client.get("/cookie/set").json() == {"set": True}
            assert client.get("/cookie/get").json() == {"flavour": "oat"}
            assert client.cookies.get("flavour") == "oat"


def test_lifespan_state_same_as_fastapi():
    with fastapi_client() as theirs, TestClient(make_app(fastrapi)) as ours:
        assert ours.get("/state").json() == theirs.get("/state").json() == {"greeting": "hello"}
        assert ours.app_state == {"greeting": "hello"}


def ws_transcript(client, WebSocketDisconnect):
    out = []
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"a": [1, 2]})
        out.append(ws.receive_json())
        ws.send_text("shout")
        out.append(ws.receive_text())
        ws.send_bytes(b"abc")
        out.append(ws.receive_bytes())
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        out.append((info.value.code, info.value.reason))
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect("/ws/reject"):
            pass
    out.append(("rejected", info.value.code))
    with client.websocket_connect("/ws/params/lobby?token=abc", headers={"x-h": "v", "cookie": "c=k"}) as ws:
        out.append(ws.receive_json())
    return out


def test_websocket_same_as_fastapi():
    import fastapi

    with fastapi_client() as theirs, TestClient(make_app(fastrapi)) as ours:
        expected = ws_transcript(theirs, fastapi.WebSocketDisconnect)
        assert isinstance(ours.websocket_connect("/ws/reject"), WebSocketTestSession)
        actual = ws_transcript(ours, WebSocketDisconnect)
    assert expected[-2] == ("rejected", 1000)
    assert expected[3] == (4001, "done")
    assert actual == expected


# --------------------------------------------------------------------------- HTTP client features


@pytest.fixture
def app():
    app = FastrAPI()

    @app.get("/hello")
    async def hello(name: str = "world"):
        return {"hello": name}

    @app.get("/whoami")
    async def whoami(request: Request):
        return {"client": list(request.client), "url": str(request.url), "ua": request.headers["user-agent"],
                "auth": request.headers.get("authorization")}

    @app.get("/error")
    async def error():
        raise RuntimeError("handler failed")

    @app.get("/sync-error")
    def sync_error():
        raise ZeroDivisionError("sync failed")

    @app.get("/handled")
    async def handled():
        raise LookupError("handled by the app")

    @app.exception_handler(LookupError)
    async def lookup_handler(request, exc):
        return JSONResponse({"handled": str(exc)}, status_code=409)

    @app.get("/http-error")
    async def http_error():
        raise HTTPException(404, "no such thing")

    @app.post("/upload-size")
    async def upload_size(request: Request):
        form = await request.form()
        f = form["file"]
        return {"size": len(await f.read()), "filename": f.filename}

    @app.post("/raw")
    async def raw(request: Request):
        return PlainTextResponse(await request.body())

    @app.get("/hop/{n}")
    async def hop(n: int):
        from fastrapi.responses import RedirectResponse

        return RedirectResponse(f"/hop/{n - 1}" if n else "/hello?name=end")

    @app.get("/url")
    async def url(request: Request):
        return {"url": str(request.url_for("hello"))}

    return app


def test_get_query_and_json(app):
    with TestClient(app) as client:
        r = client.get("/hello", params={"name": "amy"})
        assert r.status_code == 200
        assert r.json() == {"hello": "amy"}
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-length"] == str(len(r.content))
        assert r.request.url == "http://testserver/hello?name=amy"


def test_client_address_url_and_default_headers(app):
    client = TestClient(app, headers={"Authorization": "Bearer t"}, client=("10.0.0.9", 1234))
    try:
        assert client.get("/whoami").json() == {"client": ["10.0.0.9", 1234], "url": "http://testserver/whoami",
                                                "ua": "testclient", "auth": "Bearer t"}
    finally:
        client.close()


def test_base_url(app):
    with TestClient(app, base_url="http://example.org/") as client:
        assert client.get("/whoami").json()["url"] == "http://example.org/whoami"


def test_raise_server_exceptions(app, caplog):
    with TestClient(app) as client:
        with pytest.raises(RuntimeError, match="handler failed"):
            client.get("/error")
        with pytest.raises(ZeroDivisionError, match="sync failed"):
            client.get("/sync-error")
        # exceptions the app answers itself are not raised
        assert client.get("/handled").json() == {"handled": "handled by the app"}
        assert client.get("/http-error").status_code == 404
    assert "Exception in handler of GET /error" in caplog.text  # the app's 500 handling still logs


def test_server_exceptions_as_500(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/error")
        assert r.status_code == 500
        assert r.text == "Internal Server Error"
        assert client.get("/hello").status_code == 200  # and the client goes on


def test_redirects(app):
    with TestClient(app) as client:
        r = client.get("/hop/3")
        assert r.json() == {"hello": "end"}
        assert len(r.history) == 4
    with TestClient(app, follow_redirects=False) as client:
        r = client.get("/hop/1")
        assert r.status_code == 307
        assert r.headers["location"] == "/hop/0"


def test_uploads_small_and_large(app):
    with TestClient(app) as client:
        small = client.post("/upload-size", files={"file": ("s.txt", b"abc", "text/plain")})
        assert small.json() == {"size": 3, "filename": "s.txt"}
        big = b"z" * (3 * 64 * 1024 + 17)  # reaches the app in 64 KiB messages: the streamed body path
        assert client.post("/upload-size", files={"file": ("b.bin", big)}).json() == {"size": len(big),
                                                                                    "filename": "b.bin"}
        assert client.post("/raw", content=big).content == big


def test_root_path_in_url_for(app):
    with TestClient(app, root_path="/api") as client:
        assert client.get("/url").json() == {"url": "http://testserver/api/hello"}
        assert client.get("/hello").status_code == 200


def test_client_without_with_block_and_close(app):
    client = TestClient(app)
    assert client.get("/hello").json() == {"hello": "world"}
    assert client.get("/hello").json() == {"hello": "world"}
    client.close()


def test_concurrent_requests_from_threads(app):
    with TestClient(app) as client:
        results = []

        def worker(i):
            results.append(client.get("/hello", params={"name": str(i)}).json()["hello"])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(results) == sorted(str(i) for i in range(8))


# --------------------------------------------------------------------------- streaming and background


def test_stream_and_early_close():
    app = FastrAPI()
    closed = threading.Event()

    @app.get("/events")
    async def events():
        async def gen():
            i = 0
            try:
                while True:
                    yield f"data: {i}\n\n"
                    i += 1
                    await asyncio.sleep(0)
            finally:
                closed.set()

        return StreamingResponse(gen(), media_type="text/event-stream")

    with TestClient(app) as client:
        with client.stream("GET", "/events") as r:
            assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
            lines = r.iter_lines()
            assert [next(lines) for _ in range(4)] == ["data: 0", "", "data: 1", ""]
        assert closed.wait(5)


def test_background_tasks_done_when_the_call_returns():
    app = FastrAPI()
    done = []

    @app.post("/send")
    async def send(tasks: BackgroundTasks, to: str):
        async def mail():
            await asyncio.sleep(0.05)
            done.append(to)

        tasks.add_task(mail)
        return {"queued": to}

    with TestClient(app) as client:
        assert client.post("/send", params={"to": "amy"}).json() == {"queued": "amy"}
        assert done == ["amy"]


# --------------------------------------------------------------------------- lifespan and overrides


def test_with_block_runs_the_lifespan():
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        yield {"pool": "P"}
        events.append("shutdown")

    app = FastrAPI(lifespan=lifespan)

    @app.get("/pool")
    async def pool(request: Request):
        return {"pool": request.state.pool}

    client = TestClient(app)
    with client:
        assert events == ["startup"]
        assert client.get("/pool").json() == {"pool": "P"}
    assert events == ["startup", "shutdown"]
    with client:  # a client can run the lifespan again
        assert client.get("/pool").json() == {"pool": "P"}
    assert events == ["startup", "shutdown", "startup", "shutdown"]


def test_startup_and_shutdown_hooks():
    events = []
    app = FastrAPI()

    @app.on_event("startup")
    async def start():
        events.append("start")

    @app.on_event("shutdown")
    def stop():
        events.append("stop")

    with TestClient(app):
        assert events == ["start"]
    assert events == ["start", "stop"]


def test_failing_startup_raises_in_the_test():
    @asynccontextmanager
    async def lifespan(app):
        raise ConnectionRefusedError("database down")
        yield  # pragma: no cover

    app = FastrAPI(lifespan=lifespan)
    with pytest.raises(ConnectionRefusedError, match="database down"):
        with TestClient(app):
            pass  # pragma: no cover


def test_without_with_block_no_lifespan():
    events = []
    app = FastrAPI(on_startup=[lambda: events.append("start")])

    @app.get("/")
    async def root():
        return {}

    client = TestClient(app)
    assert client.get("/").status_code == 200
    assert events == []
    client.close()


def test_dependency_overrides():
    app = FastrAPI()

    async def current_user():
        raise HTTPException(401, "not logged in")

    def settings():
        yield {"mode": "prod"}

    @app.get("/me")
    async def me(user: str = Depends(current_user), conf: dict = Depends(settings)):
        return {"user": user, "mode": conf["mode"]}

    with TestClient(app) as client:
        assert client.get("/me").status_code == 401
        app.dependency_overrides[current_user] = lambda: "test-user"
        app.dependency_overrides[settings] = lambda: {"mode": "test"}
        assert client.get("/me").json() == {"user": "test-user", "mode": "test"}
        app.dependency_overrides.clear()
        assert client.get("/me").status_code == 401


# --------------------------------------------------------------------------- WebSockets


@pytest.fixture
def ws_app():
    app = FastrAPI()
    app.seen = []

    @app.websocket("/echo")
    async def echo(ws):
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    app.seen.append(("disconnect", message["code"]))
                    return
                if "text" in message:
                    await ws.send_text(message["text"])
                else:
                    await ws.send_bytes(message["bytes"])
        finally:
            app.seen.append(("client_state", ws.client_state.name))

    @app.websocket("/json")
    async def json_echo(ws):
        await ws.accept()
        try:
            while True:
                await ws.send_json(await ws.receive_json(), mode="binary")
        except WebSocketDisconnect as exc:
            app.seen.append(("json-closed", exc.code, exc.reason))

    @app.websocket("/sub")
    async def sub(ws):
        await ws.accept(subprotocol="v2", headers={"x-server": "yes"})
        await ws.send_text(",".join(ws.subprotocols))

    @app.websocket("/close/{code}")
    async def close_with(ws, code: int):
        await ws.accept()
        await ws.close(code, "bye now")

    @app.websocket("/deny")
    async def deny(ws):
        raise WebSocketException(1008, "go away")

    @app.websocket("/boom-before")
    async def boom_before(ws):
        raise RuntimeError("before accept")

    @app.websocket("/boom-after")
    async def boom_after(ws):
        await ws.accept()
        raise RuntimeError("after accept")

    @app.websocket("/info")
    async def info(ws):
        await ws.accept()
        await ws.send_json({"client": list(ws.client), "url": str(ws.url), "state": ws.client_state.name})

    return app


def test_websocket_text_and_bytes(ws_app):
    with TestClient(ws_app) as client:
        with client.websocket_connect("/echo") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"
            ws.send_bytes(b"\x00\xff")
            assert ws.receive_bytes() == b"\x00\xff"
            ws.send_text("raw")
            assert ws.receive() == {"type": "websocket.send", "text": "raw"}
        deadline = time.monotonic() + 5
        while len(ws_app.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    # leaving the block closes with 1000: the handler sees it, and the client is gone
    assert ws_app.seen == [("disconnect", 1000), ("client_state", "DISCONNECTED")]


def test_websocket_json_modes(ws_app):
    with TestClient(ws_app) as client:
        with client.websocket_connect("/json") as ws:
            ws.send_json({"x": [1, "ü"]})
            assert ws.receive_json(mode="binary") == {"x": [1, "ü"]}
            ws.send_json([1, 2], mode="binary")
            with pytest.raises(WebSocketDisconnect) as info:  # the app's receive_json() wants text: 1011
                ws.receive_json(mode="binary")
            assert info.value.code == 1011
    with TestClient(ws_app) as client:
        with client.websocket_connect("/json") as ws:
            ws.send_json({"a": 1})
            assert ws.receive_bytes() == b'{"a":1}'
            ws.close(3001, "test over")
        deadline = time.monotonic() + 5
        while ("json-closed", 3001, "test over") not in ws_app.seen and time.monotonic() < deadline:
            time.sleep(0.01)
    assert ("json-closed", 3001, "test over") in ws_app.seen


def test_websocket_subprotocols_and_accept_headers(ws_app):
    with TestClient(ws_app) as client:
        with client.websocket_connect("/sub", subprotocols=["v1", "v2"]) as ws:
            assert ws.accepted_subprotocol == "v2"
            assert ws.extra_headers == [(b"x-server", b"yes")]
            assert ws.receive_text() == "v1,v2"


def test_websocket_server_close_raises_disconnect(ws_app):
    with TestClient(ws_app) as client:
        with client.websocket_connect("/close/4003") as ws:
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_text()
            assert (info.value.code, info.value.reason) == (4003, "bye now")
            with pytest.raises(WebSocketDisconnect) as again:
                ws.receive_text()
            assert again.value.code == 4003


def test_websocket_denials(ws_app, caplog):
    with TestClient(ws_app) as client:
        with pytest.raises(WebSocketDisconnect) as info:
            with client.websocket_connect("/deny"):
                pass  # pragma: no cover
        assert info.value.code == 1008
        with pytest.raises(WebSocketDenialResponse) as denial:
            with client.websocket_connect("/boom-before"):
                pass  # pragma: no cover
        assert denial.value.status_code == 500
        assert isinstance(denial.value, WebSocketDisconnect)
        with pytest.raises(WebSocketDenialResponse) as missing:
            with client.websocket_connect("/no-such-path"):
                pass  # pragma: no cover
        assert missing.value.status_code == 404 and missing.value.text == "Not Found"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Exception in WebSocket handler for /boom-before"]


def test_websocket_exception_after_accept_closes_1011(ws_app):
    with TestClient(ws_app) as client:
        with client.websocket_connect("/boom-after") as ws:
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_text()
            assert (info.value.code, info.value.reason) == (1011, "internal error")


def test_websocket_request_details(ws_app):
    with TestClient(ws_app) as client:
        with client.websocket_connect("/info?x=1") as ws:
            assert ws.receive_json() == {"client": ["testclient", 50000], "url": "ws://testserver/info?x=1",
                                         "state": "CONNECTED"}


def test_websocket_handler_that_never_reads_is_ended():
    """A handler that keeps sending after the test left gets a disconnect from its next send."""
    app = FastrAPI()
    ended = threading.Event()

    @app.websocket("/ticks")
    async def ticks(ws):
        await ws.accept()
        try:
            i = 0
            while True:
                await ws.send_text(str(i))
                i += 1
                await asyncio.sleep(0.001)
        except WebSocketDisconnect:
            ended.set()

    with TestClient(app) as client:
        with client.websocket_connect("/ticks") as ws:
            assert ws.receive_text() == "0"
        assert ended.wait(5)


def test_seed_examples_through_the_testclient():
    from pathlib import Path

    from modules import load_module

    seed = Path(__file__).resolve().parent.parent / "examples" / "seed"
    app = load_module(seed / "complete_example.py", "seed_complete_tc").app
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            for m in ["hello", "wörld"]:
                ws.send_text(m)
                assert json.loads(ws.receive_text()) == {"reply": "Message received", "echo": m}
    app = load_module(seed / "close_example.py", "seed_close_tc").app
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_text()
            assert info.value.code == 1000


def test_testclient_is_an_httpx_client(app):
    with TestClient(app) as client:
        assert isinstance(client, httpx.Client)
        assert TestClient.__test__ is False


def test_broadcast_channels_over_the_asgi_connection():
    """Channels (fastrapi.broadcast) fan out to connections served through the ASGI interface too."""
    app = FastrAPI()

    @app.websocket("/room/{name}")
    async def room(ws, name: str):
        await ws.accept()
        await app.broadcast.join(ws, name)
        await ws.send_text("joined")
        try:
            async for text in ws.iter_text():
                await app.broadcast.publish(name, text, exclude=ws)
        finally:
            await ws.close()

    with TestClient(app) as client:
        with client.websocket_connect("/room/a") as amy, client.websocket_connect("/room/a") as bob, \
                client.websocket_connect("/room/b") as cid:
            for ws in (amy, bob, cid):
                assert ws.receive_text() == "joined"
            amy.send_text("hi all")
            assert bob.receive_text() == "hi all"
            bob.send_text("hello amy")
            assert amy.receive_text() == "hello amy"
            cid.send_text("only b")
        deadline = time.monotonic() + 5
        while app.broadcast.subscribers("a") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert app.broadcast.subscribers("a") == 0  # members leave when their connection ends
