"""Exceptions users raise or catch: HTTPException, WebSocketException, WebSocketDisconnect, validation errors."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any, Mapping, Sequence, TypedDict

from pydantic import BaseModel, create_model


class EndpointContext(TypedDict, total=False):
    """Where an endpoint is defined (FastAPI's): added to the ``str()`` of validation errors."""

    function: str
    path: str
    file: str
    line: int


class HTTPException(Exception):
    """Raise in a handler to answer with ``status_code`` and ``{"detail": detail}``."""

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            try:
                detail = HTTPStatus(status_code).phrase
            except ValueError:
                detail = ""
        self.status_code = status_code
        self.detail = detail
        self.headers = headers
        super().__init__(status_code, detail)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class WebSocketException(Exception):
    """Raise in a WebSocket handler to close the connection with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketDisconnect(ConnectionError):
    """The WebSocket is closed: raised by ``receive_*`` (and ``send_*``) once the connection is gone.

    A ``ConnectionError`` so that the seed's ``except ConnectionError`` catches it.
    """

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (f": {self.reason}" if self.reason else "")


class ValidationException(Exception):
    """Base of the validation errors; ``errors()`` gives FastAPI-shaped error dicts.

    ``endpoint_ctx`` (FastAPI's: ``file``, ``line``, ``function``, ``path`` of the endpoint) only adds to ``str()``.
    """

    def __init__(self, errors: Sequence[Any], *, endpoint_ctx: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._errors = errors
        self.endpoint_ctx = endpoint_ctx
        ctx = endpoint_ctx or {}
        self.endpoint_function: Any = ctx.get("function")
        self.endpoint_path: Any = ctx.get("path")
        self.endpoint_file: Any = ctx.get("file")
        self.endpoint_line: Any = ctx.get("line")

    def errors(self) -> Sequence[Any]:
        return self._errors

    def __str__(self) -> str:
        n = len(self._errors)
        message = f"{n} validation error{'s' if n != 1 else ''}:\n" + "".join(f"  {e}\n" for e in self._errors)
        if self.endpoint_file and self.endpoint_line and self.endpoint_function:
            message += f'\n  File "{self.endpoint_file}", line {self.endpoint_line}, in {self.endpoint_function}'
            if self.endpoint_path:
                message += f"\n    {self.endpoint_path}"
        elif self.endpoint_path:
            message += f"\n  Endpoint: {self.endpoint_path}"
        return message.rstrip()


class RequestValidationError(ValidationException):
    """Invalid request input: answered with 422 and ``{"detail": errors}``; ``body`` is the request body as
    FastAPI passes it (the parsed JSON, the raw bytes of another media type, None without a body)."""

    def __init__(self, errors: Sequence[Any], *, body: Any = None,
                 endpoint_ctx: Mapping[str, Any] | None = None) -> None:
        super().__init__(errors, endpoint_ctx=endpoint_ctx)
        self.body = body


class WebSocketRequestValidationError(ValidationException):
    """Invalid WebSocket handshake input (path/query parameters): closes with 1008."""


class ResponseValidationError(ValidationException):
    """A handler returned data that does not match its response model: a server error (500)."""

    def __init__(self, errors: Sequence[Any], *, body: Any = None,
                 endpoint_ctx: Mapping[str, Any] | None = None) -> None:
        super().__init__(errors, endpoint_ctx=endpoint_ctx)
        self.body = body


class NoMatchFound(Exception):
    """Raised by ``url_path_for`` / ``url_for`` when no route has that name and exactly those parameters."""

    def __init__(self, name: str, path_params: dict[str, Any]) -> None:
        params = ", ".join(list(path_params.keys()))
        super().__init__(f'No route exists for name "{name}" and params "{params}".')


class FastAPIError(RuntimeError):
    """A usage error FastAPI reports under this name (e.g. an empty prefix and an empty path together)."""


class DependencyScopeError(FastAPIError):
    """A dependency declared that it depends on another dependency with a narrower scope (a ``"request"``
    scoped ``yield`` dependency on a ``scope="function"`` one)."""


class PydanticV1NotSupportedError(FastAPIError):
    """A ``pydantic.v1`` model is used: not supported (as in FastAPI)."""


class FastAPIDeprecationWarning(UserWarning):
    """FastAPI's deprecation warning (a UserWarning, so that it is shown by default)."""


#: the pydantic models FastAPI names the request / WebSocket in validation errors
RequestErrorModel: type[BaseModel] = create_model("Request")
WebSocketErrorModel: type[BaseModel] = create_model("WebSocket")

#: FastAPI's names for Starlette's exception classes: here, HTTPException and WebSocketException are the base
#: classes themselves (a handler registered for Starlette's own class also takes ours: see ``FastrAPI``)
StarletteHTTPException = HTTPException
StarletteWebSocketException = WebSocketException

#: the original FastrAPI's names for the same classes: ``except FastrAPIError`` catches what FastAPI code raises
FastrAPIError = FastAPIError
FastrAPIDeprecationWarning = FastAPIDeprecationWarning
