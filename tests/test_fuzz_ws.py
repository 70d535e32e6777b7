"""Property-based fuzzing of WebSocket frames against a real server process (hypothesis).

Each example is a conversation with the echo endpoint: messages (text with UTF-8 split anywhere across
fragments, binary), pings and pongs between fragments, then either a valid close or one defect: an unmasked
frame, reserved bits or opcodes, a fragmented or over-long control frame, a continuation with no message, a new
message during a fragmented one, invalid UTF-8 (whole or split), bad close payloads, a 64-bit length with its
most significant bit set, a message over ``ws_max_size``. The property: every message before the defect is
echoed and every ping answered; the server then closes with the code RFC 6455 prescribes (1002, 1007, 1009; the
peer's own code for a valid close) and closes TCP; the process stays up and a fresh connection echoes fine.

Examples scale with FUZZ_SCALE (default 1); the "ci" profile (tests/conftest.py) is derandomized.
"""
from __future__ import annotations

import codecs
import os
import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostile import ServerProcess
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWS, TCPClosed, accept_key, build_frame,
                   close_payload)

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
MAX_SIZE = 1 << 16


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("fuzz-ws"), ws_max_size=MAX_SIZE, ws_ping_interval=0,
                        ws_per_message_deflate=False)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def deflate_server(tmp_path_factory):
    """Default WebSocket options: permessage-deflate is negotiated when offered."""
    srv = ServerProcess(tmp_path_factory.mktemp("fuzz-ws-handshake"))
    yield srv
    srv.stop()


@dataclass
class Step:
    """Bytes to send, the pongs and the echo they must bring back (or the close code that ends it all)."""

    wire: list[bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    echo: tuple[int, bytes] | None = None
    close: int | None | str = "none"  # "none": no close expected; None: a close frame without a code


def frame(opcode: int, payload: bytes = b"", **kw) -> bytes:
    return build_frame(opcode, payload, **kw)


VALID_CODES = st.one_of(st.integers(1000, 1003), st.integers(1007, 1014), st.integers(3000, 4999))
INVALID_CODES = st.one_of(st.integers(0, 999), st.sampled_from([1004, 1005, 1006, 1015]), st.integers(1016, 2999),
                          st.integers(5000, 65535))
BAD_UTF8 = st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80",
                            b"\xf0\x9f\x98", b"\xc3"])
controls = st.lists(st.tuples(st.sampled_from([OP_PING, OP_PONG]), st.binary(max_size=125)), max_size=2)


@st.composite
def fragments(draw, data: bytes) -> list[bytes]:
    """``data`` cut at any byte positions (so a UTF-8 character may be split across fragments)."""
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=3))))
    points = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(points, points[1:])] or [b""]


@st.composite
def message_frames(draw, opcode: int, data: bytes, step: Step, *, complete: bool = True) -> None:
    """The frames of one message into ``step`` (pings/pongs between fragments); without its last fragment
    unless ``complete``."""
    parts = draw(fragments(data))
    if not complete and len(parts) == 1:
        parts = [parts[0], b""]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if last and not complete:
            return
        step.wire.append(frame(opcode if i == 0 else OP_CONT, part, fin=last))
        if not last:
            add_controls(draw, step)


def add_controls(draw, step: Step) -> None:
    for op, payload in draw(controls):
        step.wire.append(frame(op, payload))
        if op == OP_PING:
            step.pongs.append(payload)


DEFECTS = ["valid-close", "empty-close", "unmasked", "rsv", "opcode", "control-fragmented", "control-too-long",
           "continuation-without-start", "data-during-fragmentation", "bad-utf8", "close-1-byte", "close-bad-code",
           "close-bad-reason", "length-msb", "oversize-frame", "oversize-fragments"]


