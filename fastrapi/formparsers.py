"""Form bodies, parsed as they stream in: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

python-multipart does the parsing (C-speed state machines, incremental); this module turns its callbacks into
a ``FormData``. Uploaded files go to SpooledTemporaryFiles (memory up to 1 MiB, then disk, written from the
thread pool), so an upload never has to fit in memory. The limits and error messages are Starlette's; a
broken form is answered 400 with the message as ``detail``.
"""
from __future__ import annotations

import codecs
from tempfile import SpooledTemporaryFile
from typing import Any, AsyncIterator
from urllib.parse import unquote_plus

import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from .datastructures import FormData, Headers, UploadFile

#: in-memory size of an uploaded file before it rolls over to a temporary file on disk
SPOOL_MAX_SIZE = 1024 * 1024


class MultiPartException(Exception):
    """A form body that cannot be parsed or breaks a limit; ``message`` says which, for the 400 answer."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        #: 400 (Starlette's, for a broken form or its limits), 413 for the app's size limits
        self.status_code = status_code


def _decode(raw: bytes | bytearray, charset: str) -> str:
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


async def parse_form(
    headers: Headers,
    stream: AsyncIterator[bytes],
    *,
    max_files: int | float = 1000,
    max_fields: int | float = 1000,
    max_part_size: int | float = 1024 * 1024,
    part_status: int = 400,
    max_file_size: int | None = None,
) -> FormData:
    """The form in a request body, by its content type; any other content type gives an empty form.

    ``max_part_size`` bounds each field (``part_status``: the status of its error), ``max_file_size`` each
    uploaded file (413)."""
    content_type, params = parse_options_header(headers.get("content-type", ""))
    if content_type == b"multipart/form-data":
        return await _MultipartParser(params, max_files, max_fields, max_part_size, part_status,
                                      max_file_size).parse(stream)
    if content_type == b"application/x-www-form-urlencoded":
        return await _parse_urlencoded(stream, max_fields, max_part_size, part_status)
    return FormData()


def _size_text(size: int | float, status: int) -> str:
    """A limit in an error message: Starlette's ``1024KB`` for its own limits (400), bytes for the app's (413)."""
    return f"{int(size / 1024)}KB" if status == 400 else f"{size} bytes"


async def _parse_urlencoded(stream: AsyncIterator[bytes], max_fields: int | float, max_part_size: int | float,
                            part_status: int = 400) -> FormData:
    items: list[tuple[str, Any]] = []
    name = bytearray()
    value = bytearray()
    size = 0

    def on_field_start() -> None:
        nonlocal size
        name.clear()
        value.clear()
        size = 0

    def grow(n: int) -> None:
        nonlocal size
        size += n
        if size > max_part_size:
            raise MultiPartException(f"Field exceeded maximum size of {_size_text(max_part_size, part_status)}.",
                                     part_status)

    def on_field_name(data: bytes, start: int, end: int) -> None:
        if part_status == 400:  # Starlette counts the name too; the app's max_field_size bounds the value
            grow(end - start)
        name.extend(data[start:end])

    def on_field_data(data: bytes, start: int, end: int) -> None:
        grow(end - start)
        value.extend(data[start:end])

    def on_field_end() -> None:
        if len(items) >= max_fields:
            raise MultiPartException(f"Too many fields. Maximum number of fields is {max_fields}.")
        items.append((unquote_plus(name.decode("latin-1")), unquote_plus(value.decode("latin-1"))))

    parser = python_multipart.QuerystringParser({
        "on_field_start": on_field_start, "on_field_name": on_field_name,
        "on_field_data": on_field_data, "on_field_end": on_field_end,
    })
    async for chunk in stream:
        if chunk:
            parser.write(chunk)
    parser.finalize()
    return FormData(items)


class _Part:
    __slots__ = ("name", "disposition", "headers", "data", "file", "size")

    def __init__(self) -> None:
        self.size = 0
        self.name = ""
        self.disposition = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.data = bytearray()
        self.file: UploadFile | None = None


class _MultipartParser:
    """One multipart body: parts become fields (str) or UploadFiles, in the order they came."""

    def __init__(self, params: dict[bytes, bytes], max_files: int | float, max_fields: int | float,
                 max_part_size: int | float, part_status: int = 400, max_file_size: int | None = None) -> None:
        self.part_status = part_status
        self.max_file_size = max_file_size
        self.params = params
        self.max_files = max_files
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.items: list[tuple[str, Any]] = []
        self.files = 0
        self.fields = 0
        self.part = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.charset = "utf-8"
        #: file data seen in the current chunk, written (awaiting the thread pool if on disk) after it
        self.pending: list[tuple[UploadFile, bytes]] = []
        self.finished: list[UploadFile] = []
        self.opened: list[SpooledTemporaryFile[bytes]] = []

    # python-multipart callbacks (synchronous)
    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name.extend(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value.extend(data[start:end])

    def on_header_end(self) -> None:
        name, value = bytes(self.header_name).lower(), bytes(self.header_value)
        if name == b"content-disposition":
            self.part.disposition = value
        self.part.headers.append((name, value))
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        part = self.part
        _, options = parse_options_header(part.disposition)
        if b"name" not in options:
            raise MultiPartException('The Content-Disposition header field "name" must be provided.')
        part.name = _decode(options[b"name"], self.charset)
        if b"filename" in options:
            self.files += 1
            if self.files > self.max_files:
                raise MultiPartException(f"Too many files. Maximum number of files is {self.max_files}.")
            spooled: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size=SPOOL_MAX_SIZE)
            self.opened.append(spooled)
            part.file = UploadFile(spooled, size=0, filename=_decode(options[b"filename"], self.charset),
                                   headers=Headers(part.headers))
        else:
            self.fields += 1
            if self.fields > self.max_fields:
                raise MultiPartException(f"Too many fields. Maximum number of fields is {self.max_fields}.")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        if part.file is None:
            if len(part.data) + end - start > self.max_part_size:
                raise MultiPartException(
                    f"Part exceeded maximum size of {_size_text(self.max_part_size, self.part_status)}.",
                    self.part_status)
            part.data.extend(data[start:end])
        else:
            part.size += end - start
            limit = self.max_file_size
            if limit is not None and part.size > limit:
                raise MultiPartException(f"File exceeded maximum size of {_size_text(limit, 413)}.", 413)
            self.pending.append((part.file, data[start:end]))

    def on_part_end(self) -> None:
        part = self.part
        if part.file is None:
            self.items.append((part.name, _decode(part.data, self.charset)))
        else:
            self.items.append((part.name, part.file))
            self.finished.append(part.file)

    async def parse(self, stream: AsyncIterator[bytes]) -> FormData:
        charset = self.params.get(b"charset", b"utf-8").decode("latin-1")
        try:
            self.charset = codecs.lookup(charset).name
        except LookupError:
            self.charset = "latin-1"
        boundary = self.params.get(b"boundary")
        if not boundary:
            raise MultiPartException("Missing boundary in multipart.")
        try:
            parser = python_multipart.MultipartParser(boundary, {
                "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
            })
            async for chunk in stream:
                if not chunk:
                    continue
                parser.write(chunk)
                if self.pending:
                    await self._flush()
                for upload in self.finished:
                    await upload.seek(0)
                self.finished.clear()
            parser.finalize()
        except BaseException as exc:
            for spooled in self.opened:
                spooled.close()
            if isinstance(exc, FormParserError):
                raise MultiPartException("Invalid multipart data.") from exc
            raise
        return FormData(self.items)

    async def _flush(self) -> None:
        """Write this chunk's file data: one write per file (pieces of a file are joined first)."""
        pending = self.pending
        self.pending = []
        i = 0
        while i < len(pending):
            upload, data = pending[i]
            j = i + 1
            if j < len(pending) and pending[j][0] is upload:
                pieces = [data]
                while j < len(pending) and pending[j][0] is upload:
                    pieces.append(pending[j][1])
                    j += 1
                data = b"".join(pieces)
            await upload.write(data)
            i = j
