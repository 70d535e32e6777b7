"""BackgroundTasks and Response(background=...): run after the response; failures are logged, not lost."""
import asyncio
import logging
import threading
import time

import httpx

from fastrapi import BackgroundTasks, Depends, FastrAPI
from fastrapi.background import BackgroundTask
from fastrapi.responses import PlainTextResponse


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_tasks_run_after_the_response_in_order(serve):
    done = []
    finished = threading.Event()

    def write_log(msg):
        time.sleep(0.3)
        done.append(f"sync:{msg}")

    async def notify(msg):
        await asyncio.sleep(0.1)
        done.append(f"async:{msg}")
        finished.set()

    app = FastrAPI()

    @app.post("/send/{to}")
    async def send(to: str, tasks: BackgroundTasks):
        tasks.add_task(write_log, to)
        tasks.add_task(notify, msg=to)
        return {"queued": to}

    srv = serve(app)
    t0 = time.monotonic()
    r = httpx.post(srv.url + "/send/bob")
    assert r.json() == {"queued": "bob"}
    assert time.monotonic() - t0 < 0.3, "the response waited for the background tasks"
    assert done == []
    assert finished.wait(3)
    assert done == ["sync:bob", "async:bob"]


def test_failing_task_is_logged_and_the_next_one_still_runs(serve, caplog):
    ran = []

    def broken():
        raise RuntimeError("task exploded")

    app = FastrAPI()

    @app.get("/go")
    def go(tasks: BackgroundTasks):
        tasks.add_task(broken)
        tasks.add_task(ran.append, "after")
        return "ok"

    srv = serve(app)
    with caplog.at_level(logging.ERROR, logger="fastrapi.error"):
        assert httpx.get(srv.url + "/go").json() == "ok"
        assert wait_for(lambda: ran == ["after"])
        assert wait_for(lambda: "task exploded" in caplog.text)
    assert httpx.get(srv.url + "/go").status_code == 200  # the server is fine


def test_tasks_declared_in_a_dependency_share_the_request_tasks(serve):
    ran = []

    def audit(tasks: BackgroundTasks):
        tasks.add_task(ran.append, "audit")

    app = FastrAPI()

    @app.get("/x", dependencies=[Depends(audit)])
    def x(tasks: BackgroundTasks):
        tasks.add_task(ran.append, "handler")
        return {}

    srv = serve(app)
    httpx.get(srv.url + "/x")
    assert wait_for(lambda: len(ran) == 2)
    assert ran == ["audit", "handler"]


def test_response_background(serve):
    ran = threading.Event()
    app = FastrAPI()

    @app.get("/r")
    def r():
        return PlainTextResponse("hi", background=BackgroundTask(ran.set))

    srv = serve(app)
    assert httpx.get(srv.url + "/r").text == "hi"
    assert ran.wait(3)
