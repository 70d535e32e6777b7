"""The echo application the raw-socket protocol and deflate tests run against."""
from __future__ import annotations

import json

from fastrapi import FastrAPI


def make_echo_app() -> FastrAPI:
    """Echo text on /text, bytes on /bytes (a wrong kind answers "<TypeError>"), subprotocols on /sub."""
    app = FastrAPI()

    @app.websocket("/text")
    async def echo_text(ws):
        await ws.accept()
        try:
            while True:
                try:
                    msg = await ws.receive_text()
                except TypeError:
                    await ws.send_text("<TypeError>")
                    continue
                await ws.send_text(msg)
        except ConnectionError:
            pass

    @app.websocket("/bytes")
    async def echo_bytes(ws):
        await ws.accept()
        try:
            while True:
                try:
                    msg = await ws.receive_bytes()
                except TypeError:
                    await ws.send_text("<TypeError>")
                    continue
                await ws.send_bytes(msg)
        except ConnectionError:
            pass

    @app.websocket("/sub")
    async def sub(ws):
        offered = list(ws.subprotocols)
        await ws.accept(subprotocol="chat" if "chat" in offered else None)
        await ws.send_text(json.dumps(offered))
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except ConnectionError:
            pass

    @app.get("/plain")
    def plain():
        return {"ok": True}

    return app
