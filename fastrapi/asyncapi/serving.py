"""What an app does about AsyncAPI (``FastrAPI`` inherits it): ``app.asyncapi()`` (built on first use, kept in
``app.asyncapi_schema``) and the routes serving it: the document at ``asyncapi_url`` (``/asyncapi.json``) and the
page at ``asyncapi_docs_url`` (``/asyncapi``). ``None`` turns the page off; ``asyncapi_url=None`` both.

The two routes are added when the app gets its first WebSocket route (or mounts an app or router that may have
some), so an app without WebSocket routes has neither, as in FastAPI; and they answer 404 while no WebSocket
route exists. They do not appear in the OpenAPI document.
"""
from __future__ import annotations

from typing import Any

from ..requests import Request
from ..responses import HTMLResponse, JSONResponse, Response
from .docs import ASYNCAPI_CSS_URL, ASYNCAPI_FAVICON_URL, ASYNCAPI_JS_URL, asyncapi_link_html, get_asyncapi_html
from .utils import asyncapi_servers, get_asyncapi, websocket_routes


def _request_server(request: Request, root_path: str) -> dict[str, Any] | None:
    """The server the document was fetched from: ``wss`` when the request came over TLS or a proxy says it did
    (``X-Forwarded-Proto`` / ``Forwarded: proto=``), else ``ws``; the host it was asked for."""
    headers = request.headers
    host = (headers.get("x-forwarded-host") or "").split(",")[0].strip() or headers.get("host", "")
    if not host:
        return None
    transport = getattr(request, "_transport", None)
    secure = transport is not None and transport.get_extra_info("sslcontext") is not None
    proto = (headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    if not proto:
        for part in (headers.get("forwarded") or "").split(",")[0].split(";"):
            key, _, value = part.strip().partition("=")
            if key.lower() == "proto":
                proto = value.strip('"').lower()
    if proto:
        secure = proto in ("https", "wss")
    server: dict[str, Any] = {"host": host, "protocol": "wss" if secure else "ws"}
    if root_path:
        server["pathname"] = root_path
    return server


class AsyncAPIMixin:
    """The AsyncAPI part of ``FastrAPI``: settings, ``asyncapi()`` and the two documentation routes."""

    title: str
    version: str
    description: str
    router: Any
    routes: list[Any]

    def _init_asyncapi(
        self,
        *,
        asyncapi_url: str | None = "/asyncapi.json",
        asyncapi_docs_url: str | None = "/asyncapi",
        asyncapi_js_url: str = ASYNCAPI_JS_URL,
        asyncapi_css_url: str = ASYNCAPI_CSS_URL,
        asyncapi_favicon_url: str = ASYNCAPI_FAVICON_URL,
        asyncapi_config: dict[str, Any] | None = None,
    ) -> None:
        self.asyncapi_url = asyncapi_url
        self.asyncapi_docs_url = asyncapi_docs_url
        self.asyncapi_js_url = asyncapi_js_url
        self.asyncapi_css_url = asyncapi_css_url
        self.asyncapi_favicon_url = asyncapi_favicon_url
        #: the React component's configuration (``show``, ``sidebar``...), merged over the defaults
        self.asyncapi_config = asyncapi_config
        #: the document, once ``asyncapi()`` built it (assign to it, or replace ``app.asyncapi``, to customise it)
        self.asyncapi_schema: dict[str, Any] | None = None
        self._asyncapi_built_for: Any = None
        self._asyncapi_routes_added = False

    def has_websocket_routes(self) -> bool:
        """Whether the app (or an app or router mounted in it) has a WebSocket route."""
        return bool(websocket_routes(self.routes))

    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI 3.0 document of the app's WebSocket routes, built on first call and kept in
        ``asyncapi_schema``; built again only when routes were added since. Its ``servers`` come from the app's
        absolute ``servers`` URLs; the served document adds the one it was fetched from when there are none."""
        built_for = (len(self.routes), tuple(id(r) for _, r in websocket_routes(self.routes)))
        if not self.asyncapi_schema or self._asyncapi_built_for != built_for:
            self.asyncapi_schema = get_asyncapi(
                title=self.title,
                version=self.version,
                description=self.description,
                routes=self.routes,
                servers=asyncapi_servers(getattr(self, "servers", None)),
                tags=getattr(self, "openapi_tags", None),
                terms_of_service=getattr(self, "terms_of_service", None),
                contact=getattr(self, "contact", None),
                license_info=getattr(self, "license_info", None),
                external_docs=getattr(self, "openapi_external_docs", None),
                separate_input_output_schemas=getattr(self, "separate_input_output_schemas", True),
            )
            self._asyncapi_built_for = built_for
        return self.asyncapi_schema

    def _docs_page_extra_html(self) -> str:
        """What the Swagger UI page adds at the top of its body: a link to the AsyncAPI page when the app has
        WebSocket routes (nothing otherwise: the page stays FastAPI's)."""
        if not (self.asyncapi_url and self.asyncapi_docs_url and self._asyncapi_routes_added):
            return ""
        if not self.has_websocket_routes():
            return ""
        root_path = (getattr(self, "root_path", "") or "").rstrip("/")
        return asyncapi_link_html(root_path + self.asyncapi_docs_url)

    def setup_asyncapi(self) -> None:
        """Add the routes of the document and the page (once; called when the first WebSocket route comes)."""
        if self._asyncapi_routes_added or not self.asyncapi_url:
            return
        self._asyncapi_routes_added = True
        from ..exceptions import HTTPException
        from ..routing import APIRoute

        def add(path: str, endpoint: Any) -> None:
            self.router.add_route(APIRoute(path, endpoint, ["GET"], include_in_schema=False), shadowable=False)

        async def asyncapi_json(req: Request) -> Response:
            if not self.has_websocket_routes():
                raise HTTPException(404)
            root_path = (getattr(self, "root_path", "") or "").rstrip("/")
            schema = self.asyncapi()
            if not schema.get("servers"):
                server = _request_server(req, root_path)
                if server is not None:
                    schema = {**schema, "servers": {"default": server}}
            return JSONResponse(schema)

        add(self.asyncapi_url, asyncapi_json)
        if self.asyncapi_docs_url:
            async def asyncapi_html(req: Request) -> HTMLResponse:
                if not self.has_websocket_routes():
                    raise HTTPException(404)
                root_path = (getattr(self, "root_path", "") or "").rstrip("/")
                return get_asyncapi_html(
                    asyncapi_url=root_path + str(self.asyncapi_url),
                    title=f"{self.title} - AsyncAPI",
                    asyncapi_js_url=self.asyncapi_js_url,
                    asyncapi_css_url=self.asyncapi_css_url,
                    asyncapi_favicon_url=self.asyncapi_favicon_url,
                    config=self.asyncapi_config,
                )

            add(self.asyncapi_docs_url, asyncapi_html)
