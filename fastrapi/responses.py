"""Response classes (Starlette/FastAPI names): the status, headers and body a handler answers with."""
from __future__ import annotations

import http.cookies
import time
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Literal, Mapping
from urllib.parse import quote

import orjson

__all__ = [
    "Response",
    "JSONResponse",
    "ORJSONResponse",
    "HTMLResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "StreamingResponse",
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
    """Case-insensitive view over a response's raw header list that writes through."""

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

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key: str, value: str) -> None:
        k = key.lower().encode("latin-1")
        self.raw[:] = [(n, v) for n, v in self.raw if n != k]
        self.raw.append((k, value.encode("latin-1")))

    def __delitem__(self, key: str) -> None:
        k = key.lower().encode("latin-1")
        self.raw[:] = [(n, v) for n, v in self.raw if n != k]

    def append(self, key: str, value: str) -> None:
        self.raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))

    def items(self) -> list[tuple[str, str]]:
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw]


def _json_default(obj: Any) -> Any:
    from .encoders import jsonable_encoder

    return jsonable_encoder(obj)


class JSONResponse(Response):
    """``content`` serialized as compact JSON (orjson)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_json_default)


ORJSONResponse = JSONResponse


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
    """Drive a sync iterator from the thread pool, so a blocking generator doesn't stall the loop."""
    from .concurrency import run_in_threadpool

    done = object()
    while True:
        item = await run_in_threadpool(next, iterator, done)
        if item is done:
            return
        yield item
