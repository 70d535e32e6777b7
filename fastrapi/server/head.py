"""Response heads: status lines, the header check every head passes, and the small answers the server makes.

Every response head the server writes (HTTP responses, refused handshakes, the WebSocket 101) is built from
``encode_headers``, the one place that refuses a header that would change the head's framing: a value with CR,
LF, NUL or another control character, or a name that is not an RFC 9110 token. A value taken from a request
can then never add a header line of its own (response splitting); the caller logs the error and answers 500.
"""
from __future__ import annotations

import re
from http import HTTPStatus

__all__ = ["InvalidHeader", "encode_headers", "simple_response", "status_line", "CLOSE", "KEEP_ALIVE"]

_STATUS_LINES: dict[int, bytes] = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode("latin-1") for s in HTTPStatus
}
CLOSE = b"connection: close\r\n"
KEEP_ALIVE = b"connection: keep-alive\r\n"

#: every control character but HTAB (RFC 9110 5.5: field values are VCHAR, SP, HTAB, obs-text) becomes LF:
#: a head's translated bytes hold exactly two LFs per line when no name or value carries one
_CTL_TO_LF = bytes((10 if (c < 32 and c != 9) or c == 127 else c) for c in range(256))
#: a field name is a token (RFC 9110 5.1, 5.6.2)
_NOT_TOKEN = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
#: names already checked (responses use a handful): a set lookup instead of a regex per header
_GOOD_NAMES: set[bytes] = set()
_GOOD_NAMES_MAX = 4096


class InvalidHeader(ValueError):
    """A response header would break the head (CR/LF/control character in it, or a name that is no token)."""


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = f"HTTP/1.1 {status} \r\n".encode("latin-1")
    return line


def encode_headers(status: int, raw_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The status line and ``name: value`` lines of a head (without its end), after checking every header.

    Raises ``InvalidHeader`` naming the first bad header. Cost: one translate and count over the bytes, plus a
    set lookup per name.
    """
    parts = [status_line(status)]
    good = _GOOD_NAMES
    for name, value in raw_headers:
        if name not in good:
            _check_name(name)
        parts += [name, b": ", value, b"\r\n"]
    block = b"".join(parts)
    if block.translate(_CTL_TO_LF).count(b"\n") != 2 * (len(raw_headers) + 1):
        _raise_bad_value(raw_headers)
    return block


def _check_name(name: bytes) -> None:
    if not name or _NOT_TOKEN.search(name):
        raise InvalidHeader(f"Invalid HTTP header name {name!r}: a header name must be a token (RFC 9110 5.1)")
    if len(_GOOD_NAMES) < _GOOD_NAMES_MAX:
        _GOOD_NAMES.add(name)


def _raise_bad_value(raw_headers: list[tuple[bytes, bytes]]) -> None:
    for name, value in raw_headers:
        if _BAD_VALUE.search(value):
            raise InvalidHeader(
                f"Invalid HTTP header value for {name.decode('latin-1')!r}: {value[:80]!r} contains CR, LF or "
                "another control character, which would split the response"
            )
    raise InvalidHeader("Invalid HTTP status line")  # pragma: no cover - status lines are built here


def check_headers(raw_headers: list[tuple[bytes, bytes]]) -> None:
    """Raise ``InvalidHeader`` if any header of ``raw_headers`` would break a head (for heads built elsewhere)."""
    encode_headers(200, raw_headers)


def simple_response(
    status: int,
    body: bytes | str = b"",
    date_server: bytes = b"",
    *,
    close: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"text/plain; charset=utf-8",
) -> bytes:
    """A complete small response (errors, a refused WebSocket handshake...) as bytes."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    raw = [(b"content-type", content_type)] if body else []
    if headers:
        raw += headers
    raw.append((b"content-length", b"%d" % len(body)))
    return b"".join((encode_headers(status, raw), date_server, CLOSE if close else b"", b"\r\n", body))
