"""Plain ``def`` handlers in the thread pool: answered from the pool's callback (no Task per request), with
the pool waking as few workers as it can. What a user sees must not change: parallelism for blocking
handlers, errors, validation, pipelining, clients that leave, and one answer per request."""
import asyncio
import contextvars
import socket
import threading
import time

import httpx
from pydantic import BaseModel

from fastrapi import FastrAPI, HTTPException
from fastrapi.concurrency import ThreadPool, run_in_threadpool

app = FastrAPI()
request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")
started = threading.Event()
release = threading.Event()


class Item(BaseModel):
    name: str
    qty: int


class Public(BaseModel):
    name: str


@app.get("/echo/{i}")
def echo(i: int, q: str = "-"):
    return {"i": i, "q": q, "thread": threading.current_thread().name}


@app.post("/items", response_model=Public)
def create(item: Item):
    return {"name": item.name, "secret": "never sent"}


@app.get("/sleep")
def sleep(s: float = 0.3):
    time.sleep(s)
    return {"slept": s}


@app.get("/teapot")
def teapot():
    raise HTTPException(418, "short and stout")


@app.get("/bug")
def bug():
    raise ValueError("a bug in a def handler")


@app.get("/exit")
def exits():
    raise SystemExit(3)


@app.get("/var")
def var():
    before = request_var.get()
    request_var.set("set by the handler")  # in the request's own context copy only
    return {"before": before}


@app.get("/hold")
def hold():
    started.set()
    release.wait(5)
    return {"held": True}


def test_def_handlers_run_in_worker_threads_with_their_parameters(serve):
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as c:
        r = c.get("/echo/7", params={"q": "x"})
        assert r.status_code == 200
        body = r.json()
        assert (body["i"], body["q"]) == (7, "x")
        assert body["thread"].startswith("fastrapi-worker-")
        assert c.get("/echo/nope").status_code == 422
        created = c.post("/items", json={"name": "pen", "qty": 2})
        assert created.json() == {"name": "pen"}  # the response model filters the handler's dict
        assert c.post("/items", json={"name": "pen"}).status_code == 422


def test_errors_of_def_handlers_are_answered_and_the_server_goes_on(serve):
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as c:
        r = c.get("/teapot")
        assert (r.status_code, r.json()) == (418, {"detail": "short and stout"})
        assert c.get("/bug").status_code == 500
        assert c.get("/exit").status_code == 500  # SystemExit in a handler does not stop the server
        assert c.get("/echo/1").status_code == 200


def test_context_changes_of_a_def_handler_stay_in_its_request(serve):
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as c:
        assert [c.get("/var").json()["before"] for _ in range(3)] == ["unset"] * 3


def test_many_connections_each_get_their_own_answer(serve):
    srv = serve(app)

    async def main():
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=20) as c:
            rs = await asyncio.gather(*(c.get(f"/echo/{i}", params={"q": str(i * 3)}) for i in range(400)))
        return [(r.status_code, r.json()["i"], r.json()["q"]) for r in rs]

    assert asyncio.run(main()) == [(200, i, str(i * 3)) for i in range(400)]


def test_pipelined_requests_to_def_handlers_are_answered_in_order(serve):
    srv = serve(app)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"".join(b"GET /echo/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(20)))
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b'"thread"') < 20 and time.monotonic() < deadline:
            data += s.recv(65536)
    order = [int(part.split(b",", 1)[0]) for part in data.split(b'{"i":')[1:]]
    assert order == list(range(20))


def test_blocking_def_handlers_get_more_workers(serve):
    """Forty handlers sleeping 0.5 s at once finish together: the pool wakes workers while jobs wait."""
    srv = serve(app)

    async def main():
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=20) as c:
            await c.get("/echo/0")
            t0 = time.monotonic()
            rs = await asyncio.gather(*(c.get("/sleep", params={"s": 0.5}) for _ in range(40)))
            return time.monotonic() - t0, [r.status_code for r in rs]

    elapsed, codes = asyncio.run(main())
    assert codes == [200] * 40
    assert elapsed < 2.5, f"40 concurrent 0.5 s handlers took {elapsed:.2f} s: not run in parallel"


