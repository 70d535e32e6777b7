"""The app the hostile-client tests attack, run as its own process: ``python hostile_app.py [option=value ...]``.

Options are ``app.serve()`` server options (``max_body_size=1048576``...), parsed as int, float or string. The
server listens on a free 127.0.0.1 port and logs it ("running on http://127.0.0.1:PORT"), which
``hostile.ServerProcess`` reads.
"""
from __future__ import annotations

import asyncio
import sys

from fastrapi import FastrAPI, Request, WebSocket, WebSocketDisconnect
from fastrapi.responses import PlainTextResponse, Response, StreamingResponse

app = FastrAPI()

BIG = b"b" * (1 << 20)


@app.get("/")
async def root():
    return {"ok": True}


@app.get("/seq/{n}")
async def seq(n: int):
    return PlainTextResponse(str(n))


@app.post("/echo")
async def echo(request: Request):
    body = await request.body()
    return {"size": len(body)}


@app.post("/discard")
async def discard(request: Request):
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return {"size": size}


@app.get("/reflect")
async def reflect(v: str = ""):
    """A header value taken from the query (the app's mistake): the server must never put CR/LF on the wire."""
    return PlainTextResponse("ok", headers={"x-echo": v})


@app.get("/big")
async def big():
    return Response(BIG, media_type="application/octet-stream")


@app.get("/stream")
async def stream():
    async def pieces():
        for _ in range(1024):  # 64 MiB in all: more than any socket buffer
            yield BIG[:65536]

    return StreamingResponse(pieces(), media_type="application/octet-stream")


@app.get("/slow")
async def slow(size: int = 65536):
    """A response that takes a moment (so that a shutdown finds it in flight), with a Content-Length body."""
    await asyncio.sleep(0.05)
    return Response(b"s" * size, media_type="application/octet-stream")


@app.get("/sleep")
async def sleep(s: float = 1.0):
    await asyncio.sleep(s)
    return {"slept": s}


@app.get("/drip")
async def drip(pieces: int = 20):
    """A chunked response that takes a while to send (a piece every 10 ms)."""
    async def gen():
        for i in range(pieces):
            await asyncio.sleep(0.01)
            yield b"%d " % i

    return StreamingResponse(gen(), media_type="text/plain")


@app.websocket("/ws")
async def ws_echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass


@app.websocket("/flood")
async def ws_flood(websocket: WebSocket):
    await websocket.accept()
    data = "f" * 65536
    while True:
        await websocket.send_text(data)


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"None": None, "True": True, "False": False}.get(text, text)


if __name__ == "__main__":
    options = dict(arg.split("=", 1) for arg in sys.argv[1:])
    app.serve("127.0.0.1", 0, **{k: _value(v) for k, v in options.items()})
