"""The demo app in examples/demo: JSON routes over HTTP, the /ws echo over a real WebSocket,
and the script itself (`python examples/demo/app.py`) serving and shutting down cleanly."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from websockets.sync.client import connect

from modules import ROOT, load_module  # noqa: E402

DEMO_PATH = ROOT / "examples" / "demo" / "app.py"


demo = load_module(DEMO_PATH, "fastrapi_demo_app")


@pytest.fixture
def srv(serve):
    return serve(demo.create_app())


def recv_json(ws, timeout=5.0):
    return json.loads(ws.recv(timeout=timeout))


def test_module_exposes_app():
    assert isinstance(demo.app, demo.FastrAPI)


def test_index_page(srv):
    r = httpx.get(srv.url + "/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in r.text.lower()
    assert '"/ws"' in r.text  # the page opens its WebSocket on /ws
    assert 'id="send"' in r.text


def test_hello(srv):
    r = httpx.get(srv.url + "/api/hello")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["message"] == "Hello from FastrAPI!"
    assert body["clients"] == 0
    assert body["server_time"].endswith("Z")


def test_items_path_and_query(srv):
    r = httpx.get(srv.url + "/api/items/21", params={"q": "hello world"})
    assert r.status_code == 200
    assert r.json() == {"item_id": 21, "q": "hello world", "double": 42}

    r = httpx.get(srv.url + "/api/items/7")
    assert r.status_code == 200
    assert r.json() == {"item_id": 7, "q": None, "double": 14}


def test_items_bad_path_param_is_422(srv):
    r = httpx.get(srv.url + "/api/items/abc")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail
    assert detail[0]["loc"] == ["path", "item_id"]


def test_echo_post(srv):
    r = httpx.post(srv.url + "/api/echo", json={"text": "héllo", "author": "ada"})
    assert r.status_code == 200
    body = r.json()
    assert body["text"] == "héllo"
    assert body["author"] == "ada"
    assert body["length"] == 5
    assert body["server_time"].endswith("Z")

    r = httpx.post(srv.url + "/api/echo", json={"text": "x"})
    assert r.status_code == 200
    assert r.json()["author"] == "anonymous"


def test_echo_post_validation_error(srv):
    r = httpx.post(srv.url + "/api/echo", json={"author": "ada"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any(err["loc"] == ["body", "text"] and err["type"] == "missing" for err in detail)

    r = httpx.post(srv.url + "/api/echo", json={"text": ""})
    assert r.status_code == 422


def test_ws_echo(srv):
    with connect(srv.ws_url + "/ws", open_timeout=5) as ws:
        welcome = recv_json(ws)
        assert welcome["type"] == "welcome"
        assert welcome["clients"] == 1

        for n, text in enumerate(["hi", "ünïcødé ✓", "x" * 5000], start=1):
            ws.send(text)
            reply = recv_json(ws)
            assert reply["type"] == "echo"
            assert reply["text"] == text
            assert reply["n"] == n
            assert reply["clients"] == 1
            assert reply["time"].endswith("Z")

        # binary frames are refused politely and the connection stays usable
        ws.send(b"\x00\x01")
        assert recv_json(ws) == {"type": "error", "detail": "send text messages, not binary"}
        ws.send("still here")
        assert recv_json(ws)["n"] == 4


def test_ws_presence_and_client_count(srv):
    with connect(srv.ws_url + "/ws", open_timeout=5) as a:
        assert recv_json(a)["clients"] == 1
        with connect(srv.ws_url + "/ws", open_timeout=5) as b:
            welcome = recv_json(b)
            assert (welcome["type"], welcome["clients"]) == ("welcome", 2)
            assert recv_json(a) == {"type": "presence", "clients": 2}
            assert httpx.get(srv.url + "/api/hello").json()["clients"] == 2
            b.send("from b")
            assert recv_json(b)["clients"] == 2
        # b left: a is told
        assert recv_json(a) == {"type": "presence", "clients": 1}
        a.send("from a")
        reply = recv_json(a)
        assert (reply["text"], reply["n"], reply["clients"]) == ("from a", 1, 1)
    deadline = time.monotonic() + 5
    while httpx.get(srv.url + "/api/hello").json()["clients"] != 0:
        assert time.monotonic() < deadline, "server never noticed the client left"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_script(args, env_extra, stop_signal):
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({k: v.format(port=port) for k, v in env_extra.items()})
    cmd = [sys.executable, str(DEMO_PATH)] + [a.format(port=port) for a in args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"demo exited early: {proc.communicate()}"
            try:
                r = httpx.get(base + "/api/hello", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "demo did not start listening"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["message"] == "Hello from FastrAPI!"
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
            assert recv_json(ws)["type"] == "welcome"
            ws.send("ping")
            assert recv_json(ws)["text"] == "ping"
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert f"http://127.0.0.1:{port}/" in out
    return proc.returncode, out, err


def test_script_env_config_and_sigterm():
    code, out, err = run_script([], {"DEMO_HOST": "127.0.0.1", "DEMO_PORT": "{port}"}, signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err


def test_script_argv_config_and_ctrl_c():
    code, out, err = run_script(["--port", "{port}"], {"DEMO_PORT": "1"}, signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err