def test_a_client_that_leaves_during_a_def_handler_does_not_disturb_the_next(serve):
    srv = serve(app)
    started.clear()
    release.clear()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
    assert started.wait(5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # reset while the handler runs
    release.set()
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        assert [c.get(f"/echo/{i}").json()["i"] for i in range(5)] == list(range(5))


def test_pool_runs_jobs_of_several_loops_and_delivers_exceptions():
    """The pool on its own: futures of two event loops in two threads, results and exceptions delivered."""
    pool = ThreadPool(max_workers=4)

    def boom():
        raise KeyError("x")

    async def main(n):
        loop = asyncio.get_running_loop()
        values = await asyncio.gather(*(pool.submit(loop, lambda i=i: i * n) for i in range(200)))
        try:
            await pool.submit(loop, boom)
        except KeyError:
            return values
        raise AssertionError("the exception was not delivered")

    out: dict = {}
    threads = [threading.Thread(target=lambda n=n: out.__setitem__(n, asyncio.run(main(n)))) for n in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == {2: [i * 2 for i in range(200)], 3: [i * 3 for i in range(200)]}
    assert pool.threads <= 4


def test_run_in_threadpool_keeps_the_callers_context():
    async def main():
        request_var.set("caller")
        return await run_in_threadpool(request_var.get)

    assert asyncio.run(main()) == "caller"


# --- sync generators: read ahead in the pool, each item passed on at once, a bounded window -----------

stream_app = FastrAPI()
second_item = threading.Event()
produced = {"n": 0, "closed": False}


@stream_app.get("/two")
def two_items():
    from fastrapi.responses import StreamingResponse

    def gen():
        yield b"first\n"
        second_item.wait(5)  # blocks until the client has seen the first item
        yield b"second\n"

    return StreamingResponse(gen(), media_type="text/plain")


@stream_app.get("/rows")
def rows():
    """A ``def`` generator path operation (JSON Lines) of many rows: all of them, in order."""
    for i in range(3000):
        yield {"i": i}


@stream_app.get("/endless")
def endless():
    from fastrapi.responses import StreamingResponse

    def gen():
        try:
            while True:
                produced["n"] += 1
                yield b"x" * 262144
        finally:
            produced["closed"] = True

    return StreamingResponse(gen(), media_type="application/octet-stream")


def test_an_item_is_sent_before_the_generator_makes_the_next(serve):
    srv = serve(stream_app)
    second_item.clear()
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        with c.stream("GET", "/two") as r:
            lines = r.iter_lines()
            assert next(lines) == "first"  # would time out if the read-ahead held it back
            second_item.set()
            assert next(lines) == "second"


def test_a_def_generator_path_operation_streams_every_row_in_order(serve):
    srv = serve(stream_app)
    with httpx.Client(base_url=srv.url, timeout=20) as c:
        r = c.get("/rows")
    assert r.headers["content-type"] == "application/jsonl"
    assert [int(line[5:-1]) for line in r.text.splitlines()] == list(range(3000))


def test_a_client_that_does_not_read_stops_the_generator(serve):
    """Read-ahead is bounded: with a client that reads nothing, the generator stops after the socket buffers
    and a window of items are full; it is closed when the client goes."""
    srv = serve(stream_app)
    produced.update(n=0, closed=False)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1.5)
    first = produced["n"]
    time.sleep(1.0)
    assert produced["n"] == first, "the generator kept running for a client that reads nothing"
    assert first < 120, f"{first} items of 256 KiB made for a client that reads nothing"
    s.close()
    deadline = time.monotonic() + 5
    while not produced["closed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert produced["closed"], "the generator was not closed after the client left"
