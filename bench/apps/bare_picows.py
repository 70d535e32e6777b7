"""Ceiling for WebSocket: bare picows echo server on uvloop, raw frame callback (Cython core),
no framework.  Echoes every TEXT/BINARY frame back as it came; answers a close frame.
Uses uvloop's own transports (like the frameworks measured here); BENCH_PICOWS_AIOFASTNET=1 switches
to picows' aiofastnet transport instead (measured slower for this server on this machine)."""
import os

import uvloop
from picows import WSListener, WSMsgType, ws_create_server

from common import port_from_argv

TEXT, BINARY, CONT, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE


class Echo(WSListener):
    def on_ws_frame(self, transport, frame):
        t = frame.msg_type
        if t is TEXT or t is BINARY or t is CONT:
            transport.send(t, frame.get_payload_as_memoryview(), frame.fin)
        elif t is CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def main(port):
    use_aiofastnet = os.environ.get("BENCH_PICOWS_AIOFASTNET", "0") == "1"
    server = await ws_create_server(lambda request: Echo(), "127.0.0.1", port, max_frame_size=16 << 20,
                                    use_aiofastnet=use_aiofastnet)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(port_from_argv()))
