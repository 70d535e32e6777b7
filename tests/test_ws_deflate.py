"""RFC 7692 permessage-deflate conformance of the FastrAPI WebSocket server (raw sockets + zlib)."""
from __future__ import annotations

import os
import random
import sys
import time
import tracemalloc
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


from echo_app import make_echo_app  # noqa: E402
from wsraw import (  # noqa: E402
    OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
    RawWS, build_frame, close_payload, deflate_message, inflate_message, parse_extensions,
)

pytestmark = pytest.mark.timeout(30)

T = 2.0
PMD = "permessage-deflate"


@pytest.fixture
def conns():
    opened: list[RawWS] = []
    yield opened
    for c in opened:
        c.close()


@pytest.fixture
def server(serve):
    """server(**options) -> connect(path, offer=..., **handshake_kw) -> RawWS."""
    def _server(**options):
        return serve(make_echo_app(), **options)
    return _server


@pytest.fixture
def connect(server, conns):
    srv_holder = {}

    def _connect(path="/text", offer: str | None = PMD, srv=None, extra_headers=(), **kw) -> RawWS:
        if srv is None:
            if "default" not in srv_holder:
                srv_holder["default"] = server()
            srv = srv_holder["default"]
        c = RawWS(srv.port, timeout=T)
        conns.append(c)
        headers = list(extra_headers)
        if offer is not None:
            headers.append(("Sec-WebSocket-Extensions", offer))
        c.handshake(path, extra_headers=headers, **kw)
        return c
    return _connect


def negotiated(c: RawWS) -> dict[str, str | None] | None:
    """Params of the accepted permessage-deflate, or None if not negotiated."""
    exts = parse_extensions(c.response.header_all("sec-websocket-extensions") or None)
    pmd = [p for name, p in exts if name == PMD]
    assert len(pmd) <= 1, f"permessage-deflate accepted more than once: {exts}"
    others = [name for name, _ in exts if name != PMD]
    assert not others, f"server accepted extensions nobody offered: {others}"
    if pmd:
        params = pmd[0]
        allowed = {"server_no_context_takeover", "client_no_context_takeover",
                   "server_max_window_bits", "client_max_window_bits"}
        assert set(params) <= allowed, f"unknown parameter in response: {params}"
        for k in ("server_no_context_takeover", "client_no_context_takeover"):
            if k in params:
                assert params[k] is None, f"{k} must not have a value: {params}"
        for k in ("server_max_window_bits", "client_max_window_bits"):
            if k in params:
                v = params[k]
                assert v is not None and v.isdigit() and 8 <= int(v) <= 15, f"bad {k} in response: {params}"
        return params
    return None


class Peer:
    """Client-side compression state for one connection."""

    def __init__(self, c: RawWS, params: dict, client_wbits: int = 15, client_takeover: bool = True):
        assert params is not None, f"permessage-deflate was not negotiated: {c.response.headers}"
        self.c = c
        self.params = params
        self.server_wbits = int(params.get("server_max_window_bits") or 15)
        cmwb = params.get("client_max_window_bits")
        self.client_wbits = min(client_wbits, int(cmwb)) if cmwb else client_wbits
        self.server_takeover = "server_no_context_takeover" not in params
        self.client_takeover = client_takeover and "client_no_context_takeover" not in params
        self.comp = self._new_comp()
        self.decomp = zlib.decompressobj(-self.server_wbits)

    def _new_comp(self):
        return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.client_wbits)

    def compress(self, data: bytes) -> bytes:
        if not self.client_takeover:
            self.comp = self._new_comp()
        return deflate_message(data, self.comp)

    def send(self, data: bytes | str, opcode: int | None = None, **kw) -> None:
        if isinstance(data, str):
            data = data.encode()
            opcode = opcode or OP_TEXT
        self.c.send_frame(opcode or OP_BINARY, self.compress(data), rsv1=True, **kw)

    def recv(self, expect_compressed: bool | None = None) -> tuple[int, bytes, bool]:
        """Read one message; returns (opcode, decoded payload, was_compressed)."""
        op, payload, frames = self.c.read_message()
        for f in frames[1:]:
            assert not f.rsv1, f"server set RSV1 on a continuation frame: {f!r}"
        compressed = frames[0].rsv1
        if expect_compressed is not None:
            assert compressed == expect_compressed, f"expected compressed={expect_compressed}: {frames[0]!r}"
        if compressed:
            if not self.server_takeover:
                # the server promised to reset its context: a fresh decoder must be enough
                self.decomp = zlib.decompressobj(-self.server_wbits)
            payload = inflate_message(payload, self.decomp, self.server_wbits)
        return op, payload, compressed


