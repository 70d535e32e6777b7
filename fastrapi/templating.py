"""``Jinja2Templates`` (FastAPI's ``fastapi.templating``, Starlette's class): render Jinja2 templates into HTML
responses. Needs jinja2: ``pip install "fastrapi[templates]"``.

    templates = Jinja2Templates(directory="templates")

    @app.get("/items/{id}", response_class=HTMLResponse)
    async def read_item(request: Request, id: str):
        return templates.TemplateResponse(request=request, name="item.html", context={"id": id})

Templates get ``request`` and ``url_for`` (``{{ url_for('static', path='/styles.css') }}``: absolute URLs of
named routes and mounts, with the request's scheme, host and root path).
"""
from __future__ import annotations

from os import PathLike
from typing import Any, Callable, Mapping, Sequence

from .datastructures import URL
from .requests import Request
from .responses import HTMLResponse

try:
    import jinja2
except ImportError as _import_error:  # pragma: no cover - the extra is not installed
    raise ImportError('jinja2 must be installed to use Jinja2Templates: pip install "fastrapi[templates]"') \
        from _import_error

__all__ = ["Jinja2Templates"]


class _TemplateResponse(HTMLResponse):
    """An HTML response rendered from ``template``; keeps ``template`` and ``context`` for tests to inspect."""

    def __init__(self, template: Any, context: dict[str, Any], status_code: int = 200,
                 headers: Mapping[str, str] | None = None, media_type: str | None = None,
                 background: Callable[[], Any] | None = None) -> None:
        self.template = template
        self.context = context
        super().__init__(template.render(context), status_code, headers, media_type, background)


class Jinja2Templates:
    """Templates loaded from ``directory`` (one or several), or from a ready ``env``; ``context_processors``
    add to every template's context (each ``processor(request) -> dict``)."""

    def __init__(self, directory: str | PathLike[str] | Sequence[str | PathLike[str]] | None = None, *,
                 context_processors: list[Callable[[Request], dict[str, Any]]] | None = None,
                 env: jinja2.Environment | None = None) -> None:
        assert bool(directory) ^ bool(env), "either 'directory' or 'env' arguments must be passed"
        self.context_processors = context_processors or []
        if directory is not None:
            self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory),
                                          autoescape=jinja2.select_autoescape())
        else:
            self.env = env  # type: ignore[assignment]
        self._setup_env_defaults(self.env)

    def _setup_env_defaults(self, env: jinja2.Environment) -> None:
        @jinja2.pass_context
        def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
            request: Request = context["request"]
            return request.url_for(name, **path_params)

        env.globals.setdefault("url_for", url_for)

    def get_template(self, name: str) -> jinja2.Template:
        return self.env.get_template(name)

    def TemplateResponse(  # noqa: N802 - Starlette's name
        self, request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
        headers: Mapping[str, str] | None = None, media_type: str | None = None,
        background: Callable[[], Any] | None = None,
    ) -> _TemplateResponse:
        """Render ``name`` with ``context`` (plus ``request`` and the context processors') into an HTML response."""
        context = context or {}
        context.setdefault("request", request)
        for processor in self.context_processors:
            context.update(processor(request))
        return _TemplateResponse(self.get_template(name), context, status_code=status_code, headers=headers,
                                 media_type=media_type, background=background)
