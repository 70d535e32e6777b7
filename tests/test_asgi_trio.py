"""The app as an ASGI application on trio: ``httpx.AsyncClient(transport=httpx.ASGITransport(app))`` run with
``trio.run``, warnings as errors. The app must read each request body to its end (httpx's body iterator is an
async generator: one left half-read is finalized by trio with a ResourceWarning) and run sync handlers,
dependencies, uploads, streams and background work without asyncio underneath. The same client runs FastAPI's
app to compare status and bodies."""

import gc
import sys
import warnings
from typing import Any, Callable

import httpx
import pytest
from pydantic import BaseModel

trio = pytest.importorskip("trio")


class Item(BaseModel):
    name: str
    price: float = 0.0


def build(module: str) -> Any:
    """The same app, written against ``fastapi`` or ``fastrapi``."""
    fw = __import__(module)
    responses = __import__(f"{module}.responses", fromlist=["StreamingResponse"])
    app = fw.FastAPI()
    log: list[str] = []
    app.state.log = log

    def session():
        log.append("open")
        yield "db"
        log.append("close")

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

    @app.get("/sync")
    def sync_handler(db: str = fw.Depends(session)):
        return {"db": db}

    @app.post("/items")
    async def create(item: Item):
        return item

    @app.post("/ignore-body")
    async def ignore_body():
        return {"ok": True}

    @app.post("/count")
    async def count(request: fw.Request):
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.post("/upload")
    async def upload(file: fw.UploadFile, note: str = fw.Form("")):
        return {"filename": file.filename, "size": len(await file.read()), "note": note}

    @app.get("/stream")
    async def stream():
        async def gen():
            for i in range(3):
                yield f"{i}\n"

        return responses.StreamingResponse(gen(), media_type="text/plain")

    @app.post("/background")
    def with_background(tasks: fw.BackgroundTasks):
        tasks.add_task(log.append, "task")
        return {"queued": True}

    return app


def chunks(n: int, size: int) -> Callable[[], Any]:
    async def body():
        for _ in range(n):
            yield b"x" * size

    return body


async def exchange(app: Any) -> list[tuple[int, Any]]:
    results = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        calls = [
            ("GET", "/items/3?q=a", {}),
            ("GET", "/items/x", {}),
            ("GET", "/sync", {}),
            ("POST", "/items", {"json": {"name": "pen", "price": 1.5}}),
            ("POST", "/items", {"content": b'{"name": 1'}),
            ("POST", "/ignore-body", {"content": b"y" * 200_000}),
            ("POST", "/count", {"content": chunks(20, 10_000)()}),
            ("POST", "/upload", {"files": {"file": ("a.txt", b"hello" * 1000)}, "data": {"note": "n"}}),
            ("GET", "/stream", {}),
            ("POST", "/background", {}),
        ]
        for method, url, kwargs in calls:
            response = await client.request(method, url, **kwargs)
            body = response.json() if response.headers.get("content-type") == "application/json" else response.text
            results.append((response.status_code, body))
    return results


def run_on_trio(app: Any) -> tuple[list[tuple[int, Any]], list[str]]:
    """Run the exchange on trio with every warning an error; collect what trio's async-generator finalizer
    or the garbage collector reports (unraisable exceptions) too."""
    unraisable: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda info: unraisable.append(f"{info.exc_type.__name__}: {info.exc_value}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results = trio.run(exchange, app)
            gc.collect()
    finally:
        sys.unraisablehook = previous
    return results, unraisable


def test_trio_parity_and_no_leaked_generators():
    theirs, their_leaks = run_on_trio(build("fastapi"))
    ours_app = build("fastrapi")
    ours, our_leaks = run_on_trio(ours_app)
    assert their_leaks == []
    assert our_leaks == []
    assert ours == theirs
    assert ours[6] == (200, {"size": 200_000})
    assert ours[8] == (200, "0\n1\n2\n")
    assert ours_app.state.log == ["open", "close", "task"]
