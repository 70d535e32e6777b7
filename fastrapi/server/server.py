"""The server process: event loop, listening socket, date header tick, signals and graceful shutdown."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import time
from email.utils import formatdate
from typing import Any

from ..logging import configure_default_logging
from .config import ServerConfig
from .contracts import AppContract, RouterContract
from .http import HttpProtocol
from .listen import listen, remove_uds
from .proxy import TrustedProxies, proxied_protocol
from .tls import create_ssl_context
from .websocket import WebSocketProtocol

logger = logging.getLogger("fastrapi")

try:  # uvloop where it exists (not on Windows): the loop the hot paths were measured on
    import uvloop

    def new_event_loop() -> asyncio.AbstractEventLoop:
        return uvloop.new_event_loop()
except ImportError:  # pragma: no cover
    def new_event_loop() -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()


class StartupFailed(Exception):
    """The application's startup (lifespan / on_startup) raised: the server does not start."""


class Server:
    """Serves one FastrAPI app on ``host:port``: ``run_forever()`` in the main thread, or a thread for tests."""

    def __init__(self, app: AppContract, host: str = "127.0.0.1", port: int = 8000, *, sock: Any = None,
                 **options: Any) -> None:
        self.app = app
        self.host = host
        self.port = port
        #: an already bound listening socket to serve on instead of binding host:port (worker processes)
        self.sock = sock
        self.config = ServerConfig.from_options(options)
        if self.config.max_body_size is None:  # the app's limit (FastrAPI(max_body_size=...)); None there: none
            limit = app.max_body_size
            self.config.max_body_size = sys.maxsize if limit is None else limit
        #: the TLS context (``ssl_*`` options), built once; None for plain HTTP
        self.ssl = create_ssl_context(self.config)
        #: the proxies whose forwarding headers are believed (``proxy_headers=True``), else None
        self.proxies = TrustedProxies(self.config.forwarded_allow_ips) if self.config.proxy_headers else None
        if self.config.root_path:
            app.root_path = self.config.root_path
        self.router: RouterContract = app.router
        self.connections: set[Any] = set()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.date_server = b""
        self._server: asyncio.AbstractServer | None = None
        self._shutdown: asyncio.Future[None] | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._date_handle: asyncio.TimerHandle | None = None
        self._force = False
        #: the tasks running requests and WebSocket handlers (not the app's own tasks): what shutdown waits for
        self.tasks: set[asyncio.Task[Any]] = set()
        #: requests admitted so far (counted only under limit_max_requests)
        self.requests = 0
        #: the per-request admission check of limit_concurrency / limit_max_requests; None (no cost) without them
        cfg = self.config
        self.admit: Any = self._admit if (cfg.limit_concurrency or cfg.limit_max_requests) else None

    @property
    def url(self) -> str:
        """Where the server listens: ``http(s)://host:port``, or ``http+unix://`` with the socket path."""
        if self.config.uds:
            return f"http+unix://{self.config.uds}"
        return f"{'https' if self.ssl else 'http'}://{self._display_host()}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://{self._display_host()}:{self.port}"

    def _display_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def _listen_target(self) -> str:
        """What the bind error message names."""
        if self.config.uds:
            return self.config.uds
        if self.config.fd is not None:
            return f"file descriptor {self.config.fd}"
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------------ entry points
    def run_forever(self) -> None:
        """``app.serve``: configure logging if the app did not, serve until a signal, exit 1 on bind errors."""
        configure_default_logging(self.config.log_level, self.config.access_log)
        try:
            self.run()
        except StartupFailed:
            sys.stderr.write("ERROR: application startup failed (see the traceback above); exiting\n")
            sys.stderr.flush()
            raise SystemExit(3) from None
        except OSError as exc:
            sys.stderr.write(f"ERROR: cannot listen on {self._listen_target()}: {exc.strerror or exc}\n")
            sys.stderr.flush()
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            pass

    def run(self) -> None:
        """Serve on a new event loop in this thread until ``stop()`` or a signal."""
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve())
        finally:
            try:
                _cancel_remaining(loop)  # tasks the app left running after its shutdown, as asyncio.run does
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def start_in_thread(self, timeout: float = 10.0) -> "Server":
        """Serve from a daemon thread; returns once listening (raises the bind error if any)."""
        self._thread = threading.Thread(target=self._thread_main, name=f"fastrapi-server-{id(self):x}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("server did not start in time")
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def _thread_main(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported to start_in_thread
            if not self._started.is_set():
                self._startup_error = exc
                self._started.set()
            else:
                logger.exception("server thread crashed")

    def stop(self, timeout: float | None = None) -> None:
        """Graceful shutdown from any thread; waits for the serving thread to end."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._request_shutdown)
            except RuntimeError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout if timeout is not None else self.config.graceful_timeout + 5)

    # ------------------------------------------------------------------ serving
    async def serve(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
        self._shutdown = loop.create_future()
        self._tick_date()
        lifespan = self.app.lifespan_context() if hasattr(self.app, "lifespan_context") else None
        if lifespan is not None:
            try:
                await lifespan.__aenter__()  # startup runs before the socket accepts anything
            except BaseException as exc:
                logger.error("Application startup failed", exc_info=exc)
                self._startup_error = exc
                self._started.set()
                raise StartupFailed(exc) from exc
        try:
            protocol: Any = HttpProtocol
            if self.config.access_log:  # a subclass, so that the default protocol has no logging code
                from .access_log import LoggingHttpProtocol as protocol
            if self.proxies is not None:  # likewise: forwarding headers are read by a subclass only
                protocol = proxied_protocol(protocol, self.proxies)
            self._server = await listen(loop, lambda: protocol(self), self)
        except BaseException as exc:
            self._startup_error = exc
            self._started.set()
            if lifespan is not None:
                await lifespan.__aexit__(None, None, None)
            raise
        sockets = self._server.sockets or ()
        if sockets:
            name = sockets[0].getsockname()
            if isinstance(name, tuple):
                self.port = name[1]
                if self.config.fd is not None:
                    self.host = name[0]
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self._on_signal)
                except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                    signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self._on_signal))
        logger.info("FastrAPI running on %s (Press CTRL+C to quit)", self.url)
        self._started.set()
        try:
            await self._shutdown
            await self._graceful_shutdown()
            if lifespan is not None:
                try:
                    await lifespan.__aexit__(None, None, None)
                except Exception:
                    logger.exception("Application shutdown failed")
        finally:
            if in_main:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    try:
                        loop.remove_signal_handler(sig)
                    except (NotImplementedError, RuntimeError):  # pragma: no cover
                        pass
            if self._date_handle is not None:
                self._date_handle.cancel()
            if self.config.uds and self.sock is None:
                remove_uds(self.config.uds)  # (a socket the supervisor bound is its to remove)

    def track(self, task: "asyncio.Task[Any]") -> "asyncio.Task[Any]":
        """Register a request or WebSocket handler task until it ends."""
        if not task.done():
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return task

    def _admit(self) -> bool:
        """Whether to serve a request: False (503) while more than limit_concurrency connections are open;
        the limit_max_requests-th request starts a graceful shutdown (it and those in flight are answered)."""
        cfg = self.config
        if cfg.limit_concurrency is not None and len(self.connections) > cfg.limit_concurrency:
            return False
        if cfg.limit_max_requests is not None:
            self.requests += 1
            if self.requests == cfg.limit_max_requests:
                logger.info("Maximum request limit of %d exceeded. Terminating process.", cfg.limit_max_requests)
                self._request_shutdown()
        return True

    def _tick_date(self) -> None:
        """Refresh the cached ``date``/``server`` header lines once a second."""
        now = time.time()
        self.date_server = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\nserver: fastrapi\r\n"
        self._date_handle = self.loop.call_later(1.0 - (now % 1.0) + 0.001, self._tick_date)

    def _on_signal(self) -> None:
        if self._shutdown is not None and self._shutdown.done():
            self._force = True  # a second Ctrl-C: drop everything now
            for conn in list(self.connections):
                conn.transport.abort()
            return
        logger.info("Shutting down")
        self._request_shutdown()

    def _request_shutdown(self) -> None:
        if self._shutdown is not None and not self._shutdown.done():
            self._shutdown.set_result(None)

    async def _graceful_shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish, close WebSockets with 1001, then drop leftovers."""
        assert self._server is not None
        self._server.close()
        for conn in list(self.connections):
            if isinstance(conn, WebSocketProtocol):
                conn.server_shutdown()
            else:
                conn.shutdown()
        deadline = self.loop.time() + self.config.graceful_timeout
        while self.connections and self.loop.time() < deadline and not self._force:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.transport.abort()
        # Let handler tasks observe the disconnects and end; cancel the stragglers. (Tasks the app started
        # itself are its own: its lifespan shutdown, which runs next, deals with them.)
        tasks = [t for t in self.tasks if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=min(1.0, self.config.graceful_timeout))
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        await asyncio.sleep(0)


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still pending on ``loop`` and let them finish (their ``finally`` blocks run)."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
