"""The documentation pages: /docs (Swagger UI), /redoc and /docs/oauth2-redirect are FastAPI's pages byte for
byte, can be switched off, and really render the API in headless Chromium (Debian's /usr/bin/chromium driven by
Playwright). The CDN is not reachable from the test machines, so the Swagger UI / ReDoc files come from the
``fastapi-offline`` package: either the browser's requests to the CDN are answered from them, or the app serves
them itself and points ``get_swagger_ui_html(swagger_js_url=...)`` at them (FastAPI's self-hosting recipe)."""
import importlib.util
import os
import re
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from pydantic import BaseModel

import fastrapi
from fastrapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastrapi.responses import FileResponse

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from chromium import CHROMIUM  # noqa: E402


def _static_dir() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "static"
    return path if (path / "swagger-ui-bundle.js").exists() else None


STATIC = _static_dir()


class Item(BaseModel):
    name: str
    price: float


def make_app(fw, **kw):
    app = fw.FastAPI(title="Docs test", **kw)

    @app.get("/items/{item_id}", tags=["items"])
    async def read_item(item_id: int, q: str | None = None) -> Item:
        return Item(name=f"item {item_id}{' ' + q if q else ''}", price=1.5)

    @app.post("/items/", tags=["items"], status_code=201)
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/users/{name}")
    async def read_user(name: str, x_token: Annotated[str | None, fw.Header()] = None):
        return {"name": name}

    return app


PAGE_OPTIONS = dict(swagger_ui_parameters={"syntaxHighlight": False, "docExpansion": "none"},
                    swagger_ui_init_oauth={"clientId": "my-client", "appName": "<Docs>"})


# ---------------------------------------------------------------- the pages as FastAPI's
@pytest.mark.parametrize("kw", [{}, PAGE_OPTIONS, {"swagger_ui_oauth2_redirect_url": None},
                                {"openapi_url": "/v1/spec.json", "root_path": "/proxy"}],
                         ids=["default", "parameters", "no-oauth2-redirect", "custom-url-root-path"])
def test_pages_equal_fastapis(serve, kw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI deprecates root_path=
        fa_app = make_app(fastapi, **kw)
    with TestClient(fa_app) as client:
        expected = {url: client.get(url) for url in ("/docs", "/redoc", "/docs/oauth2-redirect")}
    srv = serve(make_app(fastrapi, **kw))
    for url, exp in expected.items():
        r = httpx.get(srv.url + url)
        assert (r.status_code, r.headers.get("content-type")) == (exp.status_code, exp.headers.get("content-type")), url
        assert r.text == exp.text, url


def test_page_functions_equal_fastapis():
    from fastapi.openapi import docs as fa

    kw = dict(openapi_url="/o.json", title="T", swagger_js_url="/s.js", swagger_css_url="/s.css",
              swagger_favicon_url="/f.png", oauth2_redirect_url="/r", init_oauth={"clientId": "x</script>"},
              swagger_ui_parameters={"deepLinking": False})
    assert get_swagger_ui_html(**kw).body == fa.get_swagger_ui_html(**kw).body
    kw = dict(openapi_url="/o.json", title="T", redoc_js_url="/r.js", redoc_favicon_url="/f", with_google_fonts=False)
    assert get_redoc_html(**kw).body == fa.get_redoc_html(**kw).body
    assert get_swagger_ui_oauth2_redirect_html().body == fa.get_swagger_ui_oauth2_redirect_html().body


@pytest.mark.parametrize("kw,off,on", [
    ({"docs_url": None}, ["/docs", "/docs/oauth2-redirect"], ["/redoc", "/openapi.json"]),
    ({"redoc_url": None}, ["/redoc"], ["/docs", "/openapi.json"]),
    ({"docs_url": "/swagger", "redoc_url": "/reference"}, ["/docs", "/redoc"], ["/swagger", "/reference"]),
    ({"openapi_url": None}, ["/docs", "/redoc", "/openapi.json", "/api-docs/openapi.json"], []),
])
def test_pages_can_be_moved_or_switched_off(serve, kw, off, on):
    srv = serve(make_app(fastrapi, **kw))
    for url in off:
        assert httpx.get(srv.url + url).status_code == 404, url
    for url in on:
        assert httpx.get(srv.url + url).status_code == 200, url


def test_swagger_page_escapes_its_configuration():
    html = get_swagger_ui_html(openapi_url="/o", title="t", init_oauth={"appName": "</script><b>"}).body.decode()
    assert "</script><b>" not in html and "\\u003c/script\\u003e" in html


# ---------------------------------------------------------------- in Chromium
needs_browser = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) or STATIC is None,
    reason=f"needs {CHROMIUM} (apt-get install chromium) and the fastapi-offline package (pip install '.[test]')",
)


