"""``rate_limit=N`` on a route: at most N requests per second per client address, then 429 + Retry-After."""
from __future__ import annotations

import time

import httpx
import pytest

from fastrapi import FastrAPI
from fastrapi.exceptions import HTTPException
from fastrapi.ratelimit import RateLimiter
from fastrapi.responses import JSONResponse
from fastrapi.testclient import TestClient

from rawhttp import RawConn


def _app() -> FastrAPI:
    app = FastrAPI()

    @app.get("/limited", rate_limit=3)
    async def limited():
        return {"ok": True}

    @app.get("/other", rate_limit=3)
    def other():
        return {"other": True}

    @app.get("/free")
    async def free():
        return {"free": True}

    return app


def _burst(client: httpx.Client, path: str, n: int) -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def test_over_the_limit_is_429_with_retry_after(serve):
    srv = serve(_app())
    with httpx.Client(base_url=srv.url, timeout=5) as client:
        assert _burst(client, "/limited", 3) == [200, 200, 200]
        r = client.get("/limited")
        assert r.status_code == 429
        assert r.json() == {"detail": "Too Many Requests"}
        assert int(r.headers["retry-after"]) >= 1
        # other routes count on their own; an unlimited route is not limited
        assert _burst(client, "/other", 4) == [200, 200, 200, 429]
        assert _burst(client, "/free", 10) == [200] * 10


def test_allowed_again_after_the_window(serve):
    srv = serve(_app())
    with httpx.Client(base_url=srv.url, timeout=5) as client:
        assert _burst(client, "/limited", 4) == [200, 200, 200, 429]
        time.sleep(1.1)  # the client's window (from its first request) is over
        assert _burst(client, "/limited", 3) == [200, 200, 200]


def test_counted_per_client_address(serve):
    srv = serve(_app())
    other_ip = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=srv.url, timeout=5) as a, \
            httpx.Client(base_url=srv.url, timeout=5, transport=other_ip) as b:
        assert _burst(a, "/limited", 4) == [200, 200, 200, 429]
        assert b.get("/limited").status_code == 200  # another client: its own count
        assert _burst(b, "/limited", 3) == [200, 200, 429]
        assert a.get("/limited").status_code == 429


def test_new_connections_do_not_reset_the_count(serve):
    srv = serve(_app())
    conns = [RawConn(srv.port) for _ in range(4)]  # connected first: the four requests go out back to back
    try:
        first = []
        for c in conns:
            c.send(b"GET /limited HTTP/1.1\r\nHost: t\r\n\r\n")
            first.append(c.read_response().status)  # in order: each counted before the next is sent
        assert first == [200, 200, 200, 429]
        codes = []
        for c in conns:
            c.send(b"GET /limited HTTP/1.1\r\nHost: t\r\n\r\n")
            codes.append(c.read_response().status)
    finally:
        for c in conns:
            c.close()
    assert codes == [429, 429, 429, 429]  # the window began less than a second ago


def test_429_goes_through_the_apps_exception_handlers(serve):
    app = FastrAPI()

    @app.exception_handler(429)
    async def slow_down(request, exc: HTTPException):
        return JSONResponse({"error": "slow down"}, status_code=429, headers=exc.headers)

    @app.post("/login", rate_limit=1)
    async def login():
        return {"token": "t"}

    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        assert client.post("/login").status_code == 200
        r = client.post("/login")
        assert r.status_code == 429 and r.json() == {"error": "slow down"} and r.headers["retry-after"]


def test_cached_route_with_a_rate_limit_is_limited(serve):
    app = FastrAPI()

    @app.get("/c", cache_resp=True, rate_limit=2)
    def cached():
        return {"c": 1}

    srv = serve(app)
    assert b"/c" not in app.router.fast  # the fast path knows no client address: this route takes the full path
    with httpx.Client(base_url=srv.url) as client:
        assert _burst(client, "/c", 3) == [200, 200, 429]


def test_asgi_interface_is_limited_too():
    client = TestClient(_app())
    assert _burst(client, "/limited", 4) == [200, 200, 200, 429]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_limit_is_an_error_at_registration(bad):
    app = FastrAPI()
    with pytest.raises(ValueError, match="rate_limit"):
        app.get("/x", rate_limit=bad)(lambda: 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_window_and_bounded_memory():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, max_clients=100)
    assert [limiter.hit("a") for _ in range(2)] == [0.0, 0.0]
    clock.now += 0.25
    assert limiter.hit("a") == pytest.approx(0.75)  # the rest of a's window, which began at its first request
    clock.now += 0.8  # a's window is over
    assert [limiter.hit("a") for _ in range(3)][:2] == [0.0, 0.0]
    # many clients at once: at most max_clients are tracked per rotation
    for i in range(1000):
        limiter.hit(f"c{i}")
    assert len(limiter) <= 200
    # idle clients are forgotten
    clock.now += 2.5
    limiter.hit("z")
    assert len(limiter) == 1


def test_behind_a_trusted_proxy_each_forwarded_client_counts_on_its_own(serve):
    """With proxy_headers=True (the proxy at 127.0.0.1 is trusted by default), the limit applies to the client
    address the proxy forwards, not to the proxy's own address; untrusted, the header changes nothing."""
    srv = serve(_app(), proxy_headers=True)
    with httpx.Client(base_url=srv.url, timeout=5) as client:
        a = {"X-Forwarded-For": "203.0.113.7"}
        b = {"X-Forwarded-For": "198.51.100.9"}
        assert [client.get("/limited", headers=a).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert [client.get("/limited", headers=b).status_code for _ in range(3)] == [200, 200, 200]
    plain = serve(_app())  # proxy headers off: every request counts for 127.0.0.1
    with httpx.Client(base_url=plain.url, timeout=5) as client:
        statuses = [client.get("/limited", headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code
                    for i in range(4)]
        assert statuses == [200, 200, 200, 429]
