"""FastAPI + uvicorn[standard] (uvloop, httptools, websockets): the same endpoints."""
import os

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from common import port_from_argv

app = FastAPI()


class User(BaseModel):
    name: str
    age: int
    email: str


@app.get("/json")
async def hello():
    return {"Hello": "World"}


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    return {"item_id": item_id}


@app.get("/search")
async def search(q: str, limit: int = 10):
    return {"q": q, "limit": limit}


@app.post("/users")
async def create_user(user: User) -> User:
    return user


@app.websocket("/ws")
async def ws_echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


@app.websocket("/wsb")
async def ws_echo_bytes(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_bytes(await websocket.receive_bytes())
    except WebSocketDisconnect:
        pass


if __name__ == "__main__":
    # uvicorn's defaults with [standard]: loop=uvloop, http=httptools, and for ws "auto", which in
    # recent uvicorn is the websockets *sans-I/O* implementation (older releases used the legacy
    # asyncio one, noticeably slower: BENCH_UVICORN_WS=websockets selects it).
    # Access log off: no server in this benchmark logs each request.
    uvicorn.run(app, host="127.0.0.1", port=port_from_argv(), log_level="warning", access_log=False,
                ws=os.environ.get("BENCH_UVICORN_WS", "auto"))
