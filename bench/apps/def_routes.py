"""The HTTP routes of ours_app.py / fastapi_app.py with every handler and dependency written as a plain
`def` (what much FastAPI code does), for the `ours-def`, `ours-inline` and `fastapi-def` servers.

Same paths, parameters, models and answers as the `async def` apps; only the function kinds differ:
`current_user` and `current_account` are `def`, the stream is a sync generator. `add_def_routes` takes the
framework's `Depends`, `Header`, `HTTPException` and `Query`, so one definition serves FastrAPI and FastAPI.
No WebSocket routes: a WebSocket endpoint is a coroutine in both frameworks."""
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from api_models import (API_KEYS, SETTINGS, STREAM_ROWS, DBSession, ItemIn, ItemOut, Order, StreamRow,
                        item_record)


class User(BaseModel):
    name: str
    age: int
    email: str


def add_def_routes(app: Any, Depends: Any, Header: Any, HTTPException: Any, Query: Any) -> None:
    """Declare the benchmark's HTTP routes on `app`, all `def`."""

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

    # --- GET /deps: the four dependencies of ours_app.py, current_user as a plain `def` ----------------

    def get_settings() -> dict:
        return SETTINGS

    def get_db():
        db = DBSession()
        try:
            yield db
        finally:
            db.close()

    def current_user(token: str, x_request_id: str = Header(),
                     settings: dict = Depends(get_settings)) -> dict:
        if token != settings["api_token"]:
            raise HTTPException(status_code=401, detail="invalid token")
        return {"name": "alice", "request_id": x_request_id}

    class Pagination:
        def __init__(self, page: int = Query(1, ge=1), size: int = Query(20, ge=1, le=100)):
            self.page, self.size = page, size

    @app.get("/deps")
    def with_deps(settings: dict = Depends(get_settings), db: DBSession = Depends(get_db),
                  user: dict = Depends(current_user), pagination: Pagination = Depends()):
        return {"user": user["name"], "request_id": user["request_id"], "page": pagination.page,
                "size": pagination.size, "offset": (pagination.page - 1) * pagination.size,
                "db_open": db.open, "api_version": settings["api_version"]}

    @app.post("/orders")
    def create_order(order: Order) -> Order:
        return order

    # --- POST /items (post-real): body + auth dependency + a response model that filters -------------

    def current_account(x_api_key: str = Header()) -> dict:
        account = API_KEYS.get(x_api_key)
        if account is None:
            raise HTTPException(status_code=401, detail="invalid API key")
        return account

    @app.post("/items", response_model=ItemOut)
    def create_item(item: ItemIn, account: dict = Depends(current_account)):
        return item_record(item, account)

    @app.get("/stream")
    def stream_rows() -> Iterable[StreamRow]:
        yield from STREAM_ROWS
