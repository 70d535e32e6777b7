"""FileResponse and UJSONResponse over the real server, compared with Starlette's/FastAPI's where they overlap.

Files go out with Content-Length (sendfile or pread + write), with Range (206, multipart/byteranges, 416,
400), If-Range, conditional GET (304), HEAD, keep-alive after a file, and clients that leave mid-download.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import warnings
from email.utils import formatdate

import httpx
import pytest

import fastrapi
from fastrapi import BackgroundTasks
from fastrapi.background import BackgroundTask
from fastrapi.responses import FileResponse, UJSONResponse

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

MiB = 1024 * 1024


# ----------------------------------------------------------------------------------------------------------------
# files and apps
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small text, 5 MiB, 20 MiB and empty files, plus one with a non-ASCII name."""
    d = tmp_path_factory.mktemp("files")
    small = d / "hello.txt"
    small.write_bytes(b"".join(b"line %04d of a small text file\n" % i for i in range(300)))
    big5 = d / "five.bin"
    big5.write_bytes(os.urandom(5 * MiB))
    big20 = d / "twenty.bin"
    big20.write_bytes(os.urandom(20 * MiB + 123))
    empty = d / "empty.txt"
    empty.write_bytes(b"")
    uni = d / "résumé café.pdf"
    uni.write_bytes(b"%PDF-1.4 not really a pdf\n" * 10)
    return {"small": small, "big5": big5, "big20": big20, "empty": empty, "uni": uni, "dir": d}


def make_app(fw, FileResponse, files, events=None):
    """The same routes for FastAPI (``fw`` = fastapi, Starlette's FileResponse) and FastrAPI."""
    app = fw.FastAPI()

    @app.api_route("/small", methods=["GET", "HEAD", "POST"])
    async def small():
        return FileResponse(files["small"])

    @app.get("/named")
    def named():
        return FileResponse(str(files["small"]), filename="report.txt")

    @app.get("/inline")
    async def inline():
        return FileResponse(files["small"], filename="page.html", content_disposition_type="inline")

    @app.get("/typed")
    async def typed():
        return FileResponse(files["small"], media_type="application/x-custom", headers={"x-extra": "1"})

    @app.get("/unicode")
    async def unicode():
        return FileResponse(files["uni"], filename=files["uni"].name)

    @app.api_route("/big5", methods=["GET", "HEAD"])
    async def big5():
        return FileResponse(files["big5"])

    @app.api_route("/big20", methods=["GET", "HEAD"])
    async def big20():
        return FileResponse(files["big20"])

    @app.get("/empty")
    async def empty():
        return FileResponse(files["empty"])

    @app.get("/stat")
    async def with_stat():
        return FileResponse(files["small"], stat_result=os.stat(files["small"]))

    @app.get("/missing")
    async def missing():
        return FileResponse(files["dir"] / "no-such-file.bin")

    @app.get("/directory")
    async def directory():
        return FileResponse(files["dir"])

    @app.get("/notfound")
    async def notfound():
        return FileResponse(files["small"], status_code=404)

    @app.get("/by-class", response_class=FileResponse)
    async def by_class():
        return str(files["small"])

    @app.get("/shrunk")
    async def shrunk():
        return FileResponse(files["small"], stat_result=os.stat(files["big5"]))  # says 5 MiB, has 9 KiB

    @app.get("/head-only")
    async def head_only():
        return FileResponse(files["small"], method="HEAD")

    @app.get("/ping")
    def ping():
        return {"pong": True}

    if events is not None:
        @app.get("/background")
        async def background():
            return FileResponse(files["big5"], background=BackgroundTask(events["task"].set))

        @app.get("/tasks")
        async def tasks(bg: BackgroundTasks):
            bg.add_task(events["tasks"].set)
            return FileResponse(files["small"])

    return app


COMPARED = ("content-type", "content-length", "content-disposition", "etag", "last-modified", "accept-ranges",
            "content-range", "x-extra")


