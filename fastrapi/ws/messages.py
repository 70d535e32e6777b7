"""Typed WebSocket messages: the validator and serializer of a declared message type, built once.

A route's ``receive=`` / ``send=`` type (a pydantic model, a union of models, any type pydantic validates) becomes
a ``MessageType`` at registration; ``WebSocket.receive_model`` / ``send_model`` then call pydantic-core's
validator and serializer directly, so a message costs one ``validate_json`` in and one ``to_json`` out.

``str`` and ``bytes`` (also ``Annotated`` with constraints) are the raw message, as Litestar's listeners take
them: a text message as it is, a binary message as it is. Every other type is JSON, in text or binary messages.
"""
from __future__ import annotations

import typing
from typing import Annotated, Any, Final

from pydantic import TypeAdapter, ValidationError

from ..exceptions import ResponseValidationError

__all__ = ["BINARY", "JSON", "TEXT", "MessageType", "message_type", "message_kind", "ANY_MESSAGE"]

#: what a message of the type is on the wire
JSON: Final = "json"
TEXT: Final = "text"
BINARY: Final = "binary"


def message_kind(tp: Any) -> str:
    """TEXT for ``str``, BINARY for ``bytes`` (bare or ``Annotated``), JSON for any other type."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if tp is str:
        return TEXT
    if tp is bytes:
        return BINARY
    return JSON


class MessageType:
    """One declared message type: ``decode`` a received message into it, ``encode`` a value for sending."""

    __slots__ = ("type", "kind", "adapter", "_validate_json", "_validate_python", "_to_json")

    def __init__(self, tp: Any) -> None:
        self.type = tp
        self.kind = message_kind(tp)
        self.adapter: TypeAdapter[Any] = TypeAdapter(tp)
        # pydantic-core's own callables: TypeAdapter's wrappers cost ~0.2 us each per call
        self._validate_json = self.adapter.validator.validate_json
        self._validate_python = self.adapter.validator.validate_python
        self._to_json = self.adapter.serializer.to_json

    def decode(self, message: str | bytes) -> Any:
        """The received message validated as this type: JSON parsed and validated in one pass (pydantic's
        ``ValidationError``, a ValueError, for bad JSON or a value that does not fit). A ``str`` type takes
        text messages, ``bytes`` binary ones (TypeError for the other kind, as ``receive_text`` raises)."""
        kind = self.kind
        if kind is JSON:
            return self._validate_json(message)
        if kind is TEXT:
            if type(message) is not str:
                raise TypeError("Expected a text message from the WebSocket, got a binary message")
        elif type(message) is not bytes:
            raise TypeError("Expected a binary message from the WebSocket, got a text message")
        return self._validate_python(message)

    def encode(self, value: Any, options: dict[str, Any] | None = None) -> Any:
        """``value`` validated as this type (as FastAPI validates a response model) and serialized: UTF-8 JSON
        bytes for a JSON type, the ``str`` / ``bytes`` itself otherwise. ``options``: pydantic's ``to_json``
        keywords (``by_alias``, ``exclude_none``, ``include``...); by alias unless told otherwise.

        A value that does not fit raises ``ResponseValidationError`` (a server bug, as for a response model)."""
        try:
            valid = self._validate_python(value, from_attributes=True)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise ResponseValidationError([{**e, "loc": ("send", *e.get("loc", ()))} for e in errors]) from None
        if self.kind is not JSON:
            return valid
        if options:
            return self._to_json(valid, **{"by_alias": True, **options})
        return self._to_json(valid, by_alias=True)

    def __repr__(self) -> str:
        return f"MessageType({self.type!r})"


#: what an undeclared type is: any JSON value in, anything pydantic can serialize out
ANY_MESSAGE = MessageType(Any)

_cache: dict[Any, MessageType] = {}
_CACHE_MAX = 1024


def message_type(tp: Any) -> MessageType:
    """The ``MessageType`` of ``tp``, built once per type (``receive_model(SomeType)`` in a loop pays nothing
    more than a dict lookup); an unhashable type is built each time."""
    try:
        found = _cache.get(tp)
    except TypeError:
        return MessageType(tp)
    if found is None:
        found = MessageType(tp)
        if len(_cache) >= _CACHE_MAX:  # types made at run time: bounded, never a leak
            _cache.clear()
        _cache[tp] = found
    return found
