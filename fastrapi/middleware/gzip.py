"""``GZipMiddleware``: gzip response bodies for clients that accept it (Starlette's rules and options).

A complete body of ``minimum_size`` bytes or more is compressed whole (in the thread pool from
``thread_minimum_size`` on); a StreamingResponse is compressed piece by piece (each piece flushed, so
streamed data is not held back). Left alone: responses that already have a ``Content-Encoding``, 206
partial responses and the excluded media types (``text/event-stream``, images, archives...). A FileResponse
is compressed when it is sent whole (200, not a Range answer), read through the thread pool instead of
``sendfile``. ``Vary: Accept-Encoding`` is added to every response that could have been compressed.
"""
from __future__ import annotations

import os
import zlib
from typing import TYPE_CHECKING, Any, AsyncIterator

from ..concurrency import run_in_threadpool
from ..responses import FileResponse, FilePlan, Response, StreamingResponse
from .base import NativeMiddleware, RequestResponseEndpoint, add_vary, header_delete, header_get, header_set

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["GZipMiddleware", "DEFAULT_EXCLUDED_CONTENT_TYPES"]

DEFAULT_EXCLUDED_CONTENT_TYPES = (
    "application/grpc",
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "audio/*",
    "font/woff",
    "font/woff2",
    "image/avif",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "text/event-stream",
    "video/*",
)


def _normalize_content_types(content_types: tuple[str, ...]) -> frozenset[str]:
    return frozenset(content_type.partition(";")[0].strip().lower() for content_type in content_types)


class GZipMiddleware(NativeMiddleware):
    """Compress responses with gzip when the request's ``Accept-Encoding`` has it."""

    def __init__(
        self,
        app: RequestResponseEndpoint | None = None,
        minimum_size: int = 500,
        compresslevel: int = 9,
        thread_minimum_size: int = 128 * 1024,
        *,
        exclude_content_types: tuple[str, ...] = DEFAULT_EXCLUDED_CONTENT_TYPES,
    ) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.thread_minimum_size = thread_minimum_size
        self.exclude_content_types = _normalize_content_types(exclude_content_types)
        #: Content-Type header value -> excluded (responses of an app use few distinct ones)
        self._known_types: dict[bytes, bool] = {}

    async def handle(self, request: "Request") -> Response:
        accept = header_get(request.raw_headers, b"accept-encoding")
        gzip = accept is not None and b"gzip" in accept
        response = await self.app(request)
        raw = response.raw_headers
        if response.status_code == 206 or header_get(raw, b"content-encoding") is not None or self._excluded(raw):
            return response
        if isinstance(response, FileResponse):
            return await self._file(request, response, gzip)
        if isinstance(response, StreamingResponse):
            add_vary(raw, b"Accept-Encoding")
            if gzip:
                header_set(raw, b"content-encoding", b"gzip")
                header_delete(raw, b"content-length")
                response.body_iterator = self._compress_stream(response.body_iterator, response.charset)
            return response
        body = response.body
        if len(body) < self.minimum_size:
            return response
        add_vary(raw, b"Accept-Encoding")
        if gzip:
            response.body = await self._compress(body)
            header_set(raw, b"content-encoding", b"gzip")
        return response

    def _excluded(self, raw: list[tuple[bytes, bytes]]) -> bool:
        content_type = header_get(raw, b"content-type") or b""
        known = self._known_types
        excluded = known.get(content_type)
        if excluded is None:
            media_type = content_type.decode("latin-1").partition(";")[0].strip().lower()
            types = self.exclude_content_types
            excluded = (media_type in types or media_type.partition("/")[0] + "/*" in types
                        or (media_type.startswith("application/grpc+") and "application/grpc" in types))
            if len(known) < 256:
                known[content_type] = excluded
        return excluded

    async def _compress(self, body: bytes) -> bytes:
        if len(body) >= self.thread_minimum_size:
            return await run_in_threadpool(self._compress_whole, body)
        return self._compress_whole(body)

    def _compress_whole(self, body: bytes) -> bytes:
        compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return compressor.compress(body) + compressor.flush()

    async def _compress_stream(self, iterator: Any, charset: str) -> AsyncIterator[bytes]:
        """Each piece compressed and flushed (Z_SYNC_FLUSH) as it comes; the gzip trailer at the end."""
        compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        threshold = self.thread_minimum_size
        try:
            async for piece in iterator:
                if isinstance(piece, str):
                    piece = piece.encode(charset)
                if len(piece) >= threshold:
                    yield await run_in_threadpool(_compress_piece, compressor, piece)
                else:
                    yield compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
            yield compressor.flush()
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _file(self, request: "Request", response: FileResponse, gzip: bool) -> Response:
        """A whole-file answer read and compressed here; Range, conditional and HEAD answers left to the server."""
        if request.method != "GET" or response.send_header_only or response.status_code != 200:
            return response
        want_fd = gzip
        fd, st = await run_in_threadpool(response.open_file, want_fd)
        try:
            plan = response.plan(request.method, request.raw_headers, st)
            if not isinstance(plan, FilePlan) or plan.status != 200 or len(plan.segments) != 1:
                return response  # 304, 206, 416...: the server answers it again from the file
            size = st.st_size
            if size < self.minimum_size:
                return response
            add_vary(response.raw_headers, b"Accept-Encoding")
            if not gzip:
                return response
            header_set(response.raw_headers, b"content-encoding", b"gzip")
            header_delete(response.raw_headers, b"content-length")
            if size <= response.chunk_size:
                data = await run_in_threadpool(_read_all, fd, size)
                compressed = Response.__new__(Response)
                compressed.status_code = 200
                compressed.raw_headers = response.raw_headers
                compressed.body = await self._compress(data)
                compressed.background = response.background
                return compressed
            stream = StreamingResponse.__new__(StreamingResponse)
            stream.status_code = 200
            stream.raw_headers = response.raw_headers
            stream.body = b""
            stream.background = response.background
            stream.body_iterator = self._compress_stream(_read_file(response.path, response.chunk_size), "utf-8")
            return stream
        finally:
            if fd >= 0:
                os.close(fd)


def _compress_piece(compressor: Any, piece: bytes) -> bytes:
    return compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)


def _read_all(fd: int, size: int) -> bytes:
    parts = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        parts.append(chunk)
        offset += len(chunk)
    return b"".join(parts)


async def _read_file(path: Any, chunk_size: int) -> AsyncIterator[bytes]:
    """A file's bytes in chunks, each read in the thread pool."""
    f = await run_in_threadpool(open, path, "rb")
    try:
        while True:
            chunk = await run_in_threadpool(f.read, chunk_size)
            if not chunk:
                return
            yield chunk
    finally:
        await run_in_threadpool(f.close)
