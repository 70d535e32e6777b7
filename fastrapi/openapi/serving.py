"""What an app does about OpenAPI (``FastrAPI`` inherits it): its document settings, ``app.openapi()`` (built on
first use and kept in ``app.openapi_schema``) and the routes serving the document and the docs pages.

The document is served at FastAPI's ``openapi_url`` (``/openapi.json``) and at FastrAPI's own
``/api-docs/openapi.json``; Swagger UI at ``docs_url``, ReDoc at ``redoc_url``, and, as the original FastrAPI,
Scalar at ``scalar_url`` (``/scalar``) and Stoplight Elements at ``elements_url`` (``/elements``). ``None`` turns
a page off, and ``openapi_url=None`` turns everything off. None of these routes appear in the document.
"""
from __future__ import annotations

from typing import Any

from ..requests import Request
from ..responses import HTMLResponse, JSONResponse, Response
from .constants import FASTRAPI_OPENAPI_URL
from .docs import (
    get_elements_html,
    get_redoc_html,
    get_scalar_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from .utils import get_openapi, router_routes


class OpenAPIMixin:
    """The OpenAPI part of ``FastrAPI``: settings, ``openapi()`` and the documentation routes."""

    title: str
    version: str
    description: str
    router: Any
    routes: list[Any]

    def _docs_page_extra_html(self) -> str:
        """HTML the Swagger UI page adds at the top of its body (``AsyncAPIMixin``: the AsyncAPI link)."""
        return ""

    def _init_openapi(
        self,
        *,
        openapi_url: str | None = "/openapi.json",
        openapi_tags: list[dict[str, Any]] | None = None,
        servers: list[dict[str, Any]] | None = None,
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        scalar_url: str | None = "/scalar",
        elements_url: str | None = "/elements",
        swagger_ui_oauth2_redirect_url: str | None = "/docs/oauth2-redirect",
        swagger_ui_init_oauth: dict[str, Any] | None = None,
        swagger_ui_parameters: dict[str, Any] | None = None,
        summary: str | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, Any] | None = None,
        license_info: dict[str, Any] | None = None,
        root_path_in_servers: bool = True,
        separate_input_output_schemas: bool = True,
        openapi_external_docs: dict[str, Any] | None = None,
        webhooks: Any = None,
    ) -> None:
        """Keep the OpenAPI settings (FastAPI's attribute names) and register the documentation routes."""
        from ..routing import APIRouter

        self.openapi_url = openapi_url
        self.openapi_tags = openapi_tags
        self.servers = servers or []
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self.scalar_url = scalar_url
        self.elements_url = elements_url
        self.swagger_ui_oauth2_redirect_url = swagger_ui_oauth2_redirect_url
        self.swagger_ui_init_oauth = swagger_ui_init_oauth
        self.swagger_ui_parameters = swagger_ui_parameters
        self.summary = summary
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.root_path_in_servers = root_path_in_servers
        self.separate_input_output_schemas = separate_input_output_schemas
        self.openapi_external_docs = openapi_external_docs
        #: the ``APIRouter`` of the app's webhooks: documented under ``webhooks``, never served
        self.webhooks = webhooks if webhooks is not None else APIRouter()
        self.openapi_version = "3.1.0"
        #: the document, once ``openapi()`` built it (assign to it, or replace ``app.openapi``, to customise it)
        self.openapi_schema: dict[str, Any] | None = None
        self._openapi_built_for: tuple[int, int] | None = None
        self.setup()

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document, built on first call and kept in ``openapi_schema``; built again only when
        routes were added since."""
        built_for = (len(self.routes), len(getattr(self.webhooks, "specs", ())))
        if not self.openapi_schema or self._openapi_built_for != built_for:
            self.openapi_schema = get_openapi(
                title=self.title,
                version=self.version,
                openapi_version=self.openapi_version,
                summary=self.summary,
                description=self.description,
                terms_of_service=self.terms_of_service,
                contact=self.contact,
                license_info=self.license_info,
                routes=self.routes,
                webhooks=router_routes(self.webhooks),
                tags=self.openapi_tags,
                servers=self.servers,
                separate_input_output_schemas=self.separate_input_output_schemas,
                external_docs=self.openapi_external_docs,
            )
            self._openapi_built_for = built_for
        return self.openapi_schema

    def _add_docs_route(self, path: str, endpoint: Any) -> None:
        from ..routing import APIRoute

        self.router.add_route(APIRoute(path, endpoint, ["GET"], include_in_schema=False))

    def setup(self) -> None:
        """Register the routes of the document and the docs pages (as FastAPI's ``setup``)."""
        if not self.openapi_url:
            return

        async def openapi(req: Request) -> Response:
            root_path = (req.scope.get("root_path") or "").rstrip("/")  # a mounted app: the mount's path
            schema = self.openapi()
            if root_path and self.root_path_in_servers:
                server_urls = {s.get("url") for s in schema.get("servers", [])}
                if root_path not in server_urls:
                    schema = dict(schema)
                    schema["servers"] = [{"url": root_path}] + schema.get("servers", [])
            return JSONResponse(schema)

        self._add_docs_route(self.openapi_url, openapi)
        if self.openapi_url != FASTRAPI_OPENAPI_URL:
            self._add_docs_route(FASTRAPI_OPENAPI_URL, openapi)
        if self.docs_url:
            async def swagger_ui_html(req: Request) -> HTMLResponse:
                root_path = (req.scope.get("root_path") or "").rstrip("/")  # a mounted app: the mount's path
                oauth2_redirect_url = self.swagger_ui_oauth2_redirect_url
                if oauth2_redirect_url:
                    oauth2_redirect_url = root_path + oauth2_redirect_url
                page = get_swagger_ui_html(
                    openapi_url=root_path + str(self.openapi_url),
                    title=f"{self.title} - Swagger UI",
                    oauth2_redirect_url=oauth2_redirect_url,
                    init_oauth=self.swagger_ui_init_oauth,
                    swagger_ui_parameters=self.swagger_ui_parameters,
                )
                extra = self._docs_page_extra_html()
                if extra:  # (an app with WebSocket routes: a link to their AsyncAPI page)
                    page = HTMLResponse(page.body.decode().replace("<body>", "<body>\n" + extra, 1))
                return page

            self._add_docs_route(self.docs_url, swagger_ui_html)
            if self.swagger_ui_oauth2_redirect_url:
                async def swagger_ui_redirect(req: Request) -> HTMLResponse:
                    return get_swagger_ui_oauth2_redirect_html()

                self._add_docs_route(self.swagger_ui_oauth2_redirect_url, swagger_ui_redirect)
        if self.redoc_url:
            async def redoc_html(req: Request) -> HTMLResponse:
                root_path = (req.scope.get("root_path") or "").rstrip("/")  # a mounted app: the mount's path
                return get_redoc_html(openapi_url=root_path + str(self.openapi_url), title=f"{self.title} - ReDoc")

            self._add_docs_route(self.redoc_url, redoc_html)
        if self.scalar_url:
            async def scalar_html(req: Request) -> HTMLResponse:
                root_path = (getattr(self, "root_path", "") or "").rstrip("/")
                return get_scalar_html(openapi_url=root_path + str(self.openapi_url), title=f"{self.title} - Scalar")

            self._add_docs_route(self.scalar_url, scalar_html)
        if self.elements_url:
            async def elements_html(req: Request) -> HTMLResponse:
                root_path = (getattr(self, "root_path", "") or "").rstrip("/")
                return get_elements_html(openapi_url=root_path + str(self.openapi_url),
                                         title=f"{self.title} - Elements")

            self._add_docs_route(self.elements_url, elements_html)
