"""HTTP/1.1 protocol behaviour of the FastrAPI server, exercised over raw sockets.

Every test starts a real server on 127.0.0.1 (``serve`` fixture) and checks what a client on the wire sees:
keep-alive, pipelining, Content-Length / chunked request bodies, HEAD, Date/Server headers,
``Expect: 100-continue``, 400/431/413 errors, idle keep-alive timeout, ``Connection: close``, HTTP/1.0,
and 500 on handler exceptions.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import time

import httpx
import pytest

from fastrapi import FastrAPI, Request
from fastrapi.responses import JSONResponse, Response

# --------------------------------------------------------------------------------------------------------------
# raw-socket client helpers
# --------------------------------------------------------------------------------------------------------------


from rawhttp import RawConn  # noqa: E402  (shared with other raw-socket tests)


def get(path: str, *extra: str, host: str = "test") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------------------------------------------
# the application under test
# --------------------------------------------------------------------------------------------------------------

app = FastrAPI()


@app.get("/hello")
async def hello():
    return {"hello": "world"}


@app.get("/fast/{n}")
async def fast(n: int):
    return {"n": n}


@app.get("/slow")
async def slow():
    await asyncio.sleep(0.3)
    return {"slow": True}


@app.get("/slow/{n}")
async def slow_n(n: int):
    await asyncio.sleep(0.3)
    return {"n": n}


@app.get("/slower/{n}")
async def slower_n(n: int):
    await asyncio.sleep(0.5)
    return {"n": n}


@app.post("/echo")
async def echo(request: Request):
    body = await request.body()
    return Response(content=body, media_type="application/octet-stream")


@app.head("/head")
async def head_route():
    return {"a": 1}


@app.get("/head")
async def head_route_get():
    return {"a": 1}


@app.get("/big")
async def big():
    return JSONResponse({"data": "x" * 200_000})


@app.get("/boom")
async def boom():
    raise RuntimeError("kaboom-xyz-async")


@app.get("/boom-sync")
def boom_sync():
    raise ValueError("kaboom-xyz-sync")


# --------------------------------------------------------------------------------------------------------------
# keep-alive and pipelining
# --------------------------------------------------------------------------------------------------------------


def test_keep_alive_several_requests_one_connection(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        for i in range(5):
            c.send(get(f"/fast/{i}"))
            r = c.read_response()
            assert r.status == 200
            assert r.version == "HTTP/1.1"
            assert r.json() == {"n": i}
            assert (r.header("connection") or "").lower() != "close"
            assert r.header("content-type") == "application/json"
        # the same connection is still usable and still open
        assert not c.closed_by_server(timeout=0.2)
        c.send(get("/hello"))
        assert c.read_response().json() == {"hello": "world"}


def test_keep_alive_with_httpx_client_reuses_connection(serve):
    srv = serve(app)
    local_addrs = set()
    with httpx.Client(base_url=srv.url) as client:
        for _ in range(4):
            r = client.get("/hello")
            assert r.status_code == 200
            assert r.json() == {"hello": "world"}
            local_addrs.add(r.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(local_addrs) == 1, "httpx had to open a new connection: keep-alive not honoured"


def test_pipelining_three_requests_in_one_write(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get("/fast/1") + get("/fast/2") + get("/fast/3"))
        assert [c.read_response().json() for _ in range(3)] == [{"n": 1}, {"n": 2}, {"n": 3}]
        # connection still usable afterwards
        c.send(get("/fast/4"))
        assert c.read_response().json() == {"n": 4}


def test_pipelining_slow_first_keeps_order(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        t0 = time.monotonic()
        c.send(get("/slow") + get("/fast/2") + get("/fast/3"))
        first = c.read_response()
        second = c.read_response()
        third = c.read_response()
        elapsed = time.monotonic() - t0
        assert first.status == 200 and first.json() == {"slow": True}
        assert second.json() == {"n": 2}
        assert third.json() == {"n": 3}
        assert elapsed >= 0.25


def test_pipelining_mixed_bodies_and_methods(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
            + get("/slow/2")
            + b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nthi\r\n2\r\nrd\r\n0\r\n\r\n"
            + get("/fast/4")
        )
        r1, r2, r3, r4 = (c.read_response() for _ in range(4))
        assert (r1.status, r1.body) == (200, b"first")
        assert (r2.status, r2.json()) == (200, {"n": 2})
        assert (r3.status, r3.body) == (200, b"third")
        assert (r4.status, r4.json()) == (200, {"n": 4})


def test_pipelined_slow_requests_on_separate_connections_run_concurrently(serve):
    srv = serve(app)
    conns = [RawConn(srv.port) for _ in range(3)]
    try:
        t0 = time.monotonic()
        for i, c in enumerate(conns):
            c.send(get(f"/slower/{i}"))
        results = [c.read_response().json() for c in conns]
        elapsed = time.monotonic() - t0
    finally:
        for c in conns:
            c.close()
    assert results == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert elapsed < 1.2, f"3 x 0.5 s async handlers on 3 connections took {elapsed:.2f}s (not concurrent)"


# --------------------------------------------------------------------------------------------------------------
# request bodies
# --------------------------------------------------------------------------------------------------------------


def test_content_length_body(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        payload = bytes(range(256)) * 40
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        r = c.read_response()
        assert r.status == 200
        assert r.body == payload
        assert r.header("content-length") == str(len(payload))


def test_content_length_body_split_across_writes(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        payload = b"hello, split world!"
        c.send(b"POST /echo HTTP/1.1\r\nHo")
        time.sleep(0.05)
        c.send(b"st: t\r\nContent-Len")
        time.sleep(0.05)
        c.send(f"gth: {len(payload)}\r\n\r\n".encode())
        time.sleep(0.05)
        for i in range(0, len(payload), 4):
            c.send(payload[i : i + 4])
            time.sleep(0.02)
        r = c.read_response()
        assert r.status == 200
        assert r.body == payload


def test_empty_body_post(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.body == b""
        assert r.header("content-length") == "0"


def test_chunked_body_with_extensions(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
            b"6;ext=value\r\n world\r\n"
            b"1;a;b=\"quoted\"\r\n!\r\n"
            b"0\r\n\r\n"
        )
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"hello world!"
        # and the connection stays in sync for the next request
        c.send(get("/hello"))
        assert c.read_response().json() == {"hello": "world"}


def test_chunked_body_with_trailers(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\nabcd\r\n0\r\nX-Trailer: yes\r\n\r\n"
        )
        r = c.read_response()
        assert (r.status, r.body) == (200, b"abcd")
        c.send(get("/fast/9"))
        assert c.read_response().json() == {"n": 9}


def test_chunked_body_split_across_writes(serve):
    srv = serve(app)
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"a;name=x\r\n0123456789\r\n"
        b"10\r\n" + b"A" * 16 + b"\r\n"
        b"0\r\n\r\n"
    )
    with RawConn(srv.port) as c:
        # deliberately cut inside the size line, the extension, the data and the CRLFs
        for i in range(0, len(raw), 7):
            c.send(raw[i : i + 7])
            time.sleep(0.005)
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"0123456789" + b"A" * 16


def test_large_chunked_body(serve):
    srv = serve(app)
    payload = bytes(range(256)) * 2000  # 512 KB
    chunks = b"".join(
        f"{len(payload[i:i + 65000]):x}\r\n".encode() + payload[i : i + 65000] + b"\r\n"
        for i in range(0, len(payload), 65000)
    )
    with RawConn(srv.port, timeout=10) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.body == payload


def test_large_response_body(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get("/big"))
        r = c.read_response()
        assert r.status == 200
        assert r.json() == {"data": "x" * 200_000}


# --------------------------------------------------------------------------------------------------------------
# HEAD, Date, Server
# --------------------------------------------------------------------------------------------------------------


def test_head_has_headers_and_no_body(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(b"HEAD /head HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response(head=True)
        assert r.status == 200
        assert r.header("content-length") == "7"  # len(b'{"a":1}')
        assert r.header("content-type") == "application/json"
        # no body bytes follow: the next response on the connection starts right away
        c.send(get("/head"))
        r2 = c.read_response()
        assert r2.status == 200
        assert r2.body == b'{"a":1}'
        assert c.buf == b""


def test_date_and_server_headers(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get("/hello"))
        r = c.read_response()
    assert r.status == 200
    assert len(r.header_list("date")) == 1
    assert len(r.header_list("server")) == 1
    assert r.header("server").strip() != ""
    date = email.utils.parsedate_to_datetime(r.header("date"))
    assert r.header("date").endswith("GMT")
    assert abs(date.timestamp() - time.time()) < 5


def test_error_responses_have_date_and_server(serve):
    srv = serve(app)
    r = httpx.get(srv.url + "/does-not-exist")
    assert r.status_code == 404
    assert "date" in r.headers and "server" in r.headers


# --------------------------------------------------------------------------------------------------------------
# Expect: 100-continue
# --------------------------------------------------------------------------------------------------------------


def test_expect_100_continue(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        )
        # nothing of the body has been sent yet: the server must tell us to go on
        c.sock.settimeout(3)
        interim = c.read_response()
        assert interim.version == "HTTP/1.1"
        assert interim.status == 100
        assert interim.reason == "Continue"
        c.send(b"hello world")
        final = c.read_response()
        assert final.status == 200
        assert final.body == b"hello world"


def test_expect_100_continue_chunked(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = c.read_response()
        assert interim.status == 100
        c.send(b"3\r\nabc\r\n0\r\n\r\n")
        final = c.read_response()
        assert (final.status, final.body) == (200, b"abc")


def test_expect_100_continue_pipelined_behind_slow_request_waits_for_its_turn(serve):
    """The interim 100 of a pipelined request must not land inside the response before it."""
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(
            b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        first = c.read_response()
        assert (first.status, first.body) == (200, b'{"slow":true}')
        interim = c.read_response()
        assert interim.status == 100
        c.send(b"hello")
        final = c.read_response()
        assert (final.status, final.body) == (200, b"hello")


# --------------------------------------------------------------------------------------------------------------
# malformed requests, limits
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="garbage-request-line"),
        pytest.param(b"this is not http at all\r\n\r\n", id="words"),
        pytest.param(b"GET /hello HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n", id="header-without-colon"),
        pytest.param(b"GET /hello HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", id="space-in-header-name"),
        pytest.param(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", id="bad-content-length"),
        pytest.param(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", id="bad-chunk-size"),
    ],
)
def test_malformed_request_gets_400_and_close(serve, raw):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == 400
        assert c.closed_by_server(timeout=3)
    # the server is still healthy
    r = httpx.get(srv.url + "/hello")
    assert r.status_code == 200


def test_bad_request_after_good_one_on_same_connection(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get("/hello"))
        assert c.read_response().status == 200
        c.send(b"GARBAGE\r\n\r\n")
        assert c.read_response().status == 400
        assert c.closed_by_server(timeout=3)


def test_oversized_headers_431(serve):
    srv = serve(app, max_header_size=2048)
    with RawConn(srv.port) as c:
        c.send(get("/hello", "X-Big: " + "a" * 4000))
        r = c.read_response()
        assert r.status == 431
        assert c.closed_by_server(timeout=3)
    # many medium headers adding up over the limit count too
    with RawConn(srv.port) as c:
        c.send(get("/hello", *[f"X-H{i}: {'b' * 100}" for i in range(40)]))
        assert c.read_response().status == 431
    # within the limit works
    with RawConn(srv.port) as c:
        c.send(get("/hello", "X-Ok: " + "a" * 1000))
        r = c.read_response()
        assert r.status == 200
        assert r.json() == {"hello": "world"}


def test_oversized_headers_431_when_sent_without_terminator(serve):
    """The limit applies while the head is still arriving (no need to wait for the blank line)."""
    srv = serve(app, max_header_size=2048)
    with RawConn(srv.port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 8000)
        r = c.read_response()
        assert r.status == 431


def test_default_header_limit_allows_normal_big_headers(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get("/hello", "Cookie: " + "c" * 8000))
        assert c.read_response().status == 200


def test_body_too_large_content_length_413(serve):
    srv = serve(app, max_body_size=1000)
    with RawConn(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000)
        r = c.read_response()
        assert r.status == 200 and len(r.body) == 1000
    with RawConn(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001)
        r = c.read_response()
        assert r.status == 413


def test_body_too_large_rejected_from_content_length_alone(serve):
    """A declared Content-Length over the limit is answered without the client sending the body."""
    srv = serve(app, max_body_size=1000)
    with RawConn(srv.port, timeout=3) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n")
        r = c.read_response()
        assert r.status == 413
        assert c.closed_by_server(timeout=3)


def test_body_too_large_chunked_413(serve):
    srv = serve(app, max_body_size=1000)
    with RawConn(srv.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"200\r\n" + b"y" * 512 + b"\r\n") * 3
            + b"0\r\n\r\n"
        )
        r = c.read_response()
        assert r.status == 413
    # chunked body within the limit works
    with RawConn(srv.port) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"100\r\n" + b"y" * 256 + b"\r\n") * 3
            + b"0\r\n\r\n"
        )
        r = c.read_response()
        assert r.status == 200 and r.body == b"y" * 768


def test_body_too_large_chunked_413_without_waiting_for_the_end(serve):
    """A chunked body is cut off with 413 as soon as it exceeds the limit, not when it ends."""
    srv = serve(app, max_body_size=1000)
    with RawConn(srv.port, timeout=3) as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"200\r\n" + b"y" * 512 + b"\r\n") * 3
        )  # no terminating 0-chunk: the client would go on sending
        r = c.read_response()
        assert r.status == 413


# --------------------------------------------------------------------------------------------------------------
# connection management
# --------------------------------------------------------------------------------------------------------------


def test_idle_keep_alive_timeout_closes_connection(serve):
    srv = serve(app, keep_alive_timeout=0.3)
    with RawConn(srv.port) as c:
        c.send(get("/hello"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.closed_by_server(timeout=3), "idle keep-alive connection was not closed by the server"
        elapsed = time.monotonic() - t0
        assert 0.15 <= elapsed <= 2.0, elapsed


def test_idle_timeout_closes_connection_that_never_sent_a_request(serve):
    srv = serve(app, keep_alive_timeout=0.3)
    with RawConn(srv.port) as c:
        assert c.closed_by_server(timeout=3)


def test_active_connection_outlives_keep_alive_timeout(serve):
    srv = serve(app, keep_alive_timeout=0.5)
    with RawConn(srv.port) as c:
        t0 = time.monotonic()
        for i in range(8):  # > 0.8 s in total, but never idle for 0.5 s
            c.send(get(f"/fast/{i}"))
            assert c.read_response().json() == {"n": i}
            time.sleep(0.1)
        assert time.monotonic() - t0 > 0.75
        c.send(get("/hello"))
        assert c.read_response().status == 200


def test_slow_handler_not_cut_by_keep_alive_timeout(serve):
    """The idle timer does not run while a request is being handled."""
    srv = serve(app, keep_alive_timeout=0.1)
    with RawConn(srv.port) as c:
        c.send(get("/slow"))
        r = c.read_response()
        assert r.status == 200 and r.json() == {"slow": True}


def test_connection_close_honoured(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get("/hello", "Connection: close"))
        r = c.read_response()
        assert r.status == 200
        assert r.json() == {"hello": "world"}
        assert (r.header("connection") or "").lower() == "close"
        assert c.closed_by_server(timeout=3)


def test_connection_close_in_pipeline_drops_later_requests(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get("/fast/1", "Connection: close") + get("/fast/2"))
        r = c.read_response()
        assert r.json() == {"n": 1}
        assert c.closed_by_server(timeout=3)
        assert c.buf == b""


def test_http10_without_keep_alive_closes(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(b"GET /hello HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.json() == {"hello": "world"}
        assert c.closed_by_server(timeout=3)


def test_many_sequential_connections(serve):
    srv = serve(app)
    for i in range(30):
        with RawConn(srv.port) as c:
            c.send(get(f"/fast/{i}", "Connection: close"))
            assert c.read_response().json() == {"n": i}


def test_absolute_form_request_target(serve):
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(f"GET http://127.0.0.1:{srv.port}/fast/8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        r = c.read_response()
        assert (r.status, r.json()) == (200, {"n": 8})


def test_many_concurrent_keep_alive_clients(serve):
    import threading

    srv = serve(app)
    errors: list = []

    def worker(k: int) -> None:
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as client:
                for i in range(10):
                    r = client.get(f"/fast/{k * 100 + i}")
                    assert r.json() == {"n": k * 100 + i}
                r = client.post("/echo", content=b"w%d" % k)
                assert r.content == b"w%d" % k
        except Exception as exc:  # collected and reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


def test_client_disconnect_mid_request_does_not_break_server(serve):
    srv = serve(app)
    c = RawConn(srv.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial")
    c.close()
    c = RawConn(srv.port)
    c.send(get("/slow"))
    c.close()  # gone while the handler sleeps
    time.sleep(0.4)
    r = httpx.get(srv.url + "/hello")
    assert r.status_code == 200


# --------------------------------------------------------------------------------------------------------------
# handler exceptions
# --------------------------------------------------------------------------------------------------------------


def _wait_for_log(caplog, capfd, needle: str, timeout: float = 3.0) -> str:
    text = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        captured = capfd.readouterr()
        text += captured.out + captured.err
        if needle in text + caplog.text:
            break
        time.sleep(0.05)
    return text + caplog.text


@pytest.mark.parametrize("path,needle", [("/boom", "kaboom-xyz-async"), ("/boom-sync", "kaboom-xyz-sync")])
def test_handler_exception_gives_500_and_is_logged(serve, caplog, capfd, path, needle):
    caplog.set_level(logging.ERROR)
    srv = serve(app)
    with RawConn(srv.port) as c:
        c.send(get(path))
        r = c.read_response()
        assert r.status == 500
        assert needle.encode() not in r.body  # no exception details leaked to the client
    logs = _wait_for_log(caplog, capfd, needle)
    assert needle in logs, "the exception was not logged"
    assert "Traceback" in logs, "the traceback was not logged"
    # the server keeps serving other connections
    with RawConn(srv.port) as c:
        c.send(get("/hello"))
        r = c.read_response()
        assert r.status == 200 and r.json() == {"hello": "world"}
    r = httpx.get(srv.url + "/fast/5")
    assert r.status_code == 200 and r.json() == {"n": 5}
