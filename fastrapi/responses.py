"""Response classes (Starlette/FastAPI names): the status, headers and body a handler answers with."""
from __future__ import annotations

import functools

import hashlib
import http.cookies
import os
import stat as stat_module
import time
from email.utils import format_datetime, formatdate, parsedate
from datetime import datetime, timezone
from mimetypes import guess_type
from secrets import token_hex
from typing import Any, Callable, Iterable, Literal, Mapping, NamedTuple
from urllib.parse import quote

import orjson

from .jsoncodec import ensure_finite

try:
    import ujson
except ImportError:  # optional, like in FastAPI: only UJSONResponse needs it
    ujson = None

__all__ = [
    "Response",
    "JSONResponse",
    "ORJSONResponse",
    "HTMLResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "StreamingResponse",
    "FileResponse",
    "UJSONResponse",
]


class Response:
    """A complete response: ``content`` (bytes or str), ``status_code``, ``headers``, ``media_type``."""

    media_type: str | None = None
    charset = "utf-8"
    #: set when a handler returned this response itself (a ``response: Response`` parameter then does not apply)
    from_handler = False

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        self.body = self.render(content)
        self.raw_headers: list[tuple[bytes, bytes]] = self._init_headers(headers)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, (bytes, memoryview, bytearray)):
            return bytes(content)
        return content.encode(self.charset)

    def _init_headers(self, headers: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
        raw: list[tuple[bytes, bytes]] = []
        has_type = False
        if headers:
            for k, v in headers.items():
                name = k.lower().encode("latin-1")
                if name == b"content-length":
                    continue  # the server always sets it from the body
                if name == b"content-type":
                    has_type = True
                raw.append((name, str(v).encode("latin-1")))
        media_type = self.media_type
        if media_type is not None and not has_type:
            if media_type.startswith("text/") and "charset=" not in media_type.lower():
                media_type += "; charset=" + self.charset
            raw.append((b"content-type", media_type.encode("latin-1")))
        return raw

    @property
    def headers(self) -> "MutableHeaders":
        return MutableHeaders(self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Add a ``Set-Cookie`` header (same arguments as Starlette)."""
        cookie: http.cookies.BaseCookie[str] = http.cookies.SimpleCookie()
        cookie[key] = value
        if max_age is not None:
            cookie[key]["max-age"] = max_age
        if expires is not None:
            if isinstance(expires, datetime):
                cookie[key]["expires"] = format_datetime(expires.astimezone(timezone.utc), usegmt=True)
            elif isinstance(expires, int):
                cookie[key]["expires"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + expires))
            else:
                cookie[key]["expires"] = expires
        if path is not None:
            cookie[key]["path"] = path
        if domain is not None:
            cookie[key]["domain"] = domain
        if secure:
            cookie[key]["secure"] = True
        if httponly:
            cookie[key]["httponly"] = True
        if samesite is not None:
            cookie[key]["samesite"] = samesite
        self.raw_headers.append((b"set-cookie", cookie.output(header="").strip().encode("latin-1")))

    def delete_cookie(self, key: str, path: str = "/", domain: str | None = None, secure: bool = False,
                      httponly: bool = False, samesite: Literal["lax", "strict", "none"] | None = "lax") -> None:
        self.set_cookie(key, max_age=0, expires=0, path=path, domain=domain, secure=secure,
                        httponly=httponly, samesite=samesite)


class MutableHeaders:
    """Case-insensitive view over a response's raw header list that writes through (Starlette's
    ``MutableHeaders``: ``headers[k] = v`` replaces the first ``k`` in place and drops the others)."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def __getitem__(self, key: str) -> str:
        k = key.lower().encode("latin-1")
        for name, value in self.raw:
            if name == k:
                return value.decode("latin-1")
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def getlist(self, key: str) -> list[str]:
        k = key.lower().encode("latin-1")
        return [v.decode("latin-1") for n, v in self.raw if n == k]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1") in (n for n, _ in self.raw)

    def __setitem__(self, key: str, value: str) -> None:
        k = key.lower().encode("latin-1")
        v = value.encode("latin-1")
        found = [i for i, (n, _) in enumerate(self.raw) if n == k]
        if not found:
            self.raw.append((k, v))
            return
        for i in reversed(found[1:]):
            del self.raw[i]
        self.raw[found[0]] = (k, v)

    def __delitem__(self, key: str) -> None:
        k = key.lower().encode("latin-1")
        self.raw[:] = [(n, v) for n, v in self.raw if n != k]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.raw)

    def keys(self) -> list[str]:
        return [n.decode("latin-1") for n, _ in self.raw]

    def values(self) -> list[str]:
        return [v.decode("latin-1") for _, v in self.raw]

    def items(self) -> list[tuple[str, str]]:
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw]

    def append(self, key: str, value: str) -> None:
        self.raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))

    def setdefault(self, key: str, value: str) -> str:
        """The header's value; ``value`` is set first when the header is absent."""
        current = self.get(key)
        if current is None:
            self.append(key, value)
            return value
        return current

    def update(self, other: Any = (), **kwargs: str) -> None:
        items = other.items() if hasattr(other, "items") else other
        for key, value in [*items, *kwargs.items()]:
            self[key] = value

    def add_vary_header(self, vary: str) -> None:
        existing = self.get("vary")
        if existing is not None:
            vary = ", ".join([existing, vary])
        self["vary"] = vary

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MutableHeaders):
            return sorted(self.raw) == sorted(other.raw)
        return NotImplemented

    def __repr__(self) -> str:
        return f"MutableHeaders({self.items()!r})"


