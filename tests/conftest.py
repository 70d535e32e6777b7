"""Shared fixtures: every test talks to a real FastrAPI server on a 127.0.0.1 port."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from fastrapi.server import Server

# Property-based fuzzing (tests/test_fuzz_*.py): "ci", the default, is derandomized (the same examples on every
# run, no example database); HYPOTHESIS_PROFILE=fuzz explores new random examples, FUZZ_SCALE=10 runs ten times more.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def serve():
    """Start ``app`` on a free 127.0.0.1 port in a background thread; stopped at teardown.

    Usage: ``srv = serve(app, **server_options)``; then ``srv.url`` ("http://127.0.0.1:PORT"),
    ``srv.ws_url`` ("ws://127.0.0.1:PORT"), ``srv.port``.
    """
    servers: list[Server] = []

    def _serve(app, **options) -> Server:
        srv = Server(app, host="127.0.0.1", port=0, **options).start_in_thread()
        servers.append(srv)
        return srv

    yield _serve
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (tests/chromium.py) for the page tests of one module."""
    from chromium import chromium

    with chromium() as b:
        yield b
