"""Behind a proxy: the client address, scheme and host a trusted proxy forwards (``proxy_headers=True``).

Read from ``X-Forwarded-For`` / ``-Proto`` / ``-Host`` or RFC 7239 ``Forwarded`` (which wins when both are
present), only on connections whose peer is in ``forwarded_allow_ips``. Whether a connection's peer is trusted
is decided once, when it connects; an app served without ``proxy_headers`` uses the plain protocol class and
pays nothing, and an untrusted connection pays one attribute test per request.

What a request then sees: ``request.client`` is the forwarded client, its URL's scheme is the forwarded one
(``request.url``, ``url_for``, redirects say ``https`` behind a TLS proxy; ``websocket.url`` says ``wss``), and
the ``Host`` header is replaced by the forwarded host. In a chain of proxies the client is the nearest address
that is not itself trusted (as uvicorn picks it).
"""
from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from .http import HttpProtocol

__all__ = ["TrustedProxies", "ProxiedPeer", "proxied_protocol", "parse_forwarded"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
#: a host[:port] as a Host header may carry it (no spaces, slashes or other URL parts)
_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]{1,5})?$")
_PAIR_RE = re.compile(r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


class TrustedProxies:
    """``forwarded_allow_ips``: addresses and networks (``10.0.0.0/8``) whose forwarding headers are believed;
    ``*`` for any. Peers on a Unix domain socket (no address: a local process) are trusted."""

    def __init__(self, allow: str | Iterable[str]) -> None:
        items = [x.strip() for x in (allow.split(",") if isinstance(allow, str) else allow)]
        items = [x for x in items if x]
        self.any = "*" in items
        self.hosts: set[str] = set()
        self.networks: list[_Network] = []
        for item in items:
            if item == "*":
                continue
            try:
                if "/" in item:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                else:
                    self.hosts.add(str(ipaddress.ip_address(item)))
            except ValueError:
                raise ValueError(f"forwarded_allow_ips: {item!r} is not an IP address or network") from None

    def __contains__(self, host: str) -> bool:
        """Whether the address ``host`` (a string) is a trusted proxy."""
        if self.any or host in self.hosts:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
        if mapped is not None and str(mapped) in self.hosts:
            return True
        return any(address in net or (mapped is not None and mapped in net) for net in self.networks)

    def trusts_peer(self, peer: Any) -> bool:
        """The decision for one connection, from its ``peername``."""
        if isinstance(peer, (tuple, list)) and peer:
            return str(peer[0]) in self
        return True  # a Unix domain socket peer ('' or None): only local processes can connect


class ProxiedPeer:
    """What a request on a trusted proxy connection holds instead of the transport: the forwarded client
    (``get_extra_info("peername")``) and scheme (``get_extra_info("scheme")``); the rest is the transport's."""

    __slots__ = ("transport", "client", "scheme")

    def __init__(self, transport: Any, client: tuple[str, int] | None, scheme: str | None) -> None:
        self.transport = transport
        self.client = client
        self.scheme = scheme

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername" and self.client is not None:
            return self.client
        if name == "scheme" and self.scheme is not None:
            return self.scheme
        return self.transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # abort(), write()... are the transport's
        return getattr(self.transport, name)


def _split(value: bytes) -> list[str]:
    return [part.strip() for part in value.decode("latin-1").split(",") if part.strip()]


def _address(node: str) -> tuple[str, int] | None:
    """An RFC 7239 node / X-Forwarded-For entry -> (ip, port); None for ``unknown``, obfuscated names, junk."""
    node = node.strip().strip('"')
    port = 0
    if node.startswith("["):  # [v6]:port
        end = node.find("]")
        if end < 0:
            return None
        host, rest = node[1:end], node[end + 1:]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif node.count(":") == 1:  # v4:port
        host, _, p = node.partition(":")
        port = int(p) if p.isdigit() else 0
    else:
        host = node
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        return None


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 ``Forwarded``: one dict (lower-case keys, unquoted values) per hop, nearest client first."""
    hops: list[dict[str, str]] = []
    for element in value.split(","):
        hop: dict[str, str] = {}
        for pair in element.split(";"):
            m = _PAIR_RE.fullmatch(pair)
            if m is None:
                continue
            v = m.group(2)
            if v.startswith('"'):
                v = re.sub(r"\\(.)", r"\1", v[1:-1])
            hop[m.group(1).lower()] = v
        if hop:
            hops.append(hop)
    return hops


def _pick(addresses: list[tuple[str, int] | None], trusted: TrustedProxies) -> int:
    """The index of the client in a chain (nearest last): the nearest entry that is not a trusted proxy."""
    for i in range(len(addresses) - 1, -1, -1):
        a = addresses[i]
        if a is None or a[0] not in trusted:
            return i
    return 0


def resolve(headers: list[tuple[bytes, bytes]], trusted: TrustedProxies) -> tuple[tuple[str, int] | None, str | None,
                                                                                str | None]:
    """(client, scheme, host) the proxy forwarded in ``headers``; None for what it did not say."""
    forwarded = xff = xfp = xfh = None
    for name, value in headers:
        if name[:1] not in (b"f", b"x"):
            continue
        if name == b"forwarded":
            forwarded = value if forwarded is None else forwarded + b"," + value
        elif name == b"x-forwarded-for":
            xff = value if xff is None else xff + b"," + value
        elif name == b"x-forwarded-proto":
            xfp = value
        elif name == b"x-forwarded-host":
            xfh = value
    client = scheme = host = None
    if forwarded is not None:
        hops = parse_forwarded(forwarded.decode("latin-1"))
        if hops:
            addresses = [_address(h["for"]) if "for" in h else None for h in hops]
            i = _pick(addresses, trusted)
            client = addresses[i]
            for hop in hops[i:]:  # the client's hop, else what a later (trusted) hop says
                if scheme is None and "proto" in hop:
                    scheme = hop["proto"].lower()
                if host is None and "host" in hop:
                    host = hop["host"]
            return client, _SCHEMES.get(scheme or ""), _valid_host(host)
    index = -1
    if xff is not None:
        entries = _split(xff)
        if entries:
            addresses = [_address(e) for e in entries]
            index = _pick(addresses, trusted)
            client = addresses[index]
            index = index - len(addresses)  # from the right, to align the other lists with it
    if xfp is not None:
        scheme = _aligned(_split(xfp), index)
    if xfh is not None:
        host = _aligned(_split(xfh), index)
    return client, _SCHEMES.get((scheme or "").lower()), _valid_host(host)


def _aligned(values: list[str], index: int) -> str | None:
    """A value of X-Forwarded-Proto/-Host: the client's hop when each proxy appended one, else the nearest."""
    if not values:
        return None
    return values[index] if -len(values) <= index < 0 and len(values) > 1 else values[-1]


def _valid_host(host: str | None) -> str | None:
    return host if host and _HOST_RE.match(host) else None


def apply(request: Any, trusted: TrustedProxies) -> None:
    """Give ``request`` what the proxy forwarded: its peer becomes a ``ProxiedPeer``, its Host the forwarded one."""
    headers = request.raw_headers
    client, scheme, host = resolve(headers, trusted)
    if client is None and scheme is None and host is None:
        return
    request._transport = ProxiedPeer(request._transport, client, scheme)
    if host is not None:
        encoded = host.encode("latin-1")
        for i, (name, _) in enumerate(headers):
            if name == b"host":
                headers[i] = (b"host", encoded)
                break
        else:
            headers.append((b"host", encoded))


def proxied_protocol(base: type["HttpProtocol"], trusted: TrustedProxies) -> type["HttpProtocol"]:
    """``base`` (the plain or the access-logging protocol) reading forwarding headers on trusted connections."""

    class ProxiedHttpProtocol(base):  # type: ignore[valid-type, misc]
        __slots__ = ("_trusted",)

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._trusted = trusted.trusts_peer(transport.get_extra_info("peername"))

        def _make_request(self, *args: Any, **kwargs: Any) -> Any:
            request = super()._make_request(*args, **kwargs)
            if self._trusted:
                apply(request, trusted)
            return request

        def _on_upgrade(self, rest: bytes) -> None:
            request = self._upgrade
            super()._on_upgrade(rest)
            if request is not None and self._upgrade is None and type(request._transport) is ProxiedPeer:
                conn = self.transport.get_protocol()
                if conn is not self and hasattr(conn, "peer"):
                    conn.peer = request._transport  # the WebSocket's client and scheme

        if hasattr(base, "_log"):
            def _log(self, request: Any, status: int) -> None:
                peer = request._transport
                if type(peer) is not ProxiedPeer or peer.client is None:
                    super()._log(request, status)
                    return
                own = self.client_addr
                host, port = peer.client
                self.client_addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                try:
                    super()._log(request, status)
                finally:
                    self.client_addr = own

    ProxiedHttpProtocol.__qualname__ = ProxiedHttpProtocol.__name__ = f"Proxied{base.__name__}"
    return ProxiedHttpProtocol
