"""TLS on the built-in server: https and wss with a certificate the test generates, checked by real clients
(httpx, websockets, a raw ``ssl`` socket for ALPN, headless Chromium), with ``workers=N`` and from the CLI."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.sync.client import connect as ws_connect_sync

from certs import Pki, make_pki
from fastrapi import FastrAPI, Request, WebSocket
from fastrapi.responses import RedirectResponse
from fastrapi.server import Server

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def make_app() -> FastrAPI:
    app = FastrAPI()

    @app.get("/")
    def index():
        return {"hello": "tls"}

    @app.get("/where", name="where")
    def where(request: Request):
        return {"url": str(request.url), "scheme": request.url.scheme, "for": str(request.url_for("where")),
                "base": str(request.base_url)}

    @app.get("/go")
    def go():
        return RedirectResponse("/where")

    @app.get("/slash/")
    def slash():
        return {"slash": True}

    @app.get("/page")
    def page():
        from fastrapi.responses import HTMLResponse

        return HTMLResponse("""<!doctype html><html><body><div id=out>waiting</div><script>
            const ws = new WebSocket(location.origin.replace('https', 'wss') + '/ws');
            ws.onmessage = (e) => { document.getElementById('out').textContent = e.data; };
            ws.onopen = () => ws.send('hello over wss');
            ws.onerror = () => { document.getElementById('out').textContent = 'error'; };
            </script></body></html>""")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{text} | {websocket.url}")
        await websocket.close()

    return app


@pytest.fixture(scope="module")
def tls_server(pki):
    srv = Server(make_app(), "127.0.0.1", 0, ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.key)).start_in_thread()
    yield srv
    srv.stop()


def test_https_with_verified_certificate(tls_server, pki):
    assert tls_server.url.startswith("https://")
    with httpx.Client(verify=pki.client_context(), timeout=5) as client:
        r = client.get(tls_server.url + "/")
        assert r.status_code == 200 and r.json() == {"hello": "tls"}
        r = client.get(tls_server.url + "/where")
        base = f"https://127.0.0.1:{tls_server.port}"
        assert r.json() == {"url": base + "/where", "scheme": "https", "for": base + "/where", "base": base + "/"}
        r = client.get(tls_server.url + "/slash", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == base + "/slash/"
        # keep-alive over TLS: several requests on one connection
        for _ in range(5):
            assert client.get(tls_server.url + "/").status_code == 200


def test_plain_http_client_on_tls_port_gets_no_answer(tls_server):
    # A plain-HTTP request to the TLS port fails the handshake: closed, and the server goes on.
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"HTTP/1.1 200")


def test_unverified_client_refuses_self_made_ca(tls_server):
    with pytest.raises(httpx.ConnectError):
        httpx.get(tls_server.url + "/", timeout=5)  # system CAs do not know the test CA


def test_alpn_offers_http11_only(tls_server, pki):
    ctx = pki.client_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.selected_alpn_protocol() == "http/1.1"
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b'{"hello":"tls"}')


def test_old_tls_versions_refused(tls_server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def test_wss_with_websockets_client(tls_server, pki):
    with ws_connect_sync(tls_server.ws_url + "/ws", ssl=pki.client_context(), open_timeout=5, proxy=None) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == f"hi | wss://127.0.0.1:{tls_server.port}/ws"


def test_wss_async_client_many_messages(tls_server, pki):
    async def run() -> list[str]:
        got = []
        for i in range(3):
            async with websockets.connect(tls_server.ws_url + "/ws", ssl=pki.client_context(), proxy=None) as ws:
                await ws.send(f"m{i}")
                got.append(await asyncio.wait_for(ws.recv(), 5))
        return got

    got = asyncio.run(run())
    assert [g.split(" | ")[0] for g in got] == ["m0", "m1", "m2"]


def test_encrypted_key_with_password(pki, serve):
    srv = serve(make_app(), ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.encrypted_key),
                ssl_keyfile_password=pki.password)
    r = httpx.get(srv.url + "/", verify=pki.client_context(), timeout=5)
    assert r.status_code == 200


def test_wrong_password_fails_before_listening(pki):
    with pytest.raises(ssl.SSLError):
        Server(make_app(), "127.0.0.1", 0, ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.encrypted_key),
               ssl_keyfile_password="wrong")
    with pytest.raises(FileNotFoundError):
        Server(make_app(), "127.0.0.1", 0, ssl_certfile="/nonexistent/cert.pem")


def test_client_certificates_required(pki, serve):
    srv = serve(make_app(), ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.key), ssl_ca_certs=str(pki.ca),
                ssl_cert_reqs=ssl.CERT_REQUIRED)
    r = httpx.get(srv.url + "/", verify=pki.client_context(with_client_cert=True), timeout=5)
    assert r.status_code == 200
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(srv.url + "/", verify=pki.client_context(), timeout=5)
    with pytest.raises(ValueError, match="ssl_ca_certs"):
        Server(make_app(), "127.0.0.1", 0, ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.key), ssl_cert_reqs=2)


def test_ciphers_option(pki, serve):
    srv = serve(make_app(), ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.key), ssl_ciphers="ECDHE+AESGCM")
    ctx = pki.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # (TLS 1.3 suites are not set by the cipher string)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert "GCM" in s.cipher()[0]
    with pytest.raises(ssl.SSLError):
        Server(make_app(), "127.0.0.1", 0, ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.key),
               ssl_ciphers="NO-SUCH-CIPHER")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_https(url: str, ctx: ssl.SSLContext, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read()!r}")
        try:
            httpx.get(url, verify=ctx, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


APP_MODULE = """
import os
from fastrapi import FastrAPI, Request, WebSocket
app = FastrAPI()

