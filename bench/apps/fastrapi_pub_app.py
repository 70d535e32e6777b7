"""Published fastrapi 0.2.11 from PyPI (Rust/Axum core, cp311 wheel), following its README:
routes with FastAPI-style decorators, pydantic body models, app.serve(host, port).
HTTP handlers are plain `def` as in its README: in 0.2.11 an `async def` HTTP handler answers 500
("RuntimeError: no running event loop", coroutine never awaited).
Its WebSocket object has accept/receive_text/send_text/receive_bytes/send_bytes (coroutines)."""
from fastrapi import FastrAPI
from pydantic import BaseModel

from common import port_from_argv

app = FastrAPI()


class User(BaseModel):
    name: str
    age: int
    email: str


@app.get("/json")
def hello():
    return {"Hello": "World"}


@app.get("/items/{item_id}")
def read_item(item_id: int):
    return {"item_id": item_id}


@app.get("/search")
def search(q: str, limit: int = 10):
    return {"q": q, "limit": limit}


@app.post("/users")
def create_user(user: User) -> User:
    return user


@app.websocket("/ws")
async def ws_echo(websocket):
    await websocket.accept()
    while True:
        await websocket.send_text(await websocket.receive_text())


@app.websocket("/wsb")
async def ws_echo_bytes(websocket):
    await websocket.accept()
    while True:
        await websocket.send_bytes(await websocket.receive_bytes())


if __name__ == "__main__":
    app.serve("127.0.0.1", port_from_argv())
