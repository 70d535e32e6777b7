"""Shared fixtures: every test talks to a real FastrAPI server on a 127.0.0.1 port."""
from __future__ import annotations

import pytest

from fastrapi.server import Server


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
