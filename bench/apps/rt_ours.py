"""FastrAPI (this repository): the real-time benchmark endpoints (bench/realtime.py), written as a user would.

Channels through ``app.broadcast``: in-memory, or Redis when BENCH_BROADCAST_URL is a redis:// URL.

    /sub/{channel}   subscriber: joins the channel, then waits in receive_text (what is published is
                     written to it by the fan-out, no task of its own doing the sending)
    /pub/{channel}   publisher: every text message it receives is published to the channel
    /chat/{room}     chat: joins the room; every message it receives is published to the room (sender included)
    /idle            accepts, then waits in receive_text (the idle-connection memory scenario)
"""
import os

from fastrapi import FastrAPI, WebSocket, WebSocketDisconnect

from common import port_from_argv

app = FastrAPI(broadcast=os.environ.get("BENCH_BROADCAST_URL") or "memory://")


@app.websocket("/sub/{channel}")
async def subscriber(websocket: WebSocket, channel: str):
    await websocket.accept()
    await websocket.join(channel)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


@app.websocket("/pub/{channel}")
async def publisher(websocket: WebSocket, channel: str):
    await websocket.accept()
    async for text in websocket.iter_text():
        await app.broadcast.publish(channel, text)


@app.websocket("/chat/{room}")
async def chat(websocket: WebSocket, room: str):
    await websocket.accept()
    await websocket.join(room)
    async for text in websocket.iter_text():
        await app.broadcast.publish(room, text)


@app.websocket("/idle")
async def idle(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


if __name__ == "__main__":
    app.serve(host="127.0.0.1", port=port_from_argv())
