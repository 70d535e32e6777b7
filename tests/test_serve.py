"""``app.serve(...)`` lifecycle: in a thread, as a script in a subprocess, signals, graceful shutdown, errors."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from fastrapi import FastrAPI

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_http(port: int, path: str = "/ping", timeout: float = 10.0, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"server process exited early with {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return r
        except httpx.HTTPError as exc:
            last_exc = exc
            time.sleep(0.05)
    pytest.fail(f"server on port {port} did not answer within {timeout}s: {last_exc!r}")


# --------------------------------------------------------------------------------------------------------------
# app.serve in a daemon thread
# --------------------------------------------------------------------------------------------------------------


def _thread_app() -> FastrAPI:
    app = FastrAPI()

    @app.get("/ping")
    async def ping():
        return {"pong": True}

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {"item_id": item_id}

    return app


def test_serve_keyword_args_in_thread():
    app = _thread_app()
    port = free_port()
    t = threading.Thread(target=app.serve, kwargs={"host": "127.0.0.1", "port": port}, daemon=True)
    t.start()
    r = wait_for_http(port)
    assert r.status_code == 200 and r.json() == {"pong": True}
    assert httpx.get(f"http://127.0.0.1:{port}/items/3").json() == {"item_id": 3}
    assert t.is_alive()


def test_serve_positional_args_in_thread():
    app = _thread_app()
    port = free_port()
    t = threading.Thread(target=app.serve, args=("127.0.0.1", port), daemon=True)
    t.start()
    r = wait_for_http(port)
    assert r.status_code == 200 and r.json() == {"pong": True}
    assert t.is_alive()


def test_serve_with_options_in_thread():
    app = _thread_app()
    port = free_port()
    t = threading.Thread(
        target=app.serve,
        kwargs={"host": "127.0.0.1", "port": port, "max_header_size": 1024, "keep_alive_timeout": 1.0},
        daemon=True,
    )
    t.start()
    wait_for_http(port)
    r = httpx.get(f"http://127.0.0.1:{port}/ping", headers={"x-big": "a" * 2000})
    assert r.status_code == 431


# --------------------------------------------------------------------------------------------------------------
# the seed-like script in a subprocess
# --------------------------------------------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from fastrapi import FastrAPI

    app = FastrAPI()
    FLAG = {flag!r}

    @app.get("/ping")
    async def ping():
        return {{"pong": True}}

    @app.get("/slow")
    async def slow():
        open(FLAG, "w").close()          # tell the test the request is in flight
        await asyncio.sleep(1.0)
        return {{"slow": "done"}}

    @app.websocket("/ws")
    async def ws_endpoint(ws):
        await ws.accept()
        try:
            while True:
                msg = await ws.receive_text()
                await ws.send_text("echo:" + msg)
        except ConnectionError:
            pass

    app.serve(host="127.0.0.1", port={port})
    """
)


class ServerProcess:
    def __init__(self, tmp_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.flag = tmp_path / "in_flight.flag"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT.format(port=self.port, flag=str(self.flag))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(tmp_path),
            env=env,
        )
        self.out = ""
        self.err = ""

    def wait_ready(self) -> None:
        wait_for_http(self.port, proc=self.proc)

    def finish(self, timeout: float = 15.0) -> int:
        try:
            self.out, self.err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.out, self.err = self.proc.communicate()
            pytest.fail(f"server did not exit within {timeout}s\nstdout:\n{self.out}\nstderr:\n{self.err}")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def server_process(tmp_path):
    procs: list[ServerProcess] = []

    def start(port: int | None = None) -> ServerProcess:
        p = ServerProcess(tmp_path, port)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()


def _url_lines(sp: ServerProcess) -> list[str]:
    url = f"http://127.0.0.1:{sp.port}"
    return [line for line in (sp.out + sp.err).splitlines() if url in line]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_script_startup_line_and_graceful_signal_shutdown(server_process, sig):
    sp = server_process()
    sp.wait_ready()
    r = httpx.get(f"http://127.0.0.1:{sp.port}/ping")
    assert r.json() == {"pong": True}
    sp.proc.send_signal(sig)
    code = sp.finish()
    assert code == 0, f"exit code {code}\nstdout:\n{sp.out}\nstderr:\n{sp.err}"
    assert "Traceback" not in sp.out + sp.err, sp.err
    assert "KeyboardInterrupt" not in sp.out + sp.err, sp.err
    lines = _url_lines(sp)
    assert len(lines) == 1, f"expected exactly one startup line with the URL, got {lines!r}\n{sp.out}\n{sp.err}"
    assert not port_answers(sp.port)


def test_sigterm_lets_in_flight_request_finish(server_process):
    sp = server_process()
    sp.wait_ready()
    result: dict = {}

    def slow_request():
        try:
            result["resp"] = httpx.get(f"http://127.0.0.1:{sp.port}/slow", timeout=10)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            result["exc"] = exc

    t = threading.Thread(target=slow_request)
    t.start()
    deadline = time.monotonic() + 5
    while not sp.flag.exists():
        assert time.monotonic() < deadline, "the slow handler never started"
        time.sleep(0.01)
    t_signal = time.monotonic()
    sp.proc.send_signal(signal.SIGTERM)
    t.join(10)
    assert "exc" not in result, f"in-flight request failed: {result.get('exc')!r}"
    resp = result["resp"]
    assert resp.status_code == 200
    assert resp.json() == {"slow": "done"}
    code = sp.finish()
    assert code == 0, f"exit code {code}\nstderr:\n{sp.err}"
    assert "Traceback" not in sp.err
    assert time.monotonic() - t_signal < 8


def test_sigterm_closes_websocket_with_1001(server_process):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    sp = server_process()
    sp.wait_ready()
    with connect(f"ws://127.0.0.1:{sp.port}/ws", open_timeout=5, close_timeout=5) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "echo:hi"
        sp.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None, "no close frame received from the server"
        assert info.value.rcvd.code == 1001
    code = sp.finish()
    assert code == 0, f"exit code {code}\nstderr:\n{sp.err}"
    assert "Traceback" not in sp.err


def test_port_in_use_one_line_error(server_process):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        sp = server_process(port)
        code = sp.finish(timeout=15)
    assert code != 0
    assert "Traceback" not in sp.err and "Traceback" not in sp.out, sp.err
    err_lines = [line for line in sp.err.splitlines() if line.strip()]
    assert len(err_lines) == 1, f"expected a one-line error on stderr, got:\n{sp.err}"
    line = err_lines[0].lower()
    assert str(port) in line or "in use" in line, err_lines[0]
