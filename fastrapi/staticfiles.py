"""``StaticFiles``: serve a directory (and packages' ``statics`` folders) under ``app.mount(path, ...)``.

Starlette's class, same arguments, methods and answers. Mounted in a FastrAPI app it is served natively
(``fastrapi.mounting.Mount`` calls ``get_path``/``get_response`` with a small scope dict and the server sends
the ``FileResponse`` with sendfile, ranges and conditional GET); it is also a plain ASGI app.

A request never reads outside the served directories: the path is normalised, absolute paths are refused,
and the resolved path must stay under the directory (after following symlinks unless ``follow_symlink``).
"""
from __future__ import annotations

import errno
import importlib.util
import os
import stat
from email.utils import parsedate
from typing import Any, Mapping, MutableMapping, Union

from .concurrency import run_in_threadpool
from .datastructures import Headers
from .exceptions import HTTPException
from .responses import FilePlan, FileResponse, PlainTextResponse, RedirectResponse, Response

__all__ = ["StaticFiles", "NotModifiedResponse"]

PathLike = Union[str, "os.PathLike[str]"]
Scope = MutableMapping[str, Any]


class NotModifiedResponse(Response):
    """A 304 keeping only the headers RFC 9110 allows from the 200 it replaces (Starlette's)."""

    NOT_MODIFIED_HEADERS = ("cache-control", "content-location", "date", "etag", "expires", "vary")

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(
            status_code=304,
            headers={name: value for name, value in headers.items() if name in self.NOT_MODIFIED_HEADERS},
        )


def get_route_path(scope: Scope) -> str:
    """The request path below the scope's ``root_path`` (Starlette's helper)."""
    path: str = scope["path"]
    root_path = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path):]
    return path


def _scope_url(scope: Scope) -> str:
    """The request's absolute URL from an ASGI-style scope (as ``starlette.datastructures.URL(scope=...)``)."""
    scheme = scope.get("scheme", "http")
    path = scope["path"]
    host = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    server = scope.get("server")
    if host is not None:
        url = f"{scheme}://{host}{path}"
    elif server is None:
        url = path
    else:
        name, port = server
        default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
        url = f"{scheme}://{name}{path}" if port == default else f"{scheme}://{name}:{port}{path}"
    query = scope.get("query_string", b"")
    return url + ("?" + query.decode("latin-1") if query else "")


def _with_slash(url: str) -> str:
    """``url`` with ``/`` appended to its path (before any query)."""
    base, sep, query = url.partition("?")
    return base + "/" + sep + query


