"""Several worker processes on one port: ``fastrapi run --workers N`` and ``app.serve(workers=N)``.

Real processes on 127.0.0.1: requests reach every worker, a killed worker is replaced while the service keeps
answering, SIGTERM to the supervisor stops everything gracefully (an open WebSocket gets 1001).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

APP_SOURCE = """
import os
from contextlib import asynccontextmanager
from fastrapi import FastrAPI, Request, WebSocket

@asynccontextmanager
async def lifespan(app):
    yield {"started_in": os.getpid()}   # the lifespan runs in each worker

app = FastrAPI(lifespan=lifespan)

@app.get("/pid")
def pid():
    return {"pid": os.getpid(), "ppid": os.getppid()}

@app.get("/state")
async def state(request: Request):
    return {"pid": os.getpid(), "started_in": request.state.started_in}

@app.websocket("/ws")
async def ws(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text(str(os.getpid()))
    while True:
        await websocket.receive_text()
"""

SCRIPT_SOURCE = """
import sys
from main import app

if __name__ == "__main__":
    app.serve("127.0.0.1", int(sys.argv[1]), workers=2, graceful_timeout=3)
"""

SHARED_SOCKET_SOURCE = """
import sys
from fastrapi.logging import configure_default_logging
from fastrapi.server.workers import Supervisor
from main import app

if __name__ == "__main__":
    configure_default_logging()
    sys.exit(Supervisor(app, "127.0.0.1", int(sys.argv[1]), 2, share_socket=True).run())
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def get(port: int, path: str = "/pid", tries: int = 40) -> dict:
    """GET on a new connection; connection errors (a worker just killed) are retried."""
    last: Exception | None = None
    for _ in range(tries):
        try:
            with httpx.Client(timeout=2) as client:
                return client.get(f"http://127.0.0.1:{port}{path}").json()
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.05)
    raise AssertionError(f"no answer from port {port}: {last!r}")


def collect_pids(port: int, want: int, limit: int = 400) -> set[int]:
    """Request /pid on new connections until ``want`` different worker pids answered (bounded)."""
    pids: set[int] = set()
    for _ in range(limit):
        pids.add(get(port)["pid"])
        if len(pids) >= want:
            break
    return pids


