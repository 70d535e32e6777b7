"""TLS for the built-in server: the ``ssl.SSLContext`` built once from the ``ssl_*`` options.

The event loop does the TLS work (``loop.create_server(ssl=...)``); the protocols see plain bytes, and
``transport.get_extra_info("sslcontext")`` tells a request that it came over TLS (https / wss).
"""
from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ServerConfig

__all__ = ["create_ssl_context"]


def create_ssl_context(config: "ServerConfig") -> ssl.SSLContext | None:
    """The server's SSL context, or None when ``ssl_certfile`` is not set.

    TLS 1.2 at least; ALPN offers ``http/1.1`` only (the server speaks HTTP/1.1, so a client that would
    prefer h2 settles on HTTP/1.1 during the handshake). Errors in the files (missing, wrong password, key not
    matching the certificate) raise here, before anything listens."""
    if not config.ssl_certfile:
        if config.ssl_keyfile or config.ssl_ca_certs:
            raise ValueError("ssl_keyfile / ssl_ca_certs need ssl_certfile (the certificate) as well")
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    password = config.ssl_keyfile_password
    ctx.load_cert_chain(config.ssl_certfile, config.ssl_keyfile, password)
    cert_reqs = ssl.VerifyMode(config.ssl_cert_reqs)
    if cert_reqs != ssl.CERT_NONE and not config.ssl_ca_certs:
        raise ValueError("ssl_cert_reqs asks for client certificates: give ssl_ca_certs to verify them with")
    ctx.verify_mode = cert_reqs
    if config.ssl_ca_certs:
        ctx.load_verify_locations(config.ssl_ca_certs)
    if config.ssl_ciphers:
        ctx.set_ciphers(config.ssl_ciphers)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
