"""The per-request options of ``FastrAPI(...)`` from the original FastrAPI: ``request_id_header``,
``powered_by_header`` and ``trace_requests``, as one native middleware.

The app puts it outermost (around the user's middleware) only when one of these options is set, so an app
without them has no middleware, and keeps the server's fast path. Each response then carries the request's
id and ``X-Powered-By`` (error answers included: an exception escaping the app is answered 500 here, with
the headers), and ``trace_requests`` logs one ``fastrapi.trace`` line per request with its duration.
"""
from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ..requests import ClientDisconnect
from ..responses import Response
from .base import NativeMiddleware, RequestResponseEndpoint, header_get, header_set, server_error

if TYPE_CHECKING:
    from ..requests import Request

__all__ = ["AppOptionsMiddleware", "RequestIdLogFilter", "request_id_var"]

trace_logger = logging.getLogger("fastrapi.trace")

#: the id of the request being handled (``request_id_header``): what log lines are tagged with
request_id_var: ContextVar[str | None] = ContextVar("fastrapi_request_id", default=None)

#: an id taken from the client is kept if it is at most this long and visible ASCII; else a new one is made
_MAX_ID = 200


def _usable(value: bytes) -> bool:
    return 0 < len(value) <= _MAX_ID and all(33 <= b <= 126 for b in value)


class RequestIdLogFilter(logging.Filter):
    """Tags the records of the ``fastrapi`` loggers logged while a request is handled with its id:
    ``record.request_id``, and ``[id]`` in front of the message (the access line shows it after the status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id_var.get()
        if rid is not None and "request_id" not in record.__dict__:
            record.request_id = rid
            if record.name != "fastrapi.access":
                record.msg = f"[{rid.replace('%', '%%')}] {record.msg}"
        return True


_LOG_FILTER = RequestIdLogFilter()


def install_log_filter() -> None:
    """Tag the lines of the error, access and trace loggers with the request id (once per process)."""
    for name in ("fastrapi.error", "fastrapi.access", "fastrapi.trace"):
        log = logging.getLogger(name)
        if _LOG_FILTER not in log.filters:
            log.addFilter(_LOG_FILTER)


class AppOptionsMiddleware(NativeMiddleware):
    """Request id, ``X-Powered-By`` and the per-request trace line (see the module docstring)."""

    def __init__(self, app: RequestResponseEndpoint, *, owner: Any, request_id_header: str | None = None,
                 powered_by_header: str | None = None, trace_requests: bool = False) -> None:
        self.app = app
        self.owner = owner
        self.rid_name = request_id_header.lower().encode("latin-1") if request_id_header else None
        self.powered_by = powered_by_header.encode("latin-1") if powered_by_header else None
        self.trace = trace_requests
        if self.rid_name is not None:
            install_log_filter()

    async def handle(self, request: "Request") -> Response:
        rid_name = self.rid_name
        rid: bytes | None = None
        if rid_name is not None:
            rid = header_get(request.raw_headers, rid_name)
            if rid is None or not _usable(rid):
                rid = str(uuid.uuid4()).encode("ascii")
            text = rid.decode("ascii")
            request.state.request_id = text
            request_id_var.set(text)  # the task's context: seen by the log lines of this request
        start = time.perf_counter() if self.trace else 0.0
        try:
            response = await self.app(request)
        except ClientDisconnect:
            raise
        except Exception as exc:  # answered here, so that the 500 carries the headers too
            response = await server_error(self.owner, request, exc)
        raw = response.raw_headers
        if rid is not None:
            header_set(raw, rid_name, rid)  # type: ignore[arg-type]
        if self.powered_by is not None and header_get(raw, b"x-powered-by") is None:
            raw.append((b"x-powered-by", self.powered_by))
        if self.trace:
            client = request.client
            trace_logger.info('%s - "%s %s%s HTTP/%s" %d %.2fms', f"{client.host}:{client.port}" if client else "-",
                              request.method, request.path,
                              "?" + request.query_string.decode("latin-1") if request.query_string else "",
                              request.http_version, response.status_code, (time.perf_counter() - start) * 1000)
        return response
