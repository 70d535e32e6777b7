"""Prometheus metrics (``fastrapi.Instrumentator``), as the original FastrAPI documents them
(``Instrumentator().instrument(app).expose(app, endpoint="/metrics")``), on real servers: requests by method,
route template and status, the latency histogram, requests in progress, WebSocket connections and messages;
an app that is not instrumented keeps its fast path; and with 2 worker processes (prometheus_client's
multiprocess mode) every scrape reports the sum over both."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from fastrapi import FastrAPI, Instrumentator, WebSocket  # noqa: E402
from fastrapi.responses import PlainTextResponse  # noqa: E402
from test_workers import Supervised, collect_pids, free_port  # noqa: E402


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def instrumented_app(**options):
    app = FastrAPI()
    release = threading.Event()

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {"id": item_id}

    @app.post("/items/{item_id}")
    def create(item_id: int):
        return PlainTextResponse("made", status_code=201)

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.get("/slow")
    async def slow():
        while not release.is_set():
            await asyncio.sleep(0.01)
        return {"slow": True}

    @app.websocket("/ws/{room}")
    async def ws(websocket: WebSocket, room: str):
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)
            await websocket.send_json({"room": room})

    Instrumentator(**options).instrument(app).expose(app, endpoint="/metrics")
    return app, release


def test_readme_metrics_example_requests_by_route_template_and_status(serve):
    app, _ = instrumented_app()
    srv = serve(app)
    url = srv.url
    for i in range(3):
        assert httpx.get(f"{url}/items/{i}").status_code == 200
    assert httpx.get(f"{url}/items/x").status_code == 422
    assert httpx.post(f"{url}/items/1").status_code == 201
    assert httpx.get(f"{url}/boom").status_code == 500
    assert httpx.get(f"{url}/no/such/{time.time()}").status_code == 404
    assert httpx.delete(f"{url}/boom").status_code == 405
    r = httpx.get(url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=")
    text = r.text
    assert value(text, "http_requests_total", method="GET", handler="/items/{item_id}", status="200") == 3
    assert value(text, "http_requests_total", method="GET", handler="/items/{item_id}", status="422") == 1
    assert value(text, "http_requests_total", method="POST", handler="/items/{item_id}", status="201") == 1
    assert value(text, "http_requests_total", method="GET", handler="/boom", status="500") == 1
    # unknown paths share one label value: a scanner cannot make the series grow
    assert value(text, "http_requests_total", method="GET", handler="none", status="404") == 1
    assert value(text, "http_requests_total", method="DELETE", handler="none", status="405") == 1
    assert value(text, "http_request_duration_seconds_count", method="GET", handler="/items/{item_id}") == 4
    assert value(text, "http_request_duration_seconds_bucket", method="GET", handler="/items/{item_id}",
                 le="+Inf") == 4
    assert value(text, "http_requests_inprogress", method="GET", handler="/items/{item_id}") == 0
    # the scrape itself is in progress while it renders
    assert value(text, "http_requests_inprogress", method="GET", handler="/metrics") == 1
    assert app.openapi()["paths"].get("/metrics") is None


def test_requests_in_progress(serve):
    app, release = instrumented_app()
    srv = serve(app)
    done = []
    threads = [threading.Thread(target=lambda: done.append(httpx.get(srv.url + "/slow", timeout=10).status_code))
               for _ in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = value(httpx.get(srv.url + "/metrics").text, "http_requests_inprogress", method="GET", handler="/slow")
            if now == 3:
                break
            time.sleep(0.02)
        assert now == 3
    finally:
        release.set()
        for t in threads:
            t.join(10)
    assert done == [200, 200, 200]
    assert value(httpx.get(srv.url + "/metrics").text, "http_requests_inprogress", method="GET", handler="/slow") == 0


def test_websocket_connections_and_messages(serve):
    app, _ = instrumented_app()
    srv = serve(app)
    with connect(srv.ws_url + "/ws/a", open_timeout=5) as first, connect(srv.ws_url + "/ws/b", open_timeout=5) as second:
        for conn in (first, second):
            conn.send("hi")
            assert conn.recv(timeout=5) == "hi"
        first.send("again")
        first.recv(timeout=5)
        first.recv(timeout=5)
        second.recv(timeout=5)
        text = httpx.get(srv.url + "/metrics").text
        assert value(text, "websocket_connections_open", handler="/ws/{room}") == 2
        assert value(text, "websocket_messages_received_total", handler="/ws/{room}") == 3
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = httpx.get(srv.url + "/metrics").text
        if value(text, "websocket_connections_open", handler="/ws/{room}") == 0:
            break
        time.sleep(0.02)
    assert value(text, "websocket_connections_open", handler="/ws/{room}") == 0
    assert value(text, "websocket_messages_received_total", handler="/ws/{room}") == 3
    assert value(text, "websocket_messages_sent_total", handler="/ws/{room}") == 6  # text + JSON per message


def test_options_namespace_and_excluded_handlers(serve):
    app, _ = instrumented_app(namespace="shop", excluded_handlers=["/metrics"])
    srv = serve(app)
    httpx.get(srv.url + "/items/1")
    text = httpx.get(srv.url + "/metrics").text
    assert value(text, "shop_http_requests_total", method="GET", handler="/items/{item_id}", status="200") == 1
    httpx.get(srv.url + "/metrics")
    assert value(httpx.get(srv.url + "/metrics").text, "shop_http_requests_total", method="GET", handler="/metrics",
                 status="200") is None
    with pytest.raises(ValueError, match="must start with '/'"):
        Instrumentator().expose(FastrAPI(), endpoint="metrics")


def test_an_app_not_instrumented_pays_nothing(serve):
    async def hello():
        return {"hello": "world"}

    plain = FastrAPI()
    plain.get("/json")(hello)
    instrumented = FastrAPI()
    instrumented.get("/json")(hello)
    Instrumentator().instrument(instrumented)
    assert plain.user_middleware == [] and plain._websocket_observer is None
    plain_srv, inst_srv = serve(plain), serve(instrumented)
    for srv in (plain_srv, inst_srv):
        assert httpx.get(srv.url + "/json").json() == {"hello": "world"}
    # the plain app's connections keep the fast path (no Request object); the instrumented one's go through
    # the middleware chain
    from fastrapi.server.http import HttpProtocol

    assert b"/json" in HttpProtocol(plain_srv)._fast_routes and not HttpProtocol(inst_srv)._fast_routes


# ------------------------------------------------------------------ workers=2: prometheus_client multiprocess mode
APP_SOURCE = """
import os
from fastrapi import FastrAPI, Instrumentator

