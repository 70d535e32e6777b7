"""SIGTERM to a real server process under load: 64 clients sending requests without pause and open WebSockets.

Every response that started arrives whole (a Content-Length body is never cut off, a chunked one ends with its
last chunk), every WebSocket gets a close frame with 1001 (going away), and the process exits with status 0
within its graceful timeout.
"""
from __future__ import annotations

import asyncio
import re
import socket
import threading
import time

import pytest

from hostile import ServerProcess
from wsraw import RawWS

CLIENTS = 64
WEBSOCKETS = 4
GRACEFUL = 5.0
#: a body much larger than the client's socket buffer: an aborted connection would cut it off visibly
BODY = 512 * 1024
RCVBUF = 16 * 1024


@pytest.fixture
def server(tmp_path):
    srv = ServerProcess(tmp_path, graceful_timeout=GRACEFUL, ws_ping_interval=0)
    yield srv
    srv.stop()


class Tally:
    def __init__(self) -> None:
        self.complete = 0
        self.complete_after_signal = 0
        self.cut_off: list[str] = []
        self.signalled_at: float | None = None


async def read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    m = re.search(rb"content-length: (\d+)", head, re.I)
    if m:
        return await reader.readexactly(int(m.group(1)))
    assert b"transfer-encoding: chunked" in head.lower(), head
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return body
        body += chunk[:-2]


DRIP = b"".join(b"%d " % i for i in range(20))


async def client(port: int, tally: Tally, stop: asyncio.Event, n: int) -> None:
    """Requests on one keep-alive connection (a new one when the server closes it), until the server is gone:
    a large Content-Length body for even ``n``, a slowly streamed chunked one for odd ``n``."""
    request, expected = (b"GET /slow?size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % BODY, b"s" * BODY) if n % 2 == 0 else \
        (b"GET /drip HTTP/1.1\r\nHost: t\r\n\r\n", DRIP)
    while not stop.is_set():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError:
            sock.close()
            return  # no longer listening
        try:
            while not stop.is_set():
                try:
                    writer.write(request)
                    await writer.drain()
                except (ConnectionError, OSError):
                    break  # closed before this request was read: no response started
                got = b""
                try:
                    got = await reader.readuntil(b"\r\n\r\n")
                    body = await read_body(reader, got)
                except asyncio.IncompleteReadError as exc:
                    if got or exc.partial:
                        tally.cut_off.append(f"cut off after {len(got) + len(exc.partial)} bytes")
                    break
                except (ConnectionError, OSError) as exc:
                    if got:
                        tally.cut_off.append(f"{exc!r} after the head")
                    break
                assert got.startswith(b"HTTP/1.1 200 ") and body == expected, got
                tally.complete += 1
                if tally.signalled_at is not None:
                    tally.complete_after_signal += 1
                if b"connection: close" in got.lower():
                    break
        finally:
            writer.close()


def watch_websocket(port: int, codes: list) -> None:
    try:
        with RawWS(port, timeout=GRACEFUL + 10) as c:
            c.handshake("/ws")
            c.send_text("hi")
            assert c.read_text() == "hi"
            codes.append("open")
            code, _ = c.read_close(GRACEFUL + 10)
            codes.append(code)
            c.send_close(code)
    except Exception as exc:  # reported by the test
        codes.append(repr(exc))


def test_sigterm_under_load_loses_no_started_response(server):
    ws_codes: list[list] = [[] for _ in range(WEBSOCKETS)]
    ws_threads = [threading.Thread(target=watch_websocket, args=(server.port, codes), daemon=True)
                  for codes in ws_codes]
    for t in ws_threads:
        t.start()
    tally = Tally()
    status: list = []

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(client(server.port, tally, stop, n)) for n in range(CLIENTS)]
        deadline = time.monotonic() + 20
        while (tally.complete < 2 * CLIENTS or any(not c for c in ws_codes)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert all(c == ["open"] for c in ws_codes), ws_codes
        tally.signalled_at = time.monotonic()
        status.append(await asyncio.to_thread(server.terminate, GRACEFUL + 5))
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

    asyncio.run(scenario())
    for t in ws_threads:
        t.join(5)
    assert status == [0], f"exit status {status} (None: still running after {GRACEFUL + 5}s):\n{server.log[-3000:]}"
    assert time.monotonic() - tally.signalled_at < GRACEFUL + 5
    assert not tally.cut_off, f"{len(tally.cut_off)} responses cut off: {tally.cut_off[:5]}"
    assert tally.complete_after_signal > 0, "no response was in flight at the signal: the test proved nothing"
    assert all(codes == ["open", 1001] for codes in ws_codes), ws_codes
