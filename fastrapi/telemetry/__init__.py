"""FastAPI's ``fastapi.telemetry`` names. FastAPI reports to OpenTelemetry itself (``FastAPI(telemetry={...})``);
FastrAPI does not: ``telemetry=`` is accepted and kept on ``app.telemetry``, ``get_telemetry_data()`` gives None.
Instrument a FastrAPI app with OpenTelemetry's ASGI middleware (``app.add_middleware(OpenTelemetryMiddleware)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, MutableMapping, Sequence, TypedDict


class TelemetryConfig(TypedDict, total=False):
    """The settings FastAPI's ``telemetry=`` takes (providers, what to record, exclusions)."""

    tracer_provider: Any
    meter_provider: Any
    logger_provider: Any
    tracing: bool
    metrics: bool
    logs: bool
    operation_spans: bool
    auto_configure: bool
    exclude: Callable[[MutableMapping[str, Any]], bool] | None


@dataclass(kw_only=True)
class TelemetryData:
    """The request data FastAPI hands to OpenTelemetry processors while it handles a request."""

    request: Any = None
    websocket: Any = None
    body: Any = None
    values: dict[str, Any] | None = None
    errors: Sequence[Any] | None = None


def get_telemetry_data(context: Any = None) -> TelemetryData | None:
    """FastAPI's data for the request an OpenTelemetry ``context`` belongs to: None here (no telemetry runs)."""
    return None


class NativeTelemetry:
    """FastAPI's in-app OpenTelemetry reporter: never enabled here (see the module's note)."""

    def __init__(self, config: TelemetryConfig | None = None) -> None:
        self.config = config or {}

    def enabled(self) -> bool:
        return False


class ExceptionTelemetryMiddleware:
    """FastAPI's middleware recording exceptions to OpenTelemetry: passes requests through unchanged here."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


__all__ = ["TelemetryConfig", "TelemetryData", "get_telemetry_data"]
