"""FastAPI + uvicorn[standard] + the `broadcaster` library: the real-time benchmark endpoints
(bench/realtime.py), in broadcaster's documented pattern.

BENCH_BROADCAST_URL selects broadcaster's backend: memory:// (default) or redis://host:port.

    /sub/{channel}   subscriber: one task per connection, `async with broadcast.subscribe(channel) as sub:
                     async for event in sub: await ws.send_text(event.message)` (entered under a lock: see
                     subscribe() below)
    /pub/{channel}   publisher: every text message it receives is published to the channel
    /chat/{room}     chat, as broadcaster's README example: a receiver publishing what the client sends and a
                     sender relaying the room's events, in one anyio task group (sender included)
    /idle            accepts, then waits in receive_text (the idle-connection memory scenario)
"""
import asyncio
import os
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import uvicorn
from broadcaster import Broadcast
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from common import port_from_argv

URL = os.environ.get("BENCH_BROADCAST_URL") or "memory://"
broadcast = Broadcast(URL)


@asynccontextmanager
async def lifespan(app):
    await broadcast.connect()
    try:
        async with AsyncExitStack() as stack:
            if not URL.startswith("memory"):
                # broadcaster 0.3.1's Redis listener starts listening as soon as the first subscribe() begins,
                # finds redis-py's PubSub not subscribed yet (it is once SUBSCRIBE was sent), stops, and waits
                # for the next subscribe() to wake it: an app with a single channel never receives anything.
                # A subscription held from startup takes that first, lost wake-up.
                await stack.enter_async_context(broadcast.subscribe(channel="bench-startup"))
            yield
    finally:
        await broadcast.disconnect()


app = FastAPI(lifespan=lifespan)
_subscribing = asyncio.Lock()


@asynccontextmanager
async def subscribe(channel: str):
    """``broadcast.subscribe(channel)``, entered one connection at a time. broadcaster 0.3.1 loses
    subscribers when several enter at once on a backend whose subscribe() really awaits (Redis): each of
    the concurrent "first" subscribers (those that found no set for the channel) replaces the channel's set
    of queues with its own when its SUBSCRIBE returns, dropping the subscribers added meanwhile.
    Serializing the entry is the smallest fix; it costs nothing once subscribed."""
    async with AsyncExitStack() as stack:
        async with _subscribing:
            sub = await stack.enter_async_context(broadcast.subscribe(channel=channel))
        yield sub


@app.websocket("/sub/{channel}")
async def subscriber(websocket: WebSocket, channel: str):
    await websocket.accept()
    try:
        async with subscribe(channel) as sub:
            async for event in sub:
                await websocket.send_text(event.message)
    except WebSocketDisconnect:
        pass


@app.websocket("/pub/{channel}")
async def publisher(websocket: WebSocket, channel: str):
    await websocket.accept()
    try:
        while True:
            await broadcast.publish(channel=channel, message=await websocket.receive_text())
    except WebSocketDisconnect:
        pass


@app.websocket("/chat/{room}")
async def chat(websocket: WebSocket, room: str):
    await websocket.accept()

    async def receiver():
        try:
            async for text in websocket.iter_text():
                await broadcast.publish(channel=room, message=text)
        finally:
            tg.cancel_scope.cancel()

    async def sender():
        try:
            async with subscribe(room) as sub:
                async for event in sub:
                    await websocket.send_text(event.message)
        except WebSocketDisconnect:
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(receiver)
        await sender()


@app.websocket("/idle")
async def idle(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


if __name__ == "__main__":
    # Same settings as bench/apps/fastapi_app.py: uvloop + httptools, ws="auto" (websockets sans-I/O in
    # current uvicorn; BENCH_UVICORN_WS=websockets for the legacy one), access log off, one process.
    uvicorn.run(app, host="127.0.0.1", port=port_from_argv(), log_level="warning", access_log=False,
                ws=os.environ.get("BENCH_UVICORN_WS", "auto"))