def _json_default(obj: Any) -> Any:
    from .encoders import jsonable_encoder

    return jsonable_encoder(obj)


class JSONResponse(Response):
    """``content`` serialized as compact JSON (orjson)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Compact JSON; ``ValueError`` for inf/NaN (Starlette's ``allow_nan=False``) rather than ``null``."""
        out = orjson.dumps(content, default=_json_default)
        if 110 in out and out.partition(b"null")[1]:
            ensure_finite(content, _json_default)
        return out


ORJSONResponse = JSONResponse


class UJSONResponse(JSONResponse):
    """``content`` serialized with ujson (FastAPI's class; ujson must be installed)."""

    def render(self, content: Any) -> bytes:
        assert ujson is not None, "ujson must be installed to use UJSONResponse"
        return ujson.dumps(content, ensure_ascii=False).encode("utf-8")


def encoded_json_response(
    body: bytes,
    status_code: int = 200,
    headers: "Iterable[tuple[bytes, bytes]]" = (),
    cls: "type[Response] | None" = None,
) -> Response:
    """A JSON response around an already-encoded body (nothing is rendered again)."""
    resp = Response.__new__(cls or JSONResponse)
    resp.status_code = status_code
    resp.body = body
    resp.background = None
    resp.raw_headers = [(b"content-type", b"application/json"), *headers]
    return resp


class HTMLResponse(Response):
    media_type = "text/html"


class PlainTextResponse(Response):
    media_type = "text/plain"


class RedirectResponse(Response):
    """Redirect to ``url`` (307 Temporary Redirect by default, like Starlette)."""

    def __init__(
        self,
        url: str,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(content=b"", status_code=status_code, headers=headers, background=background)
        self.raw_headers.append((b"location", quote(str(url), safe=":/%#?=@[]!$&'()*+,;").encode("latin-1")))


class StreamingResponse(Response):
    """A body produced piece by piece from a sync or async iterator of ``bytes``/``str`` (chunked on HTTP/1.1).

    Server-Sent Events work through it: ``StreamingResponse(events(), media_type="text/event-stream")``.
    The server stops iterating (and closes an async generator) when the client goes away.
    """

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, media_type, background)  # headers now, body streamed
        if hasattr(content, "__aiter__"):
            self.body_iterator = content
        else:
            self.body_iterator = _iterate_in_threadpool(iter(content))


async def _iterate_in_threadpool(iterator: Any) -> Any:
    """Drive a sync iterator from the thread pool, so a blocking generator doesn't stall the loop (read ahead
    by a few items per trip to the pool, each passed on as soon as it is made: ``concurrency.ReadAhead``)."""
    import asyncio

    from .concurrency import ReadAhead

    done = object()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio (ASGI under trio): one trip to anyio's threads per item
        from .concurrency import run_in_threadpool

        while True:
            item = await run_in_threadpool(next, iterator, done)
            if item is done:
                return
            yield item
    reader = ReadAhead(loop, functools.partial(next, iterator, done), done)
    try:
        while True:
            item = await reader.next()
            if item is done:
                return
            yield item
    finally:
        reader.stop()


class MalformedRangeHeader(Exception):
    """A ``Range`` header that cannot be parsed: answered with 400 (as Starlette does)."""

    def __init__(self, content: str = "Malformed range header.") -> None:
        self.content = content


