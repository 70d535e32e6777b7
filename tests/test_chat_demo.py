"""The chat demo in examples/chat: its HTTP routes, its WebSocket protocol (real clients), two and three real
headless Chromium pages chatting, the script itself, and the Redis history store against a local redis-server."""
import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fastrapi.server import Server
from modules import ROOT, load_module

CHAT_PATH = ROOT / "examples" / "chat" / "app.py"
from chromium import CHROMIUM, chromium  # noqa: E402
#: generous: the suite runs with -n 2 on a 2-core machine, next to Chromium
UI_TIMEOUT = 20_000
SCREENSHOT = os.environ.get("CHAT_SCREENSHOT", "/tmp/chat.png")

chat = load_module(CHAT_PATH, "fastrapi_chat_app")


@pytest.fixture
def srv(serve):
    return serve(chat.create_app())


def recv_json(ws, timeout=10.0):
    return json.loads(ws.recv(timeout=timeout))


def join(srv, room, nick):
    """Open /ws/{room}?nick=..., read the history and our own join notice; returns (ws, history, notice)."""
    ws = connect(f"{srv.ws_url}/ws/{room}?{httpx.QueryParams(nick=nick)}", open_timeout=10).__enter__()
    history = recv_json(ws)
    assert history["type"] == "history" and history["room"] == room
    notice = recv_json(ws)
    assert (notice["type"], notice["nick"], notice["text"]) == ("join", nick, f"{nick} joined")
    return ws, history["messages"], notice


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------- HTTP
def test_module_exposes_app():
    assert isinstance(chat.app, chat.FastrAPI)
    assert chat.app.broadcast.url == "memory://"


def test_index_page(srv):
    r = httpx.get(srv.url + "/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in r.text.lower()
    assert '"/ws/"' in r.text and 'id="nick-form"' in r.text and 'id="rooms"' in r.text
    assert "http://" not in r.text.replace("http://www.w3.org", "")  # nothing from a CDN


def test_rooms_lists_default_rooms_then_busiest(srv):
    assert httpx.get(srv.url + "/api/rooms").json() == [{"room": "lobby", "members": 0},
                                                       {"room": "random", "members": 0}]
    a, _, _ = join(srv, "zeta", "ada")
    b, _, _ = join(srv, "alpha", "bob")
    c, _, _ = join(srv, "zeta", "cy")
    try:
        assert httpx.get(srv.url + "/api/rooms").json() == [
            {"room": "lobby", "members": 0}, {"room": "random", "members": 0},
            {"room": "zeta", "members": 2}, {"room": "alpha", "members": 1}]
    finally:
        for ws in (a, b, c):
            ws.close()
    # nobody left and no history: the rooms are forgotten
    wait_for(lambda: len(httpx.get(srv.url + "/api/rooms").json()) == 2)


def test_post_message_and_history(srv):
    r = httpx.post(srv.url + "/api/rooms/lobby/messages", params={"nick": "bot"}, json={"text": "first"})
    assert r.status_code == 201
    first = r.json()
    assert first["type"] == "message" and first["room"] == "lobby" and first["nick"] == "bot"
    assert first["text"] == "first" and first["id"] == 1 and isinstance(first["ts"], int)
    for n in range(2, 6):
        httpx.post(srv.url + "/api/rooms/lobby/messages", params={"nick": "bot"}, json={"text": f"m{n}"})

    body = httpx.get(srv.url + "/api/rooms/lobby/history").json()
    assert body["room"] == "lobby"
    assert [m["text"] for m in body["messages"]] == ["first", "m2", "m3", "m4", "m5"]
    assert [m["id"] for m in body["messages"]] == [1, 2, 3, 4, 5]
    assert [m["text"] for m in httpx.get(srv.url + "/api/rooms/lobby/history?limit=2").json()["messages"]] == \
        ["m4", "m5"]
    assert httpx.get(srv.url + "/api/rooms/random/history").json() == {"room": "random", "messages": []}
    # a room with history is listed
    assert {"room": "lobby", "members": 0} in httpx.get(srv.url + "/api/rooms").json()


def test_history_keeps_the_last_n(serve):
    srv = serve(chat.create_app(history_size=3))
    for n in range(1, 6):
        httpx.post(srv.url + "/api/rooms/r1/messages", params={"nick": "bot"}, json={"text": f"m{n}"})
    assert [m["text"] for m in httpx.get(srv.url + "/api/rooms/r1/history").json()["messages"]] == \
        ["m3", "m4", "m5"]
    ws, history, _ = join(srv, "r1", "ada")
    with ws:
        assert [m["text"] for m in history] == ["m3", "m4", "m5"]
    assert httpx.get(srv.url + "/api/rooms/r1/history?limit=4").status_code == 422


@pytest.mark.parametrize("nick", ["", "x" * 33, " ada", "ada ", "a\x01b", "a\nb"])
def test_post_bad_nick_is_422(srv, nick):
    r = httpx.post(srv.url + "/api/rooms/lobby/messages", params={"nick": nick}, json={"text": "hi"})
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"] == ["query", "nick"]
    assert err["type"] in ("string_too_short", "string_too_long", "string_pattern_mismatch")
    assert httpx.get(srv.url + "/api/rooms/lobby/history").json()["messages"] == []


def test_post_missing_nick_and_bad_bodies_are_422(srv):
    r = httpx.post(srv.url + "/api/rooms/lobby/messages", json={"text": "hi"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "nick"]
    for body in ({"text": ""}, {"text": "x" * 2001}, {}):
        r = httpx.post(srv.url + "/api/rooms/lobby/messages", params={"nick": "bot"}, json=body)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]
    ok = httpx.post(srv.url + "/api/rooms/lobby/messages", params={"nick": "Zoë 🦀 #1"}, json={"text": "x" * 2000})
    assert ok.status_code == 201 and ok.json()["nick"] == "Zoë 🦀 #1"


@pytest.mark.parametrize("room", ["with%20space", "x" * 33, "semi;colon", "%C3%A9t%C3%A9"])
def test_bad_room_is_422(srv, room):
    r = httpx.get(f"{srv.url}/api/rooms/{room}/history")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "room"]
    r = httpx.post(f"{srv.url}/api/rooms/{room}/messages", params={"nick": "bot"}, json={"text": "hi"})
    assert r.status_code == 422


