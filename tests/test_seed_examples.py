"""The seed's WebSocket examples (examples/seed/) run unchanged and behave as documented.

Every example file is imported as a module (so the complete example's ``__main__`` block, which
binds 0.0.0.0:8000, does not run) and its ``app`` is served on 127.0.0.1 by the ``serve`` fixture.
The handlers' ``print`` output comes from the server thread; it is read with ``capfd``.
"""
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

from modules import load_module  # noqa: E402
from wsclient import TIMEOUT, RawClient, expect_close, recv, ws_connect  # noqa: E402
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "seed"


# --------------------------------------------------------------------------- helpers


def load_example(name):
    """Import examples/seed/<name>.py as a fresh module; return its ``app``."""
    return load_module(EXAMPLES / f"{name}.py", f"seed_example_{name}_{uuid.uuid4().hex}").app




class Output:
    """What the handlers print, read through ``capfd`` without racing the server thread.

    ``capfd.readouterr()`` seeks and truncates the capture file that the server thread may be
    writing to at the same moment, which can lose output. So the capture file is only peeked at
    with ``os.pread`` on fds 1 and 2 (redirected to it by ``capfd``): no shared file position moves
    and nothing is truncated.
    """

    def __init__(self, capfd):
        self.capfd = capfd  # keeps fd 1/2 redirected to this test's capture files

    @staticmethod
    def _peek(fd):
        chunks, offset = [], 0
        while True:
            chunk = os.pread(fd, 1 << 16, offset)
            if not chunk:
                return b"".join(chunks).decode("utf-8", "replace")
            chunks.append(chunk)
            offset += len(chunk)

    @property
    def out(self):
        return self._peek(1)

    @property
    def err(self):
        return self._peek(2)

    def wait_for(self, *needles, timeout=TIMEOUT):
        """Everything printed so far, once all ``needles`` are in it (or after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.out
            if all(n in out for n in needles) or time.monotonic() > deadline:
                return out
            time.sleep(0.02)

    def settle(self, delay=0.2):
        time.sleep(delay)
        return self.out


@pytest.fixture
def output(capfd):
    return Output(capfd)


def assert_no_handler_errors(output, caplog):
    output.settle()
    assert "Traceback" not in output.err, output.err
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


# --------------------------------------------------------------------------- examples


def test_example_files_exist():
    names = {p.stem for p in EXAMPLES.glob("*.py")}
    assert {
        "decorator_example",
        "accept_example",
        "send_text_example",
        "send_bytes_example",
        "send_json_example",
        "receive_text_example",
        "receive_bytes_example",
        "receive_json_example",
        "close_example",
        "client_state_example",
        "complete_example",
        "error_handling_example",
    } <= names
    complete = (EXAMPLES / "complete_example.py").read_text()
    assert complete.rstrip().endswith('if __name__ == "__main__":\n    app.serve(host="0.0.0.0", port=8000)')


@pytest.mark.parametrize("name", ["decorator_example", "accept_example"])
def test_accepting_examples(serve, output, caplog, name):
    """accept() completes the handshake; the handler then returns, which closes normally."""
    srv = serve(load_example(name))
    with ws_connect(srv) as ws:
        assert ws.response.status_code == 101
        assert expect_close(ws) == (1000, "")
    assert_no_handler_errors(output, caplog)


def test_send_text_example(serve, output, caplog):
    srv = serve(load_example("send_text_example"))
    with ws_connect(srv) as ws:
        msg = recv(ws)
        assert type(msg) is str and msg == "Hello, client!"
        assert expect_close(ws) == (1000, "")
    assert_no_handler_errors(output, caplog)


def test_send_bytes_example(serve, output, caplog):
    srv = serve(load_example("send_bytes_example"))
    with ws_connect(srv) as ws:
        msg = recv(ws)
        assert type(msg) is bytes and msg == b"\x00\x01\x02\x03"
        assert expect_close(ws) == (1000, "")
    assert_no_handler_errors(output, caplog)


def test_send_json_example(serve, output, caplog):
    srv = serve(load_example("send_json_example"))
    with ws_connect(srv) as ws:
        msg = recv(ws)
        assert type(msg) is str  # JSON goes out as a text message
        assert json.loads(msg) == {"type": "notification", "message": "Hello!"}
        assert msg == '{"type":"notification","message":"Hello!"}'
        assert expect_close(ws) == (1000, "")
    assert_no_handler_errors(output, caplog)


def test_receive_text_example(serve, output, caplog):
    srv = serve(load_example("receive_text_example"))
    with ws_connect(srv) as ws:
        ws.send("hello")
        assert expect_close(ws) == (1000, "")
    assert "Client said: hello\n" in output.wait_for("Client said: hello\n")
    assert_no_handler_errors(output, caplog)


def test_receive_bytes_example(serve, output, caplog):
    srv = serve(load_example("receive_bytes_example"))
    with ws_connect(srv) as ws:
        ws.send(b"\x00\x01\x02\x03")
        assert expect_close(ws) == (1000, "")
    assert "Received 4 bytes\n" in output.wait_for("Received 4 bytes\n")
    assert_no_handler_errors(output, caplog)


def test_receive_json_example(serve, output, caplog):
    srv = serve(load_example("receive_json_example"))
    with ws_connect(srv) as ws:
        ws.send(json.dumps({"message": "Hello!", "extra": [1, 2]}))
        assert expect_close(ws) == (1000, "")
    assert "Received: Hello!\n" in output.wait_for("Received: Hello!\n")
    assert_no_handler_errors(output, caplog)


def test_close_example(serve, output, caplog):
    """ws.close() then ws.close(1000): the client sees a normal closure, the second call is a no-op."""
    srv = serve(load_example("close_example"))
    with ws_connect(srv) as ws:
        assert expect_close(ws) == (1000, "")
    assert_no_handler_errors(output, caplog)


def test_client_state_example(serve, output, caplog):
    srv = serve(load_example("client_state_example"))
    with ws_connect(srv):
        assert output.wait_for("Connected\n") == "Connected\n"
    out = output.wait_for("Disconnected\n")
    assert out == "Connected\nDisconnected\n"
    assert_no_handler_errors(output, caplog)


# --------------------------------------------------------------------------- complete example


def test_complete_example_echoes_json_replies(serve, output, caplog):
    srv = serve(load_example("complete_example"))
    messages = ["hello", "wörld ✓", "", '{"not": "parsed"}', "x" * 10000]
    with ws_connect(srv) as ws:
        for m in messages:
            ws.send(m)
            reply = recv(ws)
            assert type(reply) is str
            assert json.loads(reply) == {"reply": "Message received", "echo": m}
        ws.send("hello")
        assert recv(ws) == '{"reply":"Message received","echo":"hello"}'
    out = output.wait_for("Client said: hello\n", "Connection closed: ")
    for m in messages:
        assert f"Client said: {m}\n" in out
    # the client left: the `while ws.client_state == 1` loop ended through the except clause
    assert "Connection closed: " in out
    assert_no_handler_errors(output, caplog)


def test_complete_example_client_drops_tcp(serve, output, caplog):
    srv = serve(load_example("complete_example"))
    raw = RawClient(srv)
    raw.send_text("hello")
    opcode, payload = raw.recv_frame()
    assert opcode == 0x1
    assert json.loads(payload) == {"reply": "Message received", "echo": "hello"}
    raw.drop()
    out = output.wait_for("Client said: hello\n", "Connection closed: ")
    assert "Client said: hello\n" in out
    assert "Connection closed: " in out


def test_complete_example_binary_message_ends_the_session(serve, output):
    """receive_text() raises TypeError on binary: the example prints it and closes (finally)."""
    srv = serve(load_example("complete_example"))
    with ws_connect(srv) as ws:
        ws.send("first")
        assert json.loads(recv(ws)) == {"reply": "Message received", "echo": "first"}
        ws.send(b"\x00\x01")
        assert expect_close(ws) == (1000, "")
    out = output.wait_for("Connection closed: ")
    assert "Client said: first\n" in out
    assert "Connection closed: " in out


def test_complete_example_serves_clients_concurrently(serve, output):
    srv = serve(load_example("complete_example"))
    errors = []

    def client(i):
        try:
            with ws_connect(srv) as ws:
                for j in range(20):
                    m = f"client {i} msg {j}"
                    ws.send(m)
                    assert json.loads(recv(ws)) == {"reply": "Message received", "echo": m}
        except Exception as exc:  # noqa: BLE001
            errors.append((i, exc))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors, errors
    out = output.wait_for("Client said: client 9 msg 19\n")
    assert out.count("Client said: ") == 200


# --------------------------------------------------------------------------- error-handling example


def test_error_handling_example_echoes_and_reports_disconnect(serve, output, caplog):
    srv = serve(load_example("error_handling_example"))
    with ws_connect(srv) as ws:
        for m in ["hi", "there ✓", ""]:
            ws.send(m)
            assert recv(ws) == f"Echo: {m}"
    out = output.wait_for("Client disconnected\n")
    assert out == "Client disconnected\n"
    assert_no_handler_errors(output, caplog)


def test_error_handling_example_client_drops_tcp(serve, output, caplog):
    srv = serve(load_example("error_handling_example"))
    raw = RawClient(srv)
    raw.send_text("hi")
    assert raw.recv_frame() == (0x1, b"Echo: hi")
    raw.drop()
    assert output.wait_for("Client disconnected\n") == "Client disconnected\n"
    assert_no_handler_errors(output, caplog)


def test_error_handling_example_other_errors_close_the_connection(serve, output):
    """A binary message makes receive_text() raise TypeError: "Error: ..." is printed, then close()."""
    srv = serve(load_example("error_handling_example"))
    with ws_connect(srv) as ws:
        ws.send("hi")
        assert recv(ws) == "Echo: hi"
        ws.send(b"\x00")
        assert expect_close(ws) == (1000, "")
    out = output.wait_for("Error: ")
    assert out.startswith("Error: ")
    assert "Client disconnected" not in output.settle()
