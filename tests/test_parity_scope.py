"""The ASGI scope a handler reads as ``request.scope``, the request's scheme in ``url`` / ``url_for`` /
``redirect_slashes``, and ``root_path`` from the app, the TestClient and the server: the same app through
FastAPI's TestClient and through ours (and on our server over a socket), compared key by key.

The app is FastAPI's "Behind a Proxy" docs example (``request.scope.get("root_path")``), with a route that
reports the scope's ASGI keys and one that only exists with a trailing slash.
"""
import warnings

import httpx
import pytest

import fastrapi
from fastrapi.testclient import TestClient as OurClient

fastapi = pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TheirClient

#: what ASGI 3 defines for an HTTP scope, plus what Starlette adds that a handler reads
ASGI_KEYS = ("type", "asgi", "http_version", "method", "scheme", "path", "raw_path", "root_path", "query_string",
             "headers", "client", "server", "app", "state", "path_params")


def make_app(fw, **options):
    app = fw.FastAPI(**options)

    @app.get("/app")
    def read_main(request: fw.Request):
        return {"message": "Hello World", "root_path": request.scope.get("root_path")}

    @app.get("/scope/{item_id}", name="scope")
    def read_scope(item_id: int, request: fw.Request):
        scope = request.scope
        assert scope is request.scope  # one dict, built once
        return {
            "type": scope["type"],
            "asgi_version": scope.get("asgi", {}).get("version"),  # (Starlette's TestClient leaves it out)
            "http_version": scope["http_version"],
            "method": scope["method"],
            "scheme": scope["scheme"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "root_path": scope["root_path"],
            "query_string": scope["query_string"].decode(),
            "x-test": [v.decode() for k, v in scope["headers"] if k == b"x-test"],
            "client": list(scope["client"]) if scope["client"] else None,
            "server": list(scope["server"]) if scope["server"] else None,
            "app_is_app": scope["app"] is app,
            "state_is_dict": isinstance(scope["state"], dict),
            "path_params": {k: str(v) for k, v in scope["path_params"].items()},
            "missing": [key for key in ASGI_KEYS if key not in scope],
            "url": str(request.url),
            "base_url": str(request.base_url),
            "url_for": str(request.url_for("scope", item_id=7)),
        }

    @app.get("/slash/")
    def slash():
        return {"slash": True}

    return app


CASES = [
    ({}, {}),
    ({"root_path": "/api/v1"}, {}),
    ({}, {"root_path": "/proxy"}),
    ({}, {"base_url": "https://example.org"}),
    ({"root_path": "/api/v1"}, {"base_url": "https://example.org:8443"}),
]


@pytest.mark.parametrize("app_options,client_options", CASES)
def test_scope_matches_fastapi(app_options, client_options):
    theirs = TheirClient(make_app(fastapi, **app_options), **client_options)
    ours = OurClient(make_app(fastrapi, **app_options), **client_options)
    for url in ("/scope/3?q=a%20b", "/app"):
        a = theirs.get(url, headers={"x-test": "1"}).json()
        b = ours.get(url, headers={"x-test": "1"}).json()
        if "asgi_version" in b:
            assert b.pop("asgi_version") == "3.0"
            a.pop("asgi_version")
            assert a.pop("missing") == ["asgi"] and b.pop("missing") == []
        assert b == a, url
    a = theirs.get("/slash?x=1", follow_redirects=False)
    b = ours.get("/slash?x=1", follow_redirects=False)
    assert (b.status_code, b.headers["location"]) == (a.status_code, a.headers["location"])
    if client_options.get("base_url", "").startswith("https"):
        assert b.headers["location"].startswith("https://")


def test_openapi_servers_from_root_path():
    """The docs example: behind a proxy stripping ``/api/v1``, the document names that server."""
    for app_options, client_options in (({"root_path": "/api/v1"}, {}), ({}, {"root_path": "/api/v1"})):
        a = TheirClient(make_app(fastapi, **app_options), **client_options).get("/openapi.json").json()
        b = OurClient(make_app(fastrapi, **app_options), **client_options).get("/openapi.json").json()
        assert b["servers"] == a["servers"] == [{"url": "/api/v1"}]
        assert b == a


def test_native_server_scope(serve):
    """On the built-in server: the scope of a real connection (client and server addresses, http)."""
    app = make_app(fastrapi, root_path="/api/v1")
    srv = serve(app)
    body = httpx.get(srv.url + "/scope/3?q=1", headers={"x-test": "1"}).json()
    assert body["missing"] == []
    assert body["scheme"] == "http"
    assert body["server"] == ["127.0.0.1", srv.port]
    assert body["client"][0] == "127.0.0.1" and isinstance(body["client"][1], int)
    assert body["root_path"] == "/api/v1"
    assert body["url_for"] == f"http://127.0.0.1:{srv.port}/api/v1/scope/7"
    assert body["path"] == "/scope/3" and body["query_string"] == "q=1" and body["x-test"] == ["1"]
    assert (body["type"], body["asgi_version"], body["http_version"], body["method"]) == ("http", "3.0", "1.1", "GET")
    assert body["path_params"] == {"item_id": "3"}
    redirect = httpx.get(srv.url + "/slash", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (307, f"http://127.0.0.1:{srv.port}/slash/")


def test_server_root_path_option(serve):
    """``fastrapi run --root-path`` sets the app's root_path: the scope and the document carry it."""
    app = make_app(fastrapi)
    app.root_path = "/behind"
    srv = serve(app)
    assert httpx.get(srv.url + "/app").json() == {"message": "Hello World", "root_path": "/behind"}
    assert httpx.get(srv.url + "/openapi.json").json()["servers"] == [{"url": "/behind"}]
