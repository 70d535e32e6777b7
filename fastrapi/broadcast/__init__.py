"""Channels and broadcast: send one message to many WebSockets, in one process or across many (Redis).

    app = FastrAPI()                       # app.broadcast: in-memory; FastrAPI(broadcast="redis://...") to share

    @app.websocket("/chat/{room}")
    async def chat(ws: WebSocket, room: str):
        await ws.accept()
        await ws.join(room)                                  # left automatically on disconnect
        async for text in ws.iter_text():
            await app.broadcast.publish(room, text, exclude=ws)

See docs/broadcast.md.
"""
from .backends import BroadcastBackend, BroadcastError, MemoryBackend
from .channels import Broadcast, Event, SlowSubscriber, Subscription

__all__ = ["Broadcast", "BroadcastBackend", "BroadcastError", "Event", "MemoryBackend", "SlowSubscriber",
           "Subscription"]