def letters(n: int, seed: int) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


# ============================================================================ negotiation
def test_plain_offer_is_negotiated(connect):
    c = connect("/text", offer=PMD)
    params = negotiated(c)
    assert params is not None, f"permessage-deflate not negotiated: {c.response.headers}"
    # client_max_window_bits must not appear unless the client offered it (RFC 7692 7.1.2.2)
    assert "client_max_window_bits" not in params, params


@pytest.mark.parametrize("offer", [f"{PMD}; client_max_window_bits", f"{PMD}; client_max_window_bits=12"])
def test_client_max_window_bits(connect, offer):
    c = connect("/text", offer=offer)
    params = negotiated(c)
    assert params is not None, c.response.headers
    offered = 12 if offer.endswith("=12") else 15
    if "client_max_window_bits" in params:
        assert int(params["client_max_window_bits"]) <= offered, params
    p = Peer(c, params, client_wbits=offered)
    for i in range(3):
        msg = letters(3000, i) * 2
        p.send(msg)
        op, data, _ = p.recv()
        assert (op, data.decode()) == (OP_TEXT, msg)


def test_server_no_context_takeover_honoured(connect):
    c = connect("/text", offer=f"{PMD}; server_no_context_takeover")
    params = negotiated(c)
    assert params is not None, c.response.headers
    assert "server_no_context_takeover" in params, f"must be echoed in the response: {params}"
    p = Peer(c, params)
    assert not p.server_takeover
    msg = "the same compressible message " * 20
    for _ in range(3):
        p.send(msg)
        # Peer.recv decodes every server message with a FRESH decompressor: if the server kept its
        # LZ77 window, the 2nd echo would back-reference the 1st and fail to inflate.
        op, data, compressed = p.recv(expect_compressed=True)
        assert data.decode() == msg


def test_client_no_context_takeover(connect):
    c = connect("/text", offer=f"{PMD}; client_no_context_takeover")
    params = negotiated(c)
    assert params is not None, c.response.headers
    p = Peer(c, params, client_takeover=False)
    msg = "reset every time " * 30
    for _ in range(3):
        p.send(msg)
        assert p.recv()[1].decode() == msg


@pytest.mark.parametrize("bits", [9, 10, 12])
def test_server_max_window_bits_honoured(connect, bits):
    c = connect("/text", offer=f"{PMD}; server_max_window_bits={bits}")
    params = negotiated(c)
    assert params is not None, c.response.headers
    assert "server_max_window_bits" in params, f"must be answered with server_max_window_bits: {params}"
    m = int(params["server_max_window_bits"])
    assert 8 <= m <= bits, params
    # a message with a repeat 5000 bytes back: a server compressing with a window larger than
    # 2**m would reference it, and inflating with -m (in small steps) then fails
    a, b = letters(1500, 1), letters(3500, 2)
    msg = a + b + a
    p = Peer(c, params)
    p.send(msg)
    op, data, compressed = p.recv(expect_compressed=True)
    assert data.decode() == msg


