"""Serving from several processes: the worker supervisor (``workers=N``) and the reloader (``reload=True``).

``serve_app`` is what ``app.serve(...)`` and ``fastrapi run`` call:

- ``workers=1``: one ``Server`` in this process (the plain path).
- ``workers=N``: a ``Supervisor`` forks N worker processes. On Linux each worker binds its own socket with
  SO_REUSEPORT (the kernel spreads connections over them); elsewhere the supervisor binds one listening socket
  before forking and the workers share it. Each worker runs the app's lifespan and serves until SIGTERM. A
  worker that dies is replaced within a second; SIGINT/SIGTERM to the supervisor sends SIGTERM to every
  worker (graceful shutdown: WebSockets closed with 1001), waits ``graceful_timeout`` (+5 s for the lifespan
  shutdown) and SIGKILLs what is left.
- ``reload=True``: a reloader process runs the same command again as a child (``watchfiles.run_process``)
  and restarts it when a ``.py`` file changes under the watched directories.

Workers are started with the ``fork`` start method: a worker is ready without re-importing the application
(``app.serve(workers=2)`` works from any script, even an app built in ``if __name__ == "__main__"``), and
starting one takes milliseconds. What fork requires holds here: the supervisor never creates an event loop
(uvloop must not run in a parent that forks) nor starts threads; loops, the thread pool and the lifespan only
ever start in the workers. Fork is not available on Windows, where ``workers > 1`` is refused.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import struct
import sys
import threading
import time
from multiprocessing.connection import wait as wait_any
from pathlib import Path
from typing import Any, Sequence

from .config import ServerConfig
from .listen import bind_socket, remove_uds
from .tls import create_ssl_context

logger = logging.getLogger("fastrapi.error")

#: set (to the reloader's pid) in the environment of the process the reloader runs
RELOAD_CHILD_ENV = "FASTRAPI_RELOADER_PID"

_WORKER_FAILURE_CODES = (1, 3)  # a worker that exits so before it listened: bind error / failed startup


# ---------------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------------
def serve_app(app: Any, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, reload: bool = False,
              reload_dirs: Sequence[str | Path] | None = None, reload_options: dict[str, Any] | None = None,
              **options: Any) -> None:
    """Serve ``app`` in this process, in ``workers`` processes, or under the reloader. Exit codes as
    ``Server.run_forever``: 3 when the application's startup failed, 1 when the address cannot be bound."""
    from .server import Server

    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    reload_child = is_reload_child()
    if reload_child:
        workers = 1  # the reloader's child serves alone, whatever the command line says
    if workers > 1 or (reload and not reload_child):
        from ..logging import configure_default_logging

        config = ServerConfig.from_options(options)  # unknown options are reported here, not in each child
        configure_default_logging(config.log_level, config.access_log)
    if reload and not reload_child:
        if workers > 1:
            logger.warning("reload=True runs one process: workers=%d is ignored", workers)
        dirs = list(reload_dirs or [_script_dir()])
        run_with_reload([sys.executable, *sys.orig_argv[1:]], dirs, config.graceful_timeout, **(reload_options or {}))
        return
    if workers > 1:
        code = Supervisor(app, host, port, workers, **options).run()
        if code:
            raise SystemExit(code)
        return
    server = Server(app, host, port, **options)
    if reload_child:
        _watch_parent(server, int(os.environ[RELOAD_CHILD_ENV]))
    server.run_forever()


def warn_per_process_state(app: Any, workers: int) -> None:
    """With several workers, warn about app state that lives in one process only: an in-memory broadcast
    backend (``app.broadcast.backend``) delivers a message only to the WebSockets of the worker it was
    published in. The broadcast module may call this too; everything is looked up defensively."""
    if workers <= 1:
        return
    # the configured broadcast only: reading ``app.broadcast`` would create an in-memory one
    broadcast = getattr(app, "_broadcast", None)
    if broadcast is None:
        return
    backend = getattr(broadcast, "backend", None)
    if isinstance(backend, str):
        in_memory = backend.split(":", 1)[0].lower() in ("memory", "inmemory", "in-memory")
    elif backend is not None:
        in_memory = bool(getattr(backend, "in_memory", False)) or "memory" in type(backend).__name__.lower()
    else:
        in_memory = False
    if in_memory:
        logger.warning(
            "workers=%d with the in-memory broadcast backend: channels are per process, so a message reaches "
            "only the clients connected to the worker that published it. Use a shared backend (e.g. Redis) "
            "to broadcast across workers.", workers,
        )


