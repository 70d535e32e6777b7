"""FastrAPI (this repository): the benchmark endpoints, written as a user would."""
import os
from collections.abc import AsyncIterable

from pydantic import BaseModel

from fastrapi import Depends, FastrAPI, Header, HTTPException, Query, WebSocket, WebSocketDisconnect

from api_models import SETTINGS, STREAM_ROWS, DBSession, Order, StreamRow
from api_models import API_KEYS, ItemIn, ItemOut, item_record  # post-real
from common import port_from_argv

app = FastrAPI()


class User(BaseModel):
    name: str
    age: int
    email: str


@app.get("/json")
async def hello():
    return {"Hello": "World"}


@app.get("/cached", cache_resp=True)
def cached():
    """Computed once at startup; each request is answered from the stored bytes (get-cached scenario)."""
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


# --- GET /deps: a handler with four dependencies (sync function, `yield` session, async nested
# auth dependency that reads a query parameter and a header, class) -----------------------------

def get_settings() -> dict:
    """Sync function dependency, also used by current_user (resolved once per request)."""
    return SETTINGS


def get_db():
    """`yield` dependency: a session per request, closed after the response."""
    db = DBSession()
    try:
        yield db
    finally:
        db.close()


async def current_user(token: str, x_request_id: str = Header(),
                       settings: dict = Depends(get_settings)) -> dict:
    """Async nested dependency: checks the `token` query parameter, reads the X-Request-Id header."""
    if token != settings["api_token"]:
        raise HTTPException(status_code=401, detail="invalid token")
    return {"name": "alice", "request_id": x_request_id}


class Pagination:
    """Class dependency: pagination query parameters with bounds."""

    def __init__(self, page: int = Query(1, ge=1), size: int = Query(20, ge=1, le=100)):
        self.page, self.size = page, size


@app.get("/deps")
async def with_deps(settings: dict = Depends(get_settings), db: DBSession = Depends(get_db),
                    user: dict = Depends(current_user), pagination: Pagination = Depends()):
    return {"user": user["name"], "request_id": user["request_id"], "page": pagination.page,
            "size": pagination.size, "offset": (pagination.page - 1) * pagination.size,
            "db_open": db.open, "api_version": settings["api_version"]}


# --- POST /orders: a 30-field pydantic body (api_models.Order), validated and returned --------

@app.post("/orders")
async def create_order(order: Order) -> Order:
    return order


# --- POST /items (post-real): a pydantic body, an auth dependency reading a header, and a response model
# other than the input (drops internal_note and owner_id, adds total and owner) --------------------------

async def current_account(x_api_key: str = Header()) -> dict:
    """Auth dependency: the account of the X-API-Key header, 401 for an unknown key."""
    account = API_KEYS.get(x_api_key)
    if account is None:
        raise HTTPException(status_code=401, detail="invalid API key")
    return account


@app.post("/items", response_model=ItemOut)
async def create_item(item: ItemIn, account: dict = Depends(current_account)):
    return item_record(item, account)


# --- GET /stream: a generator path operation streaming 1,000 items as JSON Lines (stream-jsonl1000) --

@app.get("/stream")
async def stream_rows() -> AsyncIterable[StreamRow]:
    for row in STREAM_ROWS:
        yield row


@app.websocket("/ws")
async def ws_echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


# --- typed messages (ws-json-typed) against the same JSON untyped (ws-json-untyped) --------------------

class ChatSay(BaseModel):
    type: str
    room: str
    nick: str
    text: str
    seq: int


@app.websocket("/ws-json")
async def ws_echo_json(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_json(await websocket.receive_json())
    except WebSocketDisconnect:
        pass


@app.websocket("/ws-typed", receive=ChatSay, send=ChatSay)
async def ws_echo_typed(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_model(await websocket.receive_model())
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


# --- the get-json-cors-gzip scenario: the same app with CORS + GZip in front (BENCH_MIDDLEWARE set by
# bench/run.py for that scenario only; every other scenario runs without middleware) -------------
if os.environ.get("BENCH_MIDDLEWARE"):
    from fastrapi.middleware.cors import CORSMiddleware
    from fastrapi.middleware.gzip import GZipMiddleware

    app.add_middleware(GZipMiddleware)
    app.add_middleware(CORSMiddleware, allow_origins=["*"])

# --- the get-json-metrics scenario: the same app instrumented for Prometheus (BENCH_METRICS set by bench/run.py
# for that scenario only) ------------------------------------------------------------------------------------
if os.environ.get("BENCH_METRICS"):
    from fastrapi import Instrumentator

    Instrumentator().instrument(app).expose(app, endpoint="/metrics")


# --- the get-route1000 scenario: 1,000 templated routes /res{i}/{x} after the others (BENCH_ROUTES set by
# bench/run.py for that scenario only; every other scenario runs without them) ---------------------------------
def _res_route(i: int):
    async def res(x: str):
        return {"i": i, "x": x}

    return res


for _i in range(int(os.environ.get("BENCH_ROUTES") or 0)):
    app.get(f"/res{_i}/{{x}}")(_res_route(_i))


if __name__ == "__main__":
    app.serve(host="127.0.0.1", port=port_from_argv())
