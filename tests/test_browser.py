"""End-to-end: real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) loads the
demo page from a FastrAPI server, and a message typed in the page makes a WebSocket round trip."""
import os
import re
import uuid

import pytest

from chromium import CHROMIUM  # noqa: E402
SCREENSHOT = os.environ.get("DEMO_SCREENSHOT", "/tmp/demo.png")

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} not found (apt-get install chromium, or run scripts/test.sh which installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import expect  # noqa: E402  (after the skip check)

from modules import ROOT, load_module  # noqa: E402

DEMO_PATH = ROOT / "examples" / "demo" / "app.py"


demo = load_module(DEMO_PATH, "fastrapi_demo_app_browser")


@pytest.fixture
def page_factory(browser):
    contexts = []

    def new_page():
        ctx = browser.new_context(viewport={"width": 900, "height": 760})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield new_page
    for ctx in contexts:
        ctx.close()


def test_websocket_round_trip_in_browser(serve, page_factory):
    srv = serve(demo.create_app())
    page = page_factory()
    page.goto(srv.url + "/")

    expect(page).to_have_title(re.compile("FastrAPI demo"))
    expect(page.locator("#status")).to_have_text("connected")
    expect(page.locator("#clients")).to_have_text("1")
    expect(page.locator("#send")).to_be_enabled()
    # the page also fetched a JSON route
    expect(page.locator("#hello")).to_have_text("→ Hello from FastrAPI!")

    token = f"hello from chromium {uuid.uuid4().hex[:8]}"
    page.fill("#msg", token)
    page.click("#send")

    # our own bubble is drawn locally; the server's echo only appears after the round trip
    expect(page.locator("#log .msg.me")).to_have_text(re.compile(re.escape(token)))
    reply = page.locator("#log .msg.server")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text(token)
    expect(reply).to_contain_text("server time")
    expect(reply).to_have_attribute("data-n", "1")
    expect(page.locator("#msg")).to_have_value("")

    # Enter also sends; the per-connection counter advances on the server
    page.fill("#msg", "second message")
    page.press("#msg", "Enter")
    expect(reply).to_have_count(2)
    expect(reply.nth(1)).to_contain_text("second message")
    expect(reply.nth(1)).to_have_attribute("data-n", "2")

    page.screenshot(path=SCREENSHOT, full_page=True)
    assert page.errors == []


def test_two_browsers_see_each_other(serve, page_factory):
    srv = serve(demo.create_app())
    first = page_factory()
    first.goto(srv.url + "/")
    expect(first.locator("#status")).to_have_text("connected")
    expect(first.locator("#clients")).to_have_text("1")

    second = page_factory()
    second.goto(srv.url + "/")
    expect(second.locator("#status")).to_have_text("connected")
    expect(second.locator("#clients")).to_have_text("2")
    expect(first.locator("#clients")).to_have_text("2")  # pushed by the server

    second.close()
    expect(first.locator("#clients")).to_have_text("1")
    assert first.errors == [] and second.errors == []
