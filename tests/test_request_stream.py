"""Streamed request bodies: a body still arriving past 64 KiB is handed to its handler as it comes.

Checked on a real server with httpx and raw sockets: the handler starts before the body ends, the chunk
sequence of ``request.stream()``, ``body()`` of big (also chunked) bodies, "Stream consumed", an answer given
without reading the body on a keep-alive connection, a client leaving mid-body, ``max_body_size`` crossed
mid-stream, flow control against a slow reader, and pipelining behind a streamed request.
"""
import asyncio
import hashlib
import json
import logging
import random
import socket
import threading
import time

import httpx
import pytest

from pydantic import BaseModel

from fastrapi import FastAPI, Form, Request, UploadFile
from fastrapi.requests import ClientDisconnect
from rawhttp import RawConn

KiB = 1024
MiB = 1024 * 1024


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ----------------------------------------------------------------------------------------- raw socket client


class Raw(RawConn):
    """``rawhttp.RawConn`` with responses as (status, headers dict, body) tuples."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        super().__init__(port, timeout)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        r = self.read_response()
        return r.status, dict(r.headers), r.body

    def json(self) -> tuple[int, dict[str, str], object]:
        status, headers, body = self.response()
        return status, headers, json.loads(body)

    def eof(self, timeout: float = 5.0) -> bool:
        """True if the server closes the connection (EOF or reset) within ``timeout``, sending nothing more."""
        return self.closed_by_server(timeout)


def head(path: str, length: int | None = None, extra: str = "", method: str = "POST") -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\n{framing}{extra}\r\n".encode()


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# ----------------------------------------------------------------------------------------- the app


class Batch(BaseModel):
    name: str
    values: list[int]


def make_app(events: dict) -> FastAPI:
    app = FastAPI()

    @app.post("/model")
    async def model(batch: Batch):
        return {"name": batch.name, "n": len(batch.values), "sum": sum(batch.values)}

    @app.post("/model-sync")
    def model_sync(batch: Batch):
        return {"name": batch.name, "n": len(batch.values), "sum": sum(batch.values)}

    @app.post("/upload")
    async def upload(file: UploadFile, note: str = Form("")):
        events["upload_called"].set()
        data = await file.read()
        return {"len": len(data), "md5": _md5(data), "note": note}

    @app.get("/ping")
    async def ping():
        return {"pong": True}

    @app.post("/small")
    async def small(request: Request):
        return {"len": len(await request.body())}

    @app.post("/early")
    async def early(request: Request):
        """Signals after the first chunk; returns the total size once the body is complete."""
        total = 0
        async for chunk in request.stream():
            if total == 0 and chunk:
                events["first_chunk"].set()
                events["first_size"] = len(chunk)
            total += len(chunk)
        return {"total": total}

    @app.post("/chunks")
    async def chunks(request: Request):
        seen = [chunk async for chunk in request.stream()]
        return {
            "n": len(seen), "last": seen[-1].decode(), "empties_before_end": sum(1 for c in seen[:-1] if not c),
            "total": sum(len(c) for c in seen), "md5": _md5(b"".join(seen)),
            "streamed": request._stream is not None,
        }

    @app.post("/body")
    async def body(request: Request):
        data = await request.body()
        again = await request.body()
        return {"len": len(data), "md5": _md5(data), "same": again is data, "streamed": request._stream is not None}

    @app.post("/json")
    async def json_body(request: Request):
        doc = await request.json()
        return {"n": len(doc["items"]), "last": doc["items"][-1]}

    @app.post("/twice")
    async def twice(request: Request):
        async for _ in request.stream():
            pass
        try:
            async for _ in request.stream():
                pass
        except RuntimeError as exc:
            second = str(exc)
        else:
            second = "no error"
        try:
            await request.body()
        except RuntimeError as exc:
            body = str(exc)
        else:
            body = "no error"
        return {"second": second, "body": body}

    @app.post("/twice-500")
    async def twice_500(request: Request):
        async for _ in request.stream():
            pass
        async for _ in request.stream():
            pass
        return {"unreachable": True}

    @app.post("/body-then-stream")
    async def body_then_stream(request: Request):
        data = await request.body()
        first = b"".join([c async for c in request.stream()])
        second = b"".join([c async for c in request.stream()])
        return {"len": len(data), "first": len(first), "second": len(second), "md5": _md5(second)}

    @app.post("/ignore")
    async def ignore(request: Request):
        events["ignore_called"].set()
        return {"ignored": True}

    @app.post("/ignore-sync")
    def ignore_sync():
        return {"ignored": "sync"}

    @app.post("/partial")
    async def partial(request: Request):
        """Reads one chunk of the body, then answers."""
        async for chunk in request.stream():
            return {"first": len(chunk) > 0}
        return {"first": False}

    @app.post("/disconnect")
    async def disconnect(request: Request):
        events["disconnect_started"].set()
        try:
            async for _ in request.stream():
                events["disconnect_reading"].set()
        except ClientDisconnect:
            events["disconnect_seen"].set()
            raise
        return {"complete": True}

    @app.post("/disconnect-unhandled")
    async def disconnect_unhandled(request: Request):
        events["unhandled_started"].set()
        await request.body()
        return {"complete": True}

    @app.post("/slow")
    async def slow(request: Request):
        h = hashlib.md5()
        total = 0
        peak = 0
        async for chunk in request.stream():
            peak = max(peak, request._stream.size)
            h.update(chunk)
            total += len(chunk)
            await asyncio.sleep(0.003)
        return {"md5": h.hexdigest(), "len": total, "peak": peak}

    return app


@pytest.fixture
def app_events():
    return {
        "first_chunk": threading.Event(), "ignore_called": threading.Event(),
        "disconnect_started": threading.Event(), "disconnect_reading": threading.Event(),
        "disconnect_seen": threading.Event(), "unhandled_started": threading.Event(),
        "upload_called": threading.Event(),
    }


@pytest.fixture
def srv(serve, app_events):
    return serve(make_app(app_events), max_body_size=64 * MiB)  # bodies past the app's 16 MiB default


# ----------------------------------------------------------------------------------------- tests


def test_handler_starts_before_body_ends(srv, app_events):
    data = random.Random(1).randbytes(300 * KiB)
    with Raw(srv.port) as c:
        c.send(head("/early", len(data)) + data[:100 * KiB])
        assert app_events["first_chunk"].wait(5), "handler did not start while the body was still arriving"
        c.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):  # no answer yet: the body is not complete
            c._fill()
        c.sock.settimeout(10)
        c.send(data[100 * KiB:])
        status, _, body = c.json()
    assert status == 200 and body == {"total": 300 * KiB}


def test_stream_chunks_end_with_empty_bytes(srv):
    data = random.Random(2).randbytes(2 * MiB)
    r = httpx.post(srv.url + "/chunks", content=data, timeout=30)
    got = r.json()
    assert got["streamed"] is True
    assert got["n"] >= 3 and got["last"] == "" and got["empties_before_end"] == 0
    assert got["total"] == len(data) and got["md5"] == _md5(data)


def test_stream_of_small_body(srv):
    """A body that arrives whole is given as one chunk, then b"" (also an empty body: only b"")."""
    r = httpx.post(srv.url + "/chunks", content=b"hello")
    assert r.json() == {"n": 2, "last": "", "empties_before_end": 0, "total": 5, "md5": _md5(b"hello"),
                        "streamed": False}
    r = httpx.post(srv.url + "/chunks", content=b"")
    assert r.json()["n"] == 1 and r.json()["total"] == 0


def test_body_of_big_streamed_request(srv):
    data = random.Random(3).randbytes(20 * MiB)
    r = httpx.post(srv.url + "/body", content=data, timeout=60)
    assert r.json() == {"len": len(data), "md5": _md5(data), "same": True, "streamed": True}


def test_body_of_big_chunked_request(srv):
    data = random.Random(4).randbytes(20 * MiB)

    def gen():
        for i in range(0, len(data), 100_003):
            yield data[i:i + 100_003]

    r = httpx.post(srv.url + "/body", content=gen(), timeout=60)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.json() == {"len": len(data), "md5": _md5(data), "same": True, "streamed": True}


def test_json_of_streamed_body(srv):
    doc = {"items": [{"i": i, "s": "x" * 20} for i in range(20_000)]}
    raw = json.dumps(doc).encode()
    assert len(raw) > 256 * KiB
    r = httpx.post(srv.url + "/json", content=raw, headers={"content-type": "application/json"}, timeout=30)
    assert r.json() == {"n": 20_000, "last": {"i": 19_999, "s": "x" * 20}}


def test_stream_twice_raises_stream_consumed(srv, caplog):
    data = b"q" * MiB
    r = httpx.post(srv.url + "/twice", content=data, timeout=30)
    assert r.json() == {"second": "Stream consumed", "body": "Stream consumed"}
    error_logger = logging.getLogger("fastrapi.error")
    error_logger.addHandler(caplog.handler)
    try:
        r = httpx.post(srv.url + "/twice-500", content=data, timeout=30)
    finally:
        error_logger.removeHandler(caplog.handler)
    assert r.status_code == 500
    # logged as a handler error (this also shows the log capture used below for disconnects works)
    logged = [rec for rec in caplog.records if "Exception in handler" in rec.getMessage()]
    assert logged and "Stream consumed" in str(logged[0].exc_info[1])
    # the connection and the server stay usable
    assert httpx.get(srv.url + "/ping").json() == {"pong": True}


def test_body_first_then_stream_any_number_of_times(srv):
    data = random.Random(5).randbytes(MiB)
    r = httpx.post(srv.url + "/body-then-stream", content=data, timeout=30)
    assert r.json() == {"len": MiB, "first": MiB, "second": MiB, "md5": _md5(data)}


def test_answer_without_reading_then_next_request_on_same_connection(srv, app_events):
    data = b"a" * MiB
    with Raw(srv.port) as c:
        c.send(head("/ignore", len(data)) + data[:200 * KiB])
        status, headers, body = c.json()
        assert status == 200 and body == {"ignored": True}
        assert headers.get("connection", "").lower() != "close"
        c.send(data[200 * KiB:])  # the rest of the ignored body: discarded
        c.send(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.json()[::2] == (200, {"pong": True})
        # and a second streamed body on the same connection, read this time
        c.send(head("/body", len(data)) + data)
        status, _, body = c.json()
        assert status == 200 and body["len"] == MiB and body["md5"] == _md5(data)


def test_answer_without_reading_chunked_body_then_next_request(srv):
    """Same with a chunked body, and with the whole body (plus the next request) sent in one go."""
    piece = b"c" * (64 * KiB)
    body = b"".join(chunked(piece) for _ in range(16)) + b"0\r\n\r\n"
    with Raw(srv.port) as c:
        c.send(head("/ignore-sync") + body + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.json()[::2] == (200, {"ignored": "sync"})
        assert c.json()[::2] == (200, {"pong": True})
        c.send(head("/partial") + body)
        assert c.json()[::2] == (200, {"first": True})
        c.send(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.json()[::2] == (200, {"pong": True})


def _error_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_client_disconnect_mid_body(srv, app_events, caplog):
    error_logger = logging.getLogger("fastrapi.error")
    error_logger.addHandler(caplog.handler)  # in case the fastrapi loggers do not propagate
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    try:
        with Raw(srv.port) as c:
            c.send(head("/disconnect", 5 * MiB) + b"d" * (300 * KiB))
            assert app_events["disconnect_reading"].wait(5)
        assert app_events["disconnect_seen"].wait(5), "the handler's read did not raise ClientDisconnect"
        with Raw(srv.port) as c:  # a handler that does not catch it
            c.send(head("/disconnect-unhandled", 5 * MiB) + b"d" * (300 * KiB))
            assert app_events["unhandled_started"].wait(5)
        with Raw(srv.port) as c:  # a form upload (parsed by the server for the UploadFile parameter)
            c.send(head("/upload", 5 * MiB, extra="Content-Type: multipart/form-data; boundary=bb\r\n")
                   + b'--bb\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
                   + b"u" * (2 * MiB))
            time.sleep(0.2)
        assert not app_events["upload_called"].is_set()
        with Raw(srv.port) as c:  # and a client gone before the handler even started reading
            c.send(head("/chunks", 5 * MiB) + b"d" * (100 * KiB))
        time.sleep(0.3)
        # other clients are served normally
        with httpx.Client(base_url=srv.url) as client:
            assert client.get("/ping").json() == {"pong": True}
            data = b"z" * (3 * MiB)
            assert client.post("/body", content=data, timeout=30).json()["md5"] == _md5(data)
        time.sleep(0.2)
    finally:
        error_logger.removeHandler(caplog.handler)
        asyncio_logger.removeHandler(caplog.handler)
    errors = _error_records(caplog)
    assert errors == [], [r.getMessage() for r in errors]
    assert not any("Exception in handler" in r.getMessage() for r in caplog.records)


def test_max_body_size_exceeded_mid_stream(serve, app_events):
    srv = serve(make_app(app_events), max_body_size=1_000_000)
    piece = b"m" * 50_000
    with Raw(srv.port) as c:
        c.send(head("/body"))
        sent = 0
        try:
            while sent <= 1_000_000:
                c.send(chunked(piece))
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, body = c.response()
        assert status == 413
        assert headers.get("connection", "").lower() == "close"
        assert json.loads(body) == {"detail": "Request Entity Too Large"}
        assert c.eof()
    # under the limit a streamed body is fine; the server keeps serving
    data = b"k" * 900_000
    r = httpx.post(srv.url + "/body", content=iter([data[:300_000], data[300_000:]]), timeout=30)
    assert r.json()["len"] == 900_000
    assert httpx.get(srv.url + "/ping").json() == {"pong": True}


def test_max_body_size_by_content_length_is_refused_up_front(serve, app_events):
    srv = serve(make_app(app_events), max_body_size=1_000_000)
    with Raw(srv.port) as c:
        c.send(head("/body", 1_000_001))
        status, headers, _ = c.response()
        assert status == 413 and headers.get("connection", "").lower() == "close"


def test_flow_control_bounds_unread_bytes(srv):
    data = random.Random(6).randbytes(30 * MiB)

    def gen():
        for i in range(0, len(data), 256 * KiB):
            yield data[i:i + 256 * KiB]

    started = time.monotonic()
    r = httpx.post(srv.url + "/slow", content=gen(), timeout=120)
    got = r.json()
    assert got["md5"] == _md5(data) and got["len"] == len(data)
    assert 0 < got["peak"] <= 2 * MiB, f"{got['peak']} bytes queued unread"
    assert time.monotonic() - started < 60


def test_flow_control_with_content_length(srv):
    data = random.Random(7).randbytes(30 * MiB)
    r = httpx.post(srv.url + "/slow", content=data, timeout=120)
    got = r.json()
    assert got["md5"] == _md5(data) and got["len"] == len(data)
    assert got["peak"] <= 2 * MiB, f"{got['peak']} bytes queued unread"


def test_pipelined_requests_after_streamed_one_answered_in_order(srv):
    big = random.Random(8).randbytes(300 * KiB)
    big2 = random.Random(9).randbytes(500 * KiB)
    with Raw(srv.port) as c:
        c.send(
            head("/body", len(big)) + big
            + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"
            + head("/small", 3) + b"abc"
            + head("/body", len(big2)) + big2
            + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        status, _, first = c.json()
        assert status == 200 and first["md5"] == _md5(big) and first["streamed"] is True
        assert c.json()[::2] == (200, {"pong": True})
        assert c.json()[::2] == (200, {"len": 3})
        status, _, third = c.json()
        assert status == 200 and third["md5"] == _md5(big2) and third["len"] == len(big2)
        assert c.json()[::2] == (200, {"pong": True})


def test_pipelined_request_after_streamed_chunked_one(srv):
    piece = random.Random(10).randbytes(100 * KiB)
    with Raw(srv.port) as c:
        c.send(head("/chunks") + chunked(piece) + chunked(piece))
        time.sleep(0.1)
        c.send(chunked(piece) + b"0\r\n\r\n" + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body = c.json()
        assert status == 200 and body["total"] == 3 * len(piece) and body["md5"] == _md5(piece * 3)
        assert c.json()[::2] == (200, {"pong": True})


def test_expect_continue_with_streamed_body(srv):
    data = random.Random(11).randbytes(MiB)
    with Raw(srv.port) as c:
        c.send(head("/body", len(data), extra="Expect: 100-continue\r\n"))
        status, _, _ = c.response()
        assert status == 100
        c.send(data)
        status, _, body = c.json()
        assert status == 200 and body["md5"] == _md5(data)


def test_connection_close_request_with_streamed_body(srv):
    data = b"x" * MiB
    with Raw(srv.port) as c:
        c.send(head("/body", len(data), extra="Connection: close\r\n") + data)
        status, headers, body = c.json()
        assert status == 200 and body["len"] == MiB
        assert headers.get("connection", "").lower() == "close"
        assert c.eof()


def test_json_model_parameter_from_streamed_body(srv):
    values = list(range(100_000))
    raw = json.dumps({"name": "big", "values": values}).encode()
    assert len(raw) > 256 * KiB
    for path in ("/model", "/model-sync"):
        r = httpx.post(srv.url + path, content=raw, headers={"content-type": "application/json"}, timeout=30)
        assert r.json() == {"name": "big", "n": 100_000, "sum": sum(values)}
        r = httpx.post(srv.url + path, content=iter([raw[:100_000], raw[100_000:]]),
                       headers={"content-type": "application/json"}, timeout=30)
        assert r.json() == {"name": "big", "n": 100_000, "sum": sum(values)}
    r = httpx.post(srv.url + "/model", content=raw[:-1], headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_upload_form_over_max_body_size_mid_stream(serve, app_events):
    srv = serve(make_app(app_events), max_body_size=1_000_000)
    with Raw(srv.port) as c:
        c.send(head("/upload", extra="Content-Type: multipart/form-data; boundary=bb\r\n"))
        c.send(chunked(b'--bb\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'))
        sent = 0
        try:
            while sent <= 1_000_000:
                c.send(chunked(b"p" * 50_000))
                sent += 50_000
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, body = c.response()
        assert status == 413 and json.loads(body) == {"detail": "Request Entity Too Large"}
        assert headers.get("connection", "").lower() == "close"
    r = httpx.post(srv.url + "/upload", files={"file": ("f", b"p" * 500_000)}, data={"note": "ok"}, timeout=30)
    assert r.json() == {"len": 500_000, "md5": _md5(b"p" * 500_000), "note": "ok"}
