"""FastrAPI (this repository): the benchmark endpoints, written as a user would."""
from pydantic import BaseModel

from fastrapi import FastrAPI, WebSocket, WebSocketDisconnect

from common import port_from_argv

app = FastrAPI()


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
    app.serve(host="127.0.0.1", port=port_from_argv())
