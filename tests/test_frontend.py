"""``app.frontend(path, directory=..., fallback=..., check_dir=...)`` and ``router.frontend(...)``: a static
frontend build served as lowest-priority routes (FastAPI's "Frontend" page).

The same app runs on FastAPI (its TestClient) and on FastrAPI (a real server, and our TestClient); status,
headers and body are compared for API routes declared before and after the frontend, files, directory
indexes, the SPA fallback to index.html for browser navigations, 404.html, other methods, prefixes,
router dependencies and conditional GET. Raw sockets check that no path leaves the directory.
"""
import os
import socket
import warnings
from typing import Any

import httpx
import pytest

import fastrapi
from fastrapi.testclient import TestClient as OurClient

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient as FastAPIClient  # noqa: E402

IGNORED_HEADERS = {"date", "server"}
HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """dist: an SPA build (index.html, assets/, a docs/ subdirectory with its own index, an empty dir);
    site: a static site with 404.html; a secret file next to them that must never be served."""
    root = tmp_path_factory.mktemp("frontend")
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "guide").mkdir()
    (dist / "empty").mkdir()
    (dist / "index.html").write_text("<!doctype html><title>SPA</title>")
    (dist / "assets" / "app.js").write_text("console.log('app')")
    (dist / "assets" / "style.css").write_text("body{}")
    (dist / "guide" / "index.html").write_text("guide index")
    site = root / "site"
    site.mkdir()
    (site / "index.html").write_text("site home")
    (site / "404.html").write_text("site: not found")
    (site / "about.html").write_text("about")
    (root / "secret.txt").write_text("top secret")
    os.symlink(root / "secret.txt", dist / "assets" / "link.txt")
    return {"dist": str(dist), "site": str(site), "root": str(root)}


def make_app(fw: Any, dirs: dict[str, str]) -> Any:
    app = fw.FastAPI(title="FastAPI")

    @app.get("/api/items")
    def items():
        return [{"name": "Plumbus"}]

    app.frontend("/", directory=dirs["dist"])

    def require_token(x_token: str = fw.Header()):
        if x_token != "secret":
            raise fw.HTTPException(status_code=401, detail="bad token")

    async def stamp(response: fw.Response):
        response.headers["X-Frontend"] = "site"

    router = fw.APIRouter(prefix="/site", dependencies=[fw.Depends(stamp)])
    router.frontend("/", directory=dirs["site"])
    app.include_router(router)

    admin = fw.APIRouter(dependencies=[fw.Depends(require_token)])
    admin.frontend("/admin", directory=dirs["site"], fallback=None)
    app.include_router(admin, prefix="/private")

    app.frontend("/strict", directory=dirs["dist"], fallback="index.html")
    app.frontend("/none", directory=dirs["dist"], fallback=None)

    @app.get("/declared-after")
    def declared_after():
        return {"api": "wins"}

    @app.post("/assets/upload")
    def upload():
        return {"uploaded": True}

    return app


REQUESTS = [
    ("GET", "/", {}),
    ("GET", "/", HTML),
    ("GET", "/index.html", {}),
    ("GET", "/api/items", HTML),
    ("GET", "/declared-after", HTML),
    ("GET", "/assets/app.js", {}),
    ("GET", "/assets/style.css", {"accept": "text/css,*/*;q=0.1"}),
    ("GET", "/dashboard/settings", HTML),
    ("GET", "/dashboard/settings", {}),
    ("GET", "/dashboard", {"accept": "text/html;q=0"}),
    ("GET", "/dashboard", {"accept": "application/xhtml+xml"}),
    ("GET", "/assets/missing.js", {"accept": "*/*"}),
    ("GET", "/guide", HTML),
    ("GET", "/guide?tab=2", HTML),
    ("GET", "/guide/", HTML),
    ("GET", "/empty/", HTML),
    ("POST", "/assets/app.js", {}),
    ("POST", "/nothing/here", {}),
    ("DELETE", "/", {}),
    ("GET", "/assets/upload", HTML),
    ("GET", "/api/items/", {}),
    ("GET", "/site", {}),
    ("GET", "/site/", {}),
    ("GET", "/site/about.html", {}),
    ("GET", "/site/nope", HTML),
    ("GET", "/site/nope", {}),
    ("GET", "/sitemap.xml", HTML),
    ("GET", "/private/admin/about.html", {}),
    ("GET", "/private/admin/about.html", {"x-token": "wrong"}),
    ("GET", "/private/admin/about.html", {"x-token": "secret"}),
    ("GET", "/private/admin/nope", {"x-token": "secret", **HTML}),
    ("GET", "/strict/assets/app.js", {}),
    ("GET", "/strict/deep/link", HTML),
    ("GET", "/strict/deep/link", {}),
    ("GET", "/none/deep/link", HTML),
    ("GET", "/none/assets/app.js", {}),
    ("GET", "/assets/link.txt", {}),
    ("GET", "/assets/link.txt", HTML),
]


