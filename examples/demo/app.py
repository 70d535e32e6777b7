"""FastrAPI demo: a tiny live chat-echo page over WebSocket, plus a few JSON routes.

Run it:

    python examples/demo/app.py                     # http://127.0.0.1:8000
    python examples/demo/app.py --host 0.0.0.0 --port 9000
    DEMO_HOST=0.0.0.0 DEMO_PORT=9000 python examples/demo/app.py

Routes:
    GET  /                     the demo page (HTML + inline CSS/JS), talks to /ws
    WS   /ws                   echo with a server timestamp, a per-connection counter and the
                               number of connected clients (pushed to everyone on join/leave)
    GET  /api/hello            {"message": ..., "clients": N}
    GET  /api/items/{item_id}  path param (int) + optional query param ?q=
    POST /api/echo             JSON body validated by a pydantic model
"""
import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from fastrapi import FastrAPI, WebSocket
from fastrapi.responses import HTMLResponse

INDEX_HTML = (Path(__file__).resolve().parent / "static" / "index.html").read_text(encoding="utf-8")


class EchoIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    author: str = "anonymous"


class EchoOut(BaseModel):
    text: str
    author: str
    length: int
    server_time: str


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_app() -> FastrAPI:
    """Build a fresh demo app (each one has its own set of connected clients)."""
    app = FastrAPI()
    clients: set[WebSocket] = set()

    async def broadcast(message: dict, exclude: WebSocket | None = None) -> None:
        for peer in list(clients):
            if peer is exclude:
                continue
            try:
                await peer.send_json(message)
            except ConnectionError:
                clients.discard(peer)

    @app.get("/")
    async def index():
        return HTMLResponse(INDEX_HTML)

    @app.get("/api/hello")
    async def hello():
        return {"message": "Hello from FastrAPI!", "clients": len(clients), "server_time": now_iso()}

    @app.get("/api/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q, "double": item_id * 2}

    @app.post("/api/echo")
    def echo(msg: EchoIn) -> EchoOut:  # sync handler: runs in the thread pool
        return EchoOut(text=msg.text, author=msg.author, length=len(msg.text), server_time=now_iso())

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket):
        await ws.accept()
        clients.add(ws)
        count = 0
        try:
            await ws.send_json({"type": "welcome", "clients": len(clients), "time": now_iso()})
            await broadcast({"type": "presence", "clients": len(clients)}, exclude=ws)
            while True:
                try:
                    text = await ws.receive_text()
                except TypeError:  # a binary frame: say so, the connection stays usable
                    await ws.send_json({"type": "error", "detail": "send text messages, not binary"})
                    continue
                count += 1
                await ws.send_json(
                    {"type": "echo", "text": text, "n": count, "time": now_iso(), "clients": len(clients)}
                )
        except ConnectionError:  # WebSocketDisconnect (peer left) is a ConnectionError
            pass
        finally:
            clients.discard(ws)
            await broadcast({"type": "presence", "clients": len(clients)})

    return app


app = create_app()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="FastrAPI demo server")
    parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
    args = parser.parse_args(argv)
    print(f"FastrAPI demo on http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    app.serve(host=args.host, port=args.port)


if __name__ == "__main__":
    main(sys.argv[1:])