def summary(r):
    """Status, the compared headers and the body (a multipart boundary replaced by a fixed string)."""
    headers = {k: r.headers.get(k) for k in COMPARED}
    body = r.content
    m = re.search(r"boundary=(\w+)", headers["content-type"] or "")
    if m:
        headers["content-type"] = headers["content-type"].replace(m.group(1), "BOUNDARY")
        body = body.replace(m.group(1).encode(), b"BOUNDARY")
    return r.status_code, headers, hashlib.sha256(body).hexdigest(), len(body)


@pytest.fixture(scope="module")
def servers(files):
    """(FastAPI TestClient, FastrAPI server url): one of each for the module."""
    from fastrapi.server import Server

    srv = Server(make_app(fastrapi, FileResponse, files), host="127.0.0.1", port=0).start_in_thread()
    with TestClient(make_app(fastapi, fastapi.responses.FileResponse, files), raise_server_exceptions=False) as tc:
        yield tc, srv
    srv.stop()


# ----------------------------------------------------------------------------------------------------------------
# same as Starlette
# ----------------------------------------------------------------------------------------------------------------

CASES = [
    ("GET", "/small", {}),
    ("GET", "/named", {}),
    ("GET", "/inline", {}),
    ("GET", "/typed", {}),
    ("GET", "/unicode", {}),
    ("GET", "/empty", {}),
    ("GET", "/stat", {}),
    ("GET", "/notfound", {}),
    ("GET", "/by-class", {}),
    ("GET", "/big5", {}),
    ("HEAD", "/small", {}),
    ("HEAD", "/big5", {}),
    ("POST", "/small", {}),
    ("GET", "/small", {"range": "bytes=0-99"}),
    ("GET", "/small", {"range": "bytes=-500"}),
    ("GET", "/small", {"range": "bytes=100-"}),
    ("GET", "/small", {"range": "bytes=100-99999"}),
    ("GET", "/small", {"range": "bytes=0-9,20-29,5000-"}),
    ("GET", "/small", {"range": "bytes=0-9,5-20,100-109"}),  # overlapping: merged
    ("GET", "/big5", {"range": "bytes=1000000-2999999,4000000-"}),
    ("HEAD", "/small", {"range": "bytes=0-9,20-29"}),
    ("HEAD", "/small", {"range": "bytes=10-19"}),
    ("GET", "/small", {"range": "bytes=999999-"}),  # unsatisfiable
    ("GET", "/empty", {"range": "bytes=0-"}),
    ("GET", "/small", {"range": "bytes=abc"}),  # malformed: 400 as Starlette
    ("GET", "/small", {"range": "items=0-1"}),
    ("GET", "/small", {"range": "bytes"}),
    ("GET", "/small", {"range": "bytes=20-10"}),
    ("GET", "/notfound", {"range": "bytes=0-9"}),  # ranges only for 200
    ("GET", "/small", {"range": "bytes=" + ",".join(f"{i}-{i}" for i in range(101))}),  # too many: whole file
    ("GET", "/small", {"range": "bytes=0-9", "if-range": "W/\"x\""}),
    ("GET", "/small", {"range": "bytes=0-9", "if-range": "\"other\""}),
    ("GET", "/small", {"range": "bytes=0-9", "if-range": "Mon, 01 Jan 2001 00:00:00 GMT"}),
]


@pytest.mark.parametrize("method,path,headers", CASES, ids=[f"{m} {p} {h}"[:70] for m, p, h in CASES])
def test_same_as_starlette(servers, method, path, headers):
    tc, srv = servers
    expected = summary(tc.request(method, path, headers=headers))
    actual = summary(httpx.request(method, srv.url + path, headers=headers))
    assert actual == expected


@pytest.mark.parametrize("validator", ["etag", "last-modified"])
def test_if_range_matching_gives_the_range(servers, validator):
    tc, srv = servers
    value = httpx.get(srv.url + "/small").headers[validator]
    assert value == tc.get("/small").headers[validator]
    headers = {"range": "bytes=0-9", "if-range": value}
    r = httpx.get(srv.url + "/small", headers=headers)
    assert r.status_code == 206 and r.content == b"line 0000 " and r.headers["content-range"].startswith("bytes 0-9/")
    assert summary(r) == summary(tc.get("/small", headers=headers))


