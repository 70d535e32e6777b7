"""Draining the listen backlog when the event loop is too busy to accept, so that a loop saturated by busy
connections still takes new ones.

libuv (under uvloop) accepts one connection each time the event loop reports the listening socket readable.
With thousands of busy keep-alive connections, one loop iteration serves a thousand other events first: new
clients were accepted a few per second and waited in a full backlog (measured with 10,000 connections).
``BacklogDrain`` looks at the listening socket every ``CHECK_EVERY`` seconds (one ``poll`` syscall); when
connections have been waiting at two checks in a row, it accepts all of them (up to ``BATCH``) and makes
each the loop's own transport (``connect_accepted_socket``, TLS included). The loop's own accept stays the
path of every connection while the loop keeps up.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import socket
from typing import Any, Callable

logger = logging.getLogger("fastrapi.error")

__all__ = ["BacklogDrain"]

#: seconds between two looks at the listening socket
CHECK_EVERY = 0.1
#: connections accepted per drain
BATCH = 1024
_OUT_OF_FDS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


class BacklogDrain:
    """Accepts, on the loop's behalf, connections that waited in the backlog across two checks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, listening: Any,
                 factory: Callable[[], asyncio.Protocol], ssl: Any = None) -> None:
        self.loop = loop
        # Our own descriptor of the same socket (the loop's server keeps its own, and closes it itself).
        self.sock = socket.socket(fileno=os.dup(listening.fileno()))
        self.sock.setblocking(False)
        self.tcp = self.sock.family in (socket.AF_INET, socket.AF_INET6)
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN)
        self.factory = factory
        self.ssl = ssl
        self.waiting = False  # connections were waiting at the last check
        self.handle: asyncio.TimerHandle | None = loop.call_later(CHECK_EVERY, self._check)

    def _check(self) -> None:
        ready = bool(self.poller.poll(0))
        if ready and self.waiting:
            self.drain()
            ready = False
        self.waiting = ready
        self.handle = self.loop.call_later(CHECK_EVERY, self._check)

    def drain(self) -> int:
        """Accept what waits (up to ``BATCH``); the number of connections taken."""
        sock = self.sock
        taken = 0
        for _ in range(BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:  # the client gave up before it was accepted: next one
                continue
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    logger.error("Out of resources accepting connections: %s", exc)
                    break
                raise
            conn.setblocking(False)
            if self.tcp:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self.loop.create_task(self.loop.connect_accepted_socket(self.factory, conn, ssl=self.ssl))
            task.add_done_callback(_connected)
            taken += 1
        if taken:
            logger.debug("Accepted %d connections that waited in the listen backlog", taken)
        return taken

    def close(self) -> None:
        """Stop (the server stops listening)."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.sock.close()


def _connected(task: "asyncio.Task[Any]") -> None:
    """A connection that failed while it was set up (a TLS handshake that failed, a reset): nothing to do."""
    if not task.cancelled() and task.exception() is not None:
        logger.debug("Connection failed during setup: %r", task.exception())