def test_all_parameters_together(connect):
    offer = (f"{PMD}; server_no_context_takeover; client_no_context_takeover;"
             " server_max_window_bits=11; client_max_window_bits")
    c = connect("/text", offer=offer)
    params = negotiated(c)
    assert params is not None, c.response.headers
    assert "server_no_context_takeover" in params
    assert int(params["server_max_window_bits"]) <= 11
    p = Peer(c, params, client_takeover=False)
    for i in range(3):
        msg = letters(1200, 7) + letters(2000, i) + letters(1200, 7)
        p.send(msg)
        assert p.recv(expect_compressed=True)[1].decode() == msg


def test_multiple_offers_first_acceptable_wins(connect):
    offer = f"x-webkit-deflate-frame, {PMD}; unknown_param=1, {PMD}; client_max_window_bits, {PMD}"
    c = connect("/text", offer=offer)
    params = negotiated(c)  # also asserts x-webkit-deflate-frame was not accepted
    assert params is not None, c.response.headers
    assert "unknown_param" not in params


def test_extension_offer_in_multiple_header_lines(connect):
    c = connect("/text", offer=None,
                extra_headers=[("Sec-WebSocket-Extensions", "x-unknown-ext"), ("Sec-WebSocket-Extensions", PMD)])
    assert negotiated(c) is not None, c.response.headers


def test_not_negotiated_when_not_offered(connect):
    c = connect("/text", offer=None)
    assert c.response.header("sec-websocket-extensions") is None
    c.send_text("x" * 1000)
    f = c.read_frame()  # strict mode: RSV1 on this frame would fail
    assert f.opcode == OP_TEXT and not f.rsv1 and f.payload == b"x" * 1000


def test_disabled_by_server_option(server, connect):
    srv = server(ws_per_message_deflate=False)
    c = connect("/text", offer=f"{PMD}; client_max_window_bits", srv=srv)
    assert negotiated(c) is None, c.response.headers
    assert c.response.header("sec-websocket-extensions") is None
    c.send_text("y" * 1000)
    f = c.read_frame()
    assert not f.rsv1 and f.payload == b"y" * 1000
    # and a compressed frame is then a protocol error
    c.send_frame(OP_TEXT, deflate_message(b"hello"), rsv1=True)
    c.expect_close(1002)


INVALID_OFFERS = {
    "unknown-param": f"{PMD}; foo=bar",
    "unknown-flag": f"{PMD}; foo",
    "server-bits-7": f"{PMD}; server_max_window_bits=7",
    "server-bits-16": f"{PMD}; server_max_window_bits=16",
    "server-bits-novalue": f"{PMD}; server_max_window_bits",
    "server-bits-abc": f"{PMD}; server_max_window_bits=abc",
    "client-bits-16": f"{PMD}; client_max_window_bits=16",
    "client-bits-7": f"{PMD}; client_max_window_bits=7",
    "client-bits-abc": f"{PMD}; client_max_window_bits=abc",
    "snct-with-value": f"{PMD}; server_no_context_takeover=1",
    "duplicate-param": f"{PMD}; server_no_context_takeover; server_no_context_takeover",
    "duplicate-bits": f"{PMD}; server_max_window_bits=10; server_max_window_bits=12",
}


@pytest.mark.parametrize("offer", list(INVALID_OFFERS.values()), ids=list(INVALID_OFFERS))
def test_invalid_offer_declined_connection_works(connect, offer):
    c = connect("/text", offer=offer)
    assert negotiated(c) is None, f"invalid offer {offer!r} accepted: {c.response.headers}"
    c.send_text("plain " * 100)
    f = c.read_frame()
    assert f.opcode == OP_TEXT and not f.rsv1 and f.text == "plain " * 100


# ============================================================================ data
@pytest.mark.parametrize("path,opcode,data", [
    ("/text", OP_TEXT, "hello compressed world " * 50),
    ("/text", OP_TEXT, "x"),
    ("/text", OP_TEXT, ""),
    ("/text", OP_TEXT, "żółć 😀 " * 100),
    ("/bytes", OP_BINARY, bytes(range(256)) * 40),
    ("/bytes", OP_BINARY, os.urandom(5000)),
], ids=["text", "tiny", "empty", "utf8", "binary", "random"])
def test_client_compressed_message_is_decompressed(connect, path, opcode, data):
    c = connect(path)
    p = Peer(c, negotiated(c))
    p.send(data, opcode=opcode)
    op, got, _ = p.recv()
    expected = data.encode() if isinstance(data, str) else data
    assert op == opcode and got == expected