@st.composite
def conversations(draw, defect: str) -> list[Step]:
    steps = []
    for _ in range(draw(st.integers(0, 3))):
        step = Step()
        if draw(st.booleans()):
            text = draw(st.text(max_size=300))
            data, opcode = text.encode("utf-8"), OP_TEXT
        else:
            data, opcode = draw(st.binary(max_size=300)), OP_BINARY
        draw(message_frames(opcode, data, step))
        step.echo = (opcode, data)
        add_controls(draw, step)
        steps.append(step)
    last = Step()
    steps.append(last)
    # a message in progress (some fragments sent) when the end comes, where the defect allows one
    in_progress = defect == "data-during-fragmentation" or (
        defect not in ("continuation-without-start", "bad-utf8", "oversize-fragments") and draw(st.booleans()))
    opcode = OP_TEXT
    if in_progress:
        opcode = draw(st.sampled_from([OP_TEXT, OP_BINARY]))
        draw(message_frames(opcode, draw(st.text(max_size=50)).encode(), last, complete=False))
    next_data_op = OP_CONT if in_progress else draw(st.sampled_from([OP_TEXT, OP_BINARY]))
    add_controls(draw, last)
    if defect == "valid-close":
        code = draw(VALID_CODES)
        last.wire.append(frame(OP_CLOSE, close_payload(code, draw(st.text(max_size=30)).encode()[:123])))
        last.close = code
    elif defect == "empty-close":
        last.wire.append(frame(OP_CLOSE, b""))
        last.close = None
    elif defect == "unmasked":
        last.wire.append(frame(draw(st.sampled_from([next_data_op, OP_PING, OP_CLOSE])), b"abc", mask=False))
        last.close = 1002
    elif defect == "rsv":
        bits = draw(st.sampled_from([(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]))
        op = draw(st.sampled_from([next_data_op, OP_PING]))
        last.wire.append(frame(op, b"abc", rsv1=bool(bits[0]), rsv2=bool(bits[1]), rsv3=bool(bits[2])))
        last.close = 1002
    elif defect == "opcode":
        last.wire.append(frame(draw(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])), b"x",
                               fin=draw(st.booleans())))
        last.close = 1002
    elif defect == "control-fragmented":
        last.wire.append(frame(draw(st.sampled_from([OP_PING, OP_PONG, OP_CLOSE])), b"", fin=False))
        last.close = 1002
    elif defect == "control-too-long":
        op = draw(st.sampled_from([OP_PING, OP_PONG, OP_CLOSE]))
        last.wire.append(frame(op, b"\x03\xe8" + b"p" * draw(st.integers(124, 400))))
        last.close = 1002
    elif defect == "continuation-without-start":
        last.wire.append(frame(OP_CONT, b"orphan", fin=draw(st.booleans())))
        last.close = 1002
    elif defect == "data-during-fragmentation":
        last.wire.append(frame(draw(st.sampled_from([OP_TEXT, OP_BINARY])), b"new", fin=draw(st.booleans())))
        last.close = 1002
    elif defect == "bad-utf8":
        data = draw(st.text(max_size=40)).encode() + draw(BAD_UTF8) + draw(st.text(max_size=40)).encode()
        parts = draw(fragments(data))
        decoder = codecs.getincrementaldecoder("utf-8")()
        for i, part in enumerate(parts):
            fin = i == len(parts) - 1
            last.wire.append(frame(OP_TEXT if i == 0 else OP_CONT, part, fin=fin))
            try:
                decoder.decode(part, fin)
            except UnicodeDecodeError:
                break  # the server fails right at this fragment: nothing after it matters
            add_controls(draw, last)
        last.close = 1007
    elif defect == "close-1-byte":
        last.wire.append(frame(OP_CLOSE, draw(st.binary(min_size=1, max_size=1))))
        last.close = 1002
    elif defect == "close-bad-code":
        last.wire.append(frame(OP_CLOSE, struct.pack("!H", draw(INVALID_CODES)) + b"bye"))
        last.close = 1002
    elif defect == "close-bad-reason":
        reason = draw(st.text(max_size=20)).encode() + draw(BAD_UTF8)
        last.wire.append(frame(OP_CLOSE, close_payload(draw(VALID_CODES), reason)))
        last.close = 1007
    elif defect == "length-msb":
        declared = (1 << 63) | draw(st.integers(0, (1 << 63) - 1))
        last.wire.append(frame(next_data_op, b"", length_form="64", declared_length=declared) + b"x" * 100)
        last.close = 1002
    elif defect == "oversize-frame":
        declared = draw(st.one_of(st.integers(MAX_SIZE + 1, MAX_SIZE + 5000), st.integers(MAX_SIZE + 1, (1 << 63) - 1)))
        last.wire.append(frame(next_data_op, b"", declared_length=declared, length_form="64") + b"y" * 1000)
        last.close = 1009
    elif defect == "oversize-fragments":
        size = MAX_SIZE // 2 + 1
        op = draw(st.sampled_from([OP_TEXT, OP_BINARY]))
        for i in range(3):
            last.wire.append(frame(op if i == 0 else OP_CONT, b"z" * size, fin=i == 2))
            if i < 1:
                add_controls(draw, last)
        last.close = 1009
    if draw(st.booleans()) and last.close not in ("none",):
        last.wire.append(frame(OP_TEXT, b"after the end: ignored"))
    return steps


