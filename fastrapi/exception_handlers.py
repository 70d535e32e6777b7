"""FastAPI's default exception handlers (``fastapi.exception_handlers``), to call from your own handlers:

    @app.exception_handler(HTTPException)
    async def log_and_answer(request, exc):
        print(f"OMG! An HTTP error!: {exc!r}")
        return await http_exception_handler(request, exc)
"""
from __future__ import annotations

from .encoders import jsonable_encoder as jsonable_encoder
from .exceptions import HTTPException as HTTPException
from .exceptions import RequestValidationError as RequestValidationError
from .exceptions import WebSocketRequestValidationError as WebSocketRequestValidationError
from .requests import Request as Request
from .responses import JSONResponse as JSONResponse
from .responses import Response as Response
from .status import WS_1008_POLICY_VIOLATION
from .websocket import WebSocket as WebSocket


def is_body_allowed_for_status_code(status_code: int | str | None) -> bool:
    """Whether a response with ``status_code`` may have a body (not 1xx, 204, 205, 304)."""
    from .openapi.utils import _is_body_allowed_for_status_code

    return _is_body_allowed_for_status_code(status_code)


async def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    """``{"detail": exc.detail}`` with the exception's status and headers (no body for 204/304/1xx)."""
    headers = getattr(exc, "headers", None)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def request_validation_exception_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with ``{"detail": exc.errors()}``."""
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(exc.errors())})


async def websocket_request_validation_exception_handler(websocket: WebSocket,
                                                         exc: WebSocketRequestValidationError) -> None:
    """Close the WebSocket with 1008 (policy violation), the errors as the reason."""
    await websocket.close(code=WS_1008_POLICY_VIOLATION, reason=str(jsonable_encoder(exc.errors())))
