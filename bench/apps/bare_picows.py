"""Ceiling for WebSocket: bare picows echo server on uvloop, raw frame callback (Cython core),
no framework.  Echoes every TEXT/BINARY frame back as it came; answers a close frame.
By default text messages are not checked at all; BENCH_PICOWS_UTF8=1 (the `bare-picows-utf8` server)
validates each text message as UTF-8 as RFC 6455 (8.1) requires of a server, and as every framework
measured here does (they hand the handler a str): one C-level decode per message (an incremental
decoder across fragments), close 1007 on invalid data, the frame echoed as it came.
Uses uvloop's own transports (like the frameworks measured here); BENCH_PICOWS_AIOFASTNET=1 switches
to picows' aiofastnet transport instead (measured slower for this server on this machine)."""
import codecs
import os

import uvloop
from picows import WSCloseCode, WSListener, WSMsgType, ws_create_server

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


class ValidatingEcho(WSListener):
    """The echo above, validating text messages as UTF-8 (what a conforming server must do)."""
    __slots__ = ("decoder",)

    def __init__(self):
        self.decoder = None     # an incremental decoder while a fragmented text message is in progress

    def on_ws_frame(self, transport, frame):
        t = frame.msg_type
        if t is TEXT or (t is CONT and self.decoder is not None):
            payload = frame.get_payload_as_memoryview()
            try:
                if t is TEXT and frame.fin:
                    str(payload, "utf-8")
                else:
                    if t is TEXT:
                        self.decoder = codecs.getincrementaldecoder("utf-8")()
                    self.decoder.decode(payload, frame.fin)
                    if frame.fin:
                        self.decoder = None
            except UnicodeDecodeError:
                transport.send_close(WSCloseCode.INVALID_TEXT, b"invalid UTF-8")
                transport.disconnect()
                return
            transport.send(t, payload, frame.fin)
        elif t is BINARY or t is CONT:
            transport.send(t, frame.get_payload_as_memoryview(), frame.fin)
        elif t is CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def main(port):
    use_aiofastnet = os.environ.get("BENCH_PICOWS_AIOFASTNET", "0") == "1"
    listener = ValidatingEcho if os.environ.get("BENCH_PICOWS_UTF8", "0") == "1" else Echo
    server = await ws_create_server(lambda request: listener(), "127.0.0.1", port, max_frame_size=16 << 20,
                                    use_aiofastnet=use_aiofastnet)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(port_from_argv()))
