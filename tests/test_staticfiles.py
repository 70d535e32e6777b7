"""StaticFiles mounted with ``app.mount``: files, html mode, HEAD, ranges, conditional GET, no path traversal.

The same directory is served by FastAPI (Starlette's StaticFiles, through its TestClient) and by our server,
and status, body and headers are compared field by field. Traversal attempts go over raw sockets, since
httpx normalises ``..`` out of URLs.
"""

import hashlib
import os
import socket
import sys

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import fastrapi  # noqa: E402
from fastrapi.staticfiles import StaticFiles  # noqa: E402

SECRET = b"TOP-SECRET-CONTENT"
#: headers whose values must be the same as FastAPI's (date/server differ by nature)
COMPARED = ("content-type", "content-length", "etag", "last-modified", "accept-ranges", "location", "allow",
            "content-range", "content-disposition")


@pytest.fixture
def tree(tmp_path):
    """A served directory ``static`` (files, nested dirs, symlinks in and out) next to a secret file."""
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "sub" / "deep").mkdir(parents=True)
    (static / "empty_dir").mkdir()
    (static / "a.txt").write_bytes(b"hello static\n")
    (static / "css" / "site.css").write_bytes(b"body { color: red }\n")
    (static / "sub" / "index.html").write_bytes(b"<h1>sub index</h1>\n")
    (static / "sub" / "deep" / "data.json").write_bytes(b'{"deep": true}\n')
    (static / "index.html").write_bytes(b"<h1>root index</h1>\n")
    (static / "404.html").write_bytes(b"<h1>custom not found</h1>\n")
    (static / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (static / "space name.txt").write_bytes(b"spaced\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.txt").write_bytes(SECRET)
    (tmp_path / "staticsibling").mkdir()
    (tmp_path / "staticsibling" / "s.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.txt", static / "link_out.txt")
    os.symlink(tmp_path / "outside", static / "dir_out")
    os.symlink(static / "a.txt", static / "link_in.txt")
    return tmp_path


def make_app(fw, staticfiles, directory, **options):
    app = fw.FastAPI()

    @app.get("/api/hello")
    def hello():
        return {"hello": "world"}

    @app.get("/links")
    def links(request: fw.Request):
        return {
            "url_for": str(request.url_for("static", path="/css/site.css")),
            "url_path_for": str(app.url_path_for("static", path="css/site.css")),
        }

    app.mount("/static", staticfiles.StaticFiles(directory=str(directory), **options), name="static")
    return app


def summary(r):
    headers = {k: r.headers.get(k) for k in COMPARED if r.headers.get(k) is not None}
    return r.status_code, r.content, headers


def compare(serve, directory, requests, **options):
    """Send ``requests`` [(method, path, headers)] to FastAPI and to us; assert the same answers."""
    import fastapi.staticfiles

    with TestClient(make_app(fastapi, fastapi.staticfiles, directory, **options)) as client:
        expected = [summary(client.request(m, p, headers=h, follow_redirects=False)) for m, p, h in requests]
    srv = serve(make_app(fastrapi, sys.modules["fastrapi.staticfiles"], directory, **options))
    with httpx.Client(base_url=srv.url, headers={"host": "testserver"}) as client:
        actual = [summary(client.request(m, p, headers=h, follow_redirects=False)) for m, p, h in requests]
    for req, exp, act in zip(requests, expected, actual):
        assert act == exp, req
    return actual


def raw_get(srv, target: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    """Send one request with ``target`` as it is (no normalisation); (status, whole response bytes)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: testserver\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), data


# ---------------------------------------------------------------------------------------------- files
def test_files_and_errors_same_as_fastapi(serve, tree):
    compare(serve, tree / "static", [
        ("GET", "/static/a.txt", {}),
        ("GET", "/static/css/site.css", {}),
        ("GET", "/static/sub/deep/data.json", {}),
        ("GET", "/static/space%20name.txt", {}),
        ("GET", "/static/nope.txt", {}),
        ("GET", "/static/sub", {}),          # a directory without html mode: 404
        ("GET", "/static/sub/", {}),
        ("GET", "/static/", {}),
        ("GET", "/static", {}),              # the mount itself: redirected to /static/
        ("GET", "/static/link_in.txt", {}),  # a symlink inside the directory
        ("POST", "/static/a.txt", {}),       # 405 with Allow
        ("DELETE", "/static/nope", {}),
        ("GET", "/api/hello", {}),
        ("GET", "/links", {}),
    ])


def test_head_same_as_fastapi(serve, tree):
    actual = compare(serve, tree / "static", [
        ("HEAD", "/static/a.txt", {}),
        ("HEAD", "/static/big.bin", {}),
        ("HEAD", "/static/nope", {}),
    ])
    assert actual[0][1] == b"" and actual[0][2]["content-length"] == "13"


def test_ranges_same_as_fastapi(serve, tree):
    size = (tree / "static" / "big.bin").stat().st_size
    compare(serve, tree / "static", [
        ("GET", "/static/a.txt", {"range": "bytes=0-4"}),
        ("GET", "/static/a.txt", {"range": "bytes=-3"}),
        ("GET", "/static/a.txt", {"range": "bytes=6-"}),
        ("GET", "/static/big.bin", {"range": f"bytes={size - 10}-"}),
        ("GET", "/static/a.txt", {"range": "bytes=100-200"}),   # 416
        ("GET", "/static/a.txt", {"range": "items=0-1"}),        # 400
        ("HEAD", "/static/a.txt", {"range": "bytes=0-4"}),
    ])


def test_multipart_ranges(serve, tree):
    srv = serve(make_app(fastrapi, sys.modules["fastrapi.staticfiles"], tree / "static"))
    r = httpx.get(srv.url + "/static/a.txt", headers={"range": "bytes=0-1,6-8"})
    assert r.status_code == 206
    assert r.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert b"he" in r.content and b"sta" in r.content
    assert int(r.headers["content-length"]) == len(r.content)


def test_big_file_whole(serve, tree):
    srv = serve(make_app(fastrapi, sys.modules["fastrapi.staticfiles"], tree / "static"))
    r = httpx.get(srv.url + "/static/big.bin")
    data = (tree / "static" / "big.bin").read_bytes()
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert int(r.headers["content-length"]) == len(data)
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()


def test_conditional_get_same_as_fastapi(serve, tree):
    srv = serve(make_app(fastrapi, sys.modules["fastrapi.staticfiles"], tree / "static"))
    first = httpx.get(srv.url + "/static/a.txt")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    actual = compare(serve, tree / "static", [
        ("GET", "/static/a.txt", {"if-none-match": etag}),
        ("GET", "/static/a.txt", {"if-none-match": f"W/{etag}"}),
        ("GET", "/static/a.txt", {"if-none-match": f'"other", {etag}'}),
        ("GET", "/static/a.txt", {"if-none-match": "*"}),
        ("GET", "/static/a.txt", {"if-none-match": '"nope"'}),
        ("GET", "/static/a.txt", {"if-modified-since": modified}),
        ("GET", "/static/a.txt", {"if-modified-since": "Mon, 01 Jan 1990 00:00:00 GMT"}),
        # If-None-Match wins over If-Modified-Since
        ("GET", "/static/a.txt", {"if-none-match": '"nope"', "if-modified-since": modified}),
        ("HEAD", "/static/a.txt", {"if-none-match": etag}),
        ("GET", "/static/sub/", {"if-none-match": "*"}),
    ], html=True)
    status, body, headers = actual[0]
    assert status == 304 and body == b"" and headers == {"etag": etag}
    assert actual[4][0] == 200 and actual[7][0] == 200


def test_html_mode_same_as_fastapi(serve, tree):
    actual = compare(serve, tree / "static", [
        ("GET", "/static/", {}),
        ("GET", "/static/sub/", {}),
        ("GET", "/static/sub", {}),              # redirect to the slash
        ("GET", "/static/sub?x=1", {}),
        ("GET", "/static/nope.html", {}),        # 404.html with status 404
        ("GET", "/static/empty_dir/", {}),       # a directory without index.html: 404.html
        ("GET", "/static/a.txt", {}),
        ("HEAD", "/static/sub/", {}),
    ], html=True)
    assert actual[1][1] == b"<h1>sub index</h1>\n"
    assert actual[2][0] == 307 and actual[2][2]["location"] == "http://testserver/static/sub/"
    assert actual[4][0] == 404 and actual[4][1] == b"<h1>custom not found</h1>\n"


def test_html_mode_without_404_page(serve, tree):
    os.remove(tree / "static" / "404.html")
    actual = compare(serve, tree / "static", [("GET", "/static/nope", {}), ("GET", "/static/", {})], html=True)
    assert actual[0][0] == 404


def test_url_for(serve, tree):
    srv = serve(make_app(fastrapi, sys.modules["fastrapi.staticfiles"], tree / "static"))
    r = httpx.get(srv.url + "/links")
    assert r.json() == {"url_for": f"{srv.url}/static/css/site.css", "url_path_for": "/static/css/site.css"}


def test_user_404_handler_applies(serve, tree):
    app = fastrapi.FastAPI()

    @app.exception_handler(404)
    async def not_found(request, exc):
        return fastrapi.responses.PlainTextResponse(f"missing {request.url.path}", status_code=404)

    app.mount("/s", StaticFiles(directory=tree / "static"))
    srv = serve(app)
    r = httpx.get(srv.url + "/s/nope")
    assert (r.status_code, r.text) == (404, "missing /s/nope")


# ---------------------------------------------------------------------------------------------- traversal
TRAVERSALS = [
    b"/static/../secret.txt",
    b"/static/sub/../../secret.txt",
    b"/static/../../../../../../etc/passwd",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/secret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/..%2Fsecret.txt",
    b"/static/%2e%2e%2fsecret.txt",
    b"/static/%252e%252e%252fsecret.txt",      # double-encoded: a literal file name, never decoded twice
    b"/static/%252e%252e/secret.txt",
    b"/static/..%5csecret.txt",                 # backslash
    b"/static/..\\secret.txt",
    b"/static/%2e%2e%5c..%5csecret.txt",
    b"/static//etc/passwd",
    b"/static/%2fetc%2fpasswd",
    b"/static/" + str("/").encode() + b"../secret.txt",
    b"/static/a.txt%00.png",                    # NUL byte
    b"/static/%00",
    b"/static/../staticsibling/s.txt",          # a sibling whose name starts like the directory's
    b"/static/dir_out/o.txt",                   # symlinked directory pointing outside
    b"/static/link_out.txt",                    # symlink pointing outside
    b"/static/sub/..%2f..%2fsecret.txt",
    b"http://testserver/static/../secret.txt",  # absolute-form target
]


@pytest.mark.parametrize("html", [False, True])
def test_no_path_traversal(serve, tree, html):
    srv = serve(make_app(fastrapi, sys.modules["fastrapi.staticfiles"], tree / "static", html=html))
    for target in TRAVERSALS:
        status, data = raw_get(srv, target)
        assert SECRET not in data, target
        assert b"root:" not in data, target
        assert status == 404, (target, data[:200])


def test_traversal_under_root_mount(serve, tree):
    app = fastrapi.FastAPI()
    app.mount("/", StaticFiles(directory=tree / "static", html=True))
    srv = serve(app)
    for target in (b"/../secret.txt", b"/%2e%2e/secret.txt", b"/..%2fsecret.txt", b"/link_out.txt", b"/dir_out/o.txt"):
        status, data = raw_get(srv, target)
        assert status == 404 and SECRET not in data, target
    assert raw_get(srv, b"/a.txt")[1].endswith(b"hello static\n")
    assert raw_get(srv, b"/")[1].endswith(b"<h1>root index</h1>\n")


def test_follow_symlink(serve, tree):
    srv = serve(make_app(fastrapi, sys.modules["fastrapi.staticfiles"], tree / "static", follow_symlink=True))
    assert httpx.get(srv.url + "/static/link_out.txt").content == SECRET
    assert httpx.get(srv.url + "/static/dir_out/o.txt").content == SECRET
    assert httpx.get(srv.url + "/static/link_in.txt").content == b"hello static\n"
    for target in TRAVERSALS[:12]:  # following symlinks still never allows ``..`` out
        status, data = raw_get(srv, target)
        assert status == 404 and SECRET not in data, target


def test_symlinks_same_as_fastapi(serve, tree):
    requests = [("GET", "/static/link_out.txt", {}), ("GET", "/static/dir_out/o.txt", {}),
                ("GET", "/static/link_in.txt", {})]
    assert [r[0] for r in compare(serve, tree / "static", requests)] == [404, 404, 200]
    assert [r[0] for r in compare(serve, tree / "static", requests, follow_symlink=True)] == [200, 200, 200]


# ---------------------------------------------------------------------------------------------- configuration
def test_check_dir(tmp_path):
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "missing")
    StaticFiles(directory=tmp_path / "missing", check_dir=False)


def test_missing_directory_answers_500(serve, tmp_path):
    app = fastrapi.FastAPI()
    app.mount("/s", StaticFiles(directory=tmp_path / "missing", check_dir=False))
    srv = serve(app)
    r = httpx.get(srv.url + "/s/a.txt")
    assert r.status_code == 500
    (tmp_path / "file").write_bytes(b"x")
    app2 = fastrapi.FastAPI()
    app2.mount("/s", StaticFiles(directory=tmp_path / "file", check_dir=False))
    assert httpx.get(serve(app2).url + "/s/a.txt").status_code == 500


def test_packages(serve, tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg_static_test"
    (pkg / "statics").mkdir(parents=True)
    (pkg / "assets").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "statics" / "p.txt").write_bytes(b"from package\n")
    (pkg / "assets" / "q.txt").write_bytes(b"from assets\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "p.txt").write_bytes(b"own first\n")
    app = fastrapi.FastAPI()
    app.mount("/s", StaticFiles(directory=tmp_path / "own",
                                packages=["mypkg_static_test", ("mypkg_static_test", "assets")]))
    srv = serve(app)
    assert httpx.get(srv.url + "/s/p.txt").content == b"own first\n"   # the directory comes first
    assert httpx.get(srv.url + "/s/q.txt").content == b"from assets\n"
    assert httpx.get(srv.url + "/s/nope.txt").status_code == 404
    with pytest.raises(AssertionError):
        StaticFiles(packages=["mypkg_static_test_missing"])


def test_websocket_to_static_mount_refused(serve, tree):
    app = fastrapi.FastAPI()
    app.mount("/s", StaticFiles(directory=tree / "static"))
    srv = serve(app)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(b"GET /s/a.txt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 404")


# ---------------------------------------------------------------------------------------------- as an ASGI app
def test_asgi_interface_under_starlette(tree):
    """Our StaticFiles is also a plain ASGI app: mounted in a Starlette app it answers as Starlette's does."""
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles as StarletteStatic
    from starlette.testclient import TestClient as StarletteClient

    def run(static):
        with StarletteClient(Starlette(routes=[Mount("/s", app=static)])) as client:
            out = []
            for method, path, headers in [("GET", "/s/a.txt", {}), ("HEAD", "/s/a.txt", {}), ("GET", "/s/nope", {}),
                                          ("POST", "/s/a.txt", {}), ("GET", "/s/a.txt", {"range": "bytes=1-3"}),
                                          ("GET", "/s/sub", {}), ("GET", "/s/sub/", {}), ("GET", "/s/big.bin", {})]:
                r = client.request(method, path, headers=headers, follow_redirects=False)
                first = client.get("/s/a.txt")
                out.append(summary(r))
            r = client.get("/s/a.txt", headers={"if-none-match": first.headers["etag"]})
            out.append(summary(r))
        return out

    ours = run(StaticFiles(directory=tree / "static", html=True))
    theirs = run(StarletteStatic(directory=tree / "static", html=True))
    for a, b in zip(ours, theirs):
        assert a[0] == b[0] and a[1] == b[1]
        assert {k: v for k, v in a[2].items() if k != "content-type" or a[0] < 400} == \
               {k: v for k, v in b[2].items() if k != "content-type" or b[0] < 400}