# ------------------------------------------------------------------------------------------ WebSocket
def test_ws_chat_join_leave_and_relay(srv):
    a, history, notice = join(srv, "lobby", "ada")
    assert history == []
    assert (notice["members"], notice["online"]) == (1, ["ada"])
    b, history, notice = join(srv, "lobby", "bob")
    assert (notice["members"], notice["online"]) == (2, ["ada", "bob"])
    seen = recv_json(a)
    assert (seen["type"], seen["text"], seen["members"]) == ("join", "bob joined", 2)
    assert set(seen) == {"type", "room", "nick", "text", "ts", "members", "online"}

    a.send("hi bob")
    for ws in (a, b):  # the sender gets its own message back, from the server
        m = recv_json(ws)
        assert {k: m[k] for k in ("type", "room", "nick", "text", "id")} == \
            {"type": "message", "room": "lobby", "nick": "ada", "text": "hi bob", "id": 1}
        assert abs(m["ts"] - time.time() * 1000) < 60_000
    b.send("hi ada ✓")
    assert recv_json(a)["text"] == "hi ada ✓"
    assert recv_json(b)["text"] == "hi ada ✓"

    # HTTP posts reach the sockets too
    httpx.post(srv.url + "/api/rooms/lobby/messages", params={"nick": "bot"}, json={"text": "from http"})
    assert (recv_json(a)["nick"], recv_json(b)["text"]) == ("bot", "from http")

    b.close()
    left = recv_json(a)
    assert (left["type"], left["nick"], left["text"], left["members"], left["online"]) == \
        ("leave", "bob", "bob left", 1, ["ada"])
    a.close()
    wait_for(lambda: httpx.get(srv.url + "/api/rooms").json()[0] == {"room": "lobby", "members": 0})


def test_ws_newcomer_gets_history(srv):
    a, _, _ = join(srv, "lobby", "ada")
    with a:
        for n in range(3):
            a.send(f"m{n}")
            recv_json(a)
        c, history, _ = join(srv, "lobby", "cy")
        with c:
            assert [(m["nick"], m["text"], m["id"]) for m in history] == [("ada", "m0", 1), ("ada", "m1", 2),
                                                                          ("ada", "m2", 3)]


def test_ws_same_nick_twice_counts_two_connections(srv):
    a1, _, _ = join(srv, "lobby", "ada")
    a2, _, notice = join(srv, "lobby", "ada")
    assert (notice["members"], notice["online"]) == (2, ["ada"])
    assert recv_json(a1)["type"] == "join"
    a2.close()
    left = recv_json(a1)
    assert (left["type"], left["members"], left["online"]) == ("leave", 1, ["ada"])  # still one ada here
    a1.close()


