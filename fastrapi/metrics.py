"""Prometheus metrics (``pip install 'fastrapi[metrics]'``, on the ``prometheus_client`` library):

    from fastrapi import FastrAPI, Instrumentator

    app = FastrAPI()
    Instrumentator().instrument(app).expose(app, endpoint="/metrics")

What is measured:

- ``http_requests_total{method, handler, status}``: requests answered, by route template (``/items/{id}``;
  ``none`` for a path no route matched, so unknown URLs cannot make the label set grow);
- ``http_request_duration_seconds{method, handler}``: a histogram of the time to the response;
- ``http_requests_inprogress{method, handler}``: requests being handled now;
- ``websocket_connections_open{handler}``: accepted WebSocket connections still open;
- ``websocket_messages_received_total{handler}`` / ``websocket_messages_sent_total{handler}``: messages through
  the WebSocket object (broadcast deliveries, written without it, are not counted).

``instrument(app)`` installs a native middleware and a WebSocket observer on that app only; an app that is not
instrumented runs exactly as before. With ``workers=N`` each process counts its own requests: set the
``PROMETHEUS_MULTIPROC_DIR`` environment variable to an empty directory before starting the server and every
worker writes its values there (prometheus_client's multiprocess mode); ``/metrics``, whichever worker answers
it, then reports the sum over all of them, and the gauges of a worker that exited are dropped.
"""
from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )
except ImportError as exc:  # pragma: no cover - the optional extra is missing
    raise ImportError("fastrapi.metrics needs prometheus_client: pip install 'fastrapi[metrics]'") from exc

from .middleware.base import NativeMiddleware, RequestResponseEndpoint
from .responses import Response
from .websocket import WebSocket

if TYPE_CHECKING:
    from .requests import Request

__all__ = ["Instrumentator", "MULTIPROC_ENV"]

logger = logging.getLogger("fastrapi.error")

#: prometheus_client's environment variable: the directory the processes of one server share their values in
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, float("inf"))


