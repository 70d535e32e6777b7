"""The AsyncAPI documentation page (served at ``/asyncapi``): AsyncAPI's standalone React component rendering the
document at ``asyncapi_url``. Its JavaScript and CSS come from a CDN, as Swagger UI's do, unless other URLs are
given (``asyncapi_js_url``, ``asyncapi_css_url``: files the app serves itself, e.g. from the npm package
``@asyncapi/react-component``: ``browser/standalone/index.js`` and ``styles/default.min.css``)."""
from __future__ import annotations

import html
from typing import Any

from ..openapi.docs import _html_safe_json
from ..responses import HTMLResponse

#: the React component's release the default URLs load (its standalone bundle renders AsyncAPI 3.0)
ASYNCAPI_REACT_VERSION = "3"
ASYNCAPI_JS_URL = (f"https://cdn.jsdelivr.net/npm/@asyncapi/react-component@{ASYNCAPI_REACT_VERSION}"
                   "/browser/standalone/index.js")
ASYNCAPI_CSS_URL = (f"https://cdn.jsdelivr.net/npm/@asyncapi/react-component@{ASYNCAPI_REACT_VERSION}"
                    "/styles/default.min.css")
ASYNCAPI_FAVICON_URL = "https://fastapi.tiangolo.com/img/favicon.png"

#: the component's configuration; ``config`` entries are added to (or replace) these
asyncapi_default_config: dict[str, Any] = {
    "show": {"sidebar": True, "info": True, "servers": True, "operations": True, "messages": True,
             "schemas": True, "errors": True},
    "sidebar": {"showServers": "byDefault", "showOperations": "byDefault"},
}


def get_asyncapi_html(
    *,
    asyncapi_url: str,
    title: str,
    asyncapi_js_url: str = ASYNCAPI_JS_URL,
    asyncapi_css_url: str = ASYNCAPI_CSS_URL,
    asyncapi_favicon_url: str = ASYNCAPI_FAVICON_URL,
    config: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The page that loads the AsyncAPI document at ``asyncapi_url`` into AsyncAPI's React component."""
    current = dict(asyncapi_default_config)
    if config:
        current.update(config)
    page = f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="{html.escape(asyncapi_css_url)}">
<link rel="shortcut icon" href="{html.escape(asyncapi_favicon_url)}">
<title>{html.escape(title)}</title>
</head>
<body>
<div id="asyncapi"></div>
<script src="{html.escape(asyncapi_js_url)}"></script>
<script>
AsyncApiStandalone.render({{
    schema: {{url: {_html_safe_json(asyncapi_url)}, requestOptions: {{method: "GET"}}}},
    config: {_html_safe_json(current)},
}}, document.getElementById("asyncapi"));
</script>
</body>
</html>
"""
    return HTMLResponse(page)


def asyncapi_link_html(asyncapi_docs_url: str) -> str:
    """The link the Swagger UI page (``/docs``) shows to the WebSocket documentation when the app has any."""
    return (f'<p id="asyncapi-link" style="font-family:sans-serif;margin:12px 20px 0;text-align:right">'
            f'<a href="{html.escape(asyncapi_docs_url)}">WebSocket API (AsyncAPI) &rarr;</a></p>')
