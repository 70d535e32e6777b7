"""Rooms with fastrapi.broadcast: WebSocket members, publishing from plain HTTP, and Server-Sent Events.

Run it:

    python3 examples/broadcast/app.py                     # http://127.0.0.1:8000  (--host / --port)
    FASTRAPI_BROADCAST_URL=redis://127.0.0.1:6379 python3 examples/broadcast/app.py --workers 2

Try it (each in its own terminal):

    python3 -m websockets "ws://127.0.0.1:8000/ws/lobby?nick=ada"   # type lines: the others in "lobby" see them
    curl -N http://127.0.0.1:8000/rooms/lobby/events                 # the room as Server-Sent Events
    curl -X POST http://127.0.0.1:8000/rooms/lobby/messages \\
         -H 'content-type: application/json' -d '{"text": "hello from curl"}'
    curl http://127.0.0.1:8000/rooms/lobby                           # {"room": "lobby", "websockets": 1}

Every message in a room is one JSON object: {"type": "join"|"leave"|"message", "room", "nick", "text"?}.
See docs/broadcast.md.
"""
import argparse
import asyncio
from typing import Any

from pydantic import BaseModel, Field

from fastrapi import FastrAPI, WebSocket
from fastrapi.responses import StreamingResponse

#: seconds between SSE comments that keep idle proxies from closing the stream
SSE_KEEPALIVE = 15.0


class Say(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    nick: str = Field(default="http", min_length=1, max_length=32)


def create_app() -> FastrAPI:
    """The app: ``FastrAPI()`` uses FASTRAPI_BROADCAST_URL when set (Redis across workers), else memory."""
    app = FastrAPI(title="broadcast example")

    @app.websocket("/ws/{room}")
    async def member(ws: WebSocket, room: str, nick: str = "anon"):
        await ws.accept()
        await ws.join(room)  # from now on, what is published to the room is sent to this socket
        await app.broadcast.publish(room, {"type": "join", "room": room, "nick": nick})
        try:
            async for text in ws.iter_text():
                # to everyone in the room but the sender (Socket.IO's ``socket.to(room).emit``)
                await app.broadcast.publish(room, {"type": "message", "room": room, "nick": nick, "text": text},
                                            exclude=ws)
        finally:
            # the socket has already left the room (automatically, when it closed): tell the others
            await app.broadcast.publish(room, {"type": "leave", "room": room, "nick": nick})

    @app.post("/rooms/{room}/messages")
    async def say(room: str, body: Say) -> dict[str, Any]:
        """Publish from an HTTP route: every WebSocket and SSE stream in the room gets it."""
        await app.broadcast.publish(room, {"type": "message", "room": room, "nick": body.nick, "text": body.text})
        return {"room": room, "websockets": app.broadcast.subscribers(room)}

    @app.get("/rooms/{room}")
    async def room_info(room: str) -> dict[str, Any]:
        return {"room": room, "websockets": app.broadcast.subscribers(room)}

    @app.get("/rooms/{room}/events")
    async def events(room: str):
        """The room's messages as Server-Sent Events, for clients that only read (EventSource, curl -N)."""

        async def stream():
            async with app.broadcast.subscribe(room) as sub:
                yield ": subscribed\n\n"  # a comment: the stream is live from here on
                while True:
                    try:
                        event = await asyncio.wait_for(sub.get(), SSE_KEEPALIVE)
                    except asyncio.TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield f"data: {event.message}\n\n"  # a JSON object on one line

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    return app


app = create_app()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="several processes need a redis:// broadcast")
    args = parser.parse_args(argv)
    print(f"broadcast example on http://{args.host}:{args.port}/  (channels: {app.broadcast.url})", flush=True)
    app.serve(host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
