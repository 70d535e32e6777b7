"""``proxy_headers=True``: what a trusted proxy forwards (X-Forwarded-For/-Proto/-Host, RFC 7239 Forwarded)
becomes the request's client, scheme and host, for HTTP requests, WebSockets, mounted ASGI apps and the access
log; from a peer not in ``forwarded_allow_ips``, or with the option off, the headers change nothing."""
from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from fastrapi import FastrAPI, Request, WebSocket
from fastrapi.middleware.httpsredirect import HTTPSRedirectMiddleware
from fastrapi.responses import RedirectResponse
from fastrapi.server.proxy import TrustedProxies, parse_forwarded, resolve

from rawhttp import RawConn
from wsclient import recv, ws_connect


def make_app() -> FastrAPI:
    app = FastrAPI()

    @app.get("/info", name="info")
    def info(request: Request):
        client = request.client
        return {"client": [client.host, client.port] if client else None, "url": str(request.url),
                "for": str(request.url_for("info")), "host": request.headers.get("host"),
                "root_path": request.scope["root_path"], "scheme": request.scope["scheme"]}

    @app.get("/fast")
    async def fast():
        return {"fast": True}

    @app.get("/redirect")
    def redirect(request: Request):
        return RedirectResponse(str(request.url_for("info")))

    @app.get("/slash/")
    def slash():
        return {}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        client = websocket.client
        await websocket.send_json({"url": str(websocket.url), "client": [client.host, client.port] if client else None})
        await websocket.close()

    async def raw_asgi(scope, receive, send):
        body = json.dumps({"scheme": scope["scheme"], "client": list(scope["client"] or [])}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    app.mount("/asgi", raw_asgi)
    return app


APP = make_app()


def info(srv, headers: dict[str, str]) -> dict:
    r = httpx.get(srv.url + "/info", headers=headers, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def test_off_by_default(serve):
    srv = serve(APP)
    got = info(srv, {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https", "x-forwarded-host": "a.example"})
    assert got["client"][0] == "127.0.0.1" and got["url"].startswith(f"http://127.0.0.1:{srv.port}/")


def test_x_forwarded_headers(serve):
    srv = serve(APP, proxy_headers=True)
    got = info(srv, {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https",
                     "x-forwarded-host": "api.example.com"})
    assert got["client"] == ["203.0.113.7", 0]
    assert got["url"] == "https://api.example.com/info"
    assert got["for"] == "https://api.example.com/info"
    assert got["host"] == "api.example.com"
    assert got["scheme"] == "https"
    # only what was sent is changed
    got = info(srv, {"x-forwarded-proto": "https"})
    assert got["client"][0] == "127.0.0.1" and got["url"] == f"https://127.0.0.1:{srv.port}/info"
    got = info(srv, {})
    assert got["url"] == f"http://127.0.0.1:{srv.port}/info"


def test_redirects_say_https_behind_tls_proxy(serve):
    srv = serve(APP, proxy_headers=True)
    h = {"x-forwarded-proto": "https", "x-forwarded-host": "shop.example"}
    r = httpx.get(srv.url + "/redirect", headers=h, timeout=5)
    assert r.status_code == 307 and r.headers["location"] == "https://shop.example/info"
    r = httpx.get(srv.url + "/slash", headers=h, timeout=5)
    assert r.status_code == 307 and r.headers["location"] == "https://shop.example/slash/"


def test_https_redirect_middleware_sees_forwarded_scheme(serve):
    app = FastrAPI()
    app.add_middleware(HTTPSRedirectMiddleware)

    @app.get("/")
    def index():
        return {"ok": True}

    srv = serve(app, proxy_headers=True)
    r = httpx.get(srv.url + "/", headers={"x-forwarded-proto": "https", "host": "site.example"}, timeout=5)
    assert r.status_code == 200
    r = httpx.get(srv.url + "/", headers={"x-forwarded-proto": "http", "host": "site.example"}, timeout=5)
    assert r.status_code == 307 and r.headers["location"] == "https://site.example/"


def test_forwarded_rfc7239(serve):
    srv = serve(APP, proxy_headers=True)
    got = info(srv, {"forwarded": 'for="[2001:db8::17]:4711";proto=https;host=example.com'})
    assert got["client"] == ["2001:db8::17", 4711]
    assert got["url"] == "https://example.com/info"
    # Forwarded wins over X-Forwarded-*
    got = info(srv, {"forwarded": "for=198.51.100.1;proto=http", "x-forwarded-for": "203.0.113.9",
                     "x-forwarded-proto": "https"})
    assert got["client"] == ["198.51.100.1", 0] and got["url"].startswith("http://")


def test_chain_of_proxies(serve):
    # default: only 127.0.0.1 is trusted, so the client is the proxy in front of it (10.0.0.2)
    srv = serve(APP, proxy_headers=True)
    got = info(srv, {"x-forwarded-for": "203.0.113.7, 10.0.0.2"})
    assert got["client"] == ["10.0.0.2", 0]
    srv = serve(APP, proxy_headers=True, forwarded_allow_ips="127.0.0.1, 10.0.0.0/8")
    got = info(srv, {"x-forwarded-for": "203.0.113.7, 10.0.0.2"})
    assert got["client"] == ["203.0.113.7", 0]
    # a client that spoofs a first entry does not get it believed
    got = info(srv, {"x-forwarded-for": "1.1.1.1, 203.0.113.7, 10.0.0.2"})
    assert got["client"] == ["203.0.113.7", 0]
    got = info(srv, {"forwarded": "for=203.0.113.7;proto=https, for=10.0.0.2;proto=http"})
    assert got["client"] == ["203.0.113.7", 0] and got["url"].startswith("https://")
    srv = serve(APP, proxy_headers=True, forwarded_allow_ips="*")
    got = info(srv, {"x-forwarded-for": "203.0.113.7, 10.0.0.2, 192.168.1.1"})
    assert got["client"] == ["203.0.113.7", 0]


def test_untrusted_peer_is_ignored(serve):
    srv = serve(APP, proxy_headers=True, forwarded_allow_ips="10.9.9.9")
    got = info(srv, {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https", "x-forwarded-host": "evil",
                     "forwarded": "for=1.2.3.4;proto=https"})
    assert got["client"][0] == "127.0.0.1"
    assert got["url"] == f"http://127.0.0.1:{srv.port}/info"


@pytest.mark.parametrize("headers", [
    {"x-forwarded-proto": "javascript"},
    {"x-forwarded-host": "evil.example/path"},
    {"x-forwarded-host": "a b"},
    {"x-forwarded-for": "not-an-ip"},
    {"forwarded": "for=unknown;proto=gopher"},
    {"forwarded": ";;;=,,"},
])
def test_junk_values_change_nothing(serve, headers):
    srv = serve(APP, proxy_headers=True)
    got = info(srv, headers)
    assert got["client"][0] == "127.0.0.1"
    assert got["url"] == f"http://127.0.0.1:{srv.port}/info"


def test_keep_alive_connection_each_request_its_own(serve):
    srv = serve(APP, proxy_headers=True)
    with httpx.Client(timeout=5) as client:  # one connection from the "proxy", many clients
        for i in range(1, 6):
            got = client.get(srv.url + "/info", headers={"x-forwarded-for": f"203.0.113.{i}"}).json()
            assert got["client"] == [f"203.0.113.{i}", 0]
        assert client.get(srv.url + "/info").json()["client"][0] == "127.0.0.1"
        assert client.get(srv.url + "/fast").json() == {"fast": True}


def test_websocket_url_and_client(serve):
    srv = serve(APP, proxy_headers=True)
    headers = {"x-forwarded-for": "198.51.100.4", "x-forwarded-proto": "https", "x-forwarded-host": "chat.example"}
    with ws_connect(srv, "/ws", additional_headers=headers) as ws:
        got = json.loads(recv(ws))
    assert got == {"url": "wss://chat.example/ws", "client": ["198.51.100.4", 0]}
    with ws_connect(srv, "/ws") as ws:
        got = json.loads(recv(ws))
    assert got["url"] == f"ws://127.0.0.1:{srv.port}/ws" and got["client"][0] == "127.0.0.1"


def test_mounted_asgi_app_scope(serve):
    srv = serve(APP, proxy_headers=True)
    r = httpx.get(srv.url + "/asgi/x", headers={"x-forwarded-for": "203.0.113.5", "x-forwarded-proto": "https"},
                  timeout=5)
    assert r.json() == {"scheme": "https", "client": ["203.0.113.5", 0]}


def test_access_log_names_forwarded_client(serve, caplog):
    caplog.set_level(logging.INFO, logger="fastrapi.access")
    srv = serve(APP, proxy_headers=True, access_log=True)
    with RawConn(srv.port) as c:
        c.send(b"GET /info HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.77\r\n\r\n")
        assert c.read_response().status == 200
    deadline = time.monotonic() + 3
    while "203.0.113.77:0" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '203.0.113.77:0 - "GET /info HTTP/1.1" 200' in caplog.text


def test_root_path_option_reaches_scope(serve):
    app = make_app()
    srv = serve(app, root_path="/api", proxy_headers=True)
    got = info(srv, {"x-forwarded-proto": "https", "x-forwarded-host": "example.com"})
    assert got["root_path"] == "/api"
    assert got["for"] == "https://example.com/api/info"
    # the prefixed path routes as well (a proxy that does not strip the prefix)
    r = httpx.get(srv.url + "/api/info", timeout=5)
    assert r.status_code == 200


def test_parsing_units():
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8, ::1")
    assert "10.20.30.40" in trusted and "::1" in trusted and "11.0.0.1" not in trusted and "junk" not in trusted
    assert TrustedProxies("*").trusts_peer(("8.8.8.8", 1))
    assert "::ffff:127.0.0.1" in TrustedProxies("127.0.0.1") and "::ffff:10.1.1.1" in trusted
    assert TrustedProxies("127.0.0.1").trusts_peer("")  # a Unix socket peer
    with pytest.raises(ValueError):
        TrustedProxies("localhost")
    assert parse_forwarded('for=192.0.2.43, for="[2001:db8:cafe::17]";proto=https;by=203.0.113.43') == [
        {"for": "192.0.2.43"}, {"for": "[2001:db8:cafe::17]", "proto": "https", "by": "203.0.113.43"}]
    assert resolve([(b"x-forwarded-for", b"203.0.113.1"), (b"x-forwarded-for", b"10.0.0.1")],
                   TrustedProxies("10.0.0.0/8")) == (("203.0.113.1", 0), None, None)
    assert resolve([(b"x-forwarded-proto", b"https, http"), (b"x-forwarded-for", b"203.0.113.1, 10.0.0.1")],
                   TrustedProxies("10.0.0.0/8")) == (("203.0.113.1", 0), "https", None)