class Supervised:
    """A supervisor process (own session) and the worker pids seen; ``cleanup()`` kills whatever is left."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.err_path = cwd / f"stderr-{time.monotonic_ns()}.txt"
        self._err = open(self.err_path, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("FASTRAPI_RELOADER_PID", None)
        self.p = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=self._err,
                                  stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.worker_pids: set[int] = set()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_ready(self, port: int, workers: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                pytest.fail(f"supervisor exited with {self.p.returncode}:\n{self.stderr}")
            if self.stderr.count("running on") >= workers:
                try:
                    get(port, tries=1)
                    return
                except AssertionError:
                    pass
            time.sleep(0.05)
        pytest.fail(f"not ready in {timeout}s:\n{self.stderr}")

    def cleanup(self) -> None:
        try:
            if self.p.poll() is None:
                self.p.send_signal(signal.SIGTERM)
                try:
                    self.p.wait(15)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait(5)
            for pid in self.worker_pids:
                if alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        finally:
            self._err.close()


@pytest.fixture
def project(tmp_path):
    (tmp_path / "main.py").write_text(textwrap.dedent(APP_SOURCE))
    (tmp_path / "serve_script.py").write_text(textwrap.dedent(SCRIPT_SOURCE))
    (tmp_path / "shared_socket.py").write_text(textwrap.dedent(SHARED_SOCKET_SOURCE))
    started: list[Supervised] = []

    def start(args: list[str]) -> Supervised:
        sup = Supervised(args, tmp_path)
        started.append(sup)
        return sup

    try:
        yield tmp_path, start
    finally:
        for sup in started:
            sup.cleanup()


COMMANDS = {
    "cli": lambda port: [sys.executable, "-m", "fastrapi", "run", "main:app", "--port", str(port), "--workers", "2",
                         "--graceful-timeout", "3", "--no-access-log"],
    "app.serve": lambda port: [sys.executable, "serve_script.py", str(port)],
}


@pytest.mark.parametrize("how", sorted(COMMANDS))
def test_workers_share_port_restart_and_stop(project, how):
    root, start = project
    port = free_port()
    sup = start(COMMANDS[how](port))
    sup.wait_ready(port, 2)

    # Both workers answer, each a child of the supervisor, each with its own lifespan.
    pids = collect_pids(port, 2)
    sup.worker_pids |= pids
    assert len(pids) == 2, sup.stderr
    assert sup.p.pid not in pids
    answer = get(port)
    assert answer["ppid"] == sup.p.pid
    state = get(port, "/state")
    assert state["started_in"] == state["pid"]

    # kill -9 one worker: it is replaced within about a second; the service keeps answering meanwhile.
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    seen_after: set[int] = set()
    while time.monotonic() < deadline:
        seen_after.add(get(port)["pid"])
        if len(seen_after - pids) >= 1 and "starting a new one" in sup.stderr:
            break
    new = seen_after - pids
    sup.worker_pids |= seen_after
    assert new, f"no replacement worker answered:\n{sup.stderr}"
    assert victim not in seen_after
    assert re.search(rf"Worker process \[{victim}\] died \(killed by SIGKILL\): starting a new one", sup.stderr)
    survivors = (pids - {victim}) | new
    assert all(alive(pid) for pid in survivors)

    # An open WebSocket, then SIGTERM to the supervisor: the client gets 1001, every process exits, status 0.
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=3, close_timeout=3, proxy=None) as ws:
        ws_pid = int(ws.recv(timeout=3))
        sup.worker_pids.add(ws_pid)
        sup.p.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert sup.p.wait(15) == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(pid) for pid in sup.worker_pids):
        time.sleep(0.05)
    assert not any(alive(pid) for pid in sup.worker_pids)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/pid", timeout=1)
    assert "Stopping parent process" in sup.stderr


def test_shared_socket_fallback(project):
    """Where SO_REUSEPORT does not balance (not Linux), the supervisor binds one socket the workers share."""
    root, start = project
    port = free_port()
    sup = start([sys.executable, "shared_socket.py", str(port)])
    sup.wait_ready(port, 2)
    first = get(port)["pid"]
    sup.worker_pids.add(first)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = get(port)["pid"]
        sup.worker_pids.add(pid)
        if pid != first and "starting a new one" in sup.stderr:
            break
    assert "starting a new one" in sup.stderr
    assert pid != first
    sup.p.send_signal(signal.SIGTERM)
    assert sup.p.wait(15) == 0


def test_orphaned_workers_stop(project):
    """A supervisor killed with SIGKILL cannot stop its workers: they notice and shut down by themselves."""
    root, start = project
    port = free_port()
    sup = start(COMMANDS["cli"](port))
    sup.wait_ready(port, 2)
    pids = collect_pids(port, 2)
    sup.worker_pids |= pids
    sup.p.kill()
    sup.p.wait(5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


def test_worker_startup_failure_stops_supervisor_with_3(project):
    root, start = project
    (root / "failing.py").write_text(textwrap.dedent("""
        from fastrapi import FastrAPI
        app = FastrAPI()

        @app.on_event("startup")
        async def boom():
            raise RuntimeError("no database")
    """))
    port = free_port()
    sup = start([sys.executable, "-m", "fastrapi", "run", "failing:app", "--port", str(port), "--workers", "2"])
    assert sup.p.wait(20) == 3
    assert "application startup failed" in sup.stderr


def test_in_memory_broadcast_warning(project):
    root, start = project
    (root / "bcast.py").write_text(textwrap.dedent("""
        from fastrapi import FastrAPI

        app = FastrAPI(broadcast="memory://")

        @app.get("/pid")
        def pid():
            import os
            return {"pid": os.getpid()}
    """))
    port = free_port()
    sup = start([sys.executable, "-m", "fastrapi", "run", "bcast:app", "--port", str(port), "--workers", "2"])
    sup.wait_ready(port, 2)
    sup.worker_pids |= collect_pids(port, 2)
    assert "in-memory broadcast backend: channels are per process" in sup.stderr


def test_workers_bind_error_exit_1(project):
    root, start = project
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sup = start([sys.executable, "-m", "fastrapi", "run", "main:app", "--port", str(port), "--workers", "2"])
        assert sup.p.wait(20) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in sup.stderr
    assert "before serving (cannot listen): stopping" in sup.stderr
