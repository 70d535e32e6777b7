"""Startup and shutdown: lifespan context managers, on_startup/on_shutdown hooks, @app.on_event."""
import subprocess
import sys
import textwrap
from contextlib import asynccontextmanager

import httpx
import pytest

from fastrapi import FastrAPI
from fastrapi.server import Server


def test_lifespan_runs_around_serving_and_sets_state():
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        yield {"db": "connected"}
        events.append("shutdown")

    app = FastrAPI(lifespan=lifespan)

    @app.get("/db")
    async def db():
        return {"db": app.state.db, "events": list(events)}

    srv = Server(app, host="127.0.0.1", port=0).start_in_thread()
    try:
        assert httpx.get(srv.url + "/db").json() == {"db": "connected", "events": ["startup"]}
    finally:
        srv.stop()
    assert events == ["startup", "shutdown"]


def test_startup_and_shutdown_hooks_sync_and_async():
    events = []

    async def async_start():
        events.append("async start")

    app = FastrAPI(on_startup=[lambda: events.append("sync start"), async_start])

    @app.on_event("shutdown")
    async def bye():
        events.append("shutdown")

    @app.get("/")
    def root():
        return list(events)

    srv = Server(app, host="127.0.0.1", port=0).start_in_thread()
    try:
        assert httpx.get(srv.url + "/").json() == ["sync start", "async start"]
    finally:
        srv.stop()
    assert events == ["sync start", "async start", "shutdown"]


def test_lifespan_takes_precedence_over_hooks():
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("lifespan")
        yield

    app = FastrAPI(lifespan=lifespan, on_startup=[lambda: events.append("hook")])
    Server(app, host="127.0.0.1", port=0).start_in_thread().stop()
    assert events == ["lifespan"]


def test_failed_startup_is_reported_and_nothing_listens():
    @asynccontextmanager
    async def lifespan(app):
        raise RuntimeError("database unreachable")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="database unreachable"):
        Server(FastrAPI(lifespan=lifespan), host="127.0.0.1", port=0).start_in_thread()


def test_failed_startup_exits_with_a_clear_error(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        from fastrapi import FastrAPI
        app = FastrAPI()
        @app.on_event("startup")
        def boom():
            raise RuntimeError("cannot connect")
        app.serve(host="127.0.0.1", port=0)
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 3
    assert "cannot connect" in proc.stderr
    assert "application startup failed" in proc.stderr