def multiprocess_dir() -> str | None:
    """The multiprocess directory in force, or None (one process: values kept in memory)."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


class Instrumentator:
    """Collects the metrics of the apps it instruments and serves them at an endpoint (``expose``).

    ``registry``: where the metrics are registered (a new ``CollectorRegistry`` by default, so several apps
    in one process do not clash); the endpoint also reports prometheus_client's global ``REGISTRY`` (your own
    metrics, the process collector). ``namespace`` / ``subsystem`` prefix every name. ``excluded_handlers``:
    route templates not measured (e.g. ``["/metrics"]``). ``buckets``: the latency histogram's bounds."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        namespace: str = "",
        subsystem: str = "",
        excluded_handlers: Iterable[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.excluded_handlers = frozenset(excluded_handlers)
        names = {"namespace": namespace, "subsystem": subsystem, "registry": self.registry}
        self.requests = Counter("http_requests_total", "HTTP requests answered, by method, route template and status",
                                ("method", "handler", "status"), **names)
        self.latency = Histogram("http_request_duration_seconds", "Time to the response of an HTTP request",
                                 ("method", "handler"), buckets=tuple(buckets), **names)
        self.inprogress = Gauge("http_requests_inprogress", "HTTP requests being handled",
                                ("method", "handler"), multiprocess_mode="livesum", **names)
        self.ws_open = Gauge("websocket_connections_open", "Accepted WebSocket connections still open",
                             ("handler",), multiprocess_mode="livesum", **names)
        self.ws_received = Counter("websocket_messages_received_total", "WebSocket messages received by handlers",
                                   ("handler",), **names)
        self.ws_sent = Counter("websocket_messages_sent_total", "WebSocket messages sent by handlers",
                               ("handler",), **names)
        #: (method, handler) -> (inprogress child, latency child); (method, handler, status) -> counter child
        self._http: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._ws: dict[str, tuple[Any, Any, Any]] = {}

    # ------------------------------------------------------------------ installing
    def instrument(self, app: Any) -> "Instrumentator":
        """Measure ``app``'s HTTP requests (a native middleware, outermost so far) and WebSocket connections.
        Call it before the server starts."""
        app.add_middleware(MetricsMiddleware, instrumentator=self, router=app.router)
        app._websocket_observer = self
        hooks = getattr(app, "worker_exit_hooks", None)
        if hooks is not None and _mark_process_dead not in hooks:
            hooks.append(_mark_process_dead)
        if hasattr(app, "add_event_handler"):
            app.add_event_handler("startup", _check_multiprocess)
        return self

    def expose(self, app: Any, endpoint: str = "/metrics", *, include_in_schema: bool = False,
               tags: list[str] | None = None) -> "Instrumentator":
        """Serve the metrics in Prometheus' text format at ``GET endpoint``."""
        if not endpoint.startswith("/"):
            raise ValueError(f"the metrics endpoint must start with '/': {endpoint!r}")

        def metrics() -> Response:
            return Response(self.render(), media_type=CONTENT_TYPE_LATEST)

        app.add_api_route(endpoint, metrics, methods=["GET"], include_in_schema=include_in_schema, tags=tags,
                          name="metrics")
        return self

    def render(self) -> bytes:
        """The exposition: in multiprocess mode the sum over every process of the server, else this process's
        metrics and the global registry's."""
        directory = multiprocess_dir()
        if directory is not None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            return generate_latest(registry)
        own = generate_latest(self.registry)
        return own if self.registry is REGISTRY else own + generate_latest(REGISTRY)

    # ------------------------------------------------------------------ per request / connection
    def http_children(self, method: str, handler: str) -> tuple[Any, Any]:
        found = self._http.get((method, handler))
        if found is None:
            found = self._http[(method, handler)] = (self.inprogress.labels(method, handler),
                                                     self.latency.labels(method, handler))
        return found

    def count(self, method: str, handler: str, status: int) -> None:
        child = self._counts.get((method, handler, status))
        if child is None:
            child = self._counts[(method, handler, status)] = self.requests.labels(method, handler, str(status))
        child.inc()

    def websocket(self, conn: Any, path: str, query: bytes, params: dict[str, Any], app: Any, route: Any) -> WebSocket:
        """The WebSocket object for a connection of an instrumented app: one that counts its messages."""
        handler = route.path
        if handler in self.excluded_handlers:
            return WebSocket(conn, path, query, params, app=app, route=route)
        children = self._ws.get(handler)
        if children is None:
            children = self._ws[handler] = (self.ws_open.labels(handler), self.ws_received.labels(handler),
                                            self.ws_sent.labels(handler))
        ws = CountingWebSocket(conn, path, query, params, app=app, route=route)
        ws._metrics = children
        return ws

    def websocket_closed(self, ws: WebSocket) -> None:
        """The handler of ``ws`` returned: an accepted connection no longer counts as open."""
        if type(ws) is CountingWebSocket and ws._accepted:
            ws._accepted = False
            ws._metrics[0].dec()


def _check_multiprocess() -> None:
    """At a worker's startup: several workers without a shared directory each report only their own counts."""
    workers = os.environ.get("FASTRAPI_WORKERS", "1")
    if multiprocess_dir() is None and workers.isdigit() and int(workers) > 1:
        logger.warning("metrics with %s workers and no %s: each worker counts only its own requests and /metrics "
                       "reports whichever worker answers. Set %s to an empty directory before starting the "
                       "server to report the sum over all workers.", workers, MULTIPROC_ENV, MULTIPROC_ENV)


def _mark_process_dead(pid: int) -> None:
    """A worker process exited: drop its live gauges (in progress, open connections) in multiprocess mode."""
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


def _template(route: Any) -> str:
    """The ``handler`` label of a request: its route's template, ``none`` when no route takes it."""
    path = getattr(route, "path", None) if route is not None else None
    if path is None:
        return "none"
    return path + "/{path:path}" if getattr(route, "is_mount", False) else path


class MetricsMiddleware(NativeMiddleware):
    """Times each request and counts its answer under its route's template (found with the app's router
    before the rest of the stack runs); an exception out of the rest of the stack counts as a 500."""

    def __init__(self, app: RequestResponseEndpoint | None = None, instrumentator: Instrumentator | None = None,
                 router: Any = None) -> None:
        if instrumentator is None or router is None:
            raise TypeError("MetricsMiddleware is installed by Instrumentator().instrument(app)")
        self.app = app  # type: ignore[assignment]
        self.instrumentator = instrumentator
        self.match = router.match
        self.excluded = instrumentator.excluded_handlers

    async def handle(self, request: "Request") -> Response:
        method = request.method
        handler = _template(self.match(method, request.path)[0])
        if handler in self.excluded:
            return await self.app(request)
        inst = self.instrumentator
        inprogress, latency = inst.http_children(method, handler)
        inprogress.inc()
        start = time.perf_counter()
        status = 500
        try:
            response = await self.app(request)
            status = response.status_code
            return response
        finally:
            latency.observe(time.perf_counter() - start)
            inst.count(method, handler, status)
            inprogress.dec()


class CountingWebSocket(WebSocket):
    """The WebSocket of an instrumented app: counts the messages its handler receives and sends, and the
    connection as open from ``accept`` until the handler returns."""

    __slots__ = ("_metrics", "_accepted")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics: tuple[Any, Any, Any] = (None, None, None)
        self._accepted = False

    async def accept(self, *args: Any, **kwargs: Any) -> None:
        await super().accept(*args, **kwargs)
        if not self._accepted:
            self._accepted = True
            self._metrics[0].inc()

    async def receive_text(self) -> str:
        message = await super().receive_text()
        self._metrics[1].inc()
        return message

    async def receive_bytes(self) -> bytes:
        message = await super().receive_bytes()
        self._metrics[1].inc()
        return message

    async def receive_json(self, mode: str = "text") -> Any:
        message = await super().receive_json(mode)
        self._metrics[1].inc()
        return message

    async def receive(self) -> dict[str, Any]:
        message = await super().receive()
        if message["type"] == "websocket.receive":
            self._metrics[1].inc()
        return message

    async def send_text(self, data: str) -> None:
        await super().send_text(data)
        self._metrics[2].inc()

    async def send_bytes(self, data: bytes) -> None:
        await super().send_bytes(data)
        self._metrics[2].inc()

    async def send_json(self, data: Any, mode: str = "text") -> None:
        await super().send_json(data, mode)
        self._metrics[2].inc()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message.get("type") == "websocket.send":
            self._metrics[2].inc()
