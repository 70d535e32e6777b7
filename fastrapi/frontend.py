"""``app.frontend(path, directory=...)``: a static frontend build (``dist``) served as lowest-priority routes.

FastAPI's behaviour: the router looks at frontends only when no route (nor mount) takes the path and no
slash redirect applies, so API routes declared before or after always win. Under a frontend's path, a GET
or HEAD gets the file (a directory its ``index.html``, ``/dir`` redirected to ``/dir/``); a missing file
gets ``404.html`` with status 404 when there is one, else ``index.html`` (the single-page app's client-side
routing) when the request is a browser navigation (``Accept`` with HTML), else 404. Other methods get 405
where a file exists, else 404. Of several frontends the one with the longest path wins.

Files are served by ``StaticFiles`` (path traversal refused, symlinks out of the directory not followed,
conditional GET, ranges); the dependencies of the router that declares the frontend run first.
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import warnings
from contextlib import AsyncExitStack
from typing import Any, Literal, Optional, Sequence, Union

from .concurrency import run_in_threadpool
from .dependencies import Dependant, Plan, SolveContext, build_plan, solve_async
from .exceptions import HTTPException
from .responses import RedirectResponse, Response
from .staticfiles import StaticFiles, _scope_url, _with_slash

__all__ = ["FrontendFiles", "FrontendRoute", "is_navigation", "join_paths", "normalize_path", "resolve_check_dir"]

Fallback = Optional[Literal["auto", "index.html", "404.html"]]
PathLike = Union[str, "os.PathLike[str]"]

_FALLBACKS = ("auto", "index.html", "404.html", None)
_NAVIGATION_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def normalize_path(path: str) -> str:
    """A frontend's path: starts with ``/``, no trailing slash (except ``/`` itself)."""
    if not path:
        raise AssertionError("A frontend path cannot be empty")
    if not path.startswith("/"):
        raise AssertionError("A frontend path must start with '/'")
    return path if path == "/" else path.rstrip("/")


def join_paths(prefix: str, path: str) -> str:
    """A router prefix and a frontend path: ``/app`` + ``/`` is ``/app``."""
    if not prefix:
        return path
    return prefix if path == "/" else prefix + path


def _resolved(path: PathLike) -> str:
    return os.path.realpath(os.fspath(path))


