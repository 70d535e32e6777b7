"""The WebSocket object handed to ``@app.websocket`` handlers: the API of FastrAPI's WebSocket docs.

A thin facade over a connection (``fastrapi.server.websocket.WebSocketProtocol`` on the built-in server):
each call is one attribute hop to the connection, which does the framing and the waiting.
"""
from __future__ import annotations

from typing import Any, AsyncIterator, Iterable, Mapping

import orjson

from .datastructures import URL, Address, Headers, QueryParams, State, parse_cookies
from .exceptions import WebSocketDisconnect, WebSocketException
from .requests import HTTPConnection
from .jsoncodec import InvalidJSON, ensure_finite
from .jsoncodec import loads as loads_json
from .requests import connection_scheme
from .ws.codes import State as WebSocketState  # (1 connected, 3 disconnected: the docs' ints)
from .ws.messages import ANY_MESSAGE, JSON, TEXT, message_type

__all__ = ["WebSocket", "WebSocketState", "WebSocketDisconnect", "WebSocketException"]


_STATES = {0: WebSocketState.CONNECTING, 1: WebSocketState.CONNECTED, 3: WebSocketState.DISCONNECTED}


class WebSocket:
    """A WebSocket connection: ``accept``, ``send_*``, ``receive_*``, ``close`` and request details; typed
    messages with ``receive_model`` / ``iter_models`` / ``send_model`` (the route's ``receive=`` / ``send=``)."""

    __slots__ = (
        "_conn", "_path", "_query", "_scheme", "path_params", "_headers_obj", "_cookies", "_state",
        "_query_params", "app", "_scope", "background", "route",
        "_rejected",  # set only when receive_model refuses a message (left unset otherwise: no cost)
    )

    def __init__(
        self,
        conn: Any,
        path: str,
        query: bytes,
        path_params: dict[str, Any] | None = None,
        app: Any = None,
        scheme: str | None = None,
        route: Any = None,
    ) -> None:
        self._conn = conn
        self._path = path
        self._query = query
        #: ``ws``/``wss``; None: from the connection (TLS, or what a trusted proxy forwarded), when a URL is built
        self._scheme = scheme
        self.path_params: dict[str, Any] = path_params if path_params is not None else {}
        self._headers_obj: Headers | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None
        self._query_params: QueryParams | None = None
        self.app = app
        self._scope: dict[str, Any] | None = None  # built on first use: most handlers never look
        self.background: Any = None  # BackgroundTasks declared by the handler: run when it returns
        #: the ``WebSocketRoute`` being run: its ``receive`` / ``send`` types serve receive_model / send_model
        self.route = route

    # ------------------------------------------------------------------ handshake and state
    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes | str, bytes | str]] | Mapping[str, str] | None = None,
    ) -> None:
        """Accept the connection (HTTP 101); must come before any send or receive."""
        raw: list[tuple[bytes, bytes]] = []
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for name, value in items:
                raw.append(
                    (
                        name.encode("latin-1") if isinstance(name, str) else bytes(name),
                        value.encode("latin-1") if isinstance(value, str) else bytes(value),
                    )
                )
        self._conn.accept(subprotocol, raw)

    @property
    def scope(self) -> dict[str, Any]:
        """A minimal ASGI-style scope (``type``, ``path``), for code written against Starlette's WebSocket."""
        if self._scope is None:
            self._scope = {"type": "websocket", "path": self._path}
        return self._scope

    @scope.setter
    def scope(self, value: dict[str, Any]) -> None:
        self._scope = value

    @property
    def client_state(self) -> WebSocketState:
        """The peer's side: 0 connecting, 1 connected, 3 disconnected (its close arrived or TCP dropped)."""
        return _STATES[self._conn.client_state]

    @property
    def application_state(self) -> WebSocketState:
        """Our side: 0 before accept, 1 connected, 3 once we closed or the connection is gone."""
        return _STATES[self._conn.application_state]

    # ------------------------------------------------------------------ receiving
    async def receive_text(self) -> str:
        """The next message, which must be text. ConnectionError when closed, TypeError for binary."""
        conn = self._conn
        while not conn.messages:  # (None until the connection's first message)
            await conn.wait_message()
        message = conn.pop()
        if type(message) is str:
            return message
        raise TypeError("Expected a text message from the WebSocket, got a binary message")

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary. ConnectionError when closed, TypeError for text."""
        conn = self._conn
        while not conn.messages:
            await conn.wait_message()
        message = conn.pop()
        if type(message) is bytes:
            return message
        raise TypeError("Expected a binary message from the WebSocket, got a text message")

    async def receive_json(self, mode: str = "text") -> Any:
        """The next text message parsed as JSON. ValueError when it is not valid JSON (NaN, numbers overflowing
        to infinity and lone surrogates included)."""
        message = await self._conn.receive()
        if mode == "binary":
            if type(message) is not bytes:
                raise TypeError("Expected a binary message from the WebSocket, got a text message")
        elif type(message) is not str:
            raise TypeError("Expected a text message from the WebSocket, got a binary message")
        try:
            return loads_json(message)
        except InvalidJSON as exc:
            raise ValueError(f"WebSocket message is not valid JSON: {exc}") from None

    async def receive(self) -> dict[str, Any]:
        """Starlette-style message dict: ``{"type": "websocket.receive", "text"|"bytes": ...}``."""
        try:
            message = await self._conn.receive()
        except WebSocketDisconnect as exc:
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if type(message) is str:
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self) -> AsyncIterator[Any]:
        """JSON messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    async def receive_model(self, type_: Any = None) -> Any:
        """The next message (text or binary) validated as the route's ``receive`` type, or as ``type_``: JSON
        parsed and validated in one pass. Bad JSON or a value that does not fit raises pydantic's
        ``ValidationError`` (a ValueError); the message is consumed and the connection stays usable.

        A ``str`` type takes a text message as it is, ``bytes`` a binary one. Without any declared type the
        message is any JSON value. ``WebSocketDisconnect`` (a ConnectionError) when closed. If the handler lets
        the error escape, the connection closes with 1007 (1003 for a text/binary mismatch), not 1011."""
        if type_ is None:
            route = self.route
            codec = route.receive_type if route is not None else None
            if codec is None:
                codec = ANY_MESSAGE
        else:
            codec = message_type(type_)
        conn = self._conn
        while not conn.messages:
            await conn.wait_message()
        try:
            return codec.decode(conn.pop())
        except (ValueError, TypeError) as exc:  # if the handler lets it escape: the client's fault, not a 1011
            self._rejected = exc
            raise

    async def iter_models(self, type_: Any = None) -> AsyncIterator[Any]:
        """``receive_model()`` until the client disconnects. A message that does not validate raises its
        ``ValidationError`` out of the loop (the connection stays open: iterate again to go on)."""
        try:
            while True:
                yield await self.receive_model(type_)
        except WebSocketDisconnect:
            pass

    # ------------------------------------------------------------------ sending
    async def send_text(self, data: str) -> None:
        """Send a text message; completes when it is handed to the socket (waits if the client is slow)."""
        conn = self._conn
        if conn.write_text(data):
            await conn.drain()

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        conn = self._conn
        if conn.write_bytes(data):
            await conn.drain()

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Serialize ``data`` to JSON (orjson, compact) and send it as a text message. ``ValueError`` for
        inf/NaN, which JSON cannot hold."""
        encoded = orjson.dumps(data, default=_json_default)
        if 110 in encoded and encoded.partition(b"null")[1]:  # inf/NaN (written as null by orjson) raise ValueError
            ensure_finite(data, _json_default)
        conn = self._conn
        if conn.write_bytes(encoded) if mode == "binary" else conn.write_utf8(encoded):
            await conn.drain()

    async def send_model(
        self,
        value: Any,
        type_: Any = None,
        *,
        by_alias: bool = True,
        include: Any = None,
        exclude: Any = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        mode: str = "text",
    ) -> None:
        """Validate ``value`` as the route's ``send`` type (or ``type_``), as FastAPI validates a response model,
        and send it as JSON text (``mode="binary"``: a binary message). ``by_alias``, ``include``, ``exclude``,
        ``exclude_unset/defaults/none`` work as ``response_model_*``. A ``str`` type is sent as a text message,
        ``bytes`` as binary. A value that does not fit raises ``ResponseValidationError`` and nothing is sent."""
        if type_ is None:
            route = self.route
            codec = route.send_type if route is not None else None
            if codec is None:
                codec = ANY_MESSAGE
        else:
            codec = message_type(type_)
        if by_alias and include is None and exclude is None and not (exclude_unset or exclude_defaults or exclude_none):
            data = codec.encode(value)
        else:
            data = codec.encode(value, {"by_alias": by_alias, "include": include, "exclude": exclude,
                                        "exclude_unset": exclude_unset, "exclude_defaults": exclude_defaults,
                                        "exclude_none": exclude_none})
        conn = self._conn
        kind = codec.kind
        if kind is JSON:
            pending = conn.write_bytes(data) if mode == "binary" else conn.write_utf8(data)
        elif kind is TEXT:
            pending = conn.write_text(data)
        else:
            pending = conn.write_bytes(data)
        if pending:
            await conn.drain()

    async def send(self, message: Mapping[str, Any]) -> None:
        """Starlette-style: send an ASGI ``websocket.send``/``websocket.close`` message dict."""
        kind = message.get("type")
        if kind == "websocket.send":
            if message.get("text") is not None:
                await self._conn.send_text(message["text"])
            else:
                await self._conn.send_bytes(message["bytes"])
        elif kind == "websocket.close":
            await self.close(message.get("code", 1000), message.get("reason") or "")
        elif kind == "websocket.accept":
            await self.accept(message.get("subprotocol"), message.get("headers"))
        else:
            raise RuntimeError(f"Unsupported WebSocket message type {kind!r}")

    async def join(self, channel: str) -> None:
        """Subscribe this WebSocket to a broadcast channel of its app (``app.broadcast``): what is published
        there is sent to it. It leaves every channel when it closes."""
        await self.app.broadcast.join(self, channel)

    async def leave(self, channel: str) -> None:
        """Unsubscribe from a broadcast channel."""
        await self.app.broadcast.leave(self, channel)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (closing handshake). Before accept it refuses the handshake with 403.

        Calling it again, or after the client has gone, does nothing.
        """
        await self._conn.close(code, reason or "")

    # ------------------------------------------------------------------ request details
    @property
    def url(self) -> URL:
        """``ws://`` or ``wss://`` (over TLS, or behind a TLS proxy with ``proxy_headers``), host, path, query."""
        host = self.headers.get("host", "")
        return URL(self._url_scheme(), host, self._path, self._query.decode("latin-1"))

    @property
    def base_url(self) -> URL:
        """Scheme, host and the app's ``root_path`` (ending in ``/``): what ``url_for`` builds on."""
        root = getattr(self.app, "root_path", "") or ""
        return URL(self._url_scheme(), self.headers.get("host", ""), root if root.endswith("/") else root + "/")

    def _peer(self) -> Any:
        """The connection's transport, or what stands for it behind a trusted proxy (``server.proxy``)."""
        conn = self._conn
        return getattr(conn, "peer", None) or conn.transport

    def _url_scheme(self) -> str:
        return self._scheme or connection_scheme(self._peer(), websocket=True)

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route ``name``: ``ws://`` for a WebSocket route, ``http://`` for an HTTP one."""
        if self.app is None:
            raise RuntimeError("The `url_for` method can only be used inside a Starlette application or with a router.")
        return self.app.url_path_for(name, **path_params).make_absolute_url(self.base_url)

    @property
    def headers(self) -> Headers:
        if self._headers_obj is None:
            self._headers_obj = Headers(self._conn.request_headers)
        return self._headers_obj

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self._query)
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.get("cookie", ""))
        return self._cookies

    @property
    def client(self) -> Address | None:
        peer = self._peer().get_extra_info("peername")
        if isinstance(peer, (tuple, list)) and len(peer) >= 2:
            return Address(str(peer[0]), int(peer[1]))
        return None

    @property
    def state(self) -> State:
        if self._state is None:
            initial = getattr(self.app, "lifespan_state", None)
            self._state = State(dict(initial) if initial else None)
        return self._state

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        from .ws.handshake import offered_subprotocols

        return offered_subprotocols(self._conn.request_headers)

    @property
    def close_code(self) -> int | None:
        return self._conn.close_code

    def __repr__(self) -> str:
        return f"<WebSocket {self._path} client_state={self.client_state.name}>"


def _json_default(obj: Any) -> Any:
    from .encoders import jsonable_encoder

    return jsonable_encoder(obj)


HTTPConnection.register(WebSocket)
