"""The opening handshake (RFC 6455 section 4.2): validate the upgrade request, build the 101 response."""
from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Iterable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    """The upgrade request is invalid: answered with ``status`` (400 or 426) and a readable message."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def _tokens(value: bytes) -> list[bytes]:
    return [t.strip().lower() for t in value.split(b",")]


def validate_upgrade(method: bytes, http_version: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    """Check a client's upgrade request; returns its key or raises HandshakeError.

    ``headers`` are the raw pairs with lower-cased names, as the HTTP protocol collects them.
    """
    upgrade = connection = key = version = None
    for name, value in headers:
        if name == b"upgrade":
            upgrade = value
        elif name == b"connection":
            connection = value if connection is None else connection + b"," + value
        elif name == b"sec-websocket-key":
            if key is not None:
                raise HandshakeError(400, "Invalid WebSocket upgrade: more than one Sec-WebSocket-Key header")
            key = value.strip()
        elif name == b"sec-websocket-version":
            version = value.strip()
    if method != b"GET":
        raise HandshakeError(400, "Invalid WebSocket upgrade: the method must be GET")
    if http_version != "1.1":
        raise HandshakeError(400, "Invalid WebSocket upgrade: HTTP/1.1 is required")
    if upgrade is None or b"websocket" not in _tokens(upgrade):
        raise HandshakeError(400, "Invalid WebSocket upgrade: missing 'Upgrade: websocket' header")
    if connection is None or b"upgrade" not in _tokens(connection):
        raise HandshakeError(400, "Invalid WebSocket upgrade: missing 'Connection: Upgrade' header")
    if version != b"13":
        raise HandshakeError(
            426,
            "Unsupported WebSocket version: only version 13 is supported",
            [(b"Sec-WebSocket-Version", b"13")],
        )
    if key is None:
        raise HandshakeError(400, "Invalid WebSocket upgrade: missing Sec-WebSocket-Key header")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise HandshakeError(400, "Invalid WebSocket upgrade: Sec-WebSocket-Key must be 16 bytes in base64")
    return key


def offered_subprotocols(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The subprotocols the client offered, in its order of preference."""
    out: list[str] = []
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            out.extend(t.strip() for t in value.decode("latin-1").split(",") if t.strip())
    return out


def response_101(
    key: bytes,
    subprotocol: str | None,
    extension: bytes | None,
    extra_headers: list[tuple[bytes, bytes]],
    date_server: bytes,
) -> bytes:
    """The ``101 Switching Protocols`` response that completes the handshake."""
    parts = [
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ",
        accept_key(key),
        b"\r\n",
    ]
    if subprotocol is not None:
        parts += [b"sec-websocket-protocol: ", subprotocol.encode("latin-1"), b"\r\n"]
    if extension is not None:
        parts += [b"sec-websocket-extensions: ", extension, b"\r\n"]
    for name, value in extra_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [date_server, b"\r\n"]
    return b"".join(parts)


class OriginPolicy:
    """The ``Origin`` values a WebSocket handshake is accepted from (``FastrAPI(websocket_origins=[...])``).

    Browsers send ``Origin`` with every WebSocket handshake and, unlike for ``fetch``, do not enforce CORS on
    the answer: without this check any web page can open a WebSocket to the app with the visitor's cookies
    (cross-site WebSocket hijacking). Patterns are ``scheme://host[:port]`` origins, compared without case;
    ``*`` in the host matches one or more subdomain labels (``https://*.example.com`` is not
    ``https://example.com``); ``*`` alone allows every origin. A handshake without ``Origin`` (not from a
    browser, so not the attack) is let through.
    """

    __slots__ = ("exact", "patterns", "any")

    def __init__(self, origins: "Iterable[str]") -> None:
        import re

        if isinstance(origins, (str, bytes)) or not hasattr(origins, "__iter__"):
            raise TypeError("websocket_origins is a list of origins, e.g. ['https://example.com']")
        self.any = False
        self.exact: set[bytes] = set()
        self.patterns: list[re.Pattern[bytes]] = []
        for origin in origins:
            origin = origin.strip().rstrip("/").lower()
            if origin == "*":
                self.any = True
            elif "*" in origin:
                scheme, sep, host = origin.partition("://")
                if not sep or "*" in scheme or not host.startswith("*."):
                    raise ValueError(f"websocket_origins: {origin!r}: a wildcard is a leading '*.' in the host")
                tail = re.escape(host[1:].encode())  # ".example.com[:port]"
                self.patterns.append(re.compile(re.escape(scheme.encode()) + rb"://[a-z0-9-]+(?:\.[a-z0-9-]+)*"
                                                + tail))
            else:
                if "://" not in origin and origin != "null":
                    raise ValueError(f"websocket_origins: {origin!r} is not an origin (scheme://host[:port])")
                self.exact.add(origin.encode())

    def allows(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether a handshake with these (lower-case name, value) headers may go on to its handler."""
        origins = [value for name, value in headers if name == b"origin"]
        if not origins:
            return True
        if len(origins) > 1:
            return False
        if self.any:
            return True
        origin = origins[0].strip().lower()
        return origin in self.exact or any(p.fullmatch(origin) for p in self.patterns)
