"""The original FastrAPI's other documentation pages: Scalar at /scalar and Stoplight Elements at /elements
(``scalar_url=`` / ``elements_url=``, None turns each off), rendered in headless Chromium. The CDN is not
reachable from the test machines: the browser's requests for the CDN files are answered from the copies the
``flask-openapi-scalar`` and ``flask-openapi-elements`` packages ship (their standalone builds)."""
import importlib.util
import os
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from pydantic import BaseModel

import fastrapi
from fastrapi.openapi.docs import get_elements_html, get_scalar_html

from chromium import CHROMIUM  # noqa: E402


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.exists() else None


SCALAR_JS = _package_file("flask_openapi_scalar", "templates", "scalar", "js", "scalar.standalone.js")
ELEMENTS_JS = _package_file("flask_openapi_elements", "templates", "elements", "js", "web-components.min.js")
ELEMENTS_CSS = _package_file("flask_openapi_elements", "templates", "elements", "css", "styles.min.css")
#: CDN URL the pages load by default -> the local copy answering it
CDN_FILES = {
    "https://cdn.jsdelivr.net/npm/@scalar/api-reference": SCALAR_JS,
    "https://unpkg.com/@stoplight/elements/web-components.min.js": ELEMENTS_JS,
    "https://unpkg.com/@stoplight/elements/styles.min.css": ELEMENTS_CSS,
}


class Item(BaseModel):
    name: str
    price: float


def make_app(**kw):
    app = fastrapi.FastrAPI(title="Docs test", **kw)

    @app.get("/items/{item_id}", tags=["items"])
    async def read_item(item_id: int, q: str | None = None) -> Item:
        return Item(name=f"item {item_id}", price=1.5)

    @app.post("/items/", tags=["items"], status_code=201)
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/users/{name}", tags=["users"])
    async def read_user(name: str, x_token: Annotated[str | None, fastrapi.Header()] = None):
        return {"name": name}

    return app


# ---------------------------------------------------------------- the pages and their options
def test_pages_are_served_beside_swagger_and_redoc(serve):
    srv = serve(make_app())
    for url, marker in (("/scalar", "Scalar.createApiReference('#app', {\"url\": \"/openapi.json\"})"),
                        ("/elements", '<elements-api apiDescriptionUrl="/openapi.json" router="hash" '
                                      'layout="sidebar"></elements-api>')):
        r = httpx.get(srv.url + url)
        assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8", url
        assert marker in r.text, url
    assert "<title>Docs test - Scalar</title>" in httpx.get(srv.url + "/scalar").text
    for url in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(srv.url + url).status_code == 200
    assert "/scalar" not in str(httpx.get(srv.url + "/openapi.json").json()["paths"])


@pytest.mark.parametrize("kw,off,on", [
    ({"scalar_url": None}, ["/scalar"], ["/elements", "/docs"]),
    ({"elements_url": None}, ["/elements"], ["/scalar", "/redoc"]),
    ({"scalar_url": "/ref", "elements_url": "/api"}, ["/scalar", "/elements"], ["/ref", "/api"]),
    ({"openapi_url": None}, ["/scalar", "/elements"], []),
])
def test_pages_can_be_moved_or_switched_off(serve, kw, off, on):
    srv = serve(make_app(**kw))
    for url in off:
        assert httpx.get(srv.url + url).status_code == 404, url
    for url in on:
        assert httpx.get(srv.url + url).status_code == 200, url


def test_pages_follow_root_path_and_escape_their_input(serve):
    srv = serve(make_app(root_path="/proxy", openapi_url="/v1/spec.json"))
    assert '"url": "/proxy/v1/spec.json"' in httpx.get(srv.url + "/scalar").text
    assert 'apiDescriptionUrl="/proxy/v1/spec.json"' in httpx.get(srv.url + "/elements").text
    html = get_scalar_html(openapi_url="/o", title="t", scalar_configuration={"theme": "</script><b>"}).body.decode()
    assert "</script><b>" not in html and "\\u003c/script\\u003e" in html
    html = get_elements_html(openapi_url='/o"><script>', title="t").body.decode()
    assert '/o"><script>' not in html and "/o&quot;&gt;&lt;script&gt;" in html