@app.get("/")
def index(request: Request):
    return {"pid": os.getpid(), "scheme": request.url.scheme}

@app.websocket("/ws")
async def ws(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text(f"{os.getpid()} {websocket.url.scheme}")
    await websocket.close()
"""


def _run(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_workers(url: str, ws_url: str, pki: Pki) -> None:
    ctx = pki.client_context()
    pids = set()
    deadline = time.monotonic() + 15
    while len(pids) < 2 and time.monotonic() < deadline:
        r = httpx.get(url + "/", verify=ctx, timeout=5)  # a new connection each time
        assert r.status_code == 200 and r.json()["scheme"] == "https"
        pids.add(r.json()["pid"])
    assert len(pids) == 2, "both workers serve TLS"
    with ws_connect_sync(ws_url + "/ws", ssl=ctx, open_timeout=5, proxy=None) as ws:
        assert ws.recv(timeout=5).endswith(" wss")


def test_workers_with_tls(pki, tmp_path):
    (tmp_path / "tlsapp.py").write_text(APP_MODULE + textwrap.dedent(f"""
        if __name__ == "__main__":
            app.serve("127.0.0.1", {{port}}, workers=2, ssl_certfile={str(pki.cert)!r}, ssl_keyfile={str(pki.key)!r})
        """))
    port = _free_port()
    script = (tmp_path / "tlsapp.py").read_text().replace("{port}", str(port))
    (tmp_path / "tlsapp.py").write_text(script)
    proc = _run([sys.executable, "tlsapp.py"], tmp_path)
    try:
        _wait_https(f"https://127.0.0.1:{port}/", pki.client_context(), proc)
        _check_workers(f"https://127.0.0.1:{port}", f"wss://127.0.0.1:{port}", pki)
    finally:
        _stop(proc)


def test_cli_tls_flags_with_workers(pki, tmp_path):
    (tmp_path / "cliapp.py").write_text(APP_MODULE)
    port = _free_port()
    proc = _run([sys.executable, "-m", "fastrapi", "run", "cliapp:app", "--port", str(port), "--workers", "2",
                 "--ssl-certfile", str(pki.cert), "--ssl-keyfile", str(pki.encrypted_key),
                 "--ssl-keyfile-password", pki.password, "--no-access-log"], tmp_path)
    try:
        _wait_https(f"https://127.0.0.1:{port}/", pki.client_context(), proc)
        _check_workers(f"https://127.0.0.1:{port}", f"wss://127.0.0.1:{port}", pki)
    finally:
        _stop(proc)
    assert proc.returncode == 0


def test_cli_bad_certificate_is_one_line_error(tmp_path):
    (tmp_path / "cliapp.py").write_text(APP_MODULE)
    proc = _run([sys.executable, "-m", "fastrapi", "run", "cliapp:app", "--port", str(_free_port()),
                 "--ssl-certfile", str(tmp_path / "missing.pem")], tmp_path)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        _stop(proc)
    assert proc.returncode == 1
    assert "missing.pem" in err or "No such file" in err
    assert "Traceback" not in err


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed")
def test_chromium_https_page_and_wss(tls_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            response = page.goto(tls_server.url + "/page")
            assert response is not None and response.status == 200 and response.url.startswith("https://")
            page.wait_for_function("document.getElementById('out').textContent !== 'waiting'")
            assert page.text_content("#out") == f"hello over wss | wss://127.0.0.1:{tls_server.port}/ws"
        finally:
            browser.close()


def test_https_redirect_middleware_passes_tls_requests(pki, serve):
    from fastrapi.middleware.httpsredirect import HTTPSRedirectMiddleware

    app = make_app()
    app.add_middleware(HTTPSRedirectMiddleware)
    srv = serve(app, ssl_certfile=str(pki.cert), ssl_keyfile=str(pki.key))
    r = httpx.get(srv.url + "/", verify=pki.client_context(), timeout=5, follow_redirects=False)
    assert r.status_code == 200 and r.json() == {"hello": "tls"}
    plain = serve(app)
    r = httpx.get(plain.url + "/", timeout=5, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"https://127.0.0.1:{plain.port}/"
