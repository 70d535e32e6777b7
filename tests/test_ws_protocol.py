"""RFC 6455 conformance of the FastrAPI WebSocket server, observed on the wire with raw sockets.

Every test starts its own server (``serve`` fixture, port 0) so the module runs under pytest-xdist.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import sys
import threading
import time
import tracemalloc

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastrapi import FastrAPI  # noqa: E402

import wsraw  # noqa: E402
from echo_app import make_echo_app  # noqa: E402
from wsraw import (  # noqa: E402
    OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
    RawWS, TCPClosed, accept_key, build_frame, close_payload,
)

pytestmark = pytest.mark.timeout(30)

T = 2.0  # default per-read timeout


# ---------------------------------------------------------------------------- apps
@pytest.fixture
def srv(serve):
    return serve(make_echo_app())


@pytest.fixture
def conns():
    opened: list[RawWS] = []
    yield opened
    for c in opened:
        c.close()


@pytest.fixture
def connect(srv, conns):
    """connect(path="/text", **handshake_kw) -> RawWS after a successful (101) handshake."""
    def _connect(path: str = "/text", server=None, **kw) -> RawWS:
        c = RawWS((server or srv).port, timeout=T)
        conns.append(c)
        c.handshake(path, **kw)
        return c
    return _connect


def b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


# ============================================================================ handshake
BAD_HANDSHAKES = {
    "post-method": dict(method="POST", extra_headers=[("Content-Length", "0")]),
    "put-method": dict(method="PUT", extra_headers=[("Content-Length", "0")]),
    "missing-upgrade": dict(upgrade=None),
    "wrong-upgrade": dict(upgrade="h2c"),
    "missing-connection": dict(connection=None),
    "connection-keep-alive-only": dict(connection="keep-alive"),
    "missing-key": dict(key=None),
    "empty-key": dict(key=""),
    "key-not-base64": dict(key="this is not base64!!"),
    "key-15-bytes": dict(key=b64(15)),
    "key-17-bytes": dict(key=b64(17)),
    "key-32-bytes": dict(key=b64(32)),
    "duplicate-key": dict(extra_headers=[("Sec-WebSocket-Key", b64(16))]),
    "http-1.0": dict(http_version="1.0"),
}


@pytest.mark.parametrize("kw", list(BAD_HANDSHAKES.values()), ids=list(BAD_HANDSHAKES))
def test_handshake_malformed_is_400(srv, conns, kw):
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    r = c.handshake("/text", expect_status=400, **kw)
    assert r.header("sec-websocket-accept") is None
    assert "websocket" not in r.header_tokens("upgrade")


@pytest.mark.parametrize("version", ["8", "12", "14", "0"])
def test_handshake_unsupported_version_is_426(srv, conns, version):
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    r = c.handshake("/text", expect_status=426, version=version)
    assert r.header_tokens("sec-websocket-version") == ["13"], r.headers
    assert r.header("sec-websocket-accept") is None


def test_handshake_missing_version_is_rejected(srv, conns):
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    r = c.handshake("/text", expect_status=None, version=None)
    assert r.status in (400, 426), r.status
    assert r.header("sec-websocket-accept") is None


@pytest.mark.parametrize("path", ["/nope", "/plain", "/text/extra"])
def test_handshake_no_ws_route_is_404(srv, conns, path):
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    r = c.handshake(path, expect_status=404)
    assert r.header("sec-websocket-accept") is None


def test_handshake_rfc_sample_accept_key(srv, conns):
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    r = c.handshake("/text", key="dGhlIHNhbXBsZSBub25jZQ==")
    assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert r.status == 101
    # nothing but frames may follow; the connection works
    c.send_text("ok")
    assert c.read_text() == "ok"


def test_handshake_accept_key_random(connect):
    for _ in range(3):
        c = connect("/text")  # handshake() asserts Upgrade/Connection and the Accept hash
        assert c.response.header("sec-websocket-accept") == accept_key(c.key)
        c.send_text("x")
        assert c.read_text() == "x"


@pytest.mark.parametrize("upgrade,connection", [
    ("WebSocket", "Upgrade"),
    ("websocket", "keep-alive, Upgrade"),
    ("WEBSOCKET", "upgrade"),
])
def test_handshake_header_values_case_and_token_lists(connect, upgrade, connection):
    c = connect("/text", upgrade=upgrade, connection=connection)
    c.send_text("hi")
    assert c.read_text() == "hi"


def test_handshake_with_query_string(connect):
    c = connect("/text?a=1&b=2")
    c.send_text("q")
    assert c.read_text() == "q"


@pytest.mark.parametrize("headers,expected_offer", [
    ([("Sec-WebSocket-Protocol", "superchat, chat")], ["superchat", "chat"]),
    ([("Sec-WebSocket-Protocol", "superchat"), ("Sec-WebSocket-Protocol", "chat")], ["superchat", "chat"]),
    ([("Sec-WebSocket-Protocol", "chat")], ["chat"]),
])
def test_subprotocol_negotiated(connect, headers, expected_offer):
    c = connect("/sub", extra_headers=headers)
    assert c.response.header_all("sec-websocket-protocol") == ["chat"], c.response.headers
    assert json.loads(c.read_text()) == expected_offer


@pytest.mark.parametrize("headers", [[], [("Sec-WebSocket-Protocol", "other, v2")]])
def test_subprotocol_not_selected_means_no_header(connect, headers):
    c = connect("/sub", extra_headers=headers)
    assert c.response.header("sec-websocket-protocol") is None, c.response.headers
    assert json.loads(c.read_text()) == [h.strip() for v in headers for h in v[1].split(",")]


def test_handshake_and_first_frames_in_same_segment(srv, conns):
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    early = build_frame(OP_TEXT, b"early") + build_frame(OP_PING, b"p") + build_frame(OP_TEXT, b"second")
    c.handshake("/text", extra_data=early)
    got, pongs = [], []
    deadline = time.monotonic() + T
    while len(got) < 2 or not pongs:
        f = c.read_frame(deadline - time.monotonic())
        if f.opcode == OP_PONG:
            pongs.append(f.payload)
        else:
            assert f.opcode == OP_TEXT and f.fin, f
            got.append(f.text)
    assert got == ["early", "second"]
    assert pongs == [b"p"]


def test_handshake_request_split_byte_by_byte(srv, conns):
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    c.handshake("/text", chunk=1, delay=0.0005)
    c.send_text("split")
    assert c.read_text() == "split"


# ============================================================================ masking
def test_server_frames_are_unmasked(connect):
    c = connect("/text")
    c.send_text("hello")
    f = c.read_frame()
    assert f.opcode == OP_TEXT and not f.masked and f.payload == b"hello"
    c.send_ping(b"pp")
    f = c.read_frame()
    assert f.opcode == OP_PONG and not f.masked
    c.send_close(1000)
    f = c.read_frame()
    assert f.opcode == OP_CLOSE and not f.masked


@pytest.mark.parametrize("opcode,payload", [(OP_TEXT, b"hi"), (OP_BINARY, b"\x00\x01"), (OP_PING, b"x"),
                                            (OP_CLOSE, close_payload(1000))])
def test_unmasked_client_frame_is_1002(connect, opcode, payload):
    c = connect("/text")
    c.send_frame(opcode, payload, mask=False)
    c.expect_close(1002)


def test_unmasked_frame_after_valid_traffic_is_1002(connect):
    c = connect("/text")
    c.send_text("fine")
    assert c.read_text() == "fine"
    c.send_text("bad", mask=False)
    c.expect_close(1002)


# ============================================================================ fragmentation
def test_text_fragmented(connect):
    c = connect("/text")
    parts = [b"Hel", b"lo", b" wor", b"ld"]
    for i, p in enumerate(parts):
        c.send_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)
    assert c.read_text() == "Hello world"


def test_binary_fragmented(connect):
    c = connect("/bytes")
    data = os.urandom(3000)
    chunks = [data[:1], data[1:1000], data[1000:2999], data[2999:]]
    for i, p in enumerate(chunks):
        c.send_frame(OP_BINARY if i == 0 else OP_CONT, p, fin=i == len(chunks) - 1)
    assert c.read_binary() == data


@pytest.mark.parametrize("path,opcode", [("/text", OP_TEXT), ("/bytes", OP_BINARY)])
def test_many_fragments(connect, path, opcode):
    c = connect(path)
    n = 300
    frames = b"".join(build_frame(opcode if i == 0 else OP_CONT, b"%03d," % i, fin=i == n - 1)
                      for i in range(n))
    c.send_raw(frames)
    expected = b"".join(b"%03d," % i for i in range(n))
    op, data, _ = c.read_message()
    assert op == opcode and data == expected


@pytest.mark.parametrize("path,opcode", [("/text", OP_TEXT), ("/bytes", OP_BINARY)])
def test_zero_length_fragments(connect, path, opcode):
    c = connect(path)
    parts = [b"", b"abc", b"", b"", b"def", b""]
    for i, p in enumerate(parts):
        c.send_frame(opcode if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)
    op, data, _ = c.read_message()
    assert (op, data) == (opcode, b"abcdef")
    # an entirely empty fragmented message, then an empty single-frame message
    for i in range(3):
        c.send_frame(opcode if i == 0 else OP_CONT, b"", fin=i == 2)
    assert c.read_message()[:2] == (opcode, b"")
    c.send_frame(opcode, b"")
    assert c.read_message()[:2] == (opcode, b"")


def test_ping_interleaved_in_fragmented_message(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"frag1-", fin=False)
    c.send_ping(b"mid1")
    c.send_frame(OP_CONT, b"frag2-", fin=False)
    c.send_ping(b"mid2")
    c.send_pong(b"unsolicited")  # pongs may be interleaved too and are ignored
    c.send_frame(OP_CONT, b"frag3", fin=True)
    pongs, texts = [], []
    deadline = time.monotonic() + T
    while len(pongs) < 2 or not texts:
        f = c.read_frame(deadline - time.monotonic())
        if f.opcode == OP_PONG:
            pongs.append(f.payload)
        else:
            assert f.opcode == OP_TEXT and f.fin, f
            texts.append(f.text)
    assert pongs == [b"mid1", b"mid2"]
    assert texts == ["frag1-frag2-frag3"]


def test_pong_is_sent_before_fragmented_message_completes(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"start", fin=False)
    c.send_ping(b"now")
    f = c.read_frame()  # the message is still open: the pong must come anyway
    assert f.opcode == OP_PONG and f.payload == b"now"
    c.send_frame(OP_CONT, b"-end", fin=True)
    assert c.read_text() == "start-end"


# ============================================================================ ping / pong
@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125)), "żółw".encode()],
                         ids=["empty", "hello", "125-bytes", "utf8"])
def test_automatic_pong_echoes_ping_payload(connect, payload):
    c = connect("/text")
    c.send_ping(payload)
    f = c.read_frame()
    assert f.opcode == OP_PONG and f.fin and f.payload == payload
    c.send_text("still here")
    assert c.read_text() == "still here"


def test_many_pings_each_answered(connect):
    c = connect("/text")
    c.send_raw(b"".join(build_frame(OP_PING, b"%d" % i) for i in range(20)))
    got = [c.read_frame() for _ in range(20)]
    assert [f.opcode for f in got] == [OP_PONG] * 20
    assert [f.payload for f in got] == [b"%d" % i for i in range(20)]


def test_unsolicited_pong_is_ignored(connect):
    c = connect("/text")
    c.send_pong(b"nobody asked")
    c.send_text("after pong")
    f = c.read_frame()
    assert f.opcode == OP_TEXT and f.text == "after pong"


# ============================================================================ control frame rules
@pytest.mark.parametrize("opcode,payload", [
    (OP_PING, b"x" * 126),
    (OP_PONG, b"x" * 126),
    (OP_CLOSE, close_payload(1000, b"r" * 124)),
    (OP_PING, b"x" * 1000),
], ids=["ping-126", "pong-126", "close-126", "ping-1000"])
def test_control_frame_over_125_bytes_is_1002(connect, opcode, payload):
    c = connect("/text")
    c.send_frame(opcode, payload)
    c.expect_close(1002)


@pytest.mark.parametrize("opcode,payload", [(OP_PING, b"abc"), (OP_PONG, b"abc"), (OP_CLOSE, close_payload(1000))],
                         ids=["ping", "pong", "close"])
def test_fragmented_control_frame_is_1002(connect, opcode, payload):
    c = connect("/text")
    c.send_frame(opcode, payload, fin=False)
    c.expect_close(1002)


def test_fragmented_ping_inside_fragmented_message_is_1002(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"a", fin=False)
    c.send_frame(OP_PING, b"p", fin=False)
    c.expect_close(1002)


# ============================================================================ reserved bits / opcodes
@pytest.mark.parametrize("bits", [dict(rsv1=True), dict(rsv2=True), dict(rsv3=True),
                                  dict(rsv1=True, rsv2=True, rsv3=True)], ids=["rsv1", "rsv2", "rsv3", "all"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_PING], ids=["text", "binary", "ping"])
def test_reserved_bits_without_extension_is_1002(connect, bits, opcode):
    c = connect("/text")
    c.send_frame(opcode, b"abc", **bits)
    c.expect_close(1002)


def test_reserved_bit_after_valid_message_is_1002(connect):
    c = connect("/text")
    c.send_text("ok")
    assert c.read_text() == "ok"
    c.send_frame(OP_TEXT, b"bad", rsv2=True)
    c.expect_close(1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode_is_1002(connect, opcode):
    c = connect("/text")
    c.send_frame(opcode, b"")
    c.expect_close(1002)


def test_reserved_opcode_with_payload_inside_fragmented_message_is_1002(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"a", fin=False)
    c.send_frame(0x5, b"payload", fin=True)
    c.expect_close(1002)


# ============================================================================ continuation rules
@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_message_is_1002(connect, fin):
    c = connect("/text")
    c.send_frame(OP_CONT, b"orphan", fin=fin)
    c.expect_close(1002)


def test_continuation_after_completed_message_is_1002(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"done", fin=True)
    assert c.read_text() == "done"
    c.send_frame(OP_CONT, b"late", fin=True)
    c.expect_close(1002)


@pytest.mark.parametrize("first,second", [(OP_TEXT, OP_TEXT), (OP_TEXT, OP_BINARY), (OP_BINARY, OP_TEXT)])
def test_new_data_frame_while_fragmented_message_in_progress_is_1002(connect, first, second):
    c = connect("/text")
    c.send_frame(first, b"part1", fin=False)
    c.send_frame(second, b"oops", fin=True)
    c.expect_close(1002)


# ============================================================================ UTF-8
INVALID_UTF8 = {
    "ff": b"\xff",
    "overlong-slash": b"\xc0\xaf",
    "overlong-3": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "lone-continuation": b"a\x80b",
    "truncated-at-end": b"abc\xe2\x82",
    "f5": b"\xf5\x80\x80\x80",
}


@pytest.mark.parametrize("payload", list(INVALID_UTF8.values()), ids=list(INVALID_UTF8))
def test_invalid_utf8_text_is_1007(connect, payload):
    c = connect("/text")
    c.send_text(payload)
    c.expect_close(1007)


@pytest.mark.parametrize("payload", list(INVALID_UTF8.values()), ids=list(INVALID_UTF8))
def test_invalid_utf8_in_fragmented_text_is_1007(connect, payload):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"valid ", fin=False)
    c.send_frame(OP_CONT, payload, fin=False)
    c.send_frame(OP_CONT, b" tail", fin=True)
    c.expect_close(1007)


@pytest.mark.parametrize("payload", [b"hello\xff", b"\xc0\xaf", b"ok\xf4\x90", b"\xed\xa0\x80", b"x\xe0\x80"],
                         ids=["ff", "overlong", "f490-prefix", "surrogate", "e080-prefix"])
def test_invalid_utf8_fails_fast_in_first_fragment(connect, payload):
    """The message is never finished: the server must detect the error on the first fragment."""
    c = connect("/text")
    c.send_frame(OP_TEXT, payload, fin=False)
    c.expect_close(1007)


def test_invalid_utf8_fails_fast_in_middle_fragment(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"good start ", fin=False)
    c.send_frame(OP_CONT, b"still good ", fin=False)
    c.send_frame(OP_CONT, b"bad \xff", fin=False)
    c.expect_close(1007)


def test_truncated_sequence_at_end_of_fragmented_message_is_1007(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"a\xe2\x82", fin=False)  # valid so far (incomplete)
    c.send_frame(OP_CONT, b"", fin=True)            # ...but the message ends there
    c.expect_close(1007)


def test_multibyte_chars_split_across_fragments_are_accepted(connect):
    c = connect("/text")
    text = "a€b😀c"
    raw = text.encode()
    # split inside every multi-byte sequence: one byte per fragment
    parts = [raw[i:i + 1] for i in range(len(raw))]
    for i, p in enumerate(parts):
        c.send_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)
    assert c.read_text() == text
    # and a split where the first fragment ends with a 3-byte prefix of a 4-byte char
    c.send_frame(OP_TEXT, b"x\xf0\x9f\x98", fin=False)
    c.send_frame(OP_CONT, b"\x80y", fin=True)
    assert c.read_text() == "x😀y"


def test_valid_utf8_varieties_echoed(connect):
    c = connect("/text")
    for s in ["", "ascii", "κόσμε", "日本語テキスト", "\U0010ffff", "\ud7ff\ue000", "mixed 😀 € ü"]:
        c.send_text(s)
        assert c.read_text() == s


# ============================================================================ close handshake
@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999])
def test_valid_close_code_is_echoed_and_tcp_closed(connect, code):
    c = connect("/text")
    c.send_close(code, b"bye")
    got, _ = c.read_close()
    assert got == code
    assert c.wait_tcp_closed(), "server did not close TCP after the close handshake"


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_invalid_close_code_is_1002(connect, code):
    c = connect("/text")
    c.send_close(code)
    c.expect_close(1002, reply=False)


def test_close_without_payload_is_answered(connect):
    c = connect("/text")
    c.send_close(None)
    got, reason = c.read_close()
    assert got in (None, 1000), got
    assert c.wait_tcp_closed()


def test_close_payload_of_one_byte_is_1002(connect):
    c = connect("/text")
    c.send_frame(OP_CLOSE, b"\x03")
    c.expect_close(1002, reply=False)


def test_close_reason_invalid_utf8_is_1007(connect):
    c = connect("/text")
    c.send_frame(OP_CLOSE, close_payload(1000) + b"bad \xff\xfe reason")
    c.expect_close(1007, reply=False)


def test_close_reason_valid_utf8_accepted(connect):
    c = connect("/text")
    c.send_close(1000, "pa\u017a\u0107 👋")
    got, _ = c.read_close()
    assert got == 1000
    assert c.wait_tcp_closed()


def test_nothing_processed_after_close_frame(connect):
    c = connect("/text")
    c.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, b"after close")
               + build_frame(OP_PING, b"after close"))
    f = c.read_frame()
    assert f.opcode == OP_CLOSE and f.close_code() == 1000, f
    # no echo, no pong: the next thing is the TCP close
    assert c.wait_tcp_closed(), "server sent more frames or did not close TCP"


def test_nothing_processed_after_close_frame_separate_writes(connect):
    c = connect("/text")
    c.send_close(1000)
    try:
        c.send_text("after close")
    except OSError:
        pass
    f = c.read_frame()
    assert f.opcode == OP_CLOSE and f.close_code() == 1000, f
    assert c.wait_tcp_closed()


def test_close_in_middle_of_fragmented_message(connect):
    c = connect("/text")
    c.send_frame(OP_TEXT, b"unfinished", fin=False)
    c.send_close(1000)
    got, _ = c.read_close()  # no partial message is delivered
    assert got == 1000
    assert c.wait_tcp_closed()


def make_idle_app(record: list, done: threading.Event, idle: threading.Event):
    app = FastrAPI()

    @app.websocket("/idle")
    async def idle_handler(ws):
        """Reads one message, then does not read until ``idle`` is cleared, then reads until closed."""
        await ws.accept()
        try:
            record.append(await ws.receive_text())
            while idle.is_set():
                await asyncio.sleep(0.01)
            while True:
                record.append(await ws.receive_text())
        except ConnectionError:
            pass
        finally:
            done.set()

    return app


def test_close_handshake_and_pong_do_not_need_the_handler_to_read(serve, conns):
    record, done, idle = [], threading.Event(), threading.Event()
    idle.set()
    srv = serve(make_idle_app(record, done, idle), graceful_timeout=2.0)
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    try:
        c.handshake("/idle")
        c.send_text("first")
        time.sleep(0.1)
        c.send_ping(b"while idle")
        f = c.read_frame()
        assert f.opcode == OP_PONG and f.payload == b"while idle"
        c.send_close(1000)
        got, _ = c.read_close()
        assert got == 1000
        assert c.wait_tcp_closed(), "TCP not closed after the close handshake while the handler was busy"
    finally:
        idle.clear()
    assert done.wait(T)
    assert record == ["first"]


def test_messages_after_close_frame_never_reach_the_handler(serve, conns):
    record, done, idle = [], threading.Event(), threading.Event()
    idle.set()
    srv = serve(make_idle_app(record, done, idle), graceful_timeout=2.0)
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    try:
        c.handshake("/idle")
        c.send_text("first")
        time.sleep(0.1)
        c.send_raw(build_frame(OP_TEXT, b"before close") + build_frame(OP_CLOSE, close_payload(1000))
                   + build_frame(OP_TEXT, b"after close") + build_frame(OP_BINARY, b"after close")
                   + build_frame(OP_PING, b"after close"))
        f = c.read_frame()
        assert f.opcode == OP_CLOSE and f.close_code() == 1000, f
        assert c.wait_tcp_closed()
    finally:
        idle.clear()
    assert done.wait(T)
    assert record == ["first", "before close"], record


# ============================================================================ length encodings
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 1000, 65535, 65536, 70000, 300000])
def test_length_encodings_roundtrip(connect, size):
    c = connect("/bytes")
    data = os.urandom(size)
    c.send_binary(data)
    op, got, frames = c.read_message(timeout=5)
    assert op == OP_BINARY and got == data
    for f in frames:  # RFC 6455 5.2: minimal length encoding
        n = len(f.payload)
        assert f.length_form == ("7" if n <= 125 else "16" if n <= 0xFFFF else "64"), f


@pytest.mark.parametrize("size,form", [(126, "16"), (65535, "16"), (65536, "64"), (200000, "64")])
def test_text_length_encodings(connect, size, form):
    c = connect("/text")
    text = ("abcdefghij" * (size // 10 + 1))[:size]
    frame = build_frame(OP_TEXT, text.encode())
    assert frame[1] & 0x7F == {"16": 126, "64": 127}[form]
    c.send_raw(frame)
    assert c.read_text(timeout=5) == text


def test_frame_split_byte_by_byte(connect):
    c = connect("/text")
    text = "byte by byte " * 20  # 260 bytes -> 16-bit length
    c.send_frame(OP_TEXT, text.encode(), chunk=1, delay=0.0003)
    assert c.read_text() == text
    # 64-bit length header byte by byte, payload in odd-size chunks
    data = ("z" * 65536).encode()
    frame = build_frame(OP_TEXT, data)
    c.send_raw(frame[:14], chunk=1, delay=0.0005)
    c.send_raw(frame[14:], chunk=9973)
    assert c.read_text(timeout=5) == "z" * 65536


def test_ping_split_byte_by_byte(connect):
    c = connect("/text")
    c.send_frame(OP_PING, b"slow ping", chunk=1, delay=0.0005)
    f = c.read_frame()
    assert f.opcode == OP_PONG and f.payload == b"slow ping"


def test_many_frames_in_one_write(connect):
    c = connect("/text")
    blob = bytearray()
    for i in range(200):
        blob += build_frame(OP_TEXT, b"m%d" % i)
        if i % 50 == 0:
            blob += build_frame(OP_PING, b"p%d" % i)
    c.send_raw(bytes(blob))
    texts, pongs = [], []
    deadline = time.monotonic() + 5
    while len(texts) < 200 or len(pongs) < 4:
        f = c.read_frame(deadline - time.monotonic())
        if f.opcode == OP_PONG:
            pongs.append(f.payload)
        else:
            assert f.opcode == OP_TEXT and f.fin, f
            texts.append(f.text)
    assert texts == ["m%d" % i for i in range(200)]
    assert pongs == [b"p0", b"p50", b"p100", b"p150"]


def test_mixed_frames_split_at_odd_boundaries(connect):
    c = connect("/text")
    blob = bytearray()
    expected = []
    for i in range(40):
        s = ("msg%d-" % i) * (i * 7 % 50 + 1)
        if i % 3 == 0:  # fragmented
            half = len(s) // 2
            blob += build_frame(OP_TEXT, s[:half].encode(), fin=False)
            blob += build_frame(OP_CONT, s[half:].encode(), fin=True)
        else:
            blob += build_frame(OP_TEXT, s.encode())
        expected.append(s)
    c.send_raw(bytes(blob), chunk=7, delay=0.0001)
    assert [c.read_text() for _ in range(40)] == expected


# ============================================================================ max message size
@pytest.fixture
def small(serve, conns):
    srv = serve(make_echo_app(), ws_max_size=1024)

    def _connect(path="/text", **kw):
        c = RawWS(srv.port, timeout=T)
        conns.append(c)
        c.handshake(path, **kw)
        return c
    return _connect


def test_max_size_exact_limit_ok(small):
    c = small("/text")
    c.send_text("a" * 1024)
    assert c.read_text() == "a" * 1024
    c2 = small("/bytes")
    c2.send_binary(b"\x01" * 1024)
    assert c2.read_binary() == b"\x01" * 1024
    # fragmented, total exactly at the limit
    c.send_frame(OP_TEXT, b"b" * 600, fin=False)
    c.send_frame(OP_CONT, b"b" * 424, fin=True)
    assert c.read_text() == "b" * 1024


@pytest.mark.parametrize("path,opcode", [("/text", OP_TEXT), ("/bytes", OP_BINARY)])
def test_max_size_exceeded_is_1009(small, path, opcode):
    c = small(path)
    c.send_frame(opcode, b"a" * 1025)
    c.expect_close(1009)


@pytest.mark.parametrize("parts", [[600, 425], [1024, 1], [200, 200, 200, 200, 200, 25], [1, 1024]])
def test_max_size_exceeded_by_fragments_is_1009(small, parts):
    c = small("/text")
    for i, n in enumerate(parts):
        c.send_frame(OP_TEXT if i == 0 else OP_CONT, b"f" * n, fin=i == len(parts) - 1)
    c.expect_close(1009)


def test_max_size_declared_length_rejected_without_waiting_for_payload(small):
    c = small("/bytes")
    # header announces 1 MiB; only a few payload bytes follow. The server must not wait to buffer it.
    frame = build_frame(OP_BINARY, b"\x00" * 16, declared_length=1 << 20)
    c.send_raw(frame)
    c.expect_close(1009, reply=False)


def test_64bit_length_with_msb_set_is_rejected(small):
    c = small("/bytes")
    c.send_raw(build_frame(OP_BINARY, b"\x00" * 8, declared_length=(1 << 63) + 5))
    got, _ = c.read_close()
    assert got in (1002, 1009), got
    assert c.wait_tcp_closed()


# ============================================================================ keepalive
def test_keepalive_pings_sent_and_answered_connection_stays(serve, conns):
    srv = serve(make_echo_app(), ws_ping_interval=0.2, ws_ping_timeout=0.3)
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    c.handshake("/text")
    pings = []
    start = time.monotonic()
    while time.monotonic() - start < 1.7:
        try:
            f = c.read_frame(0.1)
        except wsraw.ReadTimeout:
            continue
        assert f.opcode == OP_PING, f"unexpected frame while idle: {f!r}"
        pings.append(f.payload)
        c.send_pong(f.payload)
    assert len(pings) >= 2, f"expected periodic pings, got {len(pings)} in 1.7s"
    c.send_text("still alive")
    f = c.read_data_frame()
    assert f.opcode == OP_TEXT and f.text == "still alive"


def test_keepalive_ping_period_is_the_interval(serve, conns):
    """ws_ping_interval is the time between pings: with a prompt pong the next ping must not wait
    for ws_ping_timeout to run out first (interval 0.2 s -> ~8 pings in 1.7 s; >= 5 required)."""
    srv = serve(make_echo_app(), ws_ping_interval=0.2, ws_ping_timeout=0.3)
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    c.handshake("/text")
    times = []
    start = time.monotonic()
    while time.monotonic() - start < 1.7:
        try:
            f = c.read_frame(0.1)
        except wsraw.ReadTimeout:
            continue
        assert f.opcode == OP_PING, f
        times.append(round(time.monotonic() - start, 2))
        c.send_pong(f.payload)
    assert len(times) >= 5, f"pings at {times}: the period is not ws_ping_interval (0.2 s)"


def test_keepalive_unanswered_pings_drop_connection(serve, conns):
    srv = serve(make_echo_app(), ws_ping_interval=0.2, ws_ping_timeout=0.3)
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    c.handshake("/text")
    pings = 0
    start = time.monotonic()
    closed_at = None
    while time.monotonic() - start < 4.0:
        try:
            f = c.read_frame(0.1)
        except wsraw.ReadTimeout:
            continue
        except TCPClosed:
            closed_at = time.monotonic() - start
            break
        if f.opcode == OP_PING:
            pings += 1
        elif f.opcode == OP_CLOSE:
            # a close frame (e.g. 1011) before dropping is fine; TCP must follow
            if c.wait_tcp_closed(2.0):
                closed_at = time.monotonic() - start
            break
        else:
            raise AssertionError(f"unexpected frame {f!r}")
    assert pings >= 1, "server never pinged"
    assert closed_at is not None, "connection not dropped although pings were never answered"
    assert closed_at < 3.0, closed_at


def test_keepalive_disabled_sends_no_pings(serve, conns):
    srv = serve(make_echo_app(), ws_ping_interval=None)
    c = RawWS(srv.port, timeout=T)
    conns.append(c)
    c.handshake("/text")
    assert c.is_open_quiet(0.8), "server sent something / closed although keepalive disabled"
    c.send_text("x")
    assert c.read_text() == "x"


# ============================================================================ flow control
MSG = 64 * 1024


@pytest.mark.parametrize("fragmented", [False, True], ids=["single-frame", "fragmented"])
def test_flow_control_handler_not_reading_stops_server_reading(serve, conns, fragmented):
    """The handler never reads: the server must stop reading from the socket (so the client's
    writes block) instead of buffering without bound; nothing is lost once the handler reads."""
    release = threading.Event()
    received = {"count": 0, "bytes": 0}

    app = FastrAPI()

    @app.websocket("/sink")
    async def sink(ws):
        await ws.accept()
        while not release.is_set():
            await asyncio.sleep(0.01)
        try:
            while True:
                data = await ws.receive_bytes()
                if data == b"END":
                    await ws.send_text(str(received["count"]))
                    continue
                received["count"] += 1
                received["bytes"] += len(data)
        except ConnectionError:
            pass

    srv = serve(app, graceful_timeout=2.0)
    c = RawWS(srv.port, timeout=T, sndbuf=64 * 1024)
    conns.append(c)
    try:
        c.handshake("/sink")
        data = os.urandom(MSG)
        if fragmented:  # one message = two 32 KiB fragments (the non-fast path of the frame parser)
            frame = (build_frame(OP_BINARY, data[:MSG // 2], fin=False, mask_key=b"\x11\x22\x33\x44")
                     + build_frame(OP_CONT, data[MSG // 2:], fin=True, mask_key=b"\x55\x66\x77\x88"))
        else:
            frame = build_frame(OP_BINARY, data, mask_key=b"\x11\x22\x33\x44")
        limit = 160 * 1024 * 1024  # far beyond kernel buffers + ws_max_queue * MSG
        c.sock.setblocking(False)
        sent_total = 0
        frames_started = 0
        pos = len(frame)  # position inside the current frame
        stalled = False
        tracemalloc.start()  # the server runs in this process: measure what it allocates meanwhile
        mem_base = tracemalloc.get_traced_memory()[0]
        t_end = time.monotonic() + 15
        while sent_total < limit and time.monotonic() < t_end:
            if pos == len(frame):
                pos = 0
                frames_started += 1
            try:
                n = c.sock.send(memoryview(frame)[pos:])
                pos += n
                sent_total += n
            except BlockingIOError:
                _, w, _ = select.select([], [c.sock], [], 0.6)
                if not w:
                    # make sure the server is not merely slow: still blocked a while later
                    _, w, _ = select.select([], [c.sock], [], 0.6)
                    if not w:
                        stalled = True
                        break
        mem_now, mem_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert stalled, (f"client wrote {sent_total / 2**20:.1f} MiB without the server ever pushing back;"
                         " the server keeps reading (unbounded buffering) while the handler does not")
        # default ws_max_queue=32 messages of 64 KiB = 2 MiB, plus a read chunk or two
        assert mem_now - mem_base < 16 * 2**20, f"server holds {(mem_now - mem_base) / 2**20:.1f} MiB"
        assert sent_total < 64 * 1024 * 1024, sent_total
        assert received["count"] == 0
        # release the handler: everything written so far must arrive, then more can be written
        release.set()
        c.sock.setblocking(True)
        c.sock.settimeout(10)
        c.sock.sendall(memoryview(frame)[pos:])
        for _ in range(10):
            c.sock.sendall(frame)
        c.sock.sendall(build_frame(OP_BINARY, b"END"))
        c.sock.settimeout(T)
        reply = c.read_text(timeout=10)
        assert int(reply) == frames_started + 10
        assert received["bytes"] == (frames_started + 10) * MSG
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        release.set()


@pytest.mark.parametrize("kind", ["bytes", "text"])
def test_flow_control_client_not_reading_stalls_handler_sends(serve, conns, kind):
    """The client never reads: the handler's send_bytes must stop completing (back-pressure)
    instead of queueing everything in memory; it resumes when the client reads."""
    total = 1000  # 1000 * 64 KiB = 62.5 MiB, far more than socket buffers can absorb
    progress = {"sent": 0, "done": False}

    app = FastrAPI()

    @app.websocket("/source")
    async def source(ws):
        await ws.accept()
        payload = bytearray(os.urandom(MSG))
        filler = "t" * (MSG - 8)
        try:
            for i in range(total):
                if kind == "bytes":
                    payload[:4] = i.to_bytes(4, "big")
                    await ws.send_bytes(bytes(payload))
                else:
                    await ws.send_text("%08d" % i + filler)
                progress["sent"] = i + 1
            progress["done"] = True
            await ws.close(1000)
        except ConnectionError:
            pass

    srv = serve(app, graceful_timeout=2.0)
    c = RawWS(srv.port, timeout=T, rcvbuf=64 * 1024)
    conns.append(c)
    c.handshake("/source")
    time.sleep(1.0)
    first = progress["sent"]
    time.sleep(0.4)
    second = progress["sent"]
    assert first < total // 2, (f"handler completed {first}/{total} sends of 64 KiB while the client read"
                                " nothing: send_* does not wait for the transport to drain")
    assert second == first, f"handler kept making progress ({first} -> {second}) without the client reading"
    # now read everything: the handler must resume and finish
    for i in range(total):
        if kind == "bytes":
            data = c.read_binary(timeout=10)
            assert len(data) == MSG and int.from_bytes(data[:4], "big") == i
        else:
            text = c.read_text(timeout=10)
            assert len(text) == MSG and int(text[:8]) == i
    c.expect_close(1000, timeout=5)
    assert progress["done"] and progress["sent"] == total