# ---------------------------------------------------------------------------------------------------------------
# the supervisor
# ---------------------------------------------------------------------------------------------------------------
class _Worker:
    """One worker slot: its process and whether it has said it listens."""

    __slots__ = ("process", "ready")

    def __init__(self, process: Any) -> None:
        self.process = process
        self.ready = False


class Supervisor:
    """Runs ``workers`` processes serving ``app`` on one ``host:port``; replaces those that die."""

    def __init__(self, app: Any, host: str, port: int, workers: int, *, share_socket: bool | None = None,
                 **options: Any) -> None:
        if port == 0 and not (options.get("uds") or options.get("fd") is not None):
            raise ValueError(
                "port 0 cannot be used with workers > 1: each worker would listen on a different random port; "
                "choose a port"
            )
        try:
            self.context = multiprocessing.get_context("fork")
        except ValueError:  # pragma: no cover - Windows
            raise RuntimeError("workers > 1 need os.fork, which this platform does not have") from None
        self.app = app
        self.host = host
        self.port = port
        self.count = workers
        self.options = options
        self.config = ServerConfig.from_options(options)
        create_ssl_context(self.config)  # bad TLS files or options fail here, not in every worker
        if share_socket is None:
            # SO_REUSEPORT balances connections over the sockets only on Linux (on BSD/macOS the last one
            # bound gets them all): elsewhere, one socket bound here and shared.
            share_socket = not (sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT"))
        if self.config.uds or self.config.fd is not None:
            share_socket = True  # one Unix socket / one inherited socket: bound (or taken) here, shared
        self.share_socket = share_socket
        self.sock: socket.socket | None = None
        self.workers: list[_Worker] = []
        self.signals = 0
        self.exit_code = 0
        self._ready_r = self._ready_w = -1
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    def run(self) -> int:
        """Start the workers and supervise them until SIGINT/SIGTERM; returns the exit status (0 normally)."""
        if self.share_socket:
            try:
                self.sock = self._bind()
            except OSError as exc:
                where = self.config.uds or (f"fd {self.config.fd}" if self.config.fd is not None
                                            else f"{self.host}:{self.port}")
                sys.stderr.write(f"ERROR: cannot listen on {where}: {exc.strerror or exc}\n")
                sys.stderr.flush()
                return 1
        self._ready_r, self._ready_w = os.pipe()
        os.set_blocking(self._ready_r, False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        previous_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        logger.info("Started parent process [%d]", os.getpid())
        warn_per_process_state(self.app, self.count)
        # seen by the workers: an in-memory broadcast created later, on first use, warns then
        os.environ["FASTRAPI_WORKERS"] = str(self.count)
        try:
            for _ in range(self.count):
                self.workers.append(self._spawn())
            self._supervise()
            self._stop_all()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for fd in (self._ready_r, self._ready_w):
                os.close(fd)
            self._wake_r.close()
            self._wake_w.close()
            if self.sock is not None:
                self.sock.close()
                if self.config.uds:
                    remove_uds(self.config.uds)
        logger.info("Stopping parent process [%d]", os.getpid())
        return self.exit_code

    def _bind(self) -> socket.socket:
        return bind_socket(self.host, self.port, uds=self.config.uds, fd=self.config.fd,
                           backlog=self.config.backlog)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals += 1
        if self.signals > 1:  # a second Ctrl-C: the workers drop their connections now
            for w in self.workers:
                _kill(w.process.pid, signal.SIGTERM)

    def _spawn(self) -> _Worker:
        # Signals stay blocked across fork: a SIGTERM meant for the new worker cannot reach the supervisor's
        # handler (inherited until the worker resets it) and be lost.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            process = self.context.Process(target=self._worker_main, name="fastrapi-worker", daemon=False)
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        logger.info("Started worker process [%d]", process.pid)
        return _Worker(process)

    def _supervise(self) -> None:
        while not self.signals:
            ready = wait_any([w.process.sentinel for w in self.workers] + [self._ready_r, self._wake_r], 1.0)
            if self._wake_r in ready:
                try:
                    while self._wake_r.recv(512):
                        pass
                except OSError:
                    pass
            if self._ready_r in ready:
                self._read_ready()
            if self.signals:
                return
            for i, w in enumerate(self.workers):
                code = w.process.exitcode
                if code is None:
                    continue
                w.process.join()
                if not w.ready and code in _WORKER_FAILURE_CODES:
                    self._read_ready()
                if not w.ready and code in _WORKER_FAILURE_CODES:
                    what = "application startup failed" if code == 3 else "cannot listen"
                    logger.error("Worker process [%d] exited with code %d before serving (%s): stopping",
                                 w.process.pid, code, what)
                    self.exit_code = code
                    return
                if code == 0:  # it stopped by itself: limit_max_requests
                    logger.info("Worker process [%d] exited: starting a new one", w.process.pid)
                else:
                    logger.error("Worker process [%d] died (%s): starting a new one", w.process.pid, _describe(code))
                self._exited(w.process.pid)
                self.workers[i] = self._spawn()

    def _read_ready(self) -> None:
        try:
            data = os.read(self._ready_r, 4096)
        except BlockingIOError:
            return
        pids = {pid for (pid,) in struct.iter_unpack("i", data[: len(data) - len(data) % 4])}
        for w in self.workers:
            if w.process.pid in pids:
                w.ready = True

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait for their graceful shutdown, SIGKILL the stragglers."""
        alive = [w.process for w in self.workers if w.process.exitcode is None]
        for p in alive:
            _kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.graceful_timeout + 5.0
        while alive and time.monotonic() < deadline:
            wait_any([p.sentinel for p in alive], min(0.5, max(0.0, deadline - time.monotonic())))
            alive = [p for p in alive if p.exitcode is None]
        for p in alive:
            logger.warning("Worker process [%d] did not stop in time: killing it", p.pid)
            _kill(p.pid, signal.SIGKILL)
        for w in self.workers:
            w.process.join(5.0)
            self._exited(w.process.pid)

    def _exited(self, pid: int) -> None:
        """A worker is gone: the app's ``worker_exit_hooks`` hear of it (e.g. metrics drop its live gauges)."""
        for hook in getattr(self.app, "worker_exit_hooks", ()):
            try:
                hook(pid)
            except Exception:
                logger.exception("worker exit hook %r failed", hook)

    # -------------------------------------------------------------------------------------- in the worker
    def _worker_main(self) -> None:
        """The forked worker: own process group (a terminal's Ctrl-C goes to the supervisor only, which
        forwards one SIGTERM), default signal handling, then a Server until SIGTERM."""
        from .server import Server

        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # blocked by _spawn
        try:
            os.setpgid(0, 0)
        except OSError:  # pragma: no cover
            pass
        parent = os.getppid()
        os.close(self._ready_r)
        self._wake_r.close()  # type: ignore[union-attr]
        self._wake_w.close()  # type: ignore[union-attr]
        options = dict(self.options)
        if not self.share_socket:
            options["reuse_port"] = True
        server = Server(self.app, self.host, self.port, sock=self.sock, **options)
        _watch_parent(server, parent, self._ready_w)
        server.run_forever()


def _watch_parent(server: Any, parent: int, ready_fd: int = -1) -> None:
    """A thread of the child: tell the parent (through ``ready_fd``) once listening, and shut the server down
    if the parent dies (an orphaned worker or reloaded server must not keep the port)."""

    def watch() -> None:
        reported = ready_fd < 0
        while True:
            if not reported and server._started.wait(0.25):
                reported = True
                if server._startup_error is None:
                    try:
                        os.write(ready_fd, struct.pack("i", os.getpid()))
                    except OSError:
                        pass
            elif reported:
                time.sleep(0.5)
            if os.getppid() != parent:
                logger.warning("Parent process [%d] is gone: shutting down", parent)
                while True:
                    server.stop()
                    time.sleep(0.5)

    threading.Thread(target=watch, name="fastrapi-parent-watch", daemon=True).start()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# ---------------------------------------------------------------------------------------------------------------
# the reloader
# ---------------------------------------------------------------------------------------------------------------
def is_reload_child() -> bool:
    """True in the process a reloader runs (its pid is in the environment and it is our parent)."""
    value = os.environ.get(RELOAD_CHILD_ENV)
    return value is not None and value == str(os.getppid())


def run_with_reload(command: list[str], dirs: Sequence[str | Path], graceful_timeout: float = 10.0, *,
                    ignore_dirs: Sequence[str] = (), ignore_patterns: Sequence[str] = (),
                    ignore_paths: Sequence[str | Path] = (), tick: int = 50,
                    ignore_worker_failure: bool = False) -> None:
    """Run ``command`` as a child process and run it again whenever a ``.py`` file under ``dirs`` changes
    (watchfiles); until SIGINT/SIGTERM, which stop the child too.

    The original FastrAPI's options: ``ignore_dirs`` (directory names or paths whose files never trigger a
    reload), ``ignore_patterns`` (globs on file paths and names; one without ``*?[`` matches as a substring),
    ``ignore_paths`` (files), ``tick`` (milliseconds changes are grouped over, at least 50) and
    ``ignore_worker_failure`` (a child that exits on its own is started again at once, instead of waiting
    for the next change)."""
    from watchfiles import watch

    paths = [str(Path(d).resolve()) for d in dirs]
    watch_filter = ReloadFilter(ignore_dirs=ignore_dirs, ignore_patterns=ignore_patterns, ignore_paths=ignore_paths)
    tick = max(int(tick), 50)
    os.environ[RELOAD_CHILD_ENV] = str(os.getpid())
    watch_logger = logging.getLogger("watchfiles.main")
    if _quiet_interrupt not in watch_logger.filters:
        watch_logger.addFilter(_quiet_interrupt)
    logger.info("Will watch for changes in these directories: %s", paths)
    logger.info("Started reloader process [%d] using WatchFiles", os.getpid())
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops the reloader as Ctrl-C does
    child = _start_child(command)
    try:
        for changes in watch(*paths, watch_filter=watch_filter, step=tick, rust_timeout=max(tick, 250),
                             yield_on_timeout=True):
            if changes:
                names = sorted({_relative(path, paths) for _, path in changes})
                logger.warning("WatchFiles detected changes in %s. Reloading...", ", ".join(repr(n) for n in names))
                _stop_child(child, graceful_timeout)
                child = _start_child(command)
            elif ignore_worker_failure and child.poll() is not None:
                logger.warning("The server process [%d] exited with code %d: starting it again "
                               "(reload_ignore_worker_failure)", child.pid, child.returncode)
                time.sleep(tick / 1000)
                child = _start_child(command)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_child(child, graceful_timeout)
        os.environ.pop(RELOAD_CHILD_ENV, None)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    logger.info("Stopping reloader process [%d]", os.getpid())


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _start_child(command: list[str]) -> "subprocess.Popen[bytes]":
    import subprocess

    return subprocess.Popen(command)


def _stop_child(child: "subprocess.Popen[bytes]", graceful_timeout: float) -> None:
    """SIGINT (the server's graceful shutdown), then SIGKILL after ``graceful_timeout`` + 5 s."""
    import subprocess

    if child.poll() is not None:
        return
    try:
        child.send_signal(signal.SIGINT)
        child.wait(graceful_timeout + 5)
    except subprocess.TimeoutExpired:
        logger.warning("The server process [%d] did not stop in time: killing it", child.pid)
        child.kill()
        child.wait(5)
    except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
        child.kill()
        child.wait(5)


class ReloadFilter:
    """What triggers a reload: ``.py`` files (watchfiles' PythonFilter: not under ``__pycache__``, ``.git``,
    ``.venv``...) that none of the ignore options names."""

    def __init__(self, *, ignore_dirs: Sequence[str] = (), ignore_patterns: Sequence[str] = (),
                 ignore_paths: Sequence[str | Path] = ()) -> None:
        from watchfiles import PythonFilter

        self._python = PythonFilter()
        self.dir_names = {d.strip("/") for d in ignore_dirs if d and "/" not in d.strip("/") and os.sep not in d}
        self.dir_paths = [str(Path(d).resolve()) for d in ignore_dirs
                          if d and ("/" in d.strip("/") or os.sep in d or d.startswith("."))]
        self.patterns = [p if any(c in p for c in "*?[") else f"*{p}*" for p in ignore_patterns if p]
        self.paths = {str(Path(p).resolve()) for p in ignore_paths}
        self.path_suffixes = tuple(os.sep + str(p).lstrip("/") for p in ignore_paths if not Path(p).is_absolute())

    def __call__(self, change: Any, path: str) -> bool:
        from fnmatch import fnmatch

        if not self._python(change, path):
            return False
        parts = Path(path).parts[:-1]
        if self.dir_names.intersection(parts):
            return False
        if any(path == d or path.startswith(d + os.sep) for d in self.dir_paths):
            return False
        if path in self.paths or (self.path_suffixes and path.endswith(self.path_suffixes)):
            return False
        name = os.path.basename(path)
        return not any(fnmatch(path, p) or fnmatch(name, p) for p in self.patterns)


def _quiet_interrupt(record: logging.LogRecord) -> bool:
    """Drop watchfiles' "KeyboardInterrupt caught, stopping watch" (Ctrl-C is how a reloader stops)."""
    return not record.getMessage().startswith("KeyboardInterrupt caught")


def _relative(path: str, roots: list[str]) -> str:
    for root in roots:
        if path.startswith(root + os.sep):
            return os.path.relpath(path, root)
    return path


def _script_dir() -> str:
    """What ``app.serve(reload=True)`` watches: the running script's directory, else the current one."""
    script = sys.argv[0] if sys.argv else ""
    if script and os.path.isfile(script):
        return os.path.dirname(os.path.abspath(script))
    return os.getcwd()
