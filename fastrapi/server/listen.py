"""Where the server listens: ``host:port``, a Unix domain socket (``uds=``), an inherited file descriptor
(``fd=``: systemd socket activation, a process manager), or a socket bound by the worker supervisor."""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .server import Server

__all__ = ["listen", "bind_socket", "from_fd", "remove_uds"]

#: permissions of a Unix socket file the server creates (as uvicorn's: any local user may connect)
UDS_MODE = 0o666


async def listen(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol],
                 server: "Server") -> asyncio.AbstractServer:
    """Start accepting connections for ``server`` (its ``sock``, else its ``uds``/``fd``/host:port options)."""
    config = server.config
    ssl = server.ssl
    sock = server.sock
    if sock is None and config.fd is not None:
        sock = from_fd(config.fd, config.backlog)
    if sock is not None:
        if sock.family == socket.AF_UNIX:
            return await loop.create_unix_server(factory, sock=sock, ssl=ssl, backlog=config.backlog)
        return await loop.create_server(factory, sock=sock, ssl=ssl, backlog=config.backlog)
    if config.uds:
        remove_uds(config.uds)
        created = await loop.create_unix_server(factory, config.uds, ssl=ssl, backlog=config.backlog)
        os.chmod(config.uds, UDS_MODE)
        return created
    return await loop.create_server(
        factory, server.host, server.port, ssl=ssl, backlog=config.backlog, reuse_address=True,
        reuse_port=config.reuse_port or None,
    )


def bind_socket(host: str, port: int, *, uds: str | None = None, fd: int | None = None,
                backlog: int = 2048) -> socket.socket:
    """One listening socket, bound before the worker processes start (they all accept on it)."""
    if fd is not None:
        return from_fd(fd, backlog)
    elif uds:
        remove_uds(uds)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(uds)
            os.chmod(uds, UDS_MODE)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


def from_fd(fd: int, backlog: int) -> socket.socket:
    """A listening socket on a duplicate of the inherited ``fd`` (the caller's descriptor stays its own)."""
    sock = socket.socket(fileno=os.dup(fd))  # (family and type read from the descriptor)
    if sock.type != socket.SOCK_STREAM:
        sock.close()
        raise OSError(f"file descriptor {fd} is not a stream socket")
    with contextlib.suppress(OSError):
        sock.listen(backlog)  # (a socket passed by systemd listens already: this only sets the backlog)
    sock.setblocking(False)
    return sock


def remove_uds(path: str) -> None:
    """Remove a Unix socket file left by an earlier run (never a file that is not a socket)."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass

