"""A blocking raw-socket HTTP/1.x client for protocol tests: send bytes as they are, read responses back."""
from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        import json

        return json.loads(self.body)


class RawConn:
    """A blocking TCP connection with a small HTTP/1.x response reader."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def _read_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(sep)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_to_eof(self) -> bytes:
        while True:
            try:
                self._fill()
            except EOFError:
                break
        data, self.buf = self.buf, b""
        return data

    def read_response(self, *, head: bool = False) -> RawResponse:
        """Read one response (an interim 1xx response is returned as is)."""
        raw_head = self._read_until(b"\r\n\r\n")
        lines = raw_head.split(b"\r\n")
        version, status, *reason = lines[0].decode("latin-1").split(" ", 2)
        resp = RawResponse(version=version, status=int(status), reason=reason[0] if reason else "")
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            resp.headers.append((name.strip().lower(), value.strip()))
        if head or 100 <= resp.status < 200 or resp.status in (204, 304):
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body = b""
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until an empty line
                    while self._read_until(b"\r\n"):
                        pass
                    break
                body += self._read_exact(size)
                assert self._read_exact(2) == b"\r\n"
            resp.body = body
        elif resp.header("content-length") is not None:
            resp.body = self._read_exact(int(resp.header("content-length")))
        else:
            resp.body = self._read_to_eof()
        return resp

    def closed_by_server(self, timeout: float = 3.0) -> bool:
        """True if the server closes the connection (EOF or reset) within ``timeout`` with no more data."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if data:
            self.buf += data
            return False
        return True
