"""The built-in middleware classes answer as Starlette's: the same app is run on FastAPI (TestClient) and on
our server (httpx), the same requests are sent, and status, headers and body are compared."""
import gzip
import re
import socket
import time

import httpx
import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import fastrapi  # noqa: E402

#: headers that differ by server, not by middleware
IGNORED = {"date", "server", "transfer-encoding", "connection"}


def classes(fw):
    """The middleware classes of ``fw`` (FastAPI re-exports Starlette's; sessions come from Starlette)."""
    if fw is fastapi:
        from fastapi.middleware.cors import CORSMiddleware
        from fastapi.middleware.gzip import GZipMiddleware
        from fastapi.middleware.httpsredirect import HTTPSRedirectMiddleware
        from fastapi.middleware.trustedhost import TrustedHostMiddleware
        from starlette.middleware.sessions import SessionMiddleware
    else:
        from fastrapi.middleware.cors import CORSMiddleware
        from fastrapi.middleware.gzip import GZipMiddleware
        from fastrapi.middleware.httpsredirect import HTTPSRedirectMiddleware
        from fastrapi.middleware.sessions import SessionMiddleware
        from fastrapi.middleware.trustedhost import TrustedHostMiddleware
    return {
        "cors": CORSMiddleware, "gzip": GZipMiddleware, "trustedhost": TrustedHostMiddleware,
        "httpsredirect": HTTPSRedirectMiddleware, "sessions": SessionMiddleware,
    }


def make_app(fw, name, **options):
    """One app with routes covering the cases, behind the middleware ``name`` of framework ``fw``."""
    from importlib import import_module

    responses = import_module(f"{fw.__name__}.responses")
    app = fw.FastAPI()

    @app.get("/json")
    async def json_route():
        return {"hello": "world"}

    @app.post("/json")
    async def json_post(item: dict):
        return item

    @app.get("/big")
    def big():
        return {"items": [{"id": i, "name": f"item number {i}"} for i in range(200)]}

    @app.get("/vary")
    async def vary():
        return responses.JSONResponse({"v": 1}, headers={"Vary": "Accept-Language"})

    @app.get("/encoded")
    async def encoded():
        return responses.Response(b"x" * 2000, media_type="text/plain", headers={"Content-Encoding": "br"})

    @app.get("/image")
    async def image():
        return responses.Response(b"\x89PNG" + b"\x00" * 5000, media_type="image/png")

    @app.get("/stream")
    async def stream():
        async def pieces():
            for i in range(20):
                yield f"line {i} " * 20 + "\n"

        return responses.StreamingResponse(pieces(), media_type="text/plain")

    @app.get("/sse")
    async def sse():
        async def events():
            for i in range(5):
                yield f"data: {'event ' * 100}{i}\n\n"

        return responses.StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/session/set")
    async def session_set(request: fw.Request, key: str, value: str):
        request.session[key] = value
        return dict(request.session)

    @app.get("/session/get")
    async def session_get(request: fw.Request):
        return dict(request.session)

    @app.get("/session/clear")
    async def session_clear(request: fw.Request):
        request.session.clear()
        return {}

    @app.get("/session/none")
    async def session_none():
        return {"untouched": True}

    app.add_middleware(classes(fw)[name], **options)
    return app


def summary(r):
    headers = sorted((k, v) for k, v in r.headers.multi_items() if k not in IGNORED)
    return r.status_code, headers, r.content


def compare(name, options, cases, *, summarize=summary, serve=None):
    """Run ``cases`` ((method, url, headers) or (method, url, headers, body)) on both; return our summaries."""
    with TestClient(make_app(fastapi, name, **options), follow_redirects=False) as fa:
        expected = [summarize(fa.request(c[0], c[1], headers=c[2], content=c[3] if len(c) > 3 else None))
                    for c in cases]
    srv = serve(make_app(fastrapi, name, **options))
    with httpx.Client(base_url=srv.url, follow_redirects=False) as client:
        actual = [summarize(client.request(c[0], c[1], headers=c[2], content=c[3] if len(c) > 3 else None))
                  for c in cases]
    for case, got, want in zip(cases, actual, expected):
        assert got == want, case
    return actual


