"""Helpers around the `websockets` sync client shared by the WebSocket API and seed-example tests."""
from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TIMEOUT = 3.0  # seconds: every wait in these tests is bounded by this


def ws_connect(srv, path="/ws", **kwargs):
    """Sync websockets client connected to ``srv`` at ``path`` (no proxy, short timeouts)."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    kwargs.setdefault("proxy", None)
    return connect(srv.ws_url + path, **kwargs)


def recv(ws):
    return ws.recv(timeout=TIMEOUT)


def expect_close(ws):
    """Wait until the server closes ``ws``; return (code, reason) of the server's close frame."""
    try:
        msg = ws.recv(timeout=TIMEOUT)
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return 1006, ""
        return exc.rcvd.code, exc.rcvd.reason
    pytest.fail(f"expected the server to close the connection, got message {msg!r}")