def observed(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in IGNORED_HEADERS}
    if "location" in headers:  # the host differs: testserver / 127.0.0.1:port
        headers["location"] = headers["location"].split("/", 3)[-1]
    return response.status_code, headers, response.content


@pytest.fixture(scope="module")
def expected(dirs):
    with FastAPIClient(make_app(fastapi, dirs)) as client:
        return {(m, p, repr(h)): observed(client.request(m, p, headers=h, follow_redirects=False)) for m, p, h in REQUESTS}


@pytest.mark.parametrize("method,path,headers", REQUESTS)
def test_real_server_matches_fastapi(serve, dirs, expected, method, path, headers):
    srv = serve(make_app(fastrapi, dirs))
    response = httpx.request(method, srv.url + path, headers=headers, timeout=5, follow_redirects=False)
    assert observed(response) == expected[(method, path, repr(headers))]


@pytest.mark.parametrize("method,path,headers", REQUESTS)
def test_testclient_matches_fastapi(dirs, expected, method, path, headers):
    with OurClient(make_app(fastrapi, dirs)) as client:
        response = client.request(method, path, headers=headers, follow_redirects=False)
    assert observed(response) == expected[(method, path, repr(headers))]


def test_what_a_browser_sees(serve, dirs):
    srv = serve(make_app(fastrapi, dirs))
    with httpx.Client(base_url=srv.url, headers=HTML, timeout=5) as client:
        assert client.get("/").text == "<!doctype html><title>SPA</title>"
        assert client.get("/users/42/profile").text == "<!doctype html><title>SPA</title>"  # client-side route
        assert client.get("/api/items").json() == [{"name": "Plumbus"}]  # the API is untouched
        assert client.get("/assets/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
        assert client.get("/guide", follow_redirects=True).text == "guide index"
    # a script's request for a missing file is a 404, not the page
    assert httpx.get(srv.url + "/assets/gone.js", headers={"accept": "*/*"}, timeout=5).status_code == 404


def test_openapi_ignores_frontends(dirs):
    assert make_app(fastrapi, dirs).openapi() == make_app(fastapi, dirs).openapi()
    assert set(make_app(fastrapi, dirs).openapi()["paths"]) == {"/api/items", "/declared-after", "/assets/upload"}


def test_conditional_and_range_requests(serve, dirs):
    srv = serve(make_app(fastrapi, dirs))
    first = httpx.get(srv.url + "/assets/app.js", timeout=5)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert httpx.get(srv.url + "/assets/app.js", headers={"if-none-match": etag}, timeout=5).status_code == 304
    assert httpx.get(srv.url + "/assets/app.js", headers={"if-modified-since": modified}, timeout=5).status_code == 304
    spa = httpx.get(srv.url + "/some/route", headers=HTML, timeout=5)
    assert httpx.get(srv.url + "/some/route", headers={**HTML, "if-none-match": spa.headers["etag"]},
                     timeout=5).status_code == 304
    part = httpx.get(srv.url + "/assets/app.js", headers={"range": "bytes=0-6"}, timeout=5)
    assert part.status_code == 206 and part.content == b"console"


@pytest.mark.parametrize("target", [
    b"/../secret.txt", b"/assets/../../secret.txt", b"/%2e%2e/secret.txt", b"/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
    b"/..%5csecret.txt", b"//etc/passwd", b"/assets/link.txt",
])
def test_no_path_leaves_the_directory(serve, dirs, target):
    """Raw request targets (no client normalisation): never the secret next to the build."""
    srv = serve(make_app(fastrapi, dirs))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 ")
    assert b"top secret" not in data


def test_declaration_errors_match_fastapi(dirs, tmp_path):
    cases = [
        ("", {"directory": dirs["dist"]}),
        ("app", {"directory": dirs["dist"]}),
        ("/", {"directory": str(tmp_path / "missing")}),
        ("/", {"directory": dirs["dist"], "fallback": "spa"}),
        ("/", {"directory": dirs["dist"], "fallback": "404.html"}),
        ("/", {"directory": dirs["site"] + "/about.html"}),
    ]
    for path, kwargs in cases:
        with pytest.raises(Exception) as theirs:
            fastapi.FastAPI().frontend(path, **kwargs)
        with pytest.raises(Exception) as ours:
            fastrapi.FastAPI().frontend(path, **kwargs)
        assert (type(ours.value).__name__, str(ours.value)) == (type(theirs.value).__name__, str(theirs.value))
        with pytest.raises(type(theirs.value)):
            fastrapi.APIRouter().frontend(path, **kwargs)
    # not checked: nothing raised when declared
    fastrapi.FastAPI().frontend("/", directory=str(tmp_path / "missing"), check_dir=False)


def test_development_only_warns_about_a_missing_build(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTAPI_ENV", "development")
    missing = str(tmp_path / "not-built")
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        fastapi.FastAPI().frontend("/", directory=missing)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        app = fastrapi.FastAPI()
        app.frontend("/", directory=missing)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert ours[0].filename == __file__  # points at the user's call
    with OurClient(app, raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 500  # the build is still missing when a request comes


def test_router_frontend_included_twice_with_prefixes(serve, dirs):
    app = fastrapi.FastAPI()
    router = fastrapi.APIRouter(prefix="/ui")
    router.frontend("/", directory=dirs["site"])
    app.include_router(router, prefix="/v1")
    app.include_router(router, prefix="/v2")
    srv = serve(app)
    assert httpx.get(srv.url + "/v1/ui/about.html", timeout=5).text == "about"
    assert httpx.get(srv.url + "/v2/ui/about.html", timeout=5).text == "about"
    assert httpx.get(srv.url + "/ui/about.html", timeout=5).status_code == 404


def test_most_specific_frontend_wins(serve, dirs):
    app = fastrapi.FastAPI()
    app.frontend("/", directory=dirs["dist"])
    app.frontend("/docs-site", directory=dirs["site"])
    srv = serve(app)
    assert httpx.get(srv.url + "/docs-site/about.html", timeout=5).text == "about"
    assert httpx.get(srv.url + "/docs-site/x", timeout=5).text == "site: not found"
    assert httpx.get(srv.url + "/docs-sitex", headers=HTML, timeout=5).text == "<!doctype html><title>SPA</title>"


def test_middleware_and_mounts_see_the_frontend(serve, dirs):
    app = fastrapi.FastAPI()

    @app.middleware("http")
    async def tag(request, call_next):
        response = await call_next(request)
        response.headers["x-mw"] = "yes"
        return response

    app.mount("/static", fastrapi.staticfiles.StaticFiles(directory=dirs["site"]))
    app.frontend("/", directory=dirs["dist"])
    srv = serve(app)
    spa = httpx.get(srv.url + "/route", headers=HTML, timeout=5)
    assert spa.text.startswith("<!doctype html>") and spa.headers["x-mw"] == "yes"
    assert httpx.get(srv.url + "/static/about.html", timeout=5).text == "about"  # the mount wins


def test_a_matched_frontend_is_a_route_for_the_server(dirs):
    """What the router hands the server for a frontend path satisfies the server's route contract."""
    from fastrapi.server.contracts import RouteContract

    app = make_app(fastrapi, dirs)
    route, params, allowed = app.router.match("GET", "/some/page")
    assert isinstance(route, RouteContract) and route.call_inline is None and route.call_fast is None
    assert params == {} and allowed is None
    assert app.router.match("GET", "/api/items")[0] is not route  # the API route, not the frontend
