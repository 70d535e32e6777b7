"""Listening on a Unix domain socket (``uds=``) or an inherited socket file descriptor (``fd=``), in-process,
from the CLI (``--uds``, ``--fd``) and with ``--workers 2`` sharing the one socket."""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import unix_connect

from fastrapi import FastrAPI, Request, WebSocket
from fastrapi.server import Server

ROOT = Path(__file__).resolve().parent.parent


def make_app() -> FastrAPI:
    app = FastrAPI()

    @app.get("/")
    def index(request: Request):
        client = request.client
        return {"pid": os.getpid(), "client": client.host if client else None, "url": str(request.url)}

    @app.get("/fast")
    async def fast():
        return {"fast": True}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("echo " + await websocket.receive_text())
        await websocket.close()

    return app


def uds_client(path: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://localhost", timeout=5)


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "app.sock")


def test_uds(sock_path):
    srv = Server(make_app(), uds=sock_path).start_in_thread()
    try:
        assert srv.url == f"http+unix://{sock_path}"
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o666
        with uds_client(sock_path) as client:
            r = client.get("/")
            assert r.status_code == 200
            assert r.json()["client"] is None  # a Unix socket peer has no address
            assert r.json()["url"] == "http://localhost/"
            assert client.get("/fast").json() == {"fast": True}
        with unix_connect(sock_path, uri="ws://localhost/ws", open_timeout=5) as ws:
            ws.send("hi")
            assert ws.recv(timeout=5) == "echo hi"
    finally:
        srv.stop()
    assert not os.path.exists(sock_path), "the socket file is removed at shutdown"


def test_uds_replaces_stale_socket_but_not_a_file(sock_path, tmp_path):
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock_path)  # left behind by a crashed run: bound, nobody listening
    stale.close()
    srv = Server(make_app(), uds=sock_path).start_in_thread()
    try:
        with uds_client(sock_path) as client:
            assert client.get("/").status_code == 200
    finally:
        srv.stop()
    regular = tmp_path / "not-a-socket"
    regular.write_text("keep me")
    with pytest.raises(OSError):
        Server(make_app(), uds=str(regular)).start_in_thread()
    assert regular.read_text() == "keep me"


def test_uds_proxy_headers_trusted(sock_path):
    # nginx -> unix socket: the peer is a local process, trusted by default
    srv = Server(make_app(), uds=sock_path, proxy_headers=True).start_in_thread()
    try:
        with uds_client(sock_path) as client:
            r = client.get("/", headers={"x-forwarded-for": "203.0.113.8", "x-forwarded-proto": "https",
                                         "host": "site.example"})
            assert r.json()["client"] == "203.0.113.8" and r.json()["url"] == "https://site.example/"
    finally:
        srv.stop()


def test_fd_inherited_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    srv = Server(make_app(), fd=sock.fileno()).start_in_thread()
    try:
        assert srv.port == port and srv.url == f"http://127.0.0.1:{port}"
        r = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert r.status_code == 200 and r.json()["client"] == "127.0.0.1"
    finally:
        srv.stop()
    # the server listened on its own duplicate: the caller's descriptor is still open and its own
    assert sock.getsockname()[1] == port
    sock.close()


def test_fd_unix_socket():
    path = f"/tmp/fastrapi-fd-{os.getpid()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(16)
        srv = Server(make_app(), fd=sock.fileno()).start_in_thread()
        try:
            with uds_client(path) as client:
                assert client.get("/").status_code == 200
        finally:
            srv.stop()
    finally:
        sock.close()
        if os.path.exists(path):
            os.unlink(path)


# ------------------------------------------------------------------------------------------- CLI, workers
APP_MODULE = """
import os
from fastrapi import FastrAPI, Request
app = FastrAPI()

@app.get("/")
def index(request: Request):
    return {"pid": os.getpid(), "root_path": request.scope["root_path"]}
"""


def _run(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "fastrapi", "run", "app:app", "--no-access-log", *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait(get, proc: subprocess.Popen, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read()!r}")
        try:
            return get()
        except (httpx.HTTPError, OSError):
            time.sleep(0.1)
    raise AssertionError("server did not come up")


def test_cli_uds_with_workers_and_root_path(tmp_path, sock_path):
    (tmp_path / "app.py").write_text(APP_MODULE)
    proc = _run(["--uds", sock_path, "--workers", "2", "--root-path", "/api"], tmp_path)
    try:
        with uds_client(sock_path) as client:
            first = _wait(lambda: client.get("/"), proc)
            assert first.json()["root_path"] == "/api"
        pids = set()
        deadline = time.monotonic() + 15
        while len(pids) < 2 and time.monotonic() < deadline:
            with uds_client(sock_path) as client:  # a new connection each time
                pids.add(client.get("/").json()["pid"])
        assert len(pids) == 2, "both workers accept on the shared Unix socket"
    finally:
        _stop(proc)
    assert proc.returncode == 0
    assert not os.path.exists(sock_path)


def test_cli_fd_inherited(tmp_path):
    (tmp_path / "app.py").write_text(APP_MODULE)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    proc = _run(["--fd", str(sock.fileno())], tmp_path, pass_fds=[sock.fileno()])
    sock.close()  # the child holds it now
    try:
        r = _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=2), proc)
        assert r.status_code == 200 and r.json()["pid"] == proc.pid
    finally:
        _stop(proc)
    assert proc.returncode == 0