class RangeNotSatisfiable(Exception):
    """A ``Range`` starting at or past the end of the file: answered with 416."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size


class FilePlan(NamedTuple):
    """What the server writes for a FileResponse: the status and head, then each segment (bytes written
    before it, start and end offsets in the file), then ``trailer``. No segments: the head only."""

    status: int
    raw_headers: list[tuple[bytes, bytes]]
    segments: list[tuple[bytes, int, int]]
    trailer: bytes


#: what a 304 keeps of the 200's headers (RFC 9110 §15.4.5; Starlette's StaticFiles keeps the same)
_NOT_MODIFIED_HEADERS = frozenset((b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary"))


class FileResponse(Response):
    """A file from disk, sent with Content-Length (sendfile where possible) without reading it into memory.

    Headers as Starlette's: the type guessed from ``filename`` or ``path``, ``content-disposition`` when
    ``filename`` is given, ``accept-ranges``, and ``content-length``/``last-modified``/``etag`` from the file's
    stat (taken when the response is sent unless ``stat_result`` is given). The server answers ``Range``
    (206, multipart/byteranges, 416), ``If-Range``, ``If-None-Match``/``If-Modified-Since`` (304) and HEAD.
    """

    chunk_size = 256 * 1024
    max_ranges = 100
    body = b""

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        method: str | None = None,
        content_disposition_type: str = "attachment",
    ) -> None:
        self.path = path
        self.status_code = status_code
        self.filename = filename
        self.send_header_only = method is not None and method.upper() == "HEAD"
        if media_type is None:
            media_type = guess_type(filename or path)[0] or "application/octet-stream"
        self.media_type = media_type
        self.background = background
        self.raw_headers = self._init_headers(headers)
        h = self.headers
        h.setdefault("accept-ranges", "bytes")
        if filename is not None:
            quoted = quote(filename)
            if quoted != filename:
                h.setdefault("content-disposition", f"{content_disposition_type}; filename*=utf-8''{quoted}")
            else:
                h.setdefault("content-disposition", f'{content_disposition_type}; filename="{filename}"')
        self.stat_result = stat_result
        if stat_result is not None:
            self.set_stat_headers(stat_result)

    def set_stat_headers(self, stat_result: os.stat_result) -> None:
        """``content-length``, ``last-modified`` and ``etag`` (md5 of mtime and size, as Starlette) unless set."""
        h = self.headers
        etag_base = f"{stat_result.st_mtime}-{stat_result.st_size}"
        h.setdefault("content-length", str(stat_result.st_size))
        h.setdefault("last-modified", formatdate(stat_result.st_mtime, usegmt=True))
        h.setdefault("etag", f'"{hashlib.md5(etag_base.encode(), usedforsecurity=False).hexdigest()}"')

    def open_file(self, want_fd: bool) -> tuple[int, os.stat_result]:
        """Blocking (run it in the thread pool): stat the path unless a stat was given, and open it when
        ``want_fd`` (else -1). RuntimeError, as Starlette, when it does not exist or is not a regular file."""
        st = self.stat_result
        if st is None:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                raise RuntimeError(f"File at path {self.path} does not exist.") from None
            if not stat_module.S_ISREG(st.st_mode):
                raise RuntimeError(f"File at path {self.path} is not a file.")
        if not want_fd:
            return -1, st
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise RuntimeError(f"File at path {self.path} does not exist.") from None
        return fd, st

    def plan(self, method: str, request_headers: Iterable[tuple[bytes, bytes]],
             stat_result: os.stat_result) -> "FilePlan | Response":
        """What to send for this request: a FilePlan, or a small complete Response (304, 400, 416)."""
        self.set_stat_headers(stat_result)
        size = stat_result.st_size
        head_only = method == "HEAD" or self.send_header_only
        if self.status_code != 200 or method not in ("GET", "HEAD"):
            return self._whole(size, head_only)
        http_range = if_range = if_none_match = if_modified_since = None
        for name, value in request_headers:
            if name == b"range":
                http_range = value.decode("latin-1")
            elif name == b"if-range":
                if_range = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"if-modified-since":
                if_modified_since = value.decode("latin-1")
        if (if_none_match or if_modified_since) and self._not_modified(if_none_match, if_modified_since):
            resp = Response(status_code=304)
            resp.raw_headers = [(n, v) for n, v in self.raw_headers if n in _NOT_MODIFIED_HEADERS]
            return resp
        if http_range is None or (if_range is not None and not self._should_use_range(if_range)):
            return self._whole(size, head_only)
        try:
            ranges = self._parse_range_header(http_range, size)
        except MalformedRangeHeader as exc:
            return PlainTextResponse(exc.content, status_code=400)
        except RangeNotSatisfiable as exc:
            return PlainTextResponse(status_code=416, headers={"Content-Range": f"bytes */{exc.max_size}"})
        if not ranges:
            return self._whole(size, head_only)
        headers = MutableHeaders(list(self.raw_headers))
        if len(ranges) == 1:
            start, end = ranges[0]
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
            headers["content-length"] = str(end - start)
            return FilePlan(206, headers.raw, [] if head_only else [(b"", start, end)], b"")
        boundary = token_hex(13)
        content_length, part_head = self.generate_multipart(ranges, boundary, size, headers["content-type"])
        headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
        headers["content-length"] = str(content_length)
        if head_only:
            return FilePlan(206, headers.raw, [], b"")
        segments = [(b"\r\n" + part_head(s, e) if i else part_head(s, e), s, e) for i, (s, e) in enumerate(ranges)]
        return FilePlan(206, headers.raw, segments, f"\r\n--{boundary}--".encode("latin-1"))

    def _whole(self, size: int, head_only: bool) -> FilePlan:
        return FilePlan(self.status_code, self.raw_headers, [] if head_only or not size else [(b"", 0, size)], b"")

    def _not_modified(self, if_none_match: str | None, if_modified_since: str | None) -> bool:
        """RFC 9110 §13.1.2/13.1.3 (as Starlette's StaticFiles): If-None-Match wins over If-Modified-Since."""
        h = self.headers
        if if_none_match:
            if if_none_match.strip() == "*":
                return True
            return h["etag"] in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        since = parsedate(if_modified_since or "")
        modified = parsedate(h.get("last-modified", ""))
        return since is not None and modified is not None and since >= modified

    def _should_use_range(self, http_if_range: str) -> bool:
        if http_if_range.startswith("W/"):
            return False
        h = self.headers
        return http_if_range == h.get("last-modified") or http_if_range == h.get("etag")

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        """``bytes=...`` -> sorted, merged (start, end) pairs; [] means send the whole file (Starlette's rules)."""
        try:
            units, range_ = http_range.split("=", 1)
        except ValueError:
            raise MalformedRangeHeader() from None
        if units.strip().lower() != "bytes":
            raise MalformedRangeHeader("Only support bytes range")
        if range_.count(",") + 1 > cls.max_ranges:
            return []
        ranges = cls._parse_ranges(range_, file_size)
        if not ranges:
            raise MalformedRangeHeader("Range header: range must be requested")
        if any(not (0 <= start < file_size) for start, _ in ranges):
            raise RangeNotSatisfiable(file_size)
        if any(start >= end for start, end in ranges):
            raise MalformedRangeHeader("Range header: start must be less than end")
        if len(ranges) == 1:
            return ranges
        ranges.sort()
        result = [ranges[0]]
        for start, end in ranges[1:]:
            last_start, last_end = result[-1]
            if start <= last_end:
                result[-1] = (last_start, max(last_end, end))
            else:
                result.append((start, end))
        return result

    @classmethod
    def _parse_ranges(cls, range_: str, file_size: int) -> list[tuple[int, int]]:
        ranges: list[tuple[int, int]] = []
        for part in range_.split(","):
            part = part.strip()
            if not part or part == "-" or "-" not in part:
                continue
            start_str, end_str = (s.strip() for s in part.split("-", 1))
            try:
                start = int(start_str) if start_str else max(file_size - int(end_str), 0)
                end = int(end_str) + 1 if start_str and end_str and int(end_str) < file_size else file_size
                ranges.append((start, end))
            except ValueError:
                continue
        return ranges

    def generate_multipart(self, ranges: Iterable[tuple[int, int]], boundary: str, max_size: int,
                           content_type: str) -> tuple[int, Callable[[int, int], bytes]]:
        """The multipart/byteranges body length, and the part head for a (start, end) pair (as Starlette)."""
        static_len = 49 + len(boundary) + len(content_type) + len(str(max_size))
        content_length = sum(len(str(s)) + len(str(e - 1)) + static_len + (e - s) for s, e in ranges) + 4 + len(boundary)

        def part_head(start: int, end: int) -> bytes:
            return (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Range: bytes {start}-{end - 1}/{max_size}\r\n\r\n").encode("latin-1")

        return content_length, part_head


def finalize_response(request: Any, response: Any) -> Any:
    """Apply what the handler declared on the side: its ``response: Response`` (status, headers, cookies)
    and its BackgroundTasks. Applied once: both are taken off the request."""
    sub = request.sub_response
    if sub is not None:
        request.sub_response = None
        response = _with_sub_response(response, sub)
    tasks = request.background
    if tasks is not None:
        request.background = None
        if tasks.tasks:
            from .background import chain

            if type(response) is bytes:
                response = encoded_json_response(response)
            response.background = chain(response.background, tasks)
    return response


def _with_sub_response(response: Any, sub: Any) -> Any:
    """A response built from the handler's return value gets the status and headers it set on its
    ``response: Response`` parameter; a Response the handler returned itself is sent as it is."""
    if type(response) is not bytes and response.from_handler:
        return response
    if type(response) is bytes:
        response = encoded_json_response(response)
    if sub.status_code is not None:
        response.status_code = sub.status_code
    response.raw_headers.extend(sub.raw_headers)
    return response


from .exceptions import FastAPIDeprecationWarning  # noqa: E402,F401 (FastAPI imports it here)


def __getattr__(name: str) -> Any:
    """``fastrapi.responses.EventSourceResponse`` (FastAPI's re-export; defined in ``fastrapi.sse``, which
    imports this module)."""
    if name == "EventSourceResponse":
        from .sse import EventSourceResponse

        return EventSourceResponse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