# ------------------------------------------------------------------------------------------------ CORS
CORS_CASES = [
    ("GET", "/json", {}),
    ("GET", "/json", {"Origin": "https://a.com"}),
    ("GET", "/json", {"Origin": "https://evil.com"}),
    ("GET", "/json", {"Origin": "https://sub.example.org"}),
    ("GET", "/vary", {"Origin": "https://a.com"}),
    ("GET", "/missing", {"Origin": "https://a.com"}),
    ("POST", "/json", {"Origin": "https://a.com", "Content-Type": "application/json"}, b'{"a": 1}'),
    ("OPTIONS", "/json", {"Origin": "https://a.com", "Access-Control-Request-Method": "POST",
                          "Access-Control-Request-Headers": "X-Custom, content-type"}),
    ("OPTIONS", "/json", {"Origin": "https://evil.com", "Access-Control-Request-Method": "GET"}),
    ("OPTIONS", "/json", {"Origin": "https://a.com", "Access-Control-Request-Method": "DELETE"}),
    ("OPTIONS", "/json", {"Origin": "https://a.com", "Access-Control-Request-Method": "GET",
                          "Access-Control-Request-Headers": "X-Other"}),
    ("OPTIONS", "/json", {"Origin": "https://a.com", "Access-Control-Request-Method": "GET",
                          "Access-Control-Request-Private-Network": "true"}),
    # not preflights (no Access-Control-Request-Method, or not OPTIONS): the app answers
    ("GET", "/json", {"Origin": "https://a.com", "Access-Control-Request-Method": "GET"}),
]

