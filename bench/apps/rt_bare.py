"""Ceiling for the fan-out scenarios of bench/realtime.py: uvloop, raw asyncio protocols, no framework.

    /sub/{channel}   the connection is added to the channel's set (what it sends is ignored)
    /pub/{channel}   every text/binary message it sends is written, as one unmasked frame built once,
                     to every subscriber of the channel: one ``transport.write`` per subscriber

A minimal RFC 6455 server (handshake, masked client frames, close): just enough for the load client. What
it measures is the cost of one loopback TCP write per delivery plus uvloop's transport, i.e. what any
server doing one write per subscriber per message pays at least.
"""
import asyncio
import base64
import hashlib

import uvloop

from common import port_from_argv

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the ours venv has websockets
    def apply_mask(data: bytes, mask: bytes) -> bytes:
        n = len(data)
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHANNELS: dict[bytes, set] = {}


def server_frame(first: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


class Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport = None
        self.buf = b""
        self.open = False
        self.channel = None      # the subscriber set this connection is in
        self.publish_to = None   # the subscriber set a publisher writes to

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self.channel is not None:
            self.channel.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        data = self.buf + data if self.buf else data
        self.buf = b""
        if not self.open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            head, data = data[:end], data[end + 4:]
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1]
            key = b""
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            self.open = True
            kind, _, name = path.strip(b"/").partition(b"/")
            subs = CHANNELS.setdefault(name, set())
            if kind == b"sub":
                self.channel = subs
                subs.add(self.transport)
            else:
                self.publish_to = subs
        pos, end = 0, len(data)
        while end - pos >= 6:
            b0, ln = data[pos], data[pos + 1] & 0x7F
            hdr = pos + 2
            if ln == 126:
                if end - pos < 8:
                    break
                ln, hdr = int.from_bytes(data[pos + 2:pos + 4], "big"), pos + 4
            elif ln == 127:
                if end - pos < 14:
                    break
                ln, hdr = int.from_bytes(data[pos + 2:pos + 10], "big"), pos + 10
            if end < hdr + 4 + ln:
                break
            payload = apply_mask(data[hdr + 4:hdr + 4 + ln], data[hdr:hdr + 4])
            pos = hdr + 4 + ln
            op = b0 & 0x0F
            if op == 0x8:
                self.transport.write(server_frame(0x88, payload[:2]))
                self.transport.close()
                return
            if op == 0x9:
                self.transport.write(server_frame(0x8A, payload))
            elif op in (0x1, 0x2) and self.publish_to is not None:
                frame = server_frame(0x80 | op, payload)
                for t in self.publish_to:
                    t.write(frame)
        if pos < end:
            self.buf = data[pos:]


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(port_from_argv()))
