"""Published fastrapi 0.2.11 from PyPI (Rust/Axum core, cp311 wheel), following its README:
routes with FastAPI-style decorators, pydantic body models, app.serve(host, port).
HTTP handlers are plain `def` as in its README: in 0.2.11 an `async def` HTTP handler answers 500
("RuntimeError: no running event loop", coroutine never awaited).
Its WebSocket object has accept/receive_text/send_text/receive_bytes/send_bytes (coroutines)."""
import os

from fastrapi import Depends, FastrAPI, Header, HTTPException, Query
from pydantic import BaseModel

from api_models import SETTINGS, DBSession, Order
from api_models import API_KEYS, ItemIn, ItemOut, item_record  # post-real
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


# --- GET /deps: the same four dependencies, as far as 0.2.11 can express them ---------------
# 0.2.11 passes the *generator* of a `yield` dependency and the un-awaited *coroutine* of an
# `async def` dependency to the handler, so get_db is a plain function (no close after the
# response) and current_user is a plain `def`. It also fills a dependency that is used both by
# another dependency and by the handler only when the handler lists it first (settings below;
# the other apps use the same order).

def get_settings() -> dict:
    """Sync function dependency, also used by current_user."""
    return SETTINGS


def get_db() -> DBSession:
    """The session dependency without `yield` (unsupported in 0.2.11): never closed."""
    return DBSession()


def current_user(token: str, x_request_id: str = Header(),
                 settings: dict = Depends(get_settings)) -> dict:
    """Nested dependency (sync: async ones are not awaited in 0.2.11): checks the `token` query
    parameter, reads the X-Request-Id header."""
    if token != settings["api_token"]:
        raise HTTPException(status_code=401, detail="invalid token")
    return {"name": "alice", "request_id": x_request_id}


class Pagination:
    """Class dependency: pagination query parameters with bounds."""

    def __init__(self, page: int = Query(1, ge=1), size: int = Query(20, ge=1, le=100)):
        self.page, self.size = page, size


@app.get("/deps")
def with_deps(settings: dict = Depends(get_settings), db: DBSession = Depends(get_db),
              user: dict = Depends(current_user), pagination: Pagination = Depends()):
    return {"user": user["name"], "request_id": user["request_id"], "page": pagination.page,
            "size": pagination.size, "offset": (pagination.page - 1) * pagination.size,
            "db_open": db.open, "api_version": settings["api_version"]}


# --- POST /orders: a 30-field pydantic body (api_models.Order), validated and returned --------

@app.post("/orders")
def create_order(order: Order) -> Order:
    return order


# --- POST /items (post-real): a pydantic body, an auth dependency reading a header, and a response model
# other than the input (drops internal_note and owner_id, adds total and owner) --------------------------

def current_account(x_api_key: str = Header()) -> dict:
    """Auth dependency (sync, as 0.2.11 needs): the account of the X-API-Key header, 401 for an unknown key."""
    account = API_KEYS.get(x_api_key)
    if account is None:
        raise HTTPException(status_code=401, detail="invalid API key")
    return account


@app.post("/items", response_model=ItemOut)
def create_item(item: ItemIn, account: dict = Depends(current_account)):
    return item_record(item, account)


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


# --- the get-route1000 scenario: 1,000 templated routes /res{i}/{x} after the others (BENCH_ROUTES set by
# bench/run.py for that scenario only; every other scenario runs without them) ---------------------------------
def _res_route(i: int):
    def res(x: str):
        return {"i": i, "x": x}

    return res


for _i in range(int(os.environ.get("BENCH_ROUTES") or 0)):
    app.get(f"/res{_i}/{{x}}")(_res_route(_i))


if __name__ == "__main__":
    app.serve("127.0.0.1", port_from_argv())
