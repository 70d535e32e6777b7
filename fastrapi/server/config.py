"""Server settings: limits and timeouts, one place, with the defaults documented."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: a writer whose peer reads as fast as it writes (its buffer never fills, so it never waits) yields to the
#: event loop after this many bytes: one fast reader cannot keep the loop from every other connection
YIELD_EVERY = 1 << 20


@dataclass
class ServerConfig:
    """Options of ``app.serve(...)`` / ``Server(...)`` beyond host and port."""

    #: bytes of request line + headers before 431 (414 for the URL alone)
    max_header_size: int = 32 * 1024
    #: bytes of request body before 413; None: the app's ``FastrAPI(max_body_size=...)`` (16 MiB by default)
    max_body_size: int | None = None
    #: seconds an idle keep-alive connection is kept open
    keep_alive_timeout: float = 5.0
    #: seconds a client has to send a whole request head once it started one (slowloris): 408, then close.
    #: None: no deadline
    header_timeout: float | None = 30.0
    #: seconds a request body may go without receiving a byte before 408 (or a close once the answer started).
    #: None: no deadline
    body_timeout: float | None = 30.0
    #: connections (HTTP and WebSocket) above which requests and handshakes get 503 and the connection closes
    #: (None: no limit)
    limit_concurrency: int | None = None
    #: requests after which the process stops gracefully (a worker of ``workers=N`` is then restarted: for
    #: apps that leak). None: no limit
    limit_max_requests: int | None = None
    #: seconds in-flight requests get to finish on shutdown before connections are dropped
    graceful_timeout: float = 10.0
    #: listen backlog
    backlog: int = 2048
    #: largest WebSocket message in bytes (after decompression) before closing with 1009
    ws_max_size: int = 16 * 1024 * 1024
    #: messages buffered for a handler that doesn't read before the socket stops being read (reading also stops
    #: once the queued messages hold over 1 MiB)
    ws_max_queue: int = 32
    #: seconds between keepalive pings (None or 0: no pings)
    ws_ping_interval: float | None = 20.0
    #: seconds to wait for the pong before dropping the peer (None: never drop)
    ws_ping_timeout: float | None = 20.0
    #: seconds to wait for the peer's close frame after ours before dropping TCP
    ws_close_timeout: float = 5.0
    #: negotiate permessage-deflate (RFC 7692) when the client offers it
    ws_per_message_deflate: bool = True
    #: write buffer high-water mark (bytes) above which sends wait
    write_buffer_high: int = 256 * 1024
    #: the same for WebSocket connections, lower: what a client that stops reading makes the server hold
    #: (one message more at most) while its handler's sends wait
    ws_write_buffer_high: int = 16 * 1024
    #: log level of the startup/shutdown lines when serve() configures logging
    log_level: str = "info"
    #: one ``fastrapi.access`` log line per response. Off for ``app.serve()`` (the default protocol then has no
    #: logging code at all); ``fastrapi run``/``dev`` turn it on unless ``--no-access-log``
    access_log: bool = False
    #: bind with SO_REUSEPORT (several processes on one port: what ``workers=N`` does on Linux)
    reuse_port: bool = False

    # -- TLS (``fastrapi.server.tls``): https and wss when ``ssl_certfile`` is set
    #: the certificate chain (PEM); TLS is on when set
    ssl_certfile: str | None = None
    #: the private key (PEM); None: it is in ``ssl_certfile``
    ssl_keyfile: str | None = None
    #: the password of an encrypted private key
    ssl_keyfile_password: str | None = None
    #: CA certificates to verify client certificates with (mutual TLS, with ``ssl_cert_reqs``)
    ssl_ca_certs: str | None = None
    #: ``ssl.CERT_NONE`` (0, no client certificate), ``CERT_OPTIONAL`` (1) or ``CERT_REQUIRED`` (2)
    ssl_cert_reqs: int = 0
    #: OpenSSL cipher string for TLS 1.2 and below; None: Python's secure defaults
    ssl_ciphers: str | None = None

    # -- behind a proxy (``fastrapi.server.proxy``)
    #: trust ``X-Forwarded-For/-Proto/-Host`` and RFC 7239 ``Forwarded`` from ``forwarded_allow_ips``
    proxy_headers: bool = False
    #: addresses/networks whose forwarding headers are trusted (comma-separated or a list; ``*``: any)
    forwarded_allow_ips: str | list[str] = "127.0.0.1"
    #: the path prefix the app is served under (a proxy's); sets ``app.root_path`` (``scope["root_path"]``)
    root_path: str = ""

    # -- where to listen instead of host:port
    #: a Unix domain socket path
    uds: str | None = None
    #: an inherited listening socket's file descriptor (systemd socket activation, a process manager)
    fd: int | None = None

    @property
    def tick(self) -> float:
        """Seconds between a connection's deadline checks: half the shortest of its timeouts."""
        return min(t for t in (self.keep_alive_timeout, self.header_timeout, self.body_timeout) if t) / 2

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "ServerConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown server option(s): {', '.join(sorted(unknown))}")
        return cls(**options)