@pytest.fixture
def page(browser):
    """A page whose requests leave 127.0.0.1 only for the CDN files, answered from the local copies."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.errors = []
    page.outside = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))

    def handle(route):
        url = route.request.url
        if url.startswith("http://127.0.0.1:"):
            return route.continue_()
        name = url.rsplit("/", 1)[-1]
        if url.startswith("https://cdn.jsdelivr.net/") and (STATIC / name).exists():
            return route.fulfill(path=str(STATIC / name))
        page.outside.append(url)  # fonts, favicon: not needed to render
        return route.abort()

    page.route("**/*", handle)
    yield page
    ctx.close()


def _expect_operations(page, expect):
    """Swagger UI shows each operation as a block: method, path, summary."""
    op = page.locator("#operations-items-read_item_items__item_id__get")
    expect(op).to_be_visible()
    expect(op.locator(".opblock-summary-method")).to_have_text("GET")
    expect(op.locator(".opblock-summary-path")).to_have_attribute("data-path", "/items/{item_id}")
    expect(op.locator(".opblock-summary-description")).to_have_text("Read Item")
    post = page.locator("#operations-items-create_item_items__post")
    expect(post.locator(".opblock-summary-method")).to_have_text("POST")
    expect(post.locator(".opblock-summary-path")).to_have_attribute("data-path", "/items/")
    expect(page.locator("#operations-default-read_user_users__name__get")).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("Docs test")


@needs_browser
def test_swagger_ui_renders_operations_and_runs_one(serve, page):
    """The built-in /docs page (CDN files served locally): the operations are listed, and "Try it out" sends a
    real request to the server and shows its answer."""
    from playwright.sync_api import expect

    srv = serve(make_app(fastrapi))
    page.goto(srv.url + "/docs")
    expect(page).to_have_title("Docs test - Swagger UI")
    _expect_operations(page, expect)

    op = page.locator("#operations-items-read_item_items__item_id__get")
    op.locator(".opblock-summary").click()
    expect(op.locator("tr[data-param-name='item_id']")).to_be_visible()
    expect(op.locator("tr[data-param-name='q']")).to_be_visible()
    op.locator(".try-out__btn").click()
    op.locator("tr[data-param-name='item_id'] input").fill("42")
    op.locator("tr[data-param-name='q'] input").fill("blue")
    op.locator(".execute").click()
    answer = op.locator(".live-responses-table tr.response")
    expect(answer.locator(".response-col_status")).to_have_text(re.compile(r"^\s*200"))
    expect(answer.locator(".response-col_description")).to_contain_text("item 42 blue")
    assert page.errors == []
    assert not any("cdn.jsdelivr.net" in url for url in page.outside)


@needs_browser
def test_self_hosted_swagger_ui(serve, page):
    """FastAPI's self-hosting recipe: docs_url=None, the app serves the JS/CSS and its own /docs page."""
    from playwright.sync_api import expect

    app = make_app(fastrapi, docs_url=None)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str):
        return FileResponse(STATIC / name)

    @app.get("/docs", include_in_schema=False)
    async def custom_swagger_ui_html():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " - Swagger UI",
                                   swagger_js_url="/static/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui.css", swagger_favicon_url="/static/favicon.png")

    srv = serve(app)
    page.goto(srv.url + "/docs")
    _expect_operations(page, expect)
    assert page.outside == [] and page.errors == []
    assert "/static/" not in str(httpx.get(srv.url + "/openapi.json").json()["paths"])


@needs_browser
def test_redoc_renders_operations(serve, page):
    from playwright.sync_api import expect

    if not (STATIC / "redoc.standalone.js").exists():
        pytest.skip("fastapi-offline without redoc.standalone.js")
    srv = serve(make_app(fastrapi))
    page.goto(srv.url + "/redoc")
    expect(page).to_have_title("Docs test - ReDoc")
    expect(page.locator("h1").first).to_contain_text("Docs test")
    expect(page.get_by_role("heading", name="Read Item").first).to_be_visible()
    expect(page.get_by_text("/items/{item_id}").first).to_be_attached()
    expect(page.get_by_role("heading", name="Create Item").first).to_be_attached()
    assert page.errors == []
