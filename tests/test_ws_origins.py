"""``FastrAPI(websocket_origins=[...])``: a WebSocket handshake from an Origin not on the list gets 403 before
the handler runs (cross-site WebSocket hijacking). Raw handshakes for the matching rules; headless Chromium for
the attack itself: a page from another origin (another 127.0.0.1 port) opening a WebSocket to the app."""
from __future__ import annotations

import base64
import os
import socket

import pytest

from fastrapi import FastrAPI, WebSocket
from fastrapi.responses import HTMLResponse
from fastrapi.ws.handshake import OriginPolicy

CHROMIUM = "/usr/bin/chromium"


def make_app(origins=None) -> FastrAPI:
    app = FastrAPI(websocket_origins=origins)
    app.state.handler_runs = 0

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        app.state.handler_runs += 1
        await websocket.accept()
        await websocket.send_text("secret for " + websocket.headers.get("origin", "no origin"))
        await websocket.close()

    @app.get("/page")
    def page(target: str):
        return HTMLResponse(PAGE.replace("TARGET", target))

    return app


PAGE = """<!doctype html><html><body><div id=out>waiting</div><script>
const out = document.getElementById('out');
const ws = new WebSocket('TARGET');
ws.onmessage = (e) => { out.textContent = 'got: ' + e.data; };
ws.onclose = (e) => { if (out.textContent === 'waiting') out.textContent = 'closed ' + e.code; };
</script></body></html>"""


def handshake(port: int, origins: list[str]) -> bytes:
    """The status line of a raw handshake with these Origin headers."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *[f"Origin: {o}" for o in origins]]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


ALLOWED = ["https://example.com", "https://*.example.com", "http://127.0.0.1:8080"]


@pytest.mark.parametrize("origins,status", [
    (["https://example.com"], b"101"),
    (["HTTPS://Example.COM"], b"101"),
    (["https://example.com/"], b"403"),  # (an Origin never ends in a slash; refused, not normalised)
    (["https://a.example.com"], b"101"),
    (["https://a.b.example.com"], b"101"),
    (["http://127.0.0.1:8080"], b"101"),
    ([], b"101"),  # no Origin: not a browser, so not the attack
    (["https://evil.com"], b"403"),
    (["http://example.com"], b"403"),  # scheme matters
    (["https://example.com:8443"], b"403"),  # port matters
    (["https://a.example.com.evil.com"], b"403"),
    (["https://evilexample.com"], b"403"),
    (["https://a.example.com:444"], b"403"),
    (["http://127.0.0.1:8081"], b"403"),
    (["null"], b"403"),  # sandboxed iframes, file:// pages
    (["https://example.com", "https://example.com"], b"403"),  # two Origin headers
])
def test_raw_handshakes(serve, origins, status):
    app = make_app(ALLOWED)
    srv = serve(app)
    assert handshake(srv.port, origins).split(b" ")[1] == status
    assert app.state.handler_runs == (1 if status == b"101" else 0)


def test_off_by_default(serve):
    app = make_app()
    srv = serve(app)
    assert handshake(srv.port, ["https://evil.com"]).split(b" ")[1] == b"101"


def test_star_and_bad_patterns():
    assert OriginPolicy(["*"]).allows([(b"origin", b"https://anything.example")])
    with pytest.raises(ValueError):
        OriginPolicy(["https://ex*ample.com"])
    with pytest.raises(ValueError):
        OriginPolicy(["example.com"])
    with pytest.raises(TypeError):
        OriginPolicy("https://example.com")  # a string, not a list of them
    app = FastrAPI()
    app.websocket_origins = ["https://example.com"]
    assert isinstance(app.websocket_origins, OriginPolicy)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed")
def test_chromium_cross_origin_page_is_refused(serve):
    from playwright.sync_api import sync_playwright

    victim = make_app()
    victim_srv = serve(victim)
    victim.websocket_origins = [f"http://127.0.0.1:{victim_srv.port}"]  # only its own pages
    attacker_srv = serve(make_app())  # another port: another origin
    target = f"ws://127.0.0.1:{victim_srv.port}/ws"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)

            def run(url: str) -> str:
                page.goto(url)
                page.wait_for_function("document.getElementById('out').textContent !== 'waiting'")
                return page.text_content("#out")

            # the app's own page: accepted
            own = f"http://127.0.0.1:{victim_srv.port}"
            assert run(f"{own}/page?target={target}") == f"got: secret for {own}"
            assert victim.state.handler_runs == 1
            # a page of another origin: refused before the handler ran
            assert run(f"http://127.0.0.1:{attacker_srv.port}/page?target={target}") == "closed 1006"
            assert victim.state.handler_runs == 1
            # without the allow-list the same page gets through (the attack this stops)
            victim.websocket_origins = None
            evil = f"http://127.0.0.1:{attacker_srv.port}"
            assert run(f"{evil}/page?target={target}") == f"got: secret for {evil}"
            assert victim.state.handler_runs == 2
        finally:
            browser.close()
