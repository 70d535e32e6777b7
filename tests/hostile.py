"""The server under attack as a real process, and what a test observes of it.

``ServerProcess`` runs ``hostile_app.py`` in its own process (own session) on a free 127.0.0.1 port, so that a
crash, a hang or a leak of the server is seen as such: ``alive()``, ``rss()`` (VmRSS), ``fd_count()``
(/proc/PID/fd), ``healthy()`` (a good request on a new connection answers 200 in time), ``terminate()``
(SIGTERM, returns the exit status), ``stop()`` (whatever is left is killed).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

APP = Path(__file__).with_name("hostile_app.py")
_RUNNING = re.compile(r"running on http://127\.0\.0\.1:(\d+)")


class ServerProcess:
    def __init__(self, tmp_dir: Path, **options: object) -> None:
        self.err_path = Path(tmp_dir) / f"server-{time.monotonic_ns()}.log"
        self._err = open(self.err_path, "wb")
        args = [sys.executable, str(APP)] + [f"{k}={v}" for k, v in options.items()]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("FASTRAPI_RELOADER_PID", None)
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._err, stdin=subprocess.DEVNULL,
                                  env=env, start_new_session=True)
        self.pid = self.p.pid
        self.port = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise AssertionError(f"server exited with {self.p.returncode}:\n{self.log}")
            m = _RUNNING.search(self.log)
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"server did not start in 30 s:\n{self.log}")

    @property
    def log(self) -> str:
        return self.err_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.p.poll() is None

    def rss(self) -> int:
        """Resident memory in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def request(self, raw: bytes, timeout: float = 10.0) -> bytes:
        """Send raw bytes on a new connection, half-close, and return everything the server sent until it closed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            return read_to_eof(s, timeout)

    def healthy(self, timeout: float = 10.0) -> bool:
        """A good request on a new connection gets its 200 in time (and the process is up)."""
        if not self.alive():
            return False
        try:
            data = self.request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", timeout)
        except OSError:
            return False
        return data.startswith(b"HTTP/1.1 200 ") and data.endswith(b'{"ok":true}')

    def assert_healthy(self) -> None:
        assert self.alive(), f"server process died (status {self.p.returncode}):\n{self.log[-4000:]}"
        assert self.healthy(), f"server did not answer a good request on a new connection:\n{self.log[-4000:]}"

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM; the exit status, or None if it is still running after ``timeout`` seconds."""
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(10)
        self._err.close()


def read_to_eof(s: socket.socket, timeout: float) -> bytes:
    """Everything until the peer closes (a reset counts as a close); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"server neither closed nor finished within {timeout}s; got {bytes(out[:200])!r}")
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk


def statuses(data: bytes) -> list[int]:
    """The status codes of the responses in ``data`` (heads found by their status line; bodies skipped by length)."""
    found = []
    i = 0
    while True:
        j = data.find(b"HTTP/1.", i)
        if j < 0:
            return found
        end = data.find(b"\r\n\r\n", j)
        line = data[j:data.find(b"\r\n", j)]
        parts = line.split(b" ")
        if len(parts) < 2 or not parts[1].isdigit():
            return found
        found.append(int(parts[1]))
        if end < 0:
            return found
        m = re.search(rb"\r\ncontent-length: *(\d+)", data[j:end], re.I)
        i = end + 4 + (int(m.group(1)) if m else 0)
