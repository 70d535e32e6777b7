"""``fastrapi.templating.Jinja2Templates`` with FastAPI's "Templates" docs example (a StaticFiles mount, a
template using ``url_for('static', path=...)`` and ``url_for('read_item', id=id)``), run through FastAPI's
TestClient and through FastrAPI's server and TestClient: the same pages, the same stylesheet."""
import warnings

import httpx
import pytest

from docs_apps import both

pytest.importorskip("jinja2")
fastapi = pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TheirClient

from fastrapi.testclient import TestClient as OurClient  # noqa: E402

TEMPLATES_APP = '''
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

app = FastAPI()

app.mount("/static", StaticFiles(directory="static"), name="static")


templates = Jinja2Templates(directory="templates")


@app.get("/items/{id}", response_class=HTMLResponse)
async def read_item(request: Request, id: str):
    return templates.TemplateResponse(
        request=request, name="item.html", context={"id": id}
    )
'''

ITEM_HTML = """<html>
<head>
    <title>Item Details</title>
    <link href="{{ url_for('static', path='/styles.css') }}" rel="stylesheet">
</head>
<body>
    <h1><a href="{{ url_for('read_item', id=id) }}">Item ID: {{ id }}</a></h1>
</body>
</html>
"""

STYLES_CSS = """h1 {
    color: green;
}
"""


@pytest.fixture
def docs_dir(tmp_path, monkeypatch):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "item.html").write_text(ITEM_HTML)
    (tmp_path / "templates" / "shout.html").write_text("{{ word | upper }} {{ request.url.path }} {{ extra }}")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "styles.css").write_text(STYLES_CSS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _page(response, host):
    return response.status_code, response.headers["content-type"], response.text.replace(host, "HOST")


def test_docs_example_against_fastapi(docs_dir, serve):
    theirs, ours = both(TEMPLATES_APP)
    their_client = TheirClient(theirs["app"])
    srv = serve(ours["app"])
    host = f"http://127.0.0.1:{srv.port}"
    for item in ("foo", "a b", "<script>"):
        url = "/items/" + httpx.URL(item).raw_path.decode()
        expected = _page(their_client.get(url), "http://testserver")
        assert _page(httpx.get(srv.url + url), host) == expected
        assert _page(OurClient(ours["app"]).get(url), "http://testserver") == expected
    page = httpx.get(srv.url + "/items/foo").text
    assert f'<link href="{host}/static/styles.css" rel="stylesheet">' in page
    assert f'<a href="{host}/items/foo">Item ID: foo</a>' in page
    assert "&lt;script&gt;" in httpx.get(srv.url + "/items/%3Cscript%3E").text  # autoescaped
    css = httpx.get(f"{host}/static/styles.css")
    assert (css.status_code, css.text) == (200, STYLES_CSS)
    assert css.headers["content-type"].startswith("text/css")
    assert ours["app"].openapi() == theirs["app"].openapi()


def test_url_for_uses_the_request_scheme(docs_dir):
    theirs, ours = both(TEMPLATES_APP)
    expected = TheirClient(theirs["app"], base_url="https://example.org").get("/items/x").text
    page = OurClient(ours["app"], base_url="https://example.org").get("/items/x").text
    assert page == expected
    assert 'href="https://example.org/static/styles.css"' in page


def test_template_response_options(docs_dir):
    """Status, headers, context processors, the ``template``/``context`` kept on the response, and the same
    answers as Starlette's class for the same calls."""
    from fastrapi import FastAPI, Request
    from fastrapi.templating import Jinja2Templates

    results = {}
    for fw, app, cls, client_cls in (
        ("ours", FastAPI(), Jinja2Templates, OurClient),
        ("theirs", fastapi.FastAPI(), fastapi.templating.Jinja2Templates, TheirClient),
    ):
        templates = cls(directory="templates", context_processors=[lambda request: {"extra": "x"}])

        @app.get("/shout/{word}")
        async def shout(request: Request if fw == "ours" else fastapi.Request, word: str):
            response = templates.TemplateResponse(request, "shout.html", {"word": word}, status_code=201,
                                                  headers={"x-t": "1"})
            assert response.template.name == "shout.html" and response.context["word"] == word
            return response

        answer = client_cls(app).get("/shout/hey")
        results[fw] = (answer.status_code, answer.headers["content-type"], answer.headers["x-t"], answer.text)
    assert results["ours"] == results["theirs"] == (201, "text/html; charset=utf-8", "1", "HEY /shout/hey x")


def test_needs_directory_or_env():
    import jinja2

    from fastrapi.templating import Jinja2Templates

    with pytest.raises(AssertionError):
        Jinja2Templates()
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.html": "{{ url_for }}"}))
    assert "url_for" in Jinja2Templates(env=env).env.globals