CORS_CONFIGS = [
    pytest.param(dict(allow_origins=["https://a.com"], allow_methods=["GET", "POST"], allow_headers=["X-Custom"],
                      allow_credentials=True, expose_headers=["X-Exposed", "X-Other"], max_age=100), id="explicit"),
    pytest.param(dict(allow_origins=["*"]), id="any-origin"),
    pytest.param(dict(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"], allow_credentials=True),
                 id="any-with-credentials"),
    pytest.param(dict(allow_origin_regex=r"https://.*\.example\.org", allow_methods=["*"], allow_headers=["*"],
                      allow_private_network=True), id="regex"),
    pytest.param(dict(), id="defaults"),
]


@pytest.mark.parametrize("options", CORS_CONFIGS)
def test_cors_same_as_starlette(serve, options):
    actual = compare("cors", options, CORS_CASES, serve=serve)
    assert len(actual) == len(CORS_CASES)


def test_cors_answers(serve):
    """The main behaviours spelled out (compared with Starlette above)."""
    srv = serve(make_app(fastrapi, "cors", allow_origins=["https://a.com"], allow_credentials=True,
                         allow_methods=["GET", "POST"], expose_headers=["X-Exposed"]))
    r = httpx.get(srv.url + "/json", headers={"Origin": "https://a.com"})
    assert r.headers["access-control-allow-origin"] == "https://a.com"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["access-control-expose-headers"] == "X-Exposed"
    assert r.headers["vary"] == "Origin"
    r = httpx.options(srv.url + "/json", headers={"Origin": "https://a.com", "Access-Control-Request-Method": "POST"})
    assert (r.status_code, r.text) == (200, "OK")
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    r = httpx.options(srv.url + "/json", headers={"Origin": "https://b.com", "Access-Control-Request-Method": "PUT"})
    assert (r.status_code, r.text) == (400, "Disallowed CORS origin, method")
    r = httpx.get(srv.url + "/json", headers={"Origin": "https://b.com"})
    assert "access-control-allow-origin" not in r.headers and r.json() == {"hello": "world"}


# ------------------------------------------------------------------------------------------------ GZip
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
GZIP_CASES = [
    ("GET", "/json", GZIP),
    ("GET", "/big", GZIP),
    ("GET", "/big", IDENTITY),
    ("GET", "/big", {"Accept-Encoding": "br, gzip;q=0.5"}),
    ("GET", "/vary", GZIP),
    ("GET", "/encoded", GZIP),
    ("GET", "/image", GZIP),
    ("GET", "/stream", GZIP),
    ("GET", "/stream", IDENTITY),
    ("GET", "/sse", GZIP),
    ("GET", "/missing", GZIP),
]


@pytest.mark.parametrize("options", [
    pytest.param(dict(), id="defaults"),
    pytest.param(dict(minimum_size=10, compresslevel=1), id="small-minimum"),
    pytest.param(dict(minimum_size=100_000), id="large-minimum"),
    pytest.param(dict(exclude_content_types=("application/json",)), id="exclude-json"),
])
def test_gzip_same_as_starlette(serve, options):
    compare("gzip", options, GZIP_CASES, serve=serve)


def test_gzip_answers(serve):
    srv = serve(make_app(fastrapi, "gzip", minimum_size=500))
    with httpx.Client(base_url=srv.url) as client:
        r = client.get("/big", headers=GZIP)
        assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
        assert int(r.headers["content-length"]) < len(r.content) and r.json()["items"][199]["id"] == 199
        r = client.get("/json", headers=GZIP)  # under minimum_size
        assert "content-encoding" not in r.headers and "vary" not in r.headers
        r = client.get("/encoded", headers=GZIP)  # already encoded: untouched
        assert r.headers["content-encoding"] == "br" and r.headers["content-length"] == "2000"
        with client.stream("GET", "/stream", headers=GZIP) as r:
            assert r.headers["content-encoding"] == "gzip" and "content-length" not in r.headers
            assert r.headers["transfer-encoding"] == "chunked"
            raw = b"".join(r.iter_raw())
        assert gzip.decompress(raw).decode().count("line 19") == 20
        r = client.get("/sse", headers=GZIP)  # text/event-stream is never compressed
        assert "content-encoding" not in r.headers and r.text.count("data:") == 5


def test_gzip_file_response(serve, tmp_path):
    """A FileResponse sent whole is compressed (read in the thread pool); a Range answer is not."""
    from fastrapi.middleware.gzip import GZipMiddleware
    from fastrapi.responses import FileResponse

    small = tmp_path / "small.txt"
    small.write_text("hello file " * 300)
    large = tmp_path / "large.txt"
    large.write_text("".join(f"line {i}\n" for i in range(100_000)))
    app = fastrapi.FastAPI()

    @app.get("/file/{name}")
    async def file(name: str):
        return FileResponse(tmp_path / name)

    app.add_middleware(GZipMiddleware)
    srv = serve(app)
    with httpx.Client(base_url=srv.url) as client:
        for path in (small, large):
            r = client.get(f"/file/{path.name}", headers=GZIP)
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            assert r.headers["vary"] == "Accept-Encoding" and "etag" in r.headers
            assert r.content == path.read_bytes()
        r = client.get("/file/small.txt", headers={**GZIP, "Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == b"hello file" and "content-encoding" not in r.headers
        r = client.get("/file/small.txt", headers=IDENTITY)
        assert r.content == small.read_bytes() and r.headers["vary"] == "Accept-Encoding"
        etag = r.headers["etag"]
        r = client.get("/file/small.txt", headers={**GZIP, "If-None-Match": etag})
        assert r.status_code == 304


# ------------------------------------------------------------------------------------------------ TrustedHost
def host_cases(path="/json?x=1"):
    return [("GET", path, {"Host": host}) for host in (
        "example.com", "EXAMPLE.com", "example.com:8000", "api.example.org", "deep.api.example.org",
        "example.org", "site.com", "site.com:8080", "www.site.com", "evil.com", "bad host", "[::1]", "",
    )]


@pytest.mark.parametrize("options", [
    pytest.param(dict(allowed_hosts=["example.com", "*.example.org", "www.site.com"]), id="redirect"),
    pytest.param(dict(allowed_hosts=["example.com", "*.example.org", "www.site.com"], www_redirect=False),
                 id="no-redirect"),
    pytest.param(dict(allowed_hosts=["*"]), id="any"),
    pytest.param(dict(), id="defaults"),
])
def test_trusted_host_same_as_starlette(serve, options):
    compare("trustedhost", options, host_cases(), serve=serve)


def test_trusted_host_answers(serve):
    srv = serve(make_app(fastrapi, "trustedhost", allowed_hosts=["example.com", "*.example.org", "www.site.com"]))
    with httpx.Client(base_url=srv.url, follow_redirects=False) as client:
        assert client.get("/json", headers={"Host": "a.example.org"}).json() == {"hello": "world"}
        r = client.get("/json", headers={"Host": "evil.com"})
        assert (r.status_code, r.text) == (400, "Invalid host header")
        r = client.get("/json?x=1", headers={"Host": "site.com"})
        assert (r.status_code, r.headers["location"]) == (307, "http://www.site.com/json?x=1")


def test_trusted_host_refuses_websockets(serve):
    """Starlette checks WebSocket handshakes too: a bad Host gets 400 before the handler runs."""
    from fastrapi.middleware.trustedhost import TrustedHostMiddleware

    from wsclient import ws_connect

    app = fastrapi.FastAPI()
    seen = []

    @app.websocket("/ws")
    async def ws(websocket: fastrapi.WebSocket):
        seen.append(websocket.headers["host"])
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1"])
    srv = serve(app)
    with ws_connect(srv) as conn:
        assert conn.recv(timeout=3) == "hi"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: evil.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"\r\n\r\nInvalid host header")
    assert seen == [f"127.0.0.1:{srv.port}"]


def test_trusted_host_wildcard_must_be_a_domain():
    from fastrapi.middleware.trustedhost import TrustedHostMiddleware

    with pytest.raises(AssertionError, match="Domain wildcard"):
        TrustedHostMiddleware(None, allowed_hosts=["ex*.com"])
    with pytest.raises(AssertionError, match="Domain wildcard"):
        TrustedHostMiddleware(None, allowed_hosts=["*example.com"])


# ------------------------------------------------------------------------------------------------ HTTPS redirect
def test_https_redirect_same_as_starlette(serve):
    cases = [("GET", path, {"Host": host}) for host in ("example.com", "example.com:80", "example.com:443",
                                                         "Example.com:8080", "127.0.0.1:9000")
             for path in ("/json", "/json?x=1&y=%20z", "/a%20b/c")]
    cases.append(("POST", "/json", {"Host": "example.com", "Content-Type": "application/json"}, b"{}"))
    actual = compare("httpsredirect", {}, cases, serve=serve)
    assert actual[0][0] == 307 and ("location", "https://example.com/json") in actual[0][1]


def test_https_redirect_target(serve):
    srv = serve(make_app(fastrapi, "httpsredirect"))
    r = httpx.get(srv.url + "/json?q=1", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == f"https://127.0.0.1:{srv.port}/json?q=1"
    r = httpx.get(srv.url + "/json", headers={"Host": "api.example.com:80"}, follow_redirects=False)
    assert r.headers["location"] == "https://api.example.com/json"


# ------------------------------------------------------------------------------------------------ Sessions
_COOKIE_DATA = re.compile(r"^(session=)[^;]+(;.*)$")


def session_summary(r):
    """Status, body and headers with the signed data of the cookie masked (it holds a timestamp)."""
    status, headers, body = summary(r)
    masked = [(k, _COOKIE_DATA.sub(r"\1<data>\2", v) if k == "set-cookie" and "=null" not in v else v)
              for k, v in headers]
    return status, masked, body


def cookie_of(r):
    value = r.headers.get("set-cookie", "")
    return value.split(";", 1)[0]


SESSION_OPTIONS = [
    pytest.param(dict(secret_key="s3cret"), id="defaults"),
    pytest.param(dict(secret_key="s3cret", session_cookie="session", max_age=None, path="/session",
                      same_site="strict", https_only=True, domain="example.com"), id="options"),
]


@pytest.mark.parametrize("options", SESSION_OPTIONS)
def test_sessions_same_as_starlette(serve, options):
    """set, read, set more, clear, read again: same bodies and Set-Cookie attributes as Starlette's."""
    def run(client):
        out = []
        r = client.get("/session/none")
        out.append(session_summary(r))
        r = client.get("/session/set?key=user&value=amy")
        out.append(session_summary(r))
        cookie = cookie_of(r)
        r = client.get("/session/get", headers={"Cookie": cookie})
        out.append(session_summary(r))
        r = client.get("/session/set?key=lang&value=fr", headers={"Cookie": cookie})
        out.append(session_summary(r))
        cookie = cookie_of(r)
        r = client.get("/session/get", headers={"Cookie": cookie})
        out.append(session_summary(r))
        r = client.get("/session/clear", headers={"Cookie": cookie})
        out.append(session_summary(r))
        r = client.get("/session/get", headers={"Cookie": cookie + "x"})  # tampered: empty session
        out.append(session_summary(r))
        r = client.get("/session/clear")  # clearing an empty session sends nothing
        out.append(session_summary(r))
        return out

    with TestClient(make_app(fastapi, "sessions", **options)) as fa:
        fa.cookies.clear()
        expected = run(fa)
    srv = serve(make_app(fastrapi, "sessions", **options))
    with httpx.Client(base_url=srv.url) as client:
        actual = run(client)
    assert actual == expected
    assert actual[2][2] == b'{"user":"amy"}' and actual[4][2] == b'{"user":"amy","lang":"fr"}'
    assert "=null; path=" in dict(actual[5][1])["set-cookie"]
    assert actual[6][2] == b"{}"


def test_session_cookie_readable_by_starlette_and_back(serve):
    """Same secret: a cookie set by our app is read by FastAPI's, and the other way round."""
    srv = serve(make_app(fastrapi, "sessions", secret_key="shared"))
    ours = httpx.get(srv.url + "/session/set?key=user&value=amy")
    with TestClient(make_app(fastapi, "sessions", secret_key="shared")) as fa:
        assert fa.get("/session/get", headers={"Cookie": cookie_of(ours)}).json() == {"user": "amy"}
        theirs = fa.get("/session/set?key=user&value=bob")
    assert httpx.get(srv.url + "/session/get", headers={"Cookie": cookie_of(theirs)}).json() == {"user": "bob"}
    # another secret: the signature does not match, the session is empty
    other = serve(make_app(fastrapi, "sessions", secret_key="other"))
    assert httpx.get(other.url + "/session/get", headers={"Cookie": cookie_of(ours)}).json() == {}


def test_session_expires(serve):
    srv = serve(make_app(fastrapi, "sessions", secret_key="k", max_age=1))
    r = httpx.get(srv.url + "/session/set?key=a&value=1")
    assert "Max-Age=1;" in r.headers["set-cookie"] and "httponly; samesite=lax" in r.headers["set-cookie"]
    cookie = cookie_of(r)
    assert httpx.get(srv.url + "/session/get", headers={"Cookie": cookie}).json() == {"a": "1"}
    time.sleep(2.1)
    r = httpx.get(srv.url + "/session/get", headers={"Cookie": cookie})
    assert r.json() == {} and "set-cookie" not in r.headers and r.headers["vary"] == "Cookie"


def test_session_https_only_and_same_site(serve):
    srv = serve(make_app(fastrapi, "sessions", secret_key="k", https_only=True, same_site="none"))
    header = httpx.get(srv.url + "/session/set?key=a&value=1").headers["set-cookie"]
    assert header.endswith("; httponly; samesite=none; secure")


def test_request_session_needs_the_middleware(serve):
    app = fastrapi.FastAPI()

    @app.get("/")
    async def index(request: fastrapi.Request):
        return dict(request.session)

    srv = serve(app)
    r = httpx.get(srv.url + "/")
    assert (r.status_code, r.text) == (500, "Internal Server Error")


def test_starlette_classes_run_natively(serve):
    """Starlette's own classes (as imported from fastapi.middleware) are run by our native equivalents."""
    from fastapi.middleware.cors import CORSMiddleware
    from starlette.middleware.sessions import SessionMiddleware

    app = fastrapi.FastAPI()

    @app.get("/")
    async def index(request: fastrapi.Request):
        request.session["n"] = 1
        return {"ok": True}

    app.add_middleware(SessionMiddleware, secret_key="k")
    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    srv = serve(app)
    r = httpx.get(srv.url + "/", headers={"Origin": "https://x.org"})
    assert r.headers["access-control-allow-origin"] == "*" and "session=" in r.headers["set-cookie"]
    from fastrapi.middleware.asgi import AsgiEndpoint

    assert not app._built_middleware().has_asgi
    assert not isinstance(app._built_middleware().native, AsgiEndpoint)