def test_uncompressed_message_still_accepted_after_negotiation(connect):
    c = connect("/text")
    p = Peer(c, negotiated(c))
    c.send_text("not compressed")
    assert p.recv()[1] == b"not compressed"


def test_server_messages_are_compressed(connect):
    c = connect("/text")
    p = Peer(c, negotiated(c))
    msg = "compress me please " * 100  # 1900 very compressible bytes
    c.send_text(msg)  # client sends uncompressed; the server's echo must be compressed
    op, payload, frames = c.read_message()
    assert frames[0].rsv1, f"server did not compress a highly compressible message: {frames[0]!r}"
    assert len(payload) < len(msg) // 4
    assert inflate_message(payload, p.decomp).decode() == msg


def test_server_message_decodable_with_default_window(connect):
    c = connect("/bytes")
    p = Peer(c, negotiated(c))
    data = (letters(10000, 3) + letters(20000, 4) + letters(10000, 3)).encode()
    p.send(data)
    assert p.recv()[1] == data


def test_context_takeover_across_messages(connect):
    c = connect("/text")
    params = negotiated(c)
    p = Peer(c, params)
    assert p.client_takeover, params
    msg = letters(2000, 5)
    sizes = []
    for _ in range(4):
        payload = p.compress(msg.encode())
        sizes.append(len(payload))
        c.send_frame(OP_TEXT, payload, rsv1=True)
        # the server must keep our LZ77 window: messages 2..4 are mere back-references
        assert p.recv()[1].decode() == msg
    assert sizes[1] < sizes[0] // 10, sizes  # proves the client really used context takeover


def test_fragmented_compressed_message(connect):
    c = connect("/text")
    p = Peer(c, negotiated(c))
    msg = "fragmented and compressed " * 200
    payload = p.compress(msg.encode())
    k = len(payload) // 3
    chunks = [payload[:k], payload[k:2 * k], b"", payload[2 * k:]]
    for i, ch in enumerate(chunks):
        c.send_frame(OP_TEXT if i == 0 else OP_CONT, ch, rsv1=(i == 0), fin=(i == len(chunks) - 1))
        if i == 1:
            c.send_ping(b"inside")
    f = c.read_frame()
    assert f.opcode == OP_PONG and f.payload == b"inside"
    assert p.recv()[1].decode() == msg
    # and again, relying on the context carried over from the fragmented message
    payload = p.compress(msg.encode())
    c.send_frame(OP_TEXT, payload[:3], rsv1=True, fin=False)
    c.send_frame(OP_CONT, payload[3:], fin=True)
    assert p.recv()[1].decode() == msg


def test_fragmented_compressed_binary_byte_fragments(connect):
    c = connect("/bytes")
    p = Peer(c, negotiated(c))
    data = b"\x00\x01\x02\x03" * 500
    payload = p.compress(data)
    for i in range(len(payload)):
        c.send_frame(OP_BINARY if i == 0 else OP_CONT, payload[i:i + 1], rsv1=(i == 0), fin=(i == len(payload) - 1))
    assert p.recv()[1] == data


def test_rsv1_on_continuation_is_1002(connect):
    c = connect("/text")
    p = Peer(c, negotiated(c))
    payload = p.compress(b"some text to compress " * 10)
    c.send_frame(OP_TEXT, payload[:5], rsv1=True, fin=False)
    c.send_frame(OP_CONT, payload[5:], rsv1=True, fin=True)
    c.expect_close(1002)


