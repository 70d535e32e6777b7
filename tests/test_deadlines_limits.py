"""Deadlines and limits: slowloris heads and stalled bodies get 408, limit_concurrency gives 503,
limit_max_requests stops the process after N requests, and a WebSocket client that never reads costs little."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from fastrapi import FastrAPI, Request

sys.path.insert(0, str(Path(__file__).parent))
from rawhttp import RawConn  # noqa: E402
from wsraw import build_request  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def _app() -> FastrAPI:
    app = FastrAPI()

    @app.get("/ok")
    async def ok():
        return {"ok": True}

    @app.post("/upload")
    async def upload(request: Request):
        return {"n": len(await request.body())}

    return app


def _read_all(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and when it closed."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic()


# ---------------------------------------------------------------------------------------------- header_timeout
def test_slowloris_head_gets_408_and_close(serve):
    srv = serve(_app(), header_timeout=1.0)
    s = socket.create_connection(("127.0.0.1", srv.port))
    start = time.monotonic()
    stop = threading.Event()

    def drip() -> None:  # one byte every 0.1 s, never the end of the head
        for b in b"GET /ok HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 1000:
            if stop.is_set():
                return
            try:
                s.send(bytes([b]))
            except OSError:
                return
            time.sleep(0.1)

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    data, closed_at = _read_all(s, 5)
    stop.set()
    s.close()
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert b"connection: close" in data.lower()
    assert 0.9 < closed_at - start < 3.5


def test_slowloris_on_a_keep_alive_connection(serve):
    """The deadline applies to every head of a connection, not only the first."""
    srv = serve(_app(), header_timeout=1.0, keep_alive_timeout=30)
    with RawConn(srv.port) as c:
        c.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n")  # ... and never the blank line
        start = time.monotonic()
        r = c.read_response()
        assert r.status == 408
        assert c.closed_by_server(3)
        assert time.monotonic() - start < 3.5


def test_normal_requests_unaffected_by_500_slowloris_clients(serve):
    srv = serve(_app(), header_timeout=60.0)
    socks = []
    try:
        for _ in range(500):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.send(b"GET /ok HTTP/1.1\r\nHost: t\r\nX-Slow: a")
            socks.append(s)
        with httpx.Client(timeout=5) as client:
            latencies = []
            for _ in range(20):
                t0 = time.monotonic()
                assert client.get(srv.url + "/ok").status_code == 200
                latencies.append(time.monotonic() - t0)
        assert sorted(latencies)[len(latencies) // 2] < 0.5
    finally:
        for s in socks:
            s.close()


def test_header_timeout_none_disables_it(serve):
    srv = serve(_app(), header_timeout=None, keep_alive_timeout=0.5)
    with RawConn(srv.port) as c:
        c.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n")
        assert not c.closed_by_server(1.5)
        c.send(b"\r\n")
        assert c.read_response().status == 200


# ---------------------------------------------------------------------------------------------- body_timeout
def test_stalled_body_gets_408(serve):
    srv = serve(_app(), body_timeout=1.0)
    with RawConn(srv.port) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        start = time.monotonic()
        r = c.read_response()
        assert r.status == 408
        assert b"body" in r.body
        assert c.closed_by_server(3)
        assert 0.9 < time.monotonic() - start < 3.5


def test_stalled_streamed_body_gets_408_from_the_handler(serve):
    """A body past 64 KiB is already streamed to its handler: the stall reaches it as a 408."""
    srv = serve(_app(), body_timeout=1.0)
    with RawConn(srv.port) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 200_000)
        r = c.read_response()
        assert r.status == 408
        assert c.closed_by_server(3)


def test_slow_but_steady_body_is_not_cut(serve):
    srv = serve(_app(), body_timeout=1.0)
    with RawConn(srv.port, timeout=10) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n")
        for i in range(8):  # 2.4 s in all, a byte every 0.3 s
            time.sleep(0.3)
            c.send(b"x")
        r = c.read_response()
        assert r.status == 200 and r.json() == {"n": 8}


# ---------------------------------------------------------------------------------------------- limit_concurrency
def test_limit_concurrency_503_then_recovers(serve):
    srv = serve(_app(), limit_concurrency=2)
    a, b = RawConn(srv.port), RawConn(srv.port)
    try:
        for c in (a, b):
            c.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
            assert c.read_response().status == 200
        with RawConn(srv.port) as third:
            third.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
            r = third.read_response()
            assert r.status == 503
            assert r.header("connection") == "close"
            assert third.closed_by_server(3)
        # WebSocket handshakes are refused the same way
        with RawConn(srv.port) as ws:
            ws.send(build_request("/ws")[0])
            assert ws.read_response().status == 503
    finally:
        a.close()
        b.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(srv.url + "/ok").status_code == 200:
            break
        time.sleep(0.05)
    else:
        pytest.fail("not served again once the other connections closed")


# ---------------------------------------------------------------------------------------------- limit_max_requests
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_limit_max_requests_stops_the_process(tmp_path):
    port = _free_port()
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        from fastrapi import FastrAPI
        app = FastrAPI()

        @app.get("/ok")
        async def ok():
            return {{"ok": True}}

        app.serve(host="127.0.0.1", port={port}, limit_max_requests=3)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
                time.sleep(0.05)
        with httpx.Client() as client:
            for _ in range(3):  # the third request is answered, then the process stops
                assert client.get(f"http://127.0.0.1:{port}/ok").json() == {"ok": True}
        assert proc.wait(15) == 0
        _, err = proc.communicate()
        assert "Maximum request limit of 3 exceeded" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------- slow WebSocket readers
def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_websocket_clients_that_never_read_cost_little_memory(tmp_path):
    """20 clients that never read a handler sending fresh 64 KiB text messages: RSS grows by <= 80 KB each
    (387 KB with a 256 KiB write buffer holding whole messages). A large frame the socket does not take stays
    the handler's own string, written out in pieces as the client reads."""
    port = _free_port()
    script = tmp_path / "flood.py"
    script.write_text(textwrap.dedent(f"""
        from fastrapi import FastrAPI
        app = FastrAPI()

        @app.websocket("/flood")
        async def flood(ws):
            await ws.accept()
            while True:
                await ws.send_text("x" * 65536)

        @app.get("/ok")
        async def ok():
            return {{"ok": True}}

        app.serve(host="127.0.0.1", port={port})
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)

        def open_readers(n: int) -> None:
            for _ in range(n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", port))
                s.sendall(build_request("/flood")[0])
                socks.append(s)  # never read from again

        open_readers(2)  # warm up: code paths, allocator arenas
        time.sleep(1.0)
        before = _rss_kb(proc.pid)
        open_readers(20)
        time.sleep(2.0)  # every handler has filled what it may and waits
        growth = (_rss_kb(proc.pid) - before) / 20
        assert growth <= 80, f"{growth:.0f} KB of server memory per client that never reads"
        assert httpx.get(f"http://127.0.0.1:{port}/ok", timeout=5).status_code == 200
    finally:
        for s in socks:
            s.close()
        proc.kill()
        proc.wait()