class StaticFiles:
    """Serve the files of ``directory`` and of each package's ``statics`` folder (``packages``).

    ``html=True``: a directory answers its ``index.html`` (redirecting ``/dir`` to ``/dir/``), and a missing
    file the directory's ``404.html`` if there is one. ``check_dir``: fail at construction when ``directory``
    does not exist. ``follow_symlink``: serve symlinks that point outside the directory. The directory may be
    given positionally (``StaticFiles("static", html=True)``), as the original FastrAPI allows.
    """

    def __init__(
        self,
        directory: PathLike | None = None,
        *,
        packages: list[str | tuple[str, str]] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
    ) -> None:
        self.directory = directory
        self.packages = packages
        self.all_directories = self.get_directories(directory, packages)
        self.html = html
        self.config_checked = False
        self.follow_symlink = follow_symlink
        if check_dir and directory is not None and not os.path.isdir(directory):
            raise RuntimeError(f"Directory '{directory}' does not exist")

    def get_directories(
        self,
        directory: PathLike | None = None,
        packages: list[str | tuple[str, str]] | None = None,
    ) -> list[PathLike]:
        """The directories files are looked up in, in order: ``directory``, then each package's folder."""
        directories: list[PathLike] = []
        if directory is not None:
            directories.append(directory)
        for package in packages or []:
            if isinstance(package, tuple):
                package, statics_dir = package
            else:
                statics_dir = "statics"
            spec = importlib.util.find_spec(package)
            assert spec is not None, f"Package {package!r} could not be found."
            assert spec.origin is not None, f"Package {package!r} could not be found."
            package_directory = os.path.normpath(os.path.join(spec.origin, "..", statics_dir))
            assert os.path.isdir(package_directory), (
                f"Directory '{statics_dir!r}' in package {package!r} could not be found."
            )
            directories.append(package_directory)
        return directories

    # ------------------------------------------------------------------ serving
    async def serve(self, scope: Scope) -> Response:
        """The response for one HTTP request (native entry point used by ``Mount``); raises HTTPException."""
        if not self.config_checked:
            await self.check_config()
            self.config_checked = True
        return await self.get_response(self.get_path(scope), scope)

    def get_path(self, scope: Scope) -> str:
        """The file path to serve, with OS separators and any ``..``/``.`` components collapsed."""
        route_path = get_route_path(scope)
        return os.path.normpath(os.path.join(*route_path.split("/")))

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The response for ``path`` (from ``get_path``): the file, a directory's index, a redirect, or
        HTTPException 404 / 405 / 401 (Starlette's rules)."""
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        try:
            full_path, stat_result = await run_in_threadpool(self.lookup_path, path)
        except PermissionError:
            raise HTTPException(status_code=401) from None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # too long to be a file here
                raise HTTPException(status_code=404) from None
            raise
        except ValueError:  # NUL bytes or other characters no path can hold
            raise HTTPException(status_code=404) from None

        if stat_result and stat.S_ISREG(stat_result.st_mode):
            return self.file_response(full_path, stat_result, scope)

        if stat_result and stat.S_ISDIR(stat_result.st_mode) and self.html:
            index_path = os.path.join(path, "index.html")
            full_path, stat_result = await run_in_threadpool(self.lookup_path, index_path)
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                if not scope["path"].endswith("/"):
                    # Directory URLs always end in "/", so that relative links in the page resolve.
                    return RedirectResponse(url=_with_slash(_scope_url(scope)))
                return self.file_response(full_path, stat_result, scope)

        if self.html:
            full_path, stat_result = await run_in_threadpool(self.lookup_path, "404.html")
            if stat_result and stat.S_ISREG(stat_result.st_mode):
                return FileResponse(full_path, stat_result=stat_result, status_code=404)
        raise HTTPException(status_code=404)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        """Blocking: the first directory's file at ``path`` and its stat, ("", None) when there is none.

        A path that resolves outside its directory (``..``, an absolute path, a symlink out unless
        ``follow_symlink``) is never found."""
        if path.startswith(("/", "\\")):
            return "", None
        for directory in self.all_directories:
            joined_path = os.path.join(directory, path)
            if self.follow_symlink:
                full_path = os.path.abspath(joined_path)
                directory = os.path.abspath(directory)
            else:
                full_path = os.path.realpath(joined_path)
                directory = os.path.realpath(directory)
            if os.path.commonpath([full_path, directory]) != str(directory):
                continue  # outside the served directory
            try:
                return full_path, os.stat(full_path)
            except (FileNotFoundError, NotADirectoryError):
                continue
        return "", None

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file's response, or a 304 when the request's ``If-None-Match``/``If-Modified-Since`` match."""
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result)
        if self.is_not_modified(response.headers, Headers(scope["headers"])):
            return NotModifiedResponse(response.headers)
        return response

    async def check_config(self) -> None:
        """Once, on the first request: fail loudly (RuntimeError) when ``directory`` is missing or a file."""
        if self.directory is None:
            return
        try:
            stat_result = await run_in_threadpool(os.stat, self.directory)
        except FileNotFoundError:
            raise RuntimeError(f"StaticFiles directory '{self.directory}' does not exist.") from None
        if not (stat.S_ISDIR(stat_result.st_mode) or stat.S_ISLNK(stat_result.st_mode)):
            raise RuntimeError(f"StaticFiles path '{self.directory}' is not a directory.")

    def is_not_modified(self, response_headers: Any, request_headers: Any) -> bool:
        """True when a 304 can answer: If-None-Match matches the ETag (it wins when present), else
        If-Modified-Since is at or after Last-Modified."""
        if_none_match = request_headers.get("if-none-match")
        if if_none_match:
            if if_none_match.strip() == "*":
                return True
            etag = response_headers["etag"]
            return etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        try:
            if_modified_since = parsedate(request_headers["if-modified-since"])
            last_modified = parsedate(response_headers["last-modified"])
            if if_modified_since is not None and last_modified is not None and if_modified_since >= last_modified:
                return True
        except KeyError:
            pass
        return False

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """The ASGI entry point (for use outside FastrAPI's server): errors answer as plain text."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000, "reason": ""})
            return
        assert scope["type"] == "http"
        try:
            response = await self.serve(scope)
        except HTTPException as exc:
            response = PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)
        await send_asgi_response(response, scope, send)


async def send_asgi_response(response: Response, scope: Scope, send: Any) -> None:
    """Send a Response (a FileResponse too: ranges, 304, HEAD) over ASGI ``send``."""
    head = scope.get("method") == "HEAD"
    if isinstance(response, FileResponse):
        fd, st = await run_in_threadpool(response.open_file, not head)
        try:
            plan = response.plan(scope["method"], scope.get("headers", ()), st)
            if not isinstance(plan, FilePlan):
                await send_asgi_response(plan, scope, send)
                return
            await send({"type": "http.response.start", "status": plan.status, "headers": plan.raw_headers})
            for prefix, offset, end in plan.segments:
                if prefix:
                    await send({"type": "http.response.body", "body": prefix, "more_body": True})
                while offset < end:
                    chunk = await run_in_threadpool(os.pread, fd, min(response.chunk_size, end - offset), offset)
                    if not chunk:
                        raise RuntimeError(f"File at path {response.path} is shorter than its Content-Length")
                    offset += len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": plan.trailer, "more_body": False})
        finally:
            if fd >= 0:
                os.close(fd)
        return
    body = response.body
    headers = list(response.raw_headers)
    if response.status_code >= 200 and response.status_code not in (204, 304):
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body, "more_body": False})