def test_rsv1_on_continuation_of_uncompressed_message_is_1002(connect):
    c = connect("/text")
    assert negotiated(c) is not None
    c.send_frame(OP_TEXT, b"plain start", fin=False)
    c.send_frame(OP_CONT, deflate_message(b"x"), rsv1=True, fin=True)
    c.expect_close(1002)


@pytest.mark.parametrize("opcode,payload", [(OP_PING, b"p"), (OP_PONG, b"p"), (OP_CLOSE, close_payload(1000))],
                         ids=["ping", "pong", "close"])
def test_rsv1_on_control_frame_is_1002(connect, opcode, payload):
    c = connect("/text")
    assert negotiated(c) is not None
    c.send_frame(opcode, payload, rsv1=True)
    c.expect_close(1002)


@pytest.mark.parametrize("bit", ["rsv2", "rsv3"])
def test_rsv2_rsv3_still_1002_with_deflate(connect, bit):
    c = connect("/text")
    assert negotiated(c) is not None
    c.send_frame(OP_TEXT, deflate_message(b"abc"), rsv1=True, **{bit: True})
    c.expect_close(1002)


def test_invalid_utf8_inside_compressed_text_is_1007(connect):
    c = connect("/text")
    p = Peer(c, negotiated(c))
    c.send_frame(OP_TEXT, p.compress(b"valid then \xff\xfe invalid"), rsv1=True)
    c.expect_close(1007)


def test_corrupt_deflate_data_closes_connection(connect):
    c = connect("/text")
    assert negotiated(c) is not None
    c.send_frame(OP_TEXT, b"\xff\xff\xff\xff\xff garbage", rsv1=True)
    code, _ = c.read_close()
    assert code in (1002, 1007, 1011), code  # RFC 7692 leaves the code open; the connection must fail
    assert c.wait_tcp_closed()


# ============================================================================ size limit vs. compression
@pytest.fixture
def small(server, connect):
    srv = server(ws_max_size=1024)

    def _connect(path="/text", **kw):
        return connect(path, srv=srv, **kw)
    return _connect


def test_inflated_size_at_limit_ok(small):
    c = small("/bytes")
    p = Peer(c, negotiated(c))
    p.send(b"\x00" * 1024)
    assert p.recv()[1] == b"\x00" * 1024


@pytest.mark.parametrize("inflated", [1025, 200_000, 1_000_000])
def test_decompression_bomb_is_1009(small, inflated):
    c = small("/bytes")
    p = Peer(c, negotiated(c))
    payload = p.compress(b"\x00" * inflated)
    assert len(payload) <= 1024, len(payload)  # the compressed frame itself is within the limit
    start = time.monotonic()
    c.send_frame(OP_BINARY, payload, rsv1=True)
    c.expect_close(1009)
    assert time.monotonic() - start < T


def test_decompression_bomb_fragmented_is_1009(small):
    c = small("/text")
    p = Peer(c, negotiated(c))
    payload = p.compress(b"a" * 100_000)
    half = len(payload) // 2
    c.send_frame(OP_TEXT, payload[:half], rsv1=True, fin=False)
    c.send_frame(OP_CONT, payload[half:], fin=True)
    c.expect_close(1009)


def test_decompression_bomb_is_never_inflated_in_full(server, connect):
    """A 100 KiB compressed frame (within ws_max_size) that inflates to 100 MiB: the server must stop
    inflating at the limit, not inflate everything and then compare (memory measured in-process)."""
    srv = server(ws_max_size=128 * 1024)
    c = connect("/bytes", srv=srv)
    assert negotiated(c) is not None
    comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    payload = b"".join(comp.compress(zeros) for _ in range(100)) + comp.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]
    assert len(payload) <= 128 * 1024, len(payload)
    frame = build_frame(OP_BINARY, payload, rsv1=True)
    del zeros, comp
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        c.send_raw(frame)
        c.expect_close(1009)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - base < 16 * 2**20, f"server allocated {(peak - base) / 2**20:.0f} MiB to reject a bomb"