# ---------------------------------------------------------------- in Chromium
needs_browser = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) or None in CDN_FILES.values(),
    reason=f"needs {CHROMIUM} (apt-get install chromium) and flask-openapi-scalar / flask-openapi-elements "
           "(pip install '.[test]')",
)


@pytest.fixture
def page(browser):
    """A page whose requests leave 127.0.0.1 only for the CDN files, answered from the local copies."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)  # a 5 MB script on a machine shared with other tests
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.errors = []
    page.outside = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))

    def handle(route):
        url = route.request.url
        if url.startswith("http://127.0.0.1:"):
            return route.continue_()
        local = CDN_FILES.get(url)
        if local is not None:
            content_type = "text/css" if url.endswith(".css") else "application/javascript"
            return route.fulfill(path=str(local), content_type=content_type)
        page.outside.append(url)  # fonts, favicon: not needed to render
        return route.abort()

    page.route("**/*", handle)
    yield page
    ctx.close()


@needs_browser
def test_scalar_renders_the_operations(serve, page):
    from playwright.sync_api import expect

    srv = serve(make_app())
    page.goto(srv.url + "/scalar")
    expect(page).to_have_title("Docs test - Scalar")
    expect(page.get_by_role("heading", name="Docs test", level=1)).to_be_visible()
    # the sidebar lists each operation of the open tag group, linked to its section
    expect(page.get_by_role("link", name="Read Item HTTP Method: GET")).to_have_attribute(
        "href", "#tag/items/GET/items/{item_id}")
    expect(page.get_by_role("link", name="Create Item HTTP Method: POST")).to_have_attribute(
        "href", "#tag/items/POST/items/")
    page.get_by_role("button", name="Open Group - users").click()
    expect(page.get_by_role("link", name="Read User HTTP Method: GET")).to_be_visible()
    expect(page.get_by_text("/items/{item_id}").first).to_be_attached()
    assert page.errors == []
    assert not any("@scalar/api-reference" in url for url in page.outside)


@needs_browser
def test_elements_renders_the_operations(serve, page):
    from playwright.sync_api import expect

    srv = serve(make_app())
    page.goto(srv.url + "/elements")
    expect(page).to_have_title("Docs test - Elements")
    expect(page.get_by_role("heading", name="Docs test", level=1)).to_be_visible()
    # operations are grouped by tag in the sidebar: open both groups
    page.get_by_text("items", exact=True).first.click()
    page.get_by_text("users", exact=True).first.click()
    for summary in ("Read Item", "Create Item", "Read User"):
        expect(page.get_by_text(summary, exact=True).first).to_be_visible()
    page.get_by_text("Read Item", exact=True).first.click()
    expect(page.get_by_text("/items/{item_id}").first).to_be_visible()
    assert page.errors == []
    assert not any("@stoplight/elements" in url for url in page.outside)


@needs_browser
def test_self_hosted_scalar(serve, page):
    """scalar_url=None and a page of the app's own, pointing at JS the app serves (no CDN at all)."""
    from playwright.sync_api import expect

    app = make_app(scalar_url=None)

    @app.get("/static/scalar.js", include_in_schema=False)
    async def scalar_js():
        return fastrapi.responses.FileResponse(SCALAR_JS, media_type="application/javascript")

    @app.get("/reference", include_in_schema=False)
    async def reference():
        return get_scalar_html(openapi_url=app.openapi_url, title="Own", scalar_js_url="/static/scalar.js",
                               scalar_favicon_url="/static/none.png",
                               scalar_configuration={"withDefaultFonts": False})  # (no font CDN either)

    srv = serve(app)
    page.goto(srv.url + "/reference")
    expect(page.get_by_role("link", name="Create Item HTTP Method: POST")).to_be_attached()
    assert page.errors == [] and page.outside == []