def test_headers_values(servers, files):
    _, srv = servers
    st = os.stat(files["small"])
    r = httpx.get(srv.url + "/named")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="report.txt"'
    assert r.headers["content-length"] == str(st.st_size)
    assert r.headers["last-modified"] == formatdate(st.st_mtime, usegmt=True)
    assert r.headers["accept-ranges"] == "bytes"
    assert "transfer-encoding" not in r.headers
    assert r.content == files["small"].read_bytes()
    r = httpx.get(srv.url + "/unicode")
    assert r.headers["content-disposition"] == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20caf%C3%A9.pdf"
    assert r.headers["content-type"] == "application/pdf"


def test_missing_file_is_a_500_like_starlette(servers, caplog):
    tc, srv = servers
    with caplog.at_level(logging.ERROR, logger="fastrapi.error"):
        r = httpx.get(srv.url + "/missing")
        assert r.status_code == 500 == tc.get("/missing").status_code
        assert "no-such-file.bin does not exist" in caplog.text
        r = httpx.get(srv.url + "/directory")
        assert r.status_code == 500 == tc.get("/directory").status_code
        assert "is not a file" in caplog.text
    assert httpx.get(srv.url + "/ping").json() == {"pong": True}


# ----------------------------------------------------------------------------------------------------------------
# big files, raw sockets
# ----------------------------------------------------------------------------------------------------------------