def recv_json_like(ws, kind):
    """Skip to the next message of type ``kind``."""
    while True:
        m = recv_json(ws)
        if m["type"] == kind:
            return m


def test_ws_room_isolation(srv):
    a, _, _ = join(srv, "lobby", "ada")
    b, _, _ = join(srv, "random", "bob")
    with a, b:
        a.send("only for the lobby")
        assert recv_json(a)["text"] == "only for the lobby"
        b.send("only for random")
        m = recv_json(b)
        assert (m["room"], m["text"], m["id"]) == ("random", "only for random", 1)  # ids count per room
        # a gets nothing from random: the next thing it sees is its own next message
        a.send("second")
        assert recv_json(a)["text"] == "second"
        assert [m["text"] for m in httpx.get(srv.url + "/api/rooms/random/history").json()["messages"]] == \
            ["only for random"]


@pytest.mark.parametrize("nick", ["", "x" * 33, " ada", "ada\t", "a\x00b"])
def test_ws_invalid_nick_closes_1008(srv, nick):
    with connect(f"{srv.ws_url}/ws/lobby?{httpx.QueryParams(nick=nick)}", open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 1008
    assert ws.close_reason.startswith("invalid nickname")
    assert httpx.get(srv.url + "/api/rooms").json()[0] == {"room": "lobby", "members": 0}


def test_ws_missing_nick_and_bad_room_close_1008(srv):
    with connect(f"{srv.ws_url}/ws/lobby", open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert (ws.close_code, ws.close_reason) == (1008, "invalid nickname: 1 to 32 characters")
    with connect(f"{srv.ws_url}/ws/no%20spaces?nick=ada", open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 1008 and ws.close_reason.startswith("invalid room")


def test_ws_overlong_message_is_an_error_for_the_sender_only(srv):
    a, _, _ = join(srv, "lobby", "ada")
    b, _, _ = join(srv, "lobby", "bob")
    with a, b:
        recv_json(a)  # bob joined
        a.send("x" * 2001)
        err = recv_json(a)
        assert (err["type"], err["room"], err["nick"]) == ("error", "lobby", "ada")
        assert err["text"] == "message too long: 2001 characters (at most 2000)"
        a.send("   ")
        assert recv_json(a)["text"] == "empty message"
        a.send(b"\x00binary")
        assert recv_json(a)["text"] == "send text messages, not binary"
        a.send("x" * 2000)  # the limit itself is fine
        assert len(recv_json(a)["text"]) == 2000
        # bob saw none of the errors: the first thing he gets is the valid message
        m = recv_json(b)
        assert (m["type"], len(m["text"]), m["id"]) == ("message", 2000, 1)
    assert [len(m["text"]) for m in httpx.get(srv.url + "/api/rooms/lobby/history").json()["messages"]] == [2000]


def test_ws_room_cap(serve, monkeypatch):
    monkeypatch.setattr(chat, "MAX_ROOMS", 2)
    srv = serve(chat.create_app())
    for room in ("r1", "r2"):
        httpx.post(f"{srv.url}/api/rooms/{room}/messages", params={"nick": "bot"}, json={"text": room})
    a, _, _ = join(srv, "r1", "ada")
    b, _, _ = join(srv, "r2", "bob")
    with b:
        with a:
            # every known room is in use: a new one is refused
            with connect(f"{srv.ws_url}/ws/r3?nick=cy", open_timeout=10) as c:
                with pytest.raises(ConnectionClosed):
                    c.recv(timeout=10)
            assert c.close_code == 1008 and c.close_reason == "too many rooms (at most 2)"
            r = httpx.post(srv.url + "/api/rooms/r3/messages", params={"nick": "bot"}, json={"text": "hi"})
            assert r.status_code == 409
            lobby, _, _ = join(srv, "lobby", "dee")  # the default rooms are always open
            lobby.close()
        wait_for(lambda: {"room": "r1", "members": 0} in httpx.get(srv.url + "/api/rooms").json())
        # r1 is idle now: a new room takes its place, and r1's history is forgotten
        c, _, _ = join(srv, "r3", "cy")
        c.close()
        assert httpx.get(srv.url + "/api/rooms/r1/history").json()["messages"] == []
        assert [m["text"] for m in httpx.get(srv.url + "/api/rooms/r2/history").json()["messages"]] == ["r2"]


# --------------------------------------------------------------------------------------------- script
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_script_serves_and_stops_on_sigterm():
    port = free_port()
    env = dict(os.environ, CHAT_HOST="127.0.0.1", CHAT_PORT=str(port))
    env.pop("CHAT_BROADCAST_URL", None)
    env.pop("FASTRAPI_BROADCAST_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, str(CHAT_PATH)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"chat exited early: {proc.communicate()}"
            try:
                r = httpx.get(base + "/api/rooms", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "chat did not start listening"
                time.sleep(0.1)
        assert r.json()[0] == {"room": "lobby", "members": 0}
        with connect(f"ws://127.0.0.1:{port}/ws/lobby?nick=ada", open_timeout=10) as ws:
            assert recv_json(ws)["type"] == "history"
            assert recv_json(ws)["type"] == "join"
            ws.send("ping")
            assert recv_json(ws)["text"] == "ping"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out and "memory://" in out
    assert "Traceback" not in err


# ----------------------------------------------------------------------------------------------- Redis
@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A private redis-server on a free loopback port (skipped without redis-server or the redis package)."""
    server = shutil.which("redis-server")
    if importlib.util.find_spec("redis") is None:
        pytest.skip("the redis package is not installed (pip install redis)")
    if server is None:
        pytest.skip("redis-server not found (apt-get install redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def test_redis_store(redis_url):
    prefix = f"test-{uuid.uuid4().hex[:8]}:"

    async def scenario():
        store = chat.RedisStore(redis_url, history_size=3, prefix=prefix)
        try:
            assert await store.history("lobby") == []
            for n in range(5):
                m = await store.add("lobby", {"type": "message", "room": "lobby", "nick": "ada", "text": f"m{n}",
                                              "ts": n})
                assert m["id"] == n + 1
            assert [m["text"] for m in await store.history("lobby")] == ["m2", "m3", "m4"]
            assert [m["text"] for m in await store.history("lobby", 2)] == ["m3", "m4"]
            assert await store.enter("lobby", "ada") == (1, ["ada"])
            assert await store.enter("lobby", "bob") == (2, ["ada", "bob"])
            assert await store.enter("lobby", "ada") == (3, ["ada", "bob"])
            assert await store.exit("lobby", "ada") == (2, ["ada", "bob"])
            assert await store.exit("lobby", "ada") == (1, ["bob"])
            assert await store.enter("zeta", "cy") == (1, ["cy"])
            assert await store.rooms() == {"lobby": 1, "zeta": 1}
            assert await store.exit("zeta", "cy") == (0, [])
            assert await store.can_use("zeta") and await store.can_use("new")
        finally:
            await store.close()

    asyncio.run(scenario())


def test_redis_history_shared_between_two_servers(serve, redis_url):
    """Two servers (as two processes would) on one Redis: what is said on one is history on the other."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    one = serve(chat.create_app(store=chat.RedisStore(redis_url, prefix=prefix)))
    two = serve(chat.create_app(store=chat.RedisStore(redis_url, prefix=prefix)))
    a, _, _ = join(one, "lobby", "ada")
    with a:
        a.send("said on one")
        assert recv_json(a)["text"] == "said on one"
        assert httpx.get(two.url + "/api/rooms").json()[0] == {"room": "lobby", "members": 1}
        b, history, notice = join(two, "lobby", "bob")
        with b:
            assert [(m["nick"], m["text"], m["id"]) for m in history] == [("ada", "said on one", 1)]
            assert (notice["members"], notice["online"]) == (2, ["ada", "bob"])
            b.send("said on two")
            assert recv_json(b)["id"] == 2
    wait_for(lambda: httpx.get(one.url + "/api/rooms").json()[0] == {"room": "lobby", "members": 0})
    assert [m["text"] for m in httpx.get(one.url + "/api/rooms/lobby/history").json()["messages"]] == \
        ["said on one", "said on two"]


def test_redis_broadcast_end_to_end(serve, redis_url):
    """With a redis:// broadcast (fastrapi.broadcast.redis), two servers relay each other's messages live."""
    if importlib.util.find_spec("fastrapi.broadcast.redis") is None:
        pytest.skip("fastrapi.broadcast.redis (the Redis broadcast backend) is not available")
    apps = [chat.create_app(redis_url) for _ in range(2)]
    assert all(isinstance(app.state.store, chat.RedisStore) for app in apps)  # chosen from the URL
    one, two = serve(apps[0]), serve(apps[1])
    room = "e2e" + uuid.uuid4().hex[:8]
    a, _, _ = join(one, room, "ada")
    with a:
        b, _, _ = join(two, room, "bob")
        with b:
            assert recv_json_like(a, "join")["nick"] == "bob"
            a.send("across servers")
            assert recv_json_like(a, "message")["text"] == "across servers"
            assert recv_json_like(b, "message")["text"] == "across servers"
            b.send("and back")
            m = recv_json_like(a, "message")
            assert (m["nick"], m["text"], m["id"]) == ("bob", "and back", 2)
        left = recv_json_like(a, "leave")
        assert (left["nick"], left["members"], left["online"]) == ("bob", 1, ["ada"])
    history = httpx.get(f"{two.url}/api/rooms/{room}/history").json()["messages"]
    assert [(m["nick"], m["text"]) for m in history] == [("ada", "across servers"), ("bob", "and back")]


# --------------------------------------------------------------------------------------------- browser
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                    reason=f"{CHROMIUM} not found (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT)
    try:
        with chromium() as b:
            yield b
    finally:
        expect.set_options(timeout=5_000)


@pytest.fixture
def page_factory(browser):
    contexts = []

    def new_page():
        ctx = browser.new_context(viewport={"width": 1000, "height": 800})  # own localStorage: own nickname
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(UI_TIMEOUT)
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield new_page
    for ctx in contexts:
        ctx.close()


def open_chat(page_factory, base, nick, room="lobby"):
    """A new browser page in ``room``: the nickname prompt, then connected and our own join notice shown."""
    from playwright.sync_api import expect

    page = page_factory()
    page.goto(f"{base}/#{room}")
    expect(page.locator("#nick-dialog")).to_be_visible()
    page.fill("#nick", nick)
    page.click("#nick-ok")
    expect(page.locator("#nick-dialog")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("connected")
    expect(page.locator("#room-name")).to_have_text("#" + room)
    expect(page.locator("#log .notice.join", has_text=f"{nick} joined")).to_have_count(1)
    expect(page.locator("#me")).to_have_text(nick)
    return page


def say(page, text):
    page.fill("#msg", text)
    page.press("#msg", "Enter")


def messages(page):
    return page.locator("#log li.msg")


@needs_chromium
def test_browser_two_pages_chat_and_a_third_gets_history(serve, page_factory):
    from playwright.sync_api import expect

    srv = serve(chat.create_app())
    ada = open_chat(page_factory, srv.url, "ada")
    expect(ada.locator("#members")).to_have_text("1")
    bob = open_chat(page_factory, srv.url, "bob")
    expect(bob.locator("#members")).to_have_text("2")
    expect(ada.locator("#log .notice.join", has_text="bob joined")).to_have_count(1)
    expect(ada.locator("#members")).to_have_text("2")
    expect(ada.locator("#online")).to_have_text("here: ada, bob")

    say(ada, "hello bob")
    for page in (ada, bob):
        expect(messages(page)).to_have_count(1)
        expect(messages(page).last.locator(".text")).to_have_text("hello bob")
        expect(messages(page).last.locator(".who")).to_have_text("ada")
    expect(ada.locator("#log li.msg.mine")).to_have_count(1)  # ada's own bubble
    expect(bob.locator("#log li.msg.mine")).to_have_count(0)
    expect(ada.locator("#msg")).to_have_value("")

    bob.fill("#msg", "hi ada <b>not bold</b>")
    bob.click("#send")
    for page in (ada, bob):
        expect(messages(page)).to_have_count(2)
        expect(messages(page).last.locator(".text")).to_have_text("hi ada <b>not bold</b>")  # text, not HTML
    expect(bob.locator("#log li.msg.mine")).to_have_count(1)

    carol = open_chat(page_factory, srv.url, "carol")
    expect(messages(carol)).to_have_count(2)  # the history, in order
    expect(messages(carol).locator(".text")).to_have_text(["hello bob", "hi ada <b>not bold</b>"])
    expect(messages(carol).locator(".who")).to_have_text(["ada", "bob"])
    expect(carol.locator("#members")).to_have_text("3")
    expect(ada.locator("#log .notice.join", has_text="carol joined")).to_have_count(1)
    expect(ada.locator("#rooms li[data-room=lobby] .count")).to_have_text("3")

    bob.close()
    for page in (ada, carol):
        expect(page.locator("#log .notice.leave", has_text="bob left")).to_have_count(1)
        expect(page.locator("#members")).to_have_text("2")
    expect(ada.locator("#online")).to_have_text("here: ada, carol")

    say(carol, "bob is gone")
    expect(messages(ada)).to_have_count(3)
    expect(messages(ada).last.locator(".text")).to_have_text("bob is gone")
    ada.screenshot(path=SCREENSHOT, full_page=True)
    assert ada.errors == [] and bob.errors == [] and carol.errors == []


@needs_chromium
def test_browser_room_isolation_and_switching(serve, page_factory):
    from playwright.sync_api import expect

    srv = serve(chat.create_app())
    ada = open_chat(page_factory, srv.url, "ada", "lobby")
    bob = open_chat(page_factory, srv.url, "bob", "random")
    expect(ada.locator("#rooms li[data-room=random] .count")).to_have_text("1")  # refreshed on join events

    say(ada, "lobby only")
    expect(messages(ada)).to_have_count(1)
    say(bob, "random only")
    expect(messages(bob)).to_have_count(1)
    expect(messages(bob).locator(".text")).to_have_text(["random only"])
    # a round trip in each room after the other's message: nothing crossed over
    say(ada, "lobby again")
    say(bob, "random again")
    expect(messages(ada).locator(".text")).to_have_text(["lobby only", "lobby again"])
    expect(messages(bob).locator(".text")).to_have_text(["random only", "random again"])
    expect(ada.locator("#members")).to_have_text("1")

    # bob moves to the lobby with the room list: he gets its history, ada sees him arrive
    bob.click("#rooms li[data-room=lobby] button")
    expect(bob.locator("#room-name")).to_have_text("#lobby")
    expect(bob.locator("#rooms li.current")).to_have_attribute("data-room", "lobby")
    expect(messages(bob).locator(".text")).to_have_text(["lobby only", "lobby again"])
    expect(ada.locator("#log .notice.join", has_text="bob joined")).to_have_count(1)
    expect(ada.locator("#members")).to_have_text("2")
    assert bob.url.endswith("#lobby")

    # a new room from the form
    bob.fill("#new-room", "side-room")
    bob.press("#new-room", "Enter")
    expect(bob.locator("#room-name")).to_have_text("#side-room")
    expect(bob.locator("#log .notice.join", has_text="bob joined")).to_have_count(1)
    expect(ada.locator("#log .notice.leave", has_text="bob left")).to_have_count(1)
    say(bob, "in the side room")
    expect(messages(bob).locator(".text")).to_have_text(["in the side room"])
    expect(ada.locator("#rooms li[data-room=side-room] .count")).to_have_text("1")
    expect(messages(ada)).to_have_count(2)
    assert ada.errors == [] and bob.errors == []


@needs_chromium
def test_browser_nickname_rules_and_reconnect(serve, page_factory):
    """The prompt refuses a bad nickname; the page reconnects after the server went away and came back."""
    from playwright.sync_api import expect

    app = chat.create_app()
    srv = serve(app)
    page = page_factory()
    page.goto(srv.url + "/")
    page.fill("#nick", " spaced")
    page.click("#nick-ok")
    expect(page.locator("#nick-error")).to_contain_text("leading or trailing spaces")
    expect(page.locator("#nick-dialog")).to_be_visible()
    page.fill("#nick", "ada")
    page.click("#nick-ok")
    expect(page.locator("#status")).to_have_text("connected")
    say(page, "before the restart")
    expect(messages(page)).to_have_count(1)

    port = srv.port
    srv.stop()
    expect(page.locator("#status")).not_to_have_text("connected")
    again = Server(app, host="127.0.0.1", port=port).start_in_thread()
    try:
        expect(page.locator("#status")).to_have_text("connected")
        expect(page.locator("#log .notice.join", has_text="ada joined")).to_have_count(1)
        expect(messages(page).locator(".text")).to_have_text(["before the restart"])  # history again
        say(page, "after the restart")
        expect(messages(page).locator(".text")).to_have_text(["before the restart", "after the restart"])
        # the nickname survives a reload (localStorage)
        page.reload()
        expect(page.locator("#status")).to_have_text("connected")
        expect(page.locator("#me")).to_have_text("ada")
        expect(page.locator("#nick-dialog")).to_be_hidden()
        assert page.errors == []
    finally:
        again.stop()