app = FastrAPI()

@app.get("/pid")
def pid():
    return {"pid": os.getpid()}

@app.get("/items/{item_id}")
def item(item_id: int):
    return {"id": item_id}

Instrumentator(excluded_handlers=["/metrics", "/pid"]).instrument(app).expose(app, endpoint="/metrics")
"""


@pytest.mark.timeout(90)
def test_two_workers_report_the_sum_of_both(tmp_path):
    (tmp_path / "main.py").write_text(textwrap.dedent(APP_SOURCE))
    mp_dir = tmp_path / "prometheus"
    mp_dir.mkdir()
    port = free_port()
    env_before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mp_dir)
    try:
        sup = Supervised([sys.executable, "-m", "fastrapi", "run", "main:app", "--port", str(port), "--workers", "2",
                          "--no-access-log", "--graceful-timeout", "3"], tmp_path)
    finally:
        if env_before is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = env_before
    try:
        sup.wait_ready(port, 2)
        pids = collect_pids(port, 2)
        sup.worker_pids |= pids
        assert len(pids) == 2, "both workers must answer for this test to mean anything"
        answered_by: dict[int, int] = {}
        for i in range(40):  # a new connection each time: the kernel spreads them over the workers
            with httpx.Client(timeout=5) as client:
                assert client.get(f"http://127.0.0.1:{port}/items/{i}").status_code == 200
        for i in range(30):
            with httpx.Client(timeout=5) as client:
                got = client.get(f"http://127.0.0.1:{port}/pid").json()["pid"]
                answered_by[got] = answered_by.get(got, 0) + 1
        # each worker wrote its own values file
        counter_files = {p.name for p in mp_dir.iterdir() if p.name.startswith("counter_")}
        assert counter_files == {f"counter_{pid}.db" for pid in pids}, counter_files
        totals = set()
        for _ in range(12):  # whichever worker answers the scrape reports the sum over both
            with httpx.Client(timeout=5) as client:
                text = client.get(f"http://127.0.0.1:{port}/metrics").text
            totals.add(value(text, "http_requests_total", method="GET", handler="/items/{item_id}", status="200"))
            assert value(text, "http_requests_inprogress", method="GET", handler="/items/{item_id}") == 0
        assert totals == {40.0}
    finally:
        sup.cleanup()
    assert sup.p.returncode == 0, sup.stderr