class Conn:
    """A raw HTTP/1.1 connection reading responses with a Content-Length into a bytearray."""

    def __init__(self, port: int, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.buf = bytearray()

    def _fill(self, n: int = 1 << 20) -> None:
        data = self.sock.recv(n)
        if not data:
            raise EOFError
        self.buf += data

    def read_response(self, head_only: bool = False, slow: float = 0.0) -> tuple[int, dict, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n")
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        assert "transfer-encoding" not in headers
        if head_only or status == 304:
            return status, headers, b""
        size = int(headers["content-length"])
        while len(self.buf) < size:
            self._fill(65536 if slow else 1 << 20)
            if slow:
                time.sleep(slow)
        body = bytes(self.buf[:size])
        del self.buf[:size]
        return status, headers, body

    def close(self) -> None:
        self.sock.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_20_mib_file_with_httpx(servers, files):
    _, srv = servers
    digest = hashlib.sha256()
    with httpx.stream("GET", srv.url + "/big20") as r:
        assert r.headers["content-length"] == str(20 * MiB + 123)
        assert "transfer-encoding" not in r.headers
        for chunk in r.iter_raw():
            digest.update(chunk)
    assert digest.hexdigest() == sha(files["big20"].read_bytes())


def test_keep_alive_after_a_5_mib_file_pipelined(servers, files):
    _, srv = servers
    c = Conn(srv.port)
    c.sock.sendall(b"GET /big5 HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = c.read_response()
    assert status == 200 and sha(body) == sha(files["big5"].read_bytes())
    status, headers, body = c.read_response()
    assert status == 200 and body == b'{"pong":true}'
    # and again on the same connection: a range, a HEAD, a 304, then a file
    etag = headers_of(srv, "/small")["etag"]
    c.sock.sendall(b"GET /big5 HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n"
                   b"HEAD /big20 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /small HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag.encode() + b"\r\n\r\n"
                   b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = c.read_response()
    assert status == 206 and body == files["big5"].read_bytes()[10:20]
    status, headers, _ = c.read_response(head_only=True)
    assert status == 200 and headers["content-length"] == str(20 * MiB + 123)
    status, headers, body = c.read_response()
    assert status == 304 and "content-length" not in headers
    status, headers, body = c.read_response()
    assert status == 200 and body == files["small"].read_bytes()
    c.close()


def headers_of(srv, path):
    return httpx.get(srv.url + path).headers


def test_slow_reader_gets_every_byte_in_order(servers, files):
    """A small receive buffer and pauses: sendfile, the socket filling up and buffered writes take turns."""
    _, srv = servers
    c = Conn(srv.port, rcvbuf=32 * 1024)
    c.sock.sendall(b"GET /big5 HTTP/1.1\r\nHost: x\r\n\r\nGET /big5 HTTP/1.1\r\nHost: x\r\nRange: bytes=-1500000\r\n\r\n")
    status, _, body = c.read_response(slow=0.0002)
    assert status == 200 and sha(body) == sha(files["big5"].read_bytes())
    status, _, body = c.read_response()
    assert status == 206 and body == files["big5"].read_bytes()[-1500000:]
    c.close()


def test_parallel_downloads(servers, files):
    _, srv = servers
    expected = sha(files["big20"].read_bytes())
    results = []

    def fetch():
        c = Conn(srv.port)
        c.sock.sendall(b"GET /big20 HTTP/1.1\r\nHost: x\r\n\r\n")
        results.append(sha(c.read_response()[2]))
        c.close()

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [expected] * 6


def test_without_sendfile(servers, files, monkeypatch):
    """Where os.sendfile does not exist the file goes through pread and the transport."""
    import fastrapi.server.http as http_module

    monkeypatch.setattr(http_module, "_sendfile", None)
    _, srv = servers
    c = Conn(srv.port)
    c.sock.sendall(b"GET /big20 HTTP/1.1\r\nHost: x\r\n\r\nGET /big5 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0,-3\r\n\r\n")
    assert sha(c.read_response()[2]) == sha(files["big20"].read_bytes())
    status, headers, body = c.read_response()
    data = files["big5"].read_bytes()
    assert status == 206 and body.count(b"Content-Range") == 2 and data[:1] in body and body.endswith(b"--")
    c.close()


def open_fds_of(path) -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                n += 1
        except OSError:
            pass
    return n


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("reset", [False, True])
def test_client_leaving_mid_download(servers, files, reset):
    _, srv = servers
    c = Conn(srv.port, rcvbuf=64 * 1024)
    c.sock.sendall(b"GET /big20 HTTP/1.1\r\nHost: x\r\n\r\n")
    while len(c.buf) < MiB:
        c._fill()
    if reset:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    deadline = time.monotonic() + 5
    while open_fds_of(files["big20"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert open_fds_of(files["big20"]) == 0, "the file stayed open after the client left"
    assert httpx.get(srv.url + "/ping").json() == {"pong": True}
    with httpx.stream("GET", srv.url + "/big5") as r:
        assert sha(r.read()) == sha(files["big5"].read_bytes())


def test_head_sends_no_body(servers, files):
    _, srv = servers
    c = Conn(srv.port)
    c.sock.sendall(b"HEAD /big5 HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = c.read_response(head_only=True)
    assert status == 200 and headers["content-length"] == str(5 * MiB)
    assert c.read_response()[2] == b'{"pong":true}'  # right after the head: no body bytes in between
    c.close()


def test_http_1_0_client(servers, files):
    _, srv = servers
    c = Conn(srv.port)
    c.sock.sendall(b"GET /small HTTP/1.0\r\n\r\n")
    status, headers, body = c.read_response()
    assert status == 200 and body == files["small"].read_bytes()
    assert c.sock.recv(10) == b""  # closed: HTTP/1.0 without keep-alive
    c.close()


def test_file_shorter_than_its_stat_aborts_the_connection(servers, caplog):
    _, srv = servers
    with caplog.at_level(logging.ERROR, logger="fastrapi.error"):
        c = Conn(srv.port)
        c.sock.sendall(b"GET /shrunk HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises((EOFError, ConnectionResetError)):
            c.read_response()
        c.close()
        assert "is shorter than its Content-Length" in caplog.text
    assert httpx.get(srv.url + "/ping").json() == {"pong": True}


def test_method_head_argument_sends_headers_only(servers, files):
    _, srv = servers
    c = Conn(srv.port)
    c.sock.sendall(b"GET /head-only HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = c.read_response(head_only=True)
    assert status == 200 and headers["content-length"] == str(files["small"].stat().st_size)
    assert c.read_response()[2] == b'{"pong":true}'
    c.close()


# ----------------------------------------------------------------------------------------------------------------
# conditional GET (Starlette's FileResponse doesn't do it; its StaticFiles does, with these rules)
# ----------------------------------------------------------------------------------------------------------------


def test_not_modified(servers):
    _, srv = servers
    h = headers_of(srv, "/small")
    etag, modified = h["etag"], h["last-modified"]
    cases = [
        ({"if-none-match": etag}, 304),
        ({"if-none-match": "W/" + etag}, 304),
        ({"if-none-match": f'"nope", {etag}'}, 304),
        ({"if-none-match": "*"}, 304),
        ({"if-none-match": '"nope"'}, 200),
        ({"if-modified-since": modified}, 304),
        ({"if-modified-since": formatdate(time.time() + 3600, usegmt=True)}, 304),
        ({"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}, 200),
        ({"if-modified-since": "not a date"}, 200),
        ({"if-none-match": '"nope"', "if-modified-since": modified}, 200),  # If-None-Match wins
        ({"if-none-match": etag, "range": "bytes=0-9"}, 304),
    ]
    for headers, status in cases:
        r = httpx.get(srv.url + "/small", headers=headers)
        assert r.status_code == status, headers
        if status == 304:
            assert r.content == b"" and r.headers["etag"] == etag
            assert "content-length" not in r.headers and "content-type" not in r.headers
    r = httpx.head(srv.url + "/small", headers={"if-none-match": etag})
    assert r.status_code == 304
    r = httpx.post(srv.url + "/small", headers={"if-none-match": etag})
    assert r.status_code == 200 and r.content  # the check is for GET/HEAD only


# ----------------------------------------------------------------------------------------------------------------
# background work
# ----------------------------------------------------------------------------------------------------------------


def test_background_runs_after_the_file(files, serve):
    events = {"task": threading.Event(), "tasks": threading.Event()}
    srv = serve(make_app(fastrapi, FileResponse, files, events))
    with httpx.Client(base_url=srv.url) as client:
        with client.stream("GET", "/background") as r:
            body = r.read()
        assert sha(body) == sha(files["big5"].read_bytes())
        assert events["task"].wait(3)
        assert client.get("/tasks").content == files["small"].read_bytes()
        assert events["tasks"].wait(3)
        assert client.get("/ping").json() == {"pong": True}


# ----------------------------------------------------------------------------------------------------------------
# UJSONResponse
# ----------------------------------------------------------------------------------------------------------------


def make_json_app(fw, UJSONResponse):
    app = fw.FastAPI()

    @app.get("/u")
    def u():
        return UJSONResponse({"name": "Zoë ☃", "path": "a/b", "n": [1, 2.5, None, True], "big": 10**15},
                             status_code=201, headers={"x-u": "1"})

    return app


def test_ujson_response_like_fastapi(serve):
    import fastapi.responses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(make_json_app(fastapi, fastapi.responses.UJSONResponse)) as tc:
            expected = tc.get("/u")
    srv = serve(make_json_app(fastrapi, UJSONResponse))
    actual = httpx.get(srv.url + "/u")
    assert actual.status_code == expected.status_code == 201
    assert actual.content == expected.content
    assert "Zoë ☃".encode() in actual.content and b"a\\/b" in actual.content
    for name in ("content-type", "content-length", "x-u"):
        assert actual.headers[name] == expected.headers[name]


def test_responses_import_without_ujson():
    code = (
        "import sys; sys.modules['ujson'] = None\n"
        "from fastrapi.responses import UJSONResponse, FileResponse\n"
        "try:\n"
        "    UJSONResponse({'a': 1})\n"
        "except AssertionError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ujson must be installed to use UJSONResponse"
