"""A real ``redis-server`` for tests: a subprocess on a free 127.0.0.1 port, in a temporary directory, with no
persistence. It can be killed and started again on the same port (to test reconnection).

    server = RedisServer(tmp_path)
    server.start()            # waits until it answers PING
    server.url                # "redis://127.0.0.1:PORT"
    server.kill()             # SIGKILL, like a crash; start() brings it back on the same port
    server.freeze()           # SIGSTOP: connected but silent; thaw() resumes it
    server.stop()             # at teardown
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port: int, timeout: float = 1.0) -> bool:
    """True if a Redis server on 127.0.0.1:port answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process (restartable on the same port); logs in ``directory/redis-N.log``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: scripts/test.sh installs it (apt-get install redis-server)")
        self.binary = binary
        self.directory = Path(directory)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.directory.glob("redis-*.log")))

    def start(self, timeout: float = 20.0) -> "RedisServer":
        """Start the server and wait until it answers PING (a freed port can take a moment to bind again)."""
        assert self.process is None, "already running"
        deadline = time.monotonic() + timeout
        while True:
            self.starts += 1
            log = open(self.directory / f"redis-{self.starts}.log", "wb")
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory), "--daemonize", "no"],
                cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            log.close()
            while time.monotonic() < deadline:
                if ping(self.port):
                    return self
                if self.process.poll() is not None:
                    break  # exited (e.g. the port is not free yet): start again
                time.sleep(0.02)
            if self.process.poll() is None:
                self.process.kill()
            self._reap()
            if time.monotonic() >= deadline:
                pytest.fail(f"redis-server did not answer PING on port {self.port} within {timeout}s:\n{self.log}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL (a crash: connections drop at once) and wait until it is gone."""
        if self.process is not None:
            self.process.kill()
            self._reap()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung server or a dead network path)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Terminate (SIGKILL after 10 s) and wait."""
        if self.process is not None:
            self.thaw()
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self._reap()

    def _reap(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None