def resolve_check_dir(directory: PathLike, check_dir: Union[bool, Literal["auto"]]) -> bool:
    """``check_dir="auto"``: check, unless in development (``FASTAPI_ENV=development``), where a missing
    directory only warns (the frontend may not be built yet)."""
    if check_dir != "auto":
        return bool(check_dir)
    if os.environ.get("FASTAPI_ENV") != "development":
        return True
    if not os.path.isdir(directory):
        warnings.warn(f"Frontend directory '{directory}' does not exist. "
                      f"Resolved absolute path: '{_resolved(directory)}'", stacklevel=_user_stacklevel())
    return False


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside fastrapi (the user's ``app.frontend(...)``), counted
    rather than fixed: a compiled module (fastrapi/_extensions.py) has no frame of its own."""
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def is_navigation(request: Any) -> bool:
    """Whether the request accepts HTML (``text/html`` or ``application/xhtml+xml`` with a quality above 0):
    what a browser sends when it loads a page, unlike a script's or an image's request."""
    accept = request.headers.get("accept", "")
    for value in accept.split(","):
        media_type, _, params = value.partition(";")
        if media_type.strip().lower() not in _NAVIGATION_TYPES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, raw = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(raw.strip().strip('"'))
                except ValueError:
                    pass
        if quality != 0:
            return True
    return False


class FrontendFiles(StaticFiles):
    """The files of one frontend: ``StaticFiles`` with directory indexes, no symlinks out, and the
    fallback rules above. Built (and checked) when the frontend is declared."""

    def __init__(self, *, directory: PathLike, fallback: Fallback, check_dir: bool) -> None:
        if fallback not in _FALLBACKS:
            raise AssertionError("fallback must be 'auto', 'index.html', '404.html', or None")
        self.fallback = fallback
        if check_dir and not os.path.isdir(directory):
            raise RuntimeError(f"Frontend directory '{directory}' does not exist. "
                               f"Resolved absolute path: '{_resolved(directory)}'")
        super().__init__(directory=directory, html=True, check_dir=check_dir, follow_symlink=False)
        if check_dir and fallback in ("index.html", "404.html"):
            if not self._is_file(self.lookup_path(fallback)[1]):
                raise RuntimeError(self._missing_fallback(fallback))

    @staticmethod
    def _is_file(stat_result: Optional[os.stat_result]) -> bool:
        return stat_result is not None and stat.S_ISREG(stat_result.st_mode)

    def _missing_fallback(self, fallback: str) -> str:
        return (f"Frontend fallback file '{fallback}' does not exist in directory '{self.directory}'. "
                f"Resolved absolute directory: '{_resolved(self.directory or '')}'")

    async def _lookup(self, path: str) -> tuple[str, Optional[os.stat_result]]:
        try:
            return await run_in_threadpool(self.lookup_path, path)
        except PermissionError:
            raise HTTPException(status_code=401) from None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise HTTPException(status_code=404) from None
            raise
        except ValueError:  # NUL bytes
            raise HTTPException(status_code=404) from None

    async def _find(self, path: str) -> Optional[tuple[str, os.stat_result, bool]]:
        """(full path, stat, is a directory's index) of the file ``path`` names, else None."""
        full_path, stat_result = await self._lookup(path)
        if stat_result is None:
            return None
        if stat.S_ISREG(stat_result.st_mode):
            return full_path, stat_result, False
        if stat.S_ISDIR(stat_result.st_mode):
            full_path, stat_result = await self._lookup(os.path.join(path, "index.html"))
            if self._is_file(stat_result):
                return full_path, stat_result, True  # type: ignore[return-value]
        return None

    async def _has(self, name: str) -> bool:
        return self._is_file((await run_in_threadpool(self.lookup_path, name))[1])

    async def _fallback(self, name: str, scope: dict[str, Any], status_code: int) -> Response:
        full_path, stat_result = await run_in_threadpool(self.lookup_path, name)
        if not self._is_file(stat_result):
            raise RuntimeError(self._missing_fallback(name))
        return self.file_response(full_path, stat_result, scope, status_code=status_code)  # type: ignore[arg-type]

    async def respond(self, rest: str, request: Any, scope: dict[str, Any]) -> Response:
        """The answer for ``rest``, the request path below the frontend's path."""
        if not self.config_checked:
            await self.check_config()
            self.config_checked = True
        path = os.path.normpath(os.path.join(*rest.split("/")))
        found = await self._find(path)
        if request.method not in ("GET", "HEAD"):
            raise HTTPException(status_code=405 if found is not None else 404)
        if found is not None:
            full_path, stat_result, is_index = found
            if is_index and not scope["path"].endswith("/"):
                return RedirectResponse(url=_with_slash(_scope_url(scope)))
            return self.file_response(full_path, stat_result, scope)
        fallback = self.fallback
        if fallback == "404.html" or (fallback == "auto" and await self._has("404.html")):
            return await self._fallback("404.html", scope, 404)
        if (fallback == "index.html" or (fallback == "auto" and await self._has("index.html"))) \
                and is_navigation(request):
            return await self._fallback("index.html", scope, 200)
        raise HTTPException(status_code=404)


def _frontend_endpoint() -> None:
    """The (empty) path operation the dependencies of a frontend are solved for."""


class FrontendRoute:
    """One frontend of a router: its full path, its files, and the dependencies of the routers that
    declared and included it (run before a file is served, as for a path operation)."""

    call_inline = None
    call_fast = None
    call_threaded = None
    serialize = None

    def __init__(self, path: str, files: FrontendFiles, dependencies: Sequence[Any] = ()) -> None:
        self.path = path
        self.files = files
        self.dependencies = list(dependencies)
        self.plan: Plan = build_plan(_frontend_endpoint, set())
        for dep in reversed(self.dependencies):
            self.plan.deps.insert(0, (None, Dependant(dep.dependency, dep.use_cache, set(), getattr(dep, "scopes", None))))
        self._prefix = "" if path == "/" else path + "/"

    def rest(self, route_path: str) -> Optional[str]:
        """The path below this frontend for a request path under it, else None."""
        if self.path == "/":
            return route_path.lstrip("/")
        if route_path == self.path:
            return ""
        if route_path.startswith(self._prefix):
            return route_path[len(self._prefix):]
        return None

    def bind(self, rest: str) -> "_Bound":
        return _Bound(self, rest)

    def __repr__(self) -> str:
        return f"FrontendRoute(path={self.path!r}, directory={self.files.directory!r})"


class _Bound:
    """A frontend matched for one request: what ``Router.match`` hands the server (``handle(request)``)."""

    __slots__ = ("route", "rest")
    call_inline = None
    call_fast = None
    call_threaded = None
    serialize = None
    stored = None

    def __init__(self, route: FrontendRoute, rest: str) -> None:
        self.route = route
        self.rest = rest

    async def handle(self, request: Any) -> Response:
        route = self.route
        scope = _request_scope(request)
        if not route.plan.has_deps or request.method not in ("GET", "HEAD"):
            return await route.files.respond(self.rest, request, scope)
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            app = request.app
            await solve_async(route.plan, request, SolveContext(stack, getattr(app, "dependency_overrides", None), set()))
            response = await route.files.respond(self.rest, request, scope)
        except BaseException as exc:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        earlier = response.background

        async def background() -> None:
            try:
                if earlier is not None:
                    await earlier()
            finally:
                await stack.aclose()

        response.background = background
        return response


def _request_scope(request: Any) -> dict[str, Any]:
    """What the file lookup needs of the request, ASGI-style: method, headers, and the full path and
    query (with the scheme and host) for a directory's redirect."""
    from .mounting import _scope

    full = getattr(request, "_full_path", None) or request.path
    return _scope(request, "http", full, "")