def send(c: RawWS, data: bytes, cut: int) -> None:
    """Write ``data`` in one piece, or cut in two at ``cut`` (the server must buffer partial frames)."""
    try:
        if 0 < cut < len(data):
            c.send_raw(data[:cut])
            c.send_raw(data[cut:])
        else:
            c.send_raw(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed after the defect: what it said is read next


def expect_step(c: RawWS, step: Step) -> None:
    pongs: list[bytes] = []
    echo = None
    while len(pongs) < len(step.pongs) or (step.echo is not None and echo is None):
        f = c.read_frame(5)
        if f.opcode == OP_PONG:
            pongs.append(f.payload)
        elif f.opcode in (OP_TEXT, OP_BINARY):
            assert echo is None and f.fin, f"unexpected data frame {f!r}"
            echo = (f.opcode, f.payload)
        else:
            raise AssertionError(f"unexpected frame {f!r} while expecting pongs {step.pongs} and echo {step.echo}")
    assert pongs == step.pongs
    assert echo == step.echo


def fresh_echo(port: int) -> None:
    with RawWS(port, timeout=5) as c:
        c.handshake("/ws")
        c.send_text("still here")
        assert c.read_text() == "still here"
        c.send_close(1000)
        c.expect_close(1000, reply=False)


@pytest.mark.parametrize("defect", DEFECTS)
def test_frames_close_with_the_rfc_code(server, defect):
    """Each ending (a valid close or one defect) gets its own examples (hypothesis would draw some rarely)."""

    @settings(max_examples=max(1, int(10 * SCALE)), deadline=None)
    @given(steps=conversations(defect), cut=st.integers(0, 40))
    def run(steps, cut):
        converse(server, steps, cut)

    run()


def converse(server: ServerProcess, steps: list[Step], cut: int) -> None:
    with RawWS(server.port, timeout=5) as c:
        c.handshake("/ws")
        for step in steps:
            send(c, b"".join(step.wire), cut)
            if step.close == "none":
                expect_step(c, step)
                continue
            pongs = []
            while True:
                try:
                    f = c.read_frame(5)
                except TCPClosed:
                    raise AssertionError(f"TCP closed without a close frame (expected {step.close})") from None
                if f.opcode == OP_PONG:
                    pongs.append(f.payload)
                    continue
                assert f.opcode == OP_CLOSE, f"expected a close frame with {step.close}, got {f!r}"
                break
            assert pongs == step.pongs
            assert f.close_code() == step.close, (f"close code {f.close_code()} ({f.close_reason()!r}), "
                                                  f"RFC 6455 says {step.close}")
            f.close_reason().decode("utf-8")  # a close reason is UTF-8
            assert c.wait_tcp_closed(5), "the server did not close TCP after its close frame"
    assert server.alive(), server.log[-3000:]
    fresh_echo(server.port)


# ---------------------------------------------------------------------- the opening handshake
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
extension_offer = st.lists(st.one_of(
    st.sampled_from(["permessage-deflate", "x-webkit-deflate-frame", "", ";", ",", '"']),
    st.sampled_from(["client_max_window_bits", "server_max_window_bits", "client_no_context_takeover",
                     "server_no_context_takeover"]).flatmap(
        lambda p: st.sampled_from(["", "=8", "=15", "=7", "=16", '="10"', "=abc", "=+9", "=", '="1']).map(lambda v: p + v)),
), max_size=6).map(lambda parts: "; ".join(parts))


@settings(max_examples=max(1, int(80 * SCALE)), deadline=None)
@given(
    method=st.sampled_from(["GET", "GET", "GET", "POST", "HEAD"]),
    http_version=st.sampled_from(["1.1", "1.1", "1.1", "1.0"]),
    upgrade=st.one_of(st.none(), st.sampled_from(["websocket", "WebSocket", "h2c", "websocket, x"]), header_text),
    connection=st.one_of(st.none(), st.sampled_from(["Upgrade", "keep-alive, Upgrade", "close"]), header_text),
    key=st.one_of(st.just("AUTO"), st.none(), header_text, st.just("AAAAAAAAAAAAAAAAAAAAAA==")),
    version=st.one_of(st.just("13"), st.none(), st.sampled_from(["8", "14", "13, 8", ""]), header_text),
    extensions=st.one_of(st.none(), extension_offer, header_text),
    protocols=st.one_of(st.none(), header_text),
)
def test_handshake_never_5xx(deflate_server, method, http_version, upgrade, connection, key, version, extensions, protocols):
    """Any opening handshake gets a 101 (with the right accept key and an extension answer the client offered)
    or a 4xx; never a 5xx; the process stays up."""
    extra = [(name, value) for name, value in (("Sec-WebSocket-Extensions", extensions),
                                               ("Sec-WebSocket-Protocol", protocols)) if value is not None]
    server = deflate_server
    with RawWS(server.port, timeout=5) as c:
        resp = c.handshake("/ws", expect_status=None, method=method, http_version=http_version, upgrade=upgrade,
                           connection=connection, key=key, version=version, extra_headers=extra)
        assert resp.status == 101 or 400 <= resp.status < 500, (resp.status, resp.headers, resp.body[:200])
        if resp.status == 101:
            assert resp.header("sec-websocket-accept") == accept_key(c.key)
            answer = resp.header("sec-websocket-extensions")
            assert answer is None or answer.startswith("permessage-deflate"), answer
            c.allow_rsv1 = answer is not None
            c.send_text("hi")
            assert c.read_text() == "hi"
    assert server.alive(), server.log[-3000:]
