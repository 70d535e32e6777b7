"""Server-Sent Events (FastAPI's ``fastapi.sse``): ``EventSourceResponse`` and ``ServerSentEvent``.

A path operation that ``yield``s and declares ``response_class=EventSourceResponse`` streams its items as
``text/event-stream`` events (``fastrapi.streaming`` does the encoding): a ``ServerSentEvent`` is written
with its fields, anything else is sent as JSON in the ``data:`` field. While the generator produces nothing
for ``_PING_INTERVAL`` seconds, a ``: ping`` comment keeps proxies from closing the connection.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, Field, model_validator

from .responses import StreamingResponse

__all__ = ["EventSourceResponse", "ServerSentEvent", "format_sse_event", "KEEPALIVE_COMMENT", "StreamingResponse"]

#: The item schema of an event stream in OpenAPI (OpenAPI 3.2, "Special Considerations for Server-Sent Events")
_SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}

#: The comment sent while a generator is idle, so that proxies keep the connection open
KEEPALIVE_COMMENT = b": ping\n\n"

#: Seconds of silence after which a keep-alive comment is sent (read at each wait: tests may change it)
_PING_INTERVAL: float = 15.0


class EventSourceResponse(StreamingResponse):
    """A streaming response of type ``text/event-stream``.

    As ``response_class=`` of a path operation that ``yield``s, it marks the operation as an event stream
    (any HTTP method: MCP streams events over POST). Used directly, it is a StreamingResponse of that type.
    """

    media_type = "text/event-stream"


def _single_line(value: Optional[str], field: str) -> Optional[str]:
    if value is not None and ("\r" in value or "\n" in value):
        raise ValueError(f"SSE '{field}' must be a single line")
    return value


def _valid_event(value: Optional[str]) -> Optional[str]:
    return _single_line(value, "event")


def _valid_id(value: Optional[str]) -> Optional[str]:
    if value is not None and "\0" in value:
        raise ValueError("SSE 'id' must not contain null characters")
    return _single_line(value, "id")


class ServerSentEvent(BaseModel):
    """One event of an event stream, as the path operation wants it written.

    ``data`` is always sent as JSON (a string too: ``"hello"`` with its quotes); ``raw_data`` is sent as it
    is (text, HTML, ``[DONE]``...), and only one of the two may be set. ``event`` names the event type (the
    browser's ``addEventListener`` name), ``id`` comes back as ``Last-Event-ID`` on reconnection, ``retry``
    is the reconnection delay in milliseconds, and ``comment`` lines are ignored by clients.
    """

    data: Any = None
    raw_data: Optional[str] = None
    event: Annotated[Optional[str], AfterValidator(_valid_event)] = None
    id: Annotated[Optional[str], AfterValidator(_valid_id)] = None
    retry: Annotated[Optional[int], Field(ge=0)] = None
    comment: Optional[str] = None

    @model_validator(mode="after")
    def _check_data_exclusive(self) -> "ServerSentEvent":
        if self.data is not None and self.raw_data is not None:
            raise ValueError(
                "Cannot set both 'data' and 'raw_data' on the same ServerSentEvent. Use 'data' for "
                "JSON-serialized payloads or 'raw_data' for pre-formatted strings."
            )
        return self


def _lines(value: str) -> list[str]:
    """``value`` split at the line ends the event-stream format knows (``\\r\\n``, ``\\n``, ``\\r``)."""
    return value.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def format_sse_event(
    *,
    data_str: Optional[str] = None,
    event: Optional[str] = None,
    id: Optional[str] = None,
    retry: Optional[int] = None,
    comment: Optional[str] = None,
) -> bytes:
    """One event in the wire format, from data already serialized: comment lines, ``event:``, one ``data:``
    line per line of ``data_str``, ``id:``, ``retry:``, then the blank line that ends the event."""
    out: list[str] = []
    if comment is not None:
        out.extend(": " + line for line in _lines(comment))
    if event is not None:
        out.append("event: " + event)
    if data_str is not None:
        out.extend("data: " + line for line in _lines(data_str))
    if id is not None:
        out.append("id: " + id)
    if retry is not None:
        out.append(f"retry: {retry}")
    out.append("\n")
    return "\n".join(out).encode("utf-8")
